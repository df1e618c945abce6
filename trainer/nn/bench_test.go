package nn_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/nn"
	"github.com/tagnet/tagnet/trainer/optim"
)

// gemmGFLOPS measures, in the engine's threading scheme (one
// single-threaded product per worker at once), the GFLOP/s of a
// conv-shaped product with the engine's kernel in precision p (oneDNN's
// matmul): layer2's 3×3 convolution of
// ResNet-18 at 128 px over a chunk of 4 images (M=128, K=1152, N=1024).
func gemmGFLOPS(p blas.Precision, threads int, d time.Duration) float64 {
	const m, k, n = 128, 1152, 1024
	rng := rand.New(rand.NewPCG(1, 1))
	a, b := make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	blas.SetThreads(1)
	var wg sync.WaitGroup
	calls := make([]int, threads)
	start := time.Now()
	for w := range threads {
		wg.Go(func() {
			c := make([]float32, m*n)
			for time.Since(start) < d {
				blas.MatMul(p, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				calls[w]++
			}
		})
	}
	wg.Wait()
	total := 0
	for _, c := range calls {
		total += c
	}
	return 2 * m * n * k * float64(total) / time.Since(start).Seconds() / 1e9
}

// minorFaults returns the process's minor page faults so far.
func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Minflt
}

// peakRSS returns the process's peak resident memory (VmHWM) in MiB, or 0.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// precisions returns the product precisions this CPU runs natively.
func precisions() []blas.Precision {
	if blas.BF16Supported() {
		return []blas.Precision{blas.FP32, blas.BF16}
	}
	return []blas.Precision{blas.FP32}
}

// benchTrainStep measures full training steps (forward, BCE, backward,
// Adam with a one-cycle schedule) of a 20-class fastai-head network on
// random data, in every precision the CPU runs natively (sub-benchmarks
// fp32, bf16).
func benchTrainStep(b *testing.B, arch string, size, batch, threads int) {
	for _, p := range precisions() {
		b.Run(p.String(), func(b *testing.B) {
			benchTrainSpec(b, models.Spec{Arch: arch, NumClasses: 20, InputSize: size, Head: models.HeadFastai}, p, batch, threads)
		})
	}
}

// decoderOnce starts the image decoder once per test process.
var decoderOnce sync.Once

// newTrainStep builds spec's network in precision p for batches of batch
// images on random data and returns it with one full training step
// (forward, BCE, backward, Adam under a one-cycle schedule at iteration
// i). The process is set up as tagnet-train's is: the image decoder
// (libvips) has started, so that what it does to the process (its
// allocator settings, its threads) is part of every measurement. The net
// is closed when tb ends.
func newTrainStep(tb testing.TB, spec models.Spec, p blas.Precision, batch, threads int) (*nn.Net, func(i int)) {
	tb.Helper()
	decoderOnce.Do(func() {
		if _, err := preprocess.New(preprocess.Default(spec.InputSize), preprocess.Limits{}); err != nil {
			tb.Fatal(err)
		}
	})
	g, err := models.Build(spec)
	if err != nil {
		tb.Fatal(err)
	}
	net, err := nn.New(g, models.Init(g, models.InitOptions{Seed: 1}), nn.Config{MaxBatch: batch, Threads: threads, Seed: 1, Precision: p})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(net.Close)
	rng := rand.New(rand.NewPCG(2, 2))
	x := make([]float32, batch*net.InputLen())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, batch*net.NumClasses())
	for i := range y {
		y[i] = float32(rng.IntN(2))
	}
	dl := make([]float32, len(y))
	opt := optim.NewAdam(net.Params(), optim.DefaultAdam())
	sched := optim.NewOneCycle(optim.Slice(1e-3, nn.NumGroups), 1000)
	return net, func(i int) {
		logits, err := net.Forward(x, batch, true)
		if err != nil {
			tb.Fatal(err)
		}
		nn.BCEWithLogits(logits, y, dl)
		if err := net.Backward(dl); err != nil {
			tb.Fatal(err)
		}
		if err := opt.Step(sched.At(i % 1000)); err != nil {
			tb.Fatal(err)
		}
	}
}

// benchTrainSpec measures full training steps of any architecture in
// precision p.
func benchTrainSpec(b *testing.B, spec models.Spec, p blas.Precision, batch, threads int) {
	net, step := newTrainStep(b, spec, p, batch, threads)
	step(0) // warm up: first-touch page faults, OpenBLAS buffers
	gemm := gemmGFLOPS(p, net.Threads(), 300*time.Millisecond)
	b.ReportAllocs()
	f0 := minorFaults()
	i := 0
	for b.Loop() {
		step(i)
		i++
	}
	b.ReportMetric(float64(minorFaults()-f0)/float64(b.N), "page-faults/op")
	sec := b.Elapsed().Seconds() / float64(b.N)
	gflops := net.FLOPs(batch, true) / sec / 1e9
	b.ReportMetric(float64(batch)/sec, "images/s")
	b.ReportMetric(gflops, "GFLOP/s")
	b.ReportMetric(gemm, "gemm-GFLOP/s")
	b.ReportMetric(gflops/gemm, "of-gemm")
	b.ReportMetric(peakRSS(), "peak-RSS-MiB")
}

// BenchmarkTrainStep measures ResNet-18 training steps at 128 px, batch 32
// and 64, on all cores, in fp32 and (where the CPU has native bf16) bf16
// mixed precision: images/s, achieved GFLOP/s of the step's matrix
// products, the GFLOP/s of a conv-shaped product in the same precision
// measured in the same run ("gemm": oneDNN's fp32 or bf16 matmul, the
// engine's kernel), their ratio, bytes allocated per step and peak
// resident memory (process-wide: run one sub-benchmark at a time to read
// it). The PyTorch peer: scripts/reference/train_step_pytorch.py.
//
//	go test ./trainer/nn -run '^$' -bench 'TrainStep$' -benchtime 4x -count 3 -timeout 30m
func BenchmarkTrainStep(b *testing.B) {
	for _, batch := range []int{32, 64} {
		b.Run(fmt.Sprintf("resnet18/128px/batch%d", batch), func(b *testing.B) {
			benchTrainStep(b, "resnet18", 128, batch, 0)
		})
	}
}

// BenchmarkTrainStep64px measures ResNet-18 (torchvision stem) training
// steps at 64 px, batch 64: the Fashion-MNIST workload of the README's
// reference results, where small maps make the step serial-bound.
//
//	go test ./trainer/nn -run '^$' -bench 'TrainStep64px' -benchtime 4x -count 3 -timeout 30m
func BenchmarkTrainStep64px(b *testing.B) {
	benchTrainStep(b, "resnet18", 64, 64, 0)
}

// BenchmarkTrainStepResNet50 measures ResNet-50 training steps at 128 px,
// batch 32.
//
//	go test ./trainer/nn -run '^$' -bench 'TrainStepResNet50' -benchtime 3x -count 3 -timeout 30m
func BenchmarkTrainStepResNet50(b *testing.B) {
	benchTrainStep(b, "resnet50", 128, 32, 0)
}

// BenchmarkTrainStepScaling measures ResNet-18 (128 px, batch 32) on 1
// thread and on every core, for the scaling factor.
//
//	go test ./trainer/nn -run '^$' -bench 'TrainStepScaling' -benchtime 3x -count 3 -timeout 30m
func BenchmarkTrainStepScaling(b *testing.B) {
	threads := []int{1}
	if n := runtime.GOMAXPROCS(0); n > 1 {
		threads = append(threads, n)
	}
	for _, t := range threads {
		b.Run(fmt.Sprintf("threads%d", t), func(b *testing.B) {
			benchTrainStep(b, "resnet18", 128, 32, t)
		})
	}
}

// BenchmarkTrainStepSmallStem measures the Fashion-MNIST reference
// workload: ResNet-18 with the small-image stem at 64 px, linear head,
// 10 classes, batch 64, at half, three-eighths and quarter width.
//
//	go test ./trainer/nn -run '^$' -bench 'TrainStepSmallStem' -benchtime 3x -count 3 -timeout 30m
func BenchmarkTrainStepSmallStem(b *testing.B) {
	for _, width := range []float64{0.5, 0.375, 0.25} {
		b.Run(fmt.Sprintf("width%g", width), func(b *testing.B) {
			spec := models.Spec{Arch: "resnet18", NumClasses: 10, InputSize: 64, Head: models.HeadLinear, Stem: models.StemSmall, Width: width}
			benchTrainSpec(b, spec, blas.FP32, 64, 0)
		})
	}
}

// BenchmarkTrainStepFP32Kernels compares OpenBLAS's sgemm with oneDNN's
// fp32 matmul as the engine's fp32 product, ResNet-18 at 128 px batch 64
// and at 64 px batch 64, sub-benchmarks interleaved.
//
//	go test ./trainer/nn -run '^$' -bench 'TrainStepFP32Kernels' -benchtime 3x -count 3 -timeout 30m
func BenchmarkTrainStepFP32Kernels(b *testing.B) {
	defer nn.SetFP32Kernel("onednn")
	for _, size := range []int{128, 64} {
		for _, k := range []string{"openblas", "onednn"} {
			b.Run(fmt.Sprintf("resnet18/%dpx/batch64/%s", size, k), func(b *testing.B) {
				nn.SetFP32Kernel(k)
				benchTrainSpec(b, models.Spec{Arch: "resnet18", NumClasses: 20, InputSize: size, Head: models.HeadFastai}, blas.FP32, 64, 0)
			})
		}
	}
}
