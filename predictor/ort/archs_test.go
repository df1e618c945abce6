package ort_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor/ort"
)

// Every architecture models/ describes is written by the models writer,
// read back by the models reader, and run by ONNX Runtime at batch 1 and 7.
func TestEveryArchitectureRunsInONNXRuntime(t *testing.T) {
	rt, err := ort.Init(ort.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	dir := t.TempDir()
	for _, arch := range models.Archs() {
		for _, s := range []models.Spec{
			{Arch: arch, NumClasses: 20, InputSize: 64, Head: models.HeadFastai},
			{Arch: arch, NumClasses: 7, InputSize: 32, Head: models.HeadLinear, Stem: models.StemSmall, Width: 0.5},
		} {
			g := models.MustBuild(s)
			labels := make([]string, s.NumClasses)
			for i := range labels {
				labels[i] = "class" + string(rune('A'+i))
			}
			m := &models.Model{Graph: g, Weights: models.Init(g, models.InitOptions{Seed: 3}), Metadata: models.Metadata{Labels: labels}}
			path := filepath.Join(dir, arch+string(s.Stem)+".onnx")
			if err := m.WriteFile(path, models.WriteOptions{Probabilities: true}); err != nil {
				t.Fatal(err)
			}
			md, err := models.LoadMetadata(path)
			if err != nil {
				t.Fatal(err)
			}
			if md.Spec != g.Spec || len(md.Labels) != s.NumClasses || md.Labels[3] != "classD" {
				t.Errorf("%s: metadata did not survive: %+v", arch, md)
			}
			sess, err := ort.NewSession(rt, path, ort.SessionOptions{})
			if err != nil {
				t.Fatalf("%s %s: %v", arch, s.Stem, err)
			}
			if sess.NumClasses() != s.NumClasses || sess.InputName() != models.InputName || sess.LogitsName() != models.OutputName {
				t.Errorf("%s: session sees %d classes, input %q, logits %q", arch, sess.NumClasses(), sess.InputName(), sess.LogitsName())
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for _, batch := range []int{1, 7} {
				in := make([]float32, batch*3*s.InputSize*s.InputSize)
				for i := range in {
					in[i] = float32(rng.NormFloat64())
				}
				out, err := sess.Run(in, batch)
				if err != nil {
					t.Fatalf("%s batch %d: %v", arch, batch, err)
				}
				if len(out) != batch*s.NumClasses {
					t.Errorf("%s batch %d: %d logits, want %d", arch, batch, len(out), batch*s.NumClasses)
				}
				for _, v := range out {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s batch %d: non-finite logit %v", arch, batch, v)
					}
				}
			}
			if err := sess.Close(); err != nil {
				t.Error(err)
			}
		}
	}
}

// A user's torchvision model (BatchNorm folded by the exporter) imported
// into tagnet's ResNet-18 and written by tagnet's writer computes PyTorch's
// logits.
func TestImportedTorchvisionModelMatchesPyTorch(t *testing.T) {
	const dir = "../../.native/fixtures/torchvision-resnet18"
	b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatalf("%v (scripts/setup.sh copies the fixture)", err)
	}
	f, err := models.ParseONNX(b)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := models.InferSpec(f)
	if err != nil {
		t.Fatal(err)
	}
	g := models.MustBuild(spec)
	w, _, err := models.Import(f, g, models.Init(g, models.InitOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]string, spec.NumClasses)
	for i := range labels {
		labels[i] = fmt.Sprintf("c%d", i)
	}
	path := filepath.Join(t.TempDir(), "imported.onnx")
	m := &models.Model{Graph: g, Weights: w, Metadata: models.Metadata{Labels: labels}}
	if err := m.WriteFile(path, models.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rt, err := ort.Init(ort.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	sess, err := ort.NewSession(rt, path, ort.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	in, want := readFloats(t, filepath.Join(dir, "input.f32")), readFloats(t, filepath.Join(dir, "torch_logits.f32"))
	got, err := sess.Run(in, 2)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	t.Logf("max |tagnet − PyTorch| = %.3g", worst)
	if worst > 1e-4 {
		t.Errorf("max abs difference %.3g from PyTorch's logits, want < 1e-4", worst)
	}
}

func readFloats(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
