package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/predictortest"
)

func TestPredictOneImage(t *testing.T) {
	ts := startServer(t, serverOpts{})
	for _, name := range []string{"dog.jpg", "person.jpg", "testdata/dog.png", "testdata/format.webp", "testdata/format.heic", "testdata/format.avif", "testdata/format.tiff"} {
		img := readImage(t, name)
		r, err := postImage(ts.url, img, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d (%+v), want 200", name, r.status, r.Error)
		}
		if r.ModelVersion != testP.Version() {
			t.Errorf("%s: model_version %q, want %q", name, r.ModelVersion, testP.Version())
		}
		if len(r.Results) != 1 || r.Results[0].Index != 0 || r.Results[0].Name != "" {
			t.Fatalf("%s: results %+v, want one unnamed result", name, r.Results)
		}
		if d := r.matches(0, reference(t, img)); d != "" {
			t.Errorf("%s: %s", name, d)
		}
	}
}

func TestPredictThresholdsFromSweep(t *testing.T) {
	ts := startServer(t, serverOpts{})
	r, err := postImage(ts.url, readImage(t, "eagle.jpg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The f1 strategy picks the sweep's peaks: see predictortest.Sweep.
	want := map[string]float64{"animal": 0.3, "outdoor": 0.5, "person": 0.7}
	for c, v := range want {
		if got := r.Results[0].Thresholds[c]; got < v-1e-9 || got > v+1e-9 {
			t.Errorf("threshold of %s = %v, want %v", c, got, v)
		}
	}
}

func TestPredictMultipart(t *testing.T) {
	ts := startServer(t, serverOpts{})
	dog, png, kite := readImage(t, "dog.jpg"), readImage(t, "testdata/dog.png"), readImage(t, "kite.jpg")
	body, h := multipartBody(t,
		part{"dog.jpg", dog},
		part{"notes.txt", []byte("not an image")},
		part{"dog.png", png},
		part{"kite.jpg", kite},
	)
	r, err := request(http.MethodPost, ts.url+"/v1/predict", body, h)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK || len(r.Results) != 4 {
		t.Fatalf("status %d with %d results, want 200 with 4: %+v", r.status, len(r.Results), r)
	}
	for i, name := range []string{"dog.jpg", "notes.txt", "dog.png", "kite.jpg"} {
		if r.Results[i].Index != i || r.Results[i].Name != name {
			t.Errorf("result %d is %d %q, want %d %q", i, r.Results[i].Index, r.Results[i].Name, i, name)
		}
	}
	for i, img := range map[int][]byte{0: dog, 2: png, 3: kite} {
		if d := r.matches(i, reference(t, img)); d != "" {
			t.Error(d)
		}
	}
	if e := r.Results[1].Error; e == nil || e.Code != codeBadImage || r.Results[1].Labels != nil {
		t.Errorf("the text file's result is %+v, want a bad_image error alone", r.Results[1])
	}

	// A form with one file is a single-image request.
	body, h = multipartBody(t, part{"notes.txt", []byte("still not an image")})
	r, err = request(http.MethodPost, ts.url+"/v1/predict", body, h)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusUnprocessableEntity || r.Error == nil || r.Error.Code != codeBadImage {
		t.Errorf("one bad file: status %d, error %+v; want 422 bad_image", r.status, r.Error)
	}
}

func TestPredictBadRequests(t *testing.T) {
	ts := startServer(t, serverOpts{})
	dog := readImage(t, "dog.jpg")
	form, formHeader := multipartBody(t)
	for _, tc := range []struct {
		name   string
		body   io.Reader
		header http.Header
		status int
		code   string
	}{
		{"text", strings.NewReader("hello"), nil, http.StatusUnprocessableEntity, codeBadImage},
		{"truncated jpeg", bytes.NewReader(dog[:len(dog)/3]), nil, http.StatusUnprocessableEntity, codeBadImage},
		{"netpbm", bytes.NewReader(predictortest.PPM()), nil, http.StatusUnprocessableEntity, codeBadImage},
		{"empty body", bytes.NewReader(nil), nil, http.StatusBadRequest, codeBadRequest},
		{"empty form", form, formHeader, http.StatusBadRequest, codeBadRequest},
		{"no boundary", strings.NewReader("x"), http.Header{"Content-Type": {"multipart/form-data"}}, http.StatusBadRequest, codeBadRequest},
		{"broken form", strings.NewReader("--b\r\nno end"), http.Header{"Content-Type": {"multipart/form-data; boundary=b"}}, http.StatusBadRequest, codeBadRequest},
	} {
		h := http.Header{"Content-Type": {"application/octet-stream"}}
		for k, v := range tc.header {
			h[k] = v
		}
		r, err := request(http.MethodPost, ts.url+"/v1/predict", tc.body, h)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.status != tc.status || r.Error == nil || r.Error.Code != tc.code || r.Error.Message == "" {
			t.Errorf("%s: status %d, error %+v; want %d %s", tc.name, r.status, r.Error, tc.status, tc.code)
		}
	}

	// Other methods are refused by the router.
	resp, err := http.Get(ts.url + "/v1/predict")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/predict: %d, want 405", resp.StatusCode)
	}
}

func TestPredictLimits(t *testing.T) {
	ts := startServer(t, serverOpts{
		edit: func(o *Options) { o.MaxBodyBytes = 400_000 },       // kite.jpg is 1.4 MB, dog.jpg 164 kB
		pred: &predictor.Options{MaxBatch: 8, MaxPixels: 300_000}, // dog.jpg is 768×576, eagle.jpg 773×512
	})
	kite, dog, small := readImage(t, "kite.jpg"), readImage(t, "dog.jpg"), readImage(t, "testdata/jpeg-420-small.jpg")

	check := func(what string, r *response, err error, status int, code, mention string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r.status != status || r.Error == nil || r.Error.Code != code || !strings.Contains(r.Error.Message, mention) {
			t.Errorf("%s: status %d, error %+v; want %d %s mentioning %q", what, r.status, r.Error, status, code, mention)
		}
	}

	r, err := postImage(ts.url, kite, nil)
	check("body over the limit", r, err, http.StatusRequestEntityTooLarge, codeBodyTooLarge, "server.max_body_bytes")

	// Without Content-Length (chunked), the limit bites while reading.
	r, err = request(http.MethodPost, ts.url+"/v1/predict", io.MultiReader(bytes.NewReader(kite)), http.Header{"Content-Type": {"image/jpeg"}})
	check("chunked body over the limit", r, err, http.StatusRequestEntityTooLarge, codeBodyTooLarge, "server.max_body_bytes")

	body, h := multipartBody(t, part{"dog.jpg", dog}, part{"kite.jpg", kite})
	r, err = request(http.MethodPost, ts.url+"/v1/predict", io.MultiReader(body), h)
	check("form over the limit", r, err, http.StatusRequestEntityTooLarge, codeBodyTooLarge, "server.max_body_bytes")

	r, err = postImage(ts.url, dog, nil)
	check("image over the pixel limit", r, err, http.StatusRequestEntityTooLarge, codeTooManyPixels, "server.max_pixels")

	// A header claiming a huge image is refused before any decoding.
	r, err = postImage(ts.url, predictortest.PNGHeader(100_000, 100_000), nil)
	check("huge declared size", r, err, http.StatusRequestEntityTooLarge, codeTooManyPixels, "10000000000 pixels")

	// In a form, an image over the limit fails alone.
	body, h = multipartBody(t, part{"dog.jpg", dog}, part{"small.jpg", small})
	r, err = request(http.MethodPost, ts.url+"/v1/predict", body, h)
	if err != nil || r.status != http.StatusOK || len(r.Results) != 2 {
		t.Fatalf("form with one image over the limit: %v %+v", err, r)
	}
	if e := r.Results[0].Error; e == nil || e.Code != codeTooManyPixels {
		t.Errorf("dog.jpg in a form: %+v, want too_many_pixels", r.Results[0])
	}
	if d := r.matches(1, reference(t, small)); d != "" {
		t.Error(d)
	}

	// More than MaxImages parts.
	parts := make([]part, MaxImages+1)
	for i := range parts {
		parts[i] = part{"tiny.txt", []byte("x")}
	}
	body, h = multipartBody(t, parts...)
	r, err = request(http.MethodPost, ts.url+"/v1/predict", body, h)
	check("too many images", r, err, http.StatusRequestEntityTooLarge, codeTooManyImages, "64")
}

func TestModelEndpoint(t *testing.T) {
	ts := startServer(t, serverOpts{})
	resp, err := http.Get(ts.url + "/v1/model")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info struct {
		Version    string   `json:"version"`
		Path       string   `json:"path"`
		Labels     []string `json:"labels"`
		Strategy   string   `json:"strategy"`
		Provider   string   `json:"provider"`
		Preprocess struct {
			Width  int `json:"width"`
			Height int `json:"height"`
		} `json:"preprocess"`
		Thresholds []struct {
			Label     string  `json:"label"`
			Threshold float64 `json:"threshold"`
		} `json:"thresholds"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || info.Version != testP.Version() || info.Provider != "cpu" || info.Strategy != "f1" {
		t.Errorf("GET /v1/model: %d %+v", resp.StatusCode, info)
	}
	if strings.Join(info.Labels, ",") != strings.Join(predictortest.Labels, ",") || len(info.Thresholds) != len(predictortest.Labels) {
		t.Errorf("labels %v, thresholds %+v; want %v", info.Labels, info.Thresholds, predictortest.Labels)
	}
	if info.Preprocess.Width != 64 || info.Preprocess.Height != 64 {
		t.Errorf("preprocessing %+v, want 64×64", info.Preprocess)
	}
	if strings.Contains(info.Path, "/") {
		t.Errorf("path %q reveals the server's folders", info.Path)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	s, err := New(testP, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	// Before Serve has started the model worker: alive, not ready.
	probe := serveHandler(t, s.Handler())
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 503} {
		resp, err := http.Get(probe + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s before Serve: %d, want %d", path, resp.StatusCode, want)
		}
	}
	r, err := postImage(probe, readImage(t, "dog.jpg"), nil)
	if err != nil || r.status != http.StatusServiceUnavailable || r.Error.Code != codeNotReady || r.header.Get("Retry-After") == "" {
		t.Errorf("predict before Serve: %v %+v, want 503 not_ready with Retry-After", err, r)
	}

	ts := startServer(t, serverOpts{}) // waits for /readyz 200
	resp, err := http.Get(ts.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %d", resp.StatusCode)
	}
}

// serveHandler serves h on its own server on 127.0.0.1:0 until the test
// ends and returns its URL.
func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	t.Cleanup(func() {
		if err := hs.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestServeOnce(t *testing.T) {
	ts := startServer(t, serverOpts{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ts.s.Serve(context.Background(), ln); !errors.Is(err, ErrStarted) {
		t.Errorf("second Serve: %v, want ErrStarted", err)
	}
}

func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	opt := testOptions(t)
	opt.Listen = ln.Addr().String() // taken
	err = Run(context.Background(), testP, opt)
	if err == nil || !strings.Contains(err.Error(), "listening on "+ln.Addr().String()) {
		t.Errorf("Run on a taken port: %v", err)
	}
}
