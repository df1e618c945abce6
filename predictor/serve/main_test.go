package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/predictortest"
)

// Real image files: the photographs scripts/setup.sh installs, and
// preprocessing's test images in other formats.
const (
	photosDir   = "../../.native/photos"
	testdataDir = "../../preprocess/testdata"
)

// Shared by the tests: ONNX Runtime allows one environment per process.
var (
	testRuntime *ort.Runtime
	testModel   string               // a 64-pixel resnet-tiny with a sweep
	testP       *predictor.Predictor // on testModel
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "serve-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve tests:", err)
		os.Exit(1)
	}
	code := 1
	if err := setUp(dir); err != nil {
		fmt.Fprintln(os.Stderr, "serve tests:", err)
	} else {
		code = m.Run()
		if err := testP.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "serve tests: closing predictor:", err)
			code = 1
		}
		if err := testRuntime.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "serve tests: closing runtime:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func setUp(dir string) error {
	var err error
	if testModel, err = predictortest.Write(dir, predictortest.Options{InputSize: 64}); err != nil {
		return err
	}
	if testRuntime, err = ort.Init(ort.InitOptions{}); err != nil {
		return err
	}
	testP, err = predictor.New(testRuntime, testModel, predictor.Options{MaxBatch: 8})
	return err
}

// readImage reads a real image file: a photo by its name in photosDir, or
// a file of preprocess/testdata given as "testdata/NAME".
func readImage(t testing.TB, name string) []byte {
	t.Helper()
	path := filepath.Join(photosDir, name)
	if rest, ok := strings.CutPrefix(name, "testdata/"); ok {
		path = filepath.Join(testdataDir, rest)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading test image (the photos come from scripts/setup.sh): %v", err)
	}
	return b
}

// serverOpts tunes startServer.
type serverOpts struct {
	edit func(*Options)     // changes to testOptions
	pred *predictor.Options // when set, serve a predictor of its own on testModel
	hook func(n int)        // Server.beforeForward
}

// testOptions are the options cmd/tagnet-predict builds from the default
// configuration (TestServeOptions there holds the two together), listening
// on a free port.
func testOptions(t testing.TB) Options {
	return Options{
		Listen:          "127.0.0.1:0",
		MaxBodyBytes:    20 << 20,
		ReadTimeout:     30 * time.Second,
		WriteTimeout:    30 * time.Second,
		RequestTimeout:  10 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		QueueSize:       64,
		MaxDelay:        5 * time.Millisecond,
		Logger:          zaptest.NewLogger(t),
	}
}

// openPredictor opens testModel with opts; it is closed when the test ends.
func openPredictor(t *testing.T, opts predictor.Options) *predictor.Predictor {
	t.Helper()
	p, err := predictor.New(testRuntime, testModel, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // after the server's own cleanup, registered later
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// testServer is a Server serving on 127.0.0.1:0.
type testServer struct {
	s    *Server
	url  string
	addr string

	cancel context.CancelFunc
	done   chan error // Serve's result
	once   sync.Once
	err    error
	seen   bool // the test called stop and checked Serve's result itself
}

// startServer builds a Server for testP (or a predictor opened with
// o.pred) from testOptions changed by o.edit, serves it on 127.0.0.1:0 and
// waits until it is ready. The server is stopped when the test ends.
func startServer(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	opt := testOptions(t)
	if o.edit != nil {
		o.edit(&opt)
	}
	p := testP
	if o.pred != nil {
		p = openPredictor(t, *o.pred)
	}
	s, err := New(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	s.beforeForward = o.hook
	return serveTest(t, s)
}

// serveTest serves s on 127.0.0.1:0 until the test ends and waits until
// it is ready.
func serveTest(t *testing.T, s *Server) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{s: s, url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		if err := ts.finish(); err != nil && !ts.seen {
			t.Errorf("serve: %v", err)
		}
	})
	waitFor(t, "the server to turn ready", func() bool {
		resp, err := http.Get(ts.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return ts
}

// stop cancels Serve's context and returns Serve's result, for the test
// to check.
func (ts *testServer) stop() error {
	ts.seen = true
	return ts.finish()
}

// finish cancels Serve's context and returns Serve's result.
func (ts *testServer) finish() error {
	ts.once.Do(func() {
		ts.cancel()
		ts.err = <-ts.done
	})
	return ts.err
}

// waitFor polls cond until it holds. The deadline only catches a hang; no
// test asserts how long anything takes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// gate is a beforeForward hook that holds every forward pass until
// release is closed, reporting each pass's size on entered.
type gate struct {
	entered chan int
	release chan struct{}
}

func newGate() *gate {
	return &gate{entered: make(chan int, 1000), release: make(chan struct{})}
}

func (g *gate) hook(n int) {
	g.entered <- n
	<-g.release
}

// apiErr is an error body as the tests read it.
type apiErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// response is an answer of /v1/predict (or an error body) as the tests
// read it.
type response struct {
	status       int
	header       http.Header
	ModelVersion string `json:"model_version"`
	Results      []struct {
		Index         int                `json:"index"`
		Name          string             `json:"name"`
		Labels        []string           `json:"labels"`
		Probabilities map[string]float64 `json:"probabilities"`
		Thresholds    map[string]float64 `json:"thresholds"`
		Error         *apiErr            `json:"error"`
	} `json:"results"`
	Error *apiErr `json:"error"`
}

// request sends a request and decodes its JSON answer. It returns an
// error instead of failing, so goroutines can use it.
func request(method, url string, body io.Reader, header http.Header) (*response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &response{status: resp.StatusCode, header: resp.Header}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return r, fmt.Errorf("%s %s: %d with content type %q: %s", method, url, resp.StatusCode, ct, b)
	}
	if err := json.Unmarshal(b, r); err != nil {
		return r, fmt.Errorf("%s %s: decoding %s: %w", method, url, b, err)
	}
	return r, nil
}

// postImage posts one image as the raw body.
func postImage(url string, img []byte, header http.Header) (*response, error) {
	h := http.Header{"Content-Type": {"image/jpeg"}}
	for k, v := range header {
		h[k] = v
	}
	return request(http.MethodPost, url+"/v1/predict", bytes.NewReader(img), h)
}

// part is one file of a multipart form.
type part struct {
	name string
	data []byte
}

// multipartBody encodes parts as a multipart/form-data form of files.
func multipartBody(t testing.TB, parts ...part) (io.Reader, http.Header) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		w, err := mw.CreateFormFile("image", p.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b, http.Header{"Content-Type": {mw.FormDataContentType()}}
}

// reference predicts img directly with testP.
func reference(t testing.TB, img []byte) predictor.Prediction {
	t.Helper()
	preds, errs := testP.PredictBytes(context.Background(), [][]byte{img})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	return preds[0]
}

// matches reports how the i-th result of r differs from want; "" when it
// does not.
func (r *response) matches(i int, want predictor.Prediction) string {
	if i >= len(r.Results) {
		return fmt.Sprintf("no result %d in %d", i, len(r.Results))
	}
	got := r.Results[i]
	if got.Error != nil {
		return fmt.Sprintf("result %d: error %+v", i, *got.Error)
	}
	if fmt.Sprint(got.Labels) != fmt.Sprint(want.Labels) {
		return fmt.Sprintf("result %d: labels %v, want %v", i, got.Labels, want.Labels)
	}
	if len(got.Probabilities) != len(want.Classes) || len(got.Thresholds) != len(want.Classes) {
		return fmt.Sprintf("result %d: %d probabilities and %d thresholds, want %d", i, len(got.Probabilities), len(got.Thresholds), len(want.Classes))
	}
	for k, c := range want.Classes {
		if d := math.Abs(got.Probabilities[c] - float64(want.Probabilities[k])); d > 1e-4 {
			return fmt.Sprintf("result %d: probability of %s %v, want %v", i, c, got.Probabilities[c], want.Probabilities[k])
		}
		if got.Thresholds[c] != want.Thresholds[k] {
			return fmt.Sprintf("result %d: threshold of %s %v, want %v", i, c, got.Thresholds[c], want.Thresholds[k])
		}
	}
	return ""
}

// scrape returns the value of the sample written exactly as series (name
// and labels in the exposition's sorted order), or an error when /metrics
// does not expose it.
func scrape(url string, header http.Header, series ...string) ([]float64, error) {
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d: %s", resp.StatusCode, b)
	}
	values := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		values[line[:i]] = v
	}
	out := make([]float64, len(series))
	var missing []error
	for k, s := range series {
		v, ok := values[s]
		if !ok {
			missing = append(missing, fmt.Errorf("/metrics has no sample %s", s))
		}
		out[k] = v
	}
	return out, errors.Join(missing...)
}
