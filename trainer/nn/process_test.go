package nn_test

import (
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
)

// TestTrainStepKeepsNativeBuffers holds a training step, in a process
// that has started the image decoder as tagnet-train does, to a bounded
// number of page faults once warm. oneDNN allocates and frees packing
// buffers of 0.3–2.6 MiB inside every matrix product; when the process
// fixes glibc's mmap threshold (preprocess.ReturnFreedMemory, which
// libvips' start-up used to do for every program) each of them is mapped,
// faulted in and unmapped again: ~11,800 faults per ResNet-18 step at
// 64 px, batch 64, and steps 1.4–1.7× slower in the training binary than
// in BenchmarkTrainStep64px. (Checked to fail with the threshold fixed:
// 2,875 and 6,470 faults per step at batch 16, fp32 and bf16; 34 and 122
// without.)
func TestTrainStepKeepsNativeBuffers(t *testing.T) {
	precs := []blas.Precision{blas.FP32}
	if blas.BF16Supported() {
		precs = append(precs, blas.BF16)
	}
	for _, p := range precs {
		t.Run(p.String(), func(t *testing.T) {
			_, step := newTrainStep(t, models.Spec{Arch: "resnet18", NumClasses: 20, InputSize: 64, Head: models.HeadFastai}, p, 16, 0)
			step(0) // first touch of the activations, oneDNN's primitives
			step(1)
			const steps = 3
			f0 := minorFaults()
			for i := range steps {
				step(2 + i)
			}
			per := (minorFaults() - f0) / steps
			t.Logf("%s: %d minor page faults per step", p, per)
			if per > 1000 {
				t.Errorf("%s: %d minor page faults per warm step, want ≤ 1000: native buffers are mapped and unmapped on every product (is glibc's mmap threshold fixed in a training process?)", p, per)
			}
		})
	}
}
