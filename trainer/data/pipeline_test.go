package data

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/predictortest"
	"github.com/tagnet/tagnet/preprocess"
)

// TestValidationEqualsPredictor checks that the trainer's validation path
// and the predictor turn the same file into bit-identical tensors: every
// decode case (../shared/cases/decode, kept in preprocess/testdata/cases),
// every format file of preprocess/testdata, and the real photographs,
// which are reduced on load. The predictor is the real one, on ONNX
// Runtime, reading the preprocessing stored in a model file.
func TestValidationEqualsPredictor(t *testing.T) {
	var paths []string
	for _, pattern := range []string{"cases/*", "format*", "orient-*.jpg", "draft.jpg"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "preprocess", "testdata", pattern))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, m...)
	}
	photos, _ := filepath.Glob(filepath.Join("..", "..", ".native", "photos", "*.jpg"))
	if len(photos) < 6 {
		t.Fatalf("want the six photos in .native/photos (run scripts/setup.sh), found %d", len(photos))
	}
	paths = append(paths, photos...)

	dir := t.TempDir()
	modelPath, err := predictortest.Write(dir, predictortest.Options{InputSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := models.LoadMetadata(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	var spec preprocess.Spec
	if err := json.Unmarshal(raw.Preprocess, &spec); err != nil {
		t.Fatal(err)
	}
	pre, err := preprocess.New(spec, preprocess.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	aug, err := NewAugmenter(pre, AugmentOptions{Mode: AugmentCropFlip})
	if err != nil {
		t.Fatal(err)
	}
	items := make([]Item, len(paths))
	for i, p := range paths {
		items[i] = Item{Path: p, Target: []float32{0, 0, 0}}
	}
	loader, err := NewLoader(items, aug, LoaderOptions{BatchSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer loader.Close()

	rt, err := ort.Init(ort.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	p, err := predictor.New(rt, modelPath, predictor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	n := pre.InputLen()
	want := make([]float32, n)
	seen, failed := 0, map[string]bool{}
	for b, err := range loader.Epoch(0) {
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range b.Failed {
			failed[f.Path] = true
		}
		for k, idx := range b.Indices {
			path := items[idx].Path
			if err := p.PreprocessFile(want, path); err != nil {
				t.Errorf("%s: the trainer loaded it, the predictor refuses it: %v", path, err)
				continue
			}
			got := b.Images[k*n : (k+1)*n]
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Errorf("%s: value %d is %v in training, %v in the predictor", path, i, got[i], want[i])
					break
				}
			}
			seen++
		}
	}
	for path := range failed {
		if err := p.PreprocessFile(want, path); err == nil {
			t.Errorf("%s: the trainer failed to load it, the predictor accepts it", path)
		}
	}
	t.Logf("%d files bit-identical, %d refused by both", seen, len(failed))
	if seen < len(paths)-5 {
		t.Errorf("only %d of %d files compared", seen, len(paths))
	}
	if _, err := os.Stat(modelPath); err != nil {
		t.Fatal(err)
	}
}
