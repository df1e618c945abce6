package predictor_test

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tagnet/tagnet/models"
	pb "github.com/tagnet/tagnet/models/onnxpb"
	"github.com/tagnet/tagnet/predictor"
)

// rewrite reads the model at src, lets edit change it, and writes it to
// dst.
func rewrite(t *testing.T, src, dst string, edit func(f *models.File) error) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := models.ParseONNX(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := edit(f); err != nil {
		t.Fatal(err)
	}
	out, err := proto.Marshal(f.Proto)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBatch(n, l int) []float32 {
	x := make([]float32, n*l)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*0.37)) * 2
	}
	return x
}

// TestFixedBatch: the same model with its batch axis fixed at 1, 4 and 8
// gives the dynamic model's logits for 1, 3, 4 and 13 images (split into
// full chunks, the last one padded), and says its batch is fixed.
func TestFixedBatch(t *testing.T) {
	dir := t.TempDir()
	dyn, err := predictor.New(testRuntime, modelPath, predictor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dyn.Close()
	if dyn.FixedBatch() != 0 {
		t.Errorf("dynamic model: FixedBatch %d", dyn.FixedBatch())
	}
	for _, fixed := range []int64{1, 4, 8} {
		path := filepath.Join(dir, "fixed.onnx")
		rewrite(t, modelPath, path, func(f *models.File) error {
			for _, v := range append(f.Proto.Graph.Input, f.Proto.Graph.Output...) {
				v.Type.GetTensorType().Shape.Dim[0].Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: fixed}
			}
			return nil
		})
		p, err := predictor.New(testRuntime, path, predictor.Options{Warmup: 8, MaxBatch: 16})
		if err != nil {
			t.Fatalf("fixed batch %d: %v", fixed, err)
		}
		if p.FixedBatch() != int(fixed) || p.Info().FixedBatch != int(fixed) {
			t.Errorf("FixedBatch %d, Info %d, want %d", p.FixedBatch(), p.Info().FixedBatch, fixed)
		}
		for _, n := range []int{1, 3, 4, 13} {
			x := randomBatch(n, p.InputLen())
			want, err := dyn.Forward(x, n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Forward(x, n)
			if err != nil {
				t.Fatalf("fixed batch %d, %d images: %v", fixed, n, err)
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
					t.Fatalf("fixed batch %d, %d images: logit %d = %v, dynamic model %v", fixed, n, i, got[i], want[i])
				}
			}
		}
		p.Close()
	}
}

// TestProbabilitiesOutput: a model whose only output is probabilities,
// with metadata saying so, gives the same predictions as its logits twin
// (no second sigmoid).
func TestProbabilitiesOutput(t *testing.T) {
	dir := t.TempDir()
	m, err := models.Load(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	m.Metadata.IO = &models.IO{Input: models.InputName, Output: models.ProbsName, OutputKind: models.OutputProbabilities}
	b, err := m.Encode(models.WriteOptions{Probabilities: true})
	if err != nil {
		t.Fatal(err)
	}
	both := filepath.Join(dir, "both.onnx")
	os.WriteFile(both, b, 0o644)
	path := filepath.Join(dir, "probs.onnx")
	rewrite(t, both, path, func(f *models.File) error {
		f.Proto.Graph.Output = f.Proto.Graph.Output[1:] // keep "probabilities" only
		return nil
	})
	ref, err := predictor.New(testRuntime, modelPath, predictor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	p, err := predictor.New(testRuntime, path, predictor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Info().OutputKind != models.OutputProbabilities || ref.Info().OutputKind != models.OutputLogits {
		t.Errorf("output kinds %q and %q", p.Info().OutputKind, ref.Info().OutputKind)
	}
	const n = 3
	x := randomBatch(n, p.InputLen())
	run := func(q *predictor.Predictor) []predictor.Prediction {
		out, err := q.Forward(x, n)
		if err != nil {
			t.Fatal(err)
		}
		preds, err := q.Postprocess(out, n)
		if err != nil {
			t.Fatal(err)
		}
		return preds
	}
	want, got := run(ref), run(p)
	for i := range want {
		for j := range want[i].Probabilities {
			if d := math.Abs(float64(got[i].Probabilities[j] - want[i].Probabilities[j])); d > 1e-6 {
				t.Errorf("image %d class %d: probability %v, logits model %v", i, j, got[i].Probabilities[j], want[i].Probabilities[j])
			}
		}
	}
}
