package predictor_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/postprocess"
	"github.com/tagnet/tagnet/predictor/predictortest"
	"github.com/tagnet/tagnet/preprocess"
)

func open(t *testing.T, path string, opts predictor.Options) *predictor.Predictor {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	if opts.Session.IntraOpThreads == 0 {
		opts.Session.IntraOpThreads = 1
	}
	p, err := predictor.New(testRuntime, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestInfo(t *testing.T) {
	p := open(t, modelPath, predictor.Options{Warmup: 2})
	in := p.Info()
	data, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if in.SHA256 != hex.EncodeToString(sum[:]) || in.Version != in.SHA256[:12] || p.Version() != in.Version {
		t.Errorf("sha256 %s version %s, file's sha256 %x", in.SHA256, in.Version, sum)
	}
	if !slices.Equal(in.Labels, predictortest.Labels) || in.Provider != string(ort.ProviderCPU) {
		t.Errorf("labels %v provider %q", in.Labels, in.Provider)
	}
	if in.Preprocess != preprocess.Default(32) {
		t.Errorf("preprocess %+v, want the stored Default(32)", in.Preprocess)
	}
	if in.Training == nil || in.Training.Epochs != 3 || in.SweepItems != 50 || len(in.Sweep) != 3 {
		t.Errorf("training %+v, sweep items %d, sweep %v", in.Training, in.SweepItems, in.Sweep)
	}
	// The test sweep's F1 peaks at 0.3, 0.5 and 0.7.
	if got := p.Thresholds(); !closeAll(got, []float64{0.3, 0.5, 0.7}) || in.Strategy != "f1" {
		t.Errorf("thresholds %v strategy %q, want [0.3 0.5 0.7] by f1", got, in.Strategy)
	}
	// Describe reads the same without a session.
	d, err := predictor.Describe(modelPath, predictor.Thresholds{})
	if err != nil {
		t.Fatal(err)
	}
	in.Provider = ""
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(d)
	if string(a) != string(b) {
		t.Errorf("Describe differs from Info:\n%s\n%s", b, a)
	}
}

func closeAll(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-9 {
			return false
		}
	}
	return true
}

// The three stages run by hand give what PredictBytes gives, and
// PredictBytes gives the same whatever bad images sit between the good ones.
func TestStagesAgreeWithPredictBytes(t *testing.T) {
	p := open(t, modelPath, predictor.Options{MaxBatch: 4})
	ph := photos(t)
	names := make([]string, 0, len(ph))
	for n := range ph {
		names = append(names, n)
	}
	sort.Strings(names)

	L := p.InputLen()
	batch := make([]float32, len(names)*L)
	for i, n := range names {
		if err := p.Preprocess(batch[i*L:(i+1)*L], ph[n]); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	logits, err := p.Forward(batch, len(names))
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.Postprocess(logits, len(names))
	if err != nil {
		t.Fatal(err)
	}

	var images [][]byte
	var good []int
	for i, n := range names {
		images = append(images, []byte("not an image"))
		good = append(good, len(images))
		images = append(images, ph[n])
		_ = i
	}
	got, errs := p.PredictBytes(context.Background(), images)
	for k, i := range good {
		if errs[i] != nil {
			t.Fatalf("%s: %v", names[k], errs[i])
		}
		if !slices.Equal(got[i].Labels, want[k].Labels) {
			t.Errorf("%s: labels %v, stages gave %v", names[k], got[i].Labels, want[k].Labels)
		}
		for c := range got[i].Probabilities {
			if d := math.Abs(float64(got[i].Probabilities[c] - want[k].Probabilities[c])); d > 1e-5 {
				t.Errorf("%s class %d: %v vs %v", names[k], c, got[i].Probabilities[c], want[k].Probabilities[c])
			}
		}
		if !errors.Is(errs[i-1], predictor.ErrImage) {
			t.Errorf("the bad image before %s: %v, want ErrImage", names[k], errs[i-1])
		}
	}
	// Each probability is the sigmoid of its logit, and labels follow the
	// thresholds.
	C := p.NumClasses()
	for k := range names {
		for c := range C {
			pr := want[k].Probabilities[c]
			if s := float32(models.Sigmoid(float64(logits[k*C+c]))); s != pr {
				t.Errorf("probability %v is not sigmoid(%v) = %v", pr, logits[k*C+c], s)
			}
			present := slices.Contains(want[k].Labels, p.Labels()[c])
			if present != models.Present(pr, p.Thresholds()[c]) {
				t.Errorf("%s: class %s present=%v with p=%v, threshold %v", names[k], p.Labels()[c], present, pr, p.Thresholds()[c])
			}
		}
	}
}

// The stored preprocessing is what Preprocess applies.
func TestPreprocessUsesTheStoredSpec(t *testing.T) {
	p := open(t, modelPath, predictor.Options{})
	ref, err := preprocess.New(preprocess.Default(32), preprocess.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for n, b := range photos(t) {
		got := make([]float32, p.InputLen())
		want := make([]float32, ref.InputLen())
		if err := p.Preprocess(got, b); err != nil {
			t.Fatal(err)
		}
		if err := ref.Bytes(want, b); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: Preprocess differs from preprocess.Default(32)", n)
		}
		// The reader form gives the same.
		if err := p.PreprocessReader(got, strings.NewReader(string(b))); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: PreprocessReader differs: %v", n, err)
		}
	}
}

func TestPostprocessByHand(t *testing.T) {
	p := open(t, modelPath, predictor.Options{})
	// Thresholds are 0.3, 0.5, 0.7. sigmoid(0) = 0.5 is not above 0.5.
	logits := []float32{1000, -1000, 0, -0.5, 0, 1}
	got, err := p.Postprocess(logits, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[0].Probabilities, []float32{1, 0, 0.5}) || !slices.Equal(got[0].Labels, []string{"animal"}) {
		t.Errorf("image 0: %+v", got[0])
	}
	// sigmoid(-0.5) = 0.378 > 0.3; sigmoid(1) = 0.731 > 0.7.
	if !slices.Equal(got[1].Labels, []string{"animal", "person"}) {
		t.Errorf("image 1: labels %v", got[1].Labels)
	}
	if pr, ok := got[1].Probability("person"); !ok || math.Abs(float64(pr)-0.7310586) > 1e-6 {
		t.Errorf("person: %v %v", pr, ok)
	}
	js, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"labels":["animal"],"probabilities":{"animal":1,"outdoor":0,"person":0.5},"thresholds":{"animal":0.3,"outdoor":0.5,"person":0.7}}`
	if string(js) != want {
		t.Errorf("JSON %s, want %s", js, want)
	}
	if _, err := p.Postprocess(logits, 3); err == nil {
		t.Error("Postprocess accepted 6 logits for 3 images of 3 classes")
	}
}

func TestBadImages(t *testing.T) {
	p := open(t, modelPath, predictor.Options{MaxPixels: 1_000_000})
	jpg := photos(t)["dog.jpg"]
	huge := predictortest.PNGHeader(10000, 10000)
	bad := map[string][]byte{
		"empty":     {},
		"truncated": jpg[:len(jpg)/3],
		"text":      []byte("hello, this is not an image\n"),
		"huge":      huge,
		"ppm":       predictortest.PPM(),
	}
	dst := make([]float32, p.InputLen())
	for name, b := range bad {
		err := p.Preprocess(dst, b)
		if !errors.Is(err, predictor.ErrImage) {
			t.Errorf("%s: %v, want ErrImage", name, err)
		}
	}
	var le *preprocess.LimitError
	if err := p.Preprocess(dst, huge); !errors.As(err, &le) || le.Got != 100_000_000 || le.Limit != 1_000_000 {
		t.Errorf("huge: %v, want a pixel LimitError at the predictor's limit", err)
	}
	// The limits are the predictor's own, given once to its Preprocessor.
	small := open(t, modelPath, predictor.Options{MaxPixels: 100, MaxBytes: 1000})
	if err := small.Preprocess(dst, jpg); !errors.As(err, &le) || le.Limit != 100 {
		t.Errorf("dog.jpg under 100 pixels: %v", err)
	}
	if err := small.PreprocessReader(dst, strings.NewReader(string(jpg))); !errors.As(err, &le) || le.What != "bytes" || le.Limit != 1000 {
		t.Errorf("dog.jpg under 1000 bytes: %v", err)
	}
	if err := p.PreprocessReader(dst, strings.NewReader(string(jpg))); err != nil {
		t.Errorf("dog.jpg under the default byte limit: %v", err)
	}
	if err := p.Preprocess(make([]float32, 10), jpg); err == nil {
		t.Error("Preprocess accepted a 10-value destination")
	}
	if _, err := p.Forward(make([]float32, 10), 1); err == nil {
		t.Error("Forward accepted 10 values as one image")
	}
}

func TestThresholdOptions(t *testing.T) {
	p := open(t, modelPath, predictor.Options{Thresholds: predictor.Thresholds{
		Strategy:  postprocess.Strategy{Kind: postprocess.KindFixed, Value: 0.4},
		Overrides: map[string]float64{"person": 0.9},
	}})
	if got := p.Thresholds(); !closeAll(got, []float64{0.4, 0.4, 0.9}) {
		t.Errorf("thresholds %v, want [0.4 0.4 0.9]", got)
	}
	_, err := predictor.New(testRuntime, modelPath, predictor.Options{Thresholds: predictor.Thresholds{
		Overrides: map[string]float64{"persn": 0.9},
	}})
	if !errors.Is(err, postprocess.ErrUnknownLabel) || !strings.Contains(err.Error(), `"persn"`) {
		t.Errorf("unknown override: %v", err)
	}
	_, err = predictor.New(testRuntime, noSweepPath, predictor.Options{})
	if !errors.Is(err, postprocess.ErrNoSweep) {
		t.Errorf("f1 on a model without a sweep: %v, want ErrNoSweep", err)
	}
	q := open(t, noSweepPath, predictor.Options{Thresholds: predictor.Thresholds{
		Strategy: postprocess.Strategy{Kind: postprocess.KindFixed, Value: 0.5},
	}})
	if in := q.Info(); in.Sweep != nil || in.Strategy != "fixed:0.5" {
		t.Errorf("no-sweep info: %+v", in)
	}
	if _, err := predictor.New(testRuntime, "/nonexistent/model.onnx", predictor.Options{}); err == nil || !strings.Contains(err.Error(), "/nonexistent/model.onnx") {
		t.Errorf("missing model: %v", err)
	}
}

func TestPredictBytesCancelledAndConcurrent(t *testing.T) {
	p := open(t, modelPath, predictor.Options{MaxBatch: 2})
	ph := photos(t)
	var images [][]byte
	for _, b := range ph {
		images = append(images, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, errs := p.PredictBytes(ctx, images)
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("image %d: %v, want context.Canceled", i, err)
		}
	}

	want, errs := p.PredictBytes(context.Background(), images)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, errs := p.PredictBytes(context.Background(), images)
			for i := range got {
				if errs[i] != nil || !slices.Equal(got[i].Probabilities, want[i].Probabilities) {
					t.Errorf("concurrent call, image %d: %v %v", i, errs[i], got[i].Probabilities)
				}
			}
		})
	}
	wg.Wait()
}

// TestPhoneFormatsPredictLikeTheirSource predicts the same picture stored
// as lossless PNG, JPEG, HEIC (HEVC) and AVIF (AV1), the last two as an
// iPhone or a recent Android phone writes them (preprocess/testdata, made
// with heif-enc from the PNG): every format decodes, and each one's
// probabilities stay within 0.02 of the PNG's, with the same labels.
func TestPhoneFormatsPredictLikeTheirSource(t *testing.T) {
	p := open(t, modelPath, predictor.Options{})
	dir := filepath.Join("..", "preprocess", "testdata")
	var images [][]byte
	names := []string{"dog.png", "dog.jpg", "format.heic", "format.avif"}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, b)
	}
	preds, errs := p.PredictBytes(context.Background(), images)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
	}
	ref := preds[0]
	for i, pr := range preds[1:] {
		var worst float64
		for c, v := range pr.Probabilities {
			worst = max(worst, math.Abs(float64(v-ref.Probabilities[c])))
		}
		t.Logf("%s: labels %v, max |p − p(png)| = %.4f", names[i+1], pr.Labels, worst)
		if worst > 0.02 || !slices.Equal(pr.Labels, ref.Labels) {
			t.Errorf("%s: labels %v, probabilities %.4f from the PNG's (labels %v)", names[i+1], pr.Labels, worst, ref.Labels)
		}
	}
}
