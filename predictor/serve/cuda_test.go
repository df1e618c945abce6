package serve

import (
	"errors"
	"net/http"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
)

// TestServeOnCUDA serves the test model from a CUDA session, with batching,
// where a GPU and the CUDA provider libraries (scripts/setup.sh --cuda) are
// present; elsewhere it skips, saying why.
func TestServeOnCUDA(t *testing.T) {
	p, err := predictor.New(testRuntime, testModel, predictor.Options{
		Session:  ort.SessionOptions{Providers: []ort.Provider{ort.ProviderCUDA}, OnUnavailable: ort.OnUnavailableFail},
		MaxBatch: 4,
		Logger:   zaptest.NewLogger(t),
	})
	if errors.Is(err, ort.ErrProviderUnavailable) {
		t.Skipf("no CUDA here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the server's own cleanup, registered later
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	opt := testOptions(t)
	opt.Batching, opt.MaxDelay = true, 0
	s, err := New(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := serveTest(t, s)
	img := readImage(t, "dog.jpg")
	r, err := postImage(ts.url, img, nil)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("predict on CUDA: %v %+v", err, r)
	}
	want := reference(t, img) // the CPU predictor
	if d := r.matches(0, want); d != "" {
		t.Errorf("CUDA against CPU: %s", d)
	}
	got, err := scrape(ts.url, nil, `tagnet_model_info{arch="resnet-tiny",provider="cuda",version="`+p.Version()+`"}`)
	if err != nil || got[0] != 1 {
		t.Errorf("model info metric: %v %v", got, err)
	}
}
