package weights_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/trainer/nn"
	"github.com/tagnet/tagnet/trainer/weights"
)

// fixtureDir holds real torch.save files made by Debian's PyTorch 1.13.1
// (see its README.md); scripts/setup.sh copies it there.
const fixtureDir = "../../.native/fixtures/torchvision-resnet18-pth"

func fixture(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(fixtureDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("fixture missing (scripts/setup.sh installs it): %v", err)
	}
	return p
}

func readF32(t testing.TB, path string) []float32 {
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

func resnet18Graph(t testing.TB, classes int, head models.Head) *models.Graph {
	t.Helper()
	g, err := models.Build(models.Spec{Arch: "resnet18", NumClasses: classes, InputSize: 224, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestResNet18ReproducesPyTorch loads torchvision's resnet18 state dict
// (torch.save zip format, 1000-class fc, non-trivial BatchNorm statistics)
// into tagnet's resnet18 and requires PyTorch's eval-mode logits within
// 1e-4, through the training engine and through ONNX Runtime after export.
func TestResNet18ReproducesPyTorch(t *testing.T) {
	path := fixture(t, "resnet18.pth")
	sd, err := weights.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(sd.Tensors); got != 102 {
		t.Errorf("%d float tensors, want 102 (62 parameters + 40 BatchNorm statistics)", got)
	}
	if got := len(sd.Ints); got != 20 {
		t.Errorf("%d integer entries, want 20 num_batches_tracked", got)
	}
	g := resnet18Graph(t, 1000, models.HeadLinear)
	w, rep, err := weights.Apply(sd, g, models.Init(g, models.InitOptions{}), path)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Head || rep.Loaded != 102 || len(rep.Dropped) != 20 {
		t.Errorf("report %+v: want head, 102 loaded, 20 num_batches_tracked dropped", rep)
	}
	x := readF32(t, fixture(t, "input.f32"))
	want := readF32(t, fixture(t, "torch_logits.f32"))
	const batch = 2

	net, err := nn.New(g, w, nn.Config{MaxBatch: batch})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	got, err := net.Forward(x, batch, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got, want); !(d <= 1e-4) {
		t.Errorf("engine: max |logit − PyTorch| = %g > 1e-4", d)
	} else {
		t.Logf("engine: max |logit − PyTorch| = %.2g", d)
	}

	rt, err := ort.Init(ort.InitOptions{})
	if err != nil {
		t.Fatalf("ONNX Runtime (scripts/setup.sh installs it; tests need it): %v", err)
	}
	defer rt.Close()
	labels := make([]string, 1000)
	for i := range labels {
		labels[i] = fmt.Sprintf("class%d", i)
	}
	m := &models.Model{Graph: g, Weights: w, Metadata: models.Metadata{Labels: labels}}
	file, err := m.Encode(models.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := ort.NewSessionFromBytes(rt, file, ort.SessionOptions{IntraOpThreads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	got, err = sess.Run(x, batch)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(got, want); !(d <= 1e-4) {
		t.Errorf("ONNX Runtime: max |logit − PyTorch| = %g > 1e-4", d)
	} else {
		t.Logf("ONNX Runtime: max |logit − PyTorch| = %.2g", d)
	}
}

// TestFormatsAgree reads the stem (conv1, bn1) from the legacy torch.save
// format, float16 and safetensors and compares each with the zip file's
// values (float16 within its precision: relative 2^-11, absolute 6e-8
// below its normal range).
func TestFormatsAgree(t *testing.T) {
	ref, err := weights.ReadFile(fixture(t, "resnet18.pth"))
	if err != nil {
		t.Fatal(err)
	}
	stem := []string{"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"}
	for _, c := range []struct {
		file   string
		fp16   bool
		intsOK bool
	}{{"stem-legacy.pth", false, true}, {"stem-fp16.pth", true, true}, {"stem.safetensors", false, true}} {
		t.Run(c.file, func(t *testing.T) {
			sd, err := weights.ReadFile(fixture(t, c.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(sd.Tensors) != len(stem) {
				t.Errorf("%d float tensors %v, want %d", len(sd.Tensors), sd.Names(), len(stem))
			}
			if _, ok := sd.Ints["bn1.num_batches_tracked"]; !ok {
				t.Errorf("bn1.num_batches_tracked not listed as an integer entry: %v", sd.Names())
			}
			for _, name := range stem {
				got, want := sd.Tensors[name], ref.Tensors[name]
				if got == nil {
					t.Fatalf("%s missing", name)
				}
				if !equalInts(got.Shape, want.Shape) {
					t.Fatalf("%s shape %v, want %v", name, got.Shape, want.Shape)
				}
				for i := range want.Data {
					tol := 0.0
					if c.fp16 {
						tol = math.Abs(float64(want.Data[i]))*math.Pow(2, -11) + 6e-8
					}
					if d := math.Abs(float64(got.Data[i] - want.Data[i])); d > tol {
						t.Fatalf("%s[%d] = %v, want %v (tolerance %g)", name, i, got.Data[i], want.Data[i], tol)
					}
				}
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestApplyStrict: a fastai head drops fc and keeps its own initialisation;
// a state dict lacking the body (only the stem) is one error listing every
// missing key; a different width is one error listing the mismatches; an
// unknown key is reported.
func TestApplyStrict(t *testing.T) {
	sd, err := weights.ReadFile(fixture(t, "resnet18.pth"))
	if err != nil {
		t.Fatal(err)
	}
	g := resnet18Graph(t, 20, models.HeadFastai)
	base := models.Init(g, models.InitOptions{Seed: 3})
	w, rep, err := weights.Apply(sd, g, base, "resnet18.pth")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Head {
		t.Error("fc copied into a fastai head")
	}
	if maxDiff(w["head.8.weight"].Data, base["head.8.weight"].Data) != 0 {
		t.Error("the fresh head changed")
	}
	if maxDiff(w["layer4.1.bn2.running_var"].Data, sd.Tensors["layer4.1.bn2.running_var"].Data) != 0 {
		t.Error("BatchNorm running statistics not copied")
	}

	stem, err := weights.ReadFile(fixture(t, "stem.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = weights.Apply(stem, g, base, "stem.safetensors")
	if err == nil || !strings.Contains(err.Error(), "missing keys (") || !strings.Contains(err.Error(), "layer4.1.conv2.weight [512 512 3 3]") ||
		!strings.Contains(err.Error(), "layer1.0.bn1.running_mean [64]") {
		t.Errorf("stem only: error %v, want one listing every missing body key", err)
	}

	narrow, _ := models.Build(models.Spec{Arch: "resnet18", NumClasses: 20, InputSize: 64, Width: 0.5})
	_, _, err = weights.Apply(sd, narrow, models.Init(narrow, models.InitOptions{}), "resnet18.pth")
	if err == nil || !strings.Contains(err.Error(), "conv1.weight: shape [64 3 7 7] in the file, [32 3 7 7] here") ||
		strings.Count(err.Error(), "in the file") < 60 {
		t.Errorf("width 0.5: error %v, want every shape mismatch listed", err)
	}

	sd.Tensors["layer5.0.conv1.weight"] = models.NewTensor(1)
	_, _, err = weights.Apply(sd, g, base, "x.pth")
	if err == nil || !strings.Contains(err.Error(), "unexpected keys (1): layer5.0.conv1.weight") {
		t.Errorf("unknown key: error %v", err)
	}
}

// TestReadFileErrors: files that are not weights give one error naming
// the file.
func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "notes.pth")
	os.WriteFile(bad, []byte("hello, not a pickle"), 0o644)
	trunc := filepath.Join(dir, "trunc.pth")
	b, err := os.ReadFile(fixture(t, "stem-fp16.pth"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(trunc, b[:len(b)/2], 0o644)
	badST := filepath.Join(dir, "bad.safetensors")
	os.WriteFile(badST, []byte{200, 0, 0, 0, 0, 0, 0, 0, '{'}, 0o644)
	for _, p := range []string{bad, trunc, badST, filepath.Join(dir, "missing.pth")} {
		_, err := weights.ReadFile(p)
		if err == nil || !strings.Contains(err.Error(), p) && !strings.Contains(err.Error(), "no such file") {
			t.Errorf("%s: error %v, want one naming the file", p, err)
		} else {
			t.Logf("%s: %v", filepath.Base(p), err)
		}
	}
}
