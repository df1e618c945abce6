package batch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/predictortest"
)

const photosDir = "../../.native/photos"

// Shared by the tests: ONNX Runtime allows one environment per process.
var (
	testRuntime *ort.Runtime
	modelPath   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "batch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "batch tests:", err)
		os.Exit(1)
	}
	code := 1
	if modelPath, err = predictortest.Write(dir, predictortest.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, "batch tests:", err)
	} else if testRuntime, err = ort.Init(ort.InitOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, "batch tests:", err)
	} else {
		code = m.Run()
		if err := testRuntime.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "batch tests: closing runtime:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func openPredictor(t *testing.T) *predictor.Predictor {
	t.Helper()
	return openPredictorWith(t, predictor.Options{})
}

// openPredictorWith opens the test model with opts, on one thread.
func openPredictorWith(t *testing.T, opts predictor.Options) *predictor.Predictor {
	t.Helper()
	opts.Session.IntraOpThreads = 1
	opts.Logger = zaptest.NewLogger(t)
	p, err := predictor.New(testRuntime, modelPath, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Every file listed gets one row, in sorted order: the good ones the
// predictor's own answer, the bad ones an error naming what went wrong.
func TestPredictDirectory(t *testing.T) {
	p := openPredictorWith(t, predictor.Options{MaxPixels: 50_000_000}) // the one pixel limit: the predictor's
	dir := t.TempDir()
	inputs, err := predictortest.WriteInputs(dir, photosDir)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "results.jsonl")
	var progress []Progress
	sum, err := Predict(context.Background(), p, Config{
		Roots:  []string{dir},
		Walk:   WalkOptions{Extensions: predictortest.InputExtensions},
		Output: OutputOptions{Path: out},
		Run: Options{
			BatchSize: 3, Workers: 2,
			OnProgress: func(pr Progress) { progress = append(progress, pr) },
			Logger:     zaptest.NewLogger(t),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	good := 0
	for _, ok := range inputs {
		if ok {
			good++
		}
	}
	if sum.Files != len(inputs) || sum.OK != good || sum.Failed != len(inputs)-good || sum.Skipped != 0 {
		t.Errorf("summary %+v, want %d files, %d ok", sum, len(inputs), good)
	}
	if len(progress) != 1+(len(inputs)+2)/3 || progress[0] != (Progress{Total: len(inputs)}) ||
		progress[len(progress)-1] != (Progress{Total: len(inputs), OK: sum.OK, Failed: sum.Failed}) {
		t.Errorf("progress %v", progress)
	}

	lines := readJSONL(t, out)
	var files []string
	for _, l := range lines {
		files = append(files, l.File)
	}
	if !slices.IsSorted(files) || len(files) != len(inputs) {
		t.Errorf("rows: %v", files)
	}
	wantErr := map[string]string{
		"empty.jpg":     "empty",
		"truncated.jpg": "decoding jpeg",
		"notes.jpg":     "unsupported image format",
		"huge.png":      "100000000 pixels, over the limit of 50000000",
		"netpbm.ppm":    "unsupported image format",
	}
	for _, l := range lines {
		rel, _ := filepath.Rel(dir, l.File)
		rel = filepath.ToSlash(rel)
		ok, listed := inputs[rel]
		if !listed {
			t.Errorf("row for %s, which is not an input", l.File)
			continue
		}
		if !ok {
			if l.Error == nil || !strings.Contains(*l.Error, wantErr[rel]) || l.Probabilities != nil {
				t.Errorf("%s: error %s, want one containing %q", rel, deref(l.Error), wantErr[rel])
			}
			continue
		}
		if l.Error != nil {
			t.Errorf("%s: %s", rel, *l.Error)
			continue
		}
		data, err := os.ReadFile(l.File)
		if err != nil {
			t.Fatal(err)
		}
		preds, errs := p.PredictBytes(context.Background(), [][]byte{data})
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
		want := preds[0]
		for i, c := range want.Classes {
			if d := math.Abs(l.Probabilities[c] - float64(want.Probabilities[i])); d > 1e-5 {
				t.Errorf("%s %s: %v, PredictBytes %v", rel, c, l.Probabilities[c], want.Probabilities[i])
			}
		}
		if !slices.Equal(l.Labels, want.Labels) && len(l.Labels)+len(want.Labels) > 0 {
			t.Errorf("%s: labels %v, PredictBytes %v", rel, l.Labels, want.Labels)
		}
	}
}

// A run cancelled half-way stops with the context's error; what it wrote
// is whole batches of rows, and resuming finishes the rest.
func TestCancelThenResume(t *testing.T) {
	p := openPredictor(t)
	dir := t.TempDir()
	const n = 60
	for i := range n {
		b, err := predictortest.Image(i, 40, 30, i%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("img%03d.png", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "r.csv")
	ctx, cancel := context.WithCancel(context.Background())
	cfg := Config{
		Roots:  []string{dir},
		Output: OutputOptions{Path: out},
		Run: Options{BatchSize: 4, Workers: 2, OnProgress: func(pr Progress) {
			if pr.OK >= 20 {
				cancel()
			}
		}},
	}
	sum, err := Predict(ctx, p, cfg)
	if !errors.Is(err, context.Canceled) || sum.OK < 20 || sum.OK >= n || sum.OK%4 != 0 {
		t.Fatalf("cancelled run: %+v, %v", sum, err)
	}
	first := readCSV(t, out)
	if len(first) != 1+sum.OK {
		t.Errorf("%d rows written, summary says %d", len(first)-1, sum.OK)
	}

	cfg.Output.Resume = true
	cfg.Run.OnProgress = nil
	sum2, err := Predict(context.Background(), p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Skipped != sum.OK || sum2.OK != n-sum.OK || sum2.Failed != 0 {
		t.Errorf("resumed run: %+v after %+v", sum2, sum)
	}
	recs := readCSV(t, out)
	if len(recs) != n+1 {
		t.Fatalf("%d rows after resuming, want %d", len(recs)-1, n)
	}
	for i, r := range recs[1:] {
		if want := filepath.Join(dir, fmt.Sprintf("img%03d.png", i)); r[0] != want {
			t.Fatalf("row %d is %s, want %s", i+1, r[0], want)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
