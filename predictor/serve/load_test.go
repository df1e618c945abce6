package serve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/predictortest"
)

// distinctImages returns n small images, each different, as PNG and JPEG
// in turn, with their reference predictions.
func distinctImages(t *testing.T, n int) ([][]byte, []predictor.Prediction) {
	t.Helper()
	imgs := make([][]byte, n)
	for i := range imgs {
		var err error
		if imgs[i], err = predictortest.Image(i, 80+i%7, 70+i%5, i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	preds, errs := testP.PredictBytes(context.Background(), imgs)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return imgs, preds
}

// TestQueueFullAndBatching holds the model so that the queue fills up
// exactly: every request beyond server.queue_size gets 429, the queued ones
// run as one batch, and the metrics count it all.
func TestQueueFullAndBatching(t *testing.T) {
	g := newGate()
	ts := startServer(t, serverOpts{hook: g.hook, pred: &predictor.Options{MaxBatch: 2}, edit: func(o *Options) {
		o.QueueSize = 2
		o.Batching, o.MaxDelay = true, time.Minute
	}})
	imgs, want := distinctImages(t, 4)

	type answer struct {
		i   int
		r   *response
		err error
	}
	answers := make(chan answer, 4)
	send := func(i int) {
		r, err := postImage(ts.url, imgs[i], nil)
		answers <- answer{i, r, err}
	}
	// A and B fill the first batch (max_batch 2), which the gate holds in
	// the model; C and D then take both queue slots.
	go send(0)
	go send(1)
	if n := <-g.entered; n != 2 {
		t.Fatalf("first forward pass of %d images, want 2", n)
	}
	go send(2)
	go send(3)
	waitFor(t, "two queued requests", func() bool { return len(ts.s.queue) == 2 })

	// Every further request finds the queue full.
	const extra = 64
	codes := make(chan string, extra)
	var wg sync.WaitGroup
	for i := range extra {
		wg.Go(func() {
			r, err := postImage(ts.url, imgs[i%4], nil)
			switch {
			case err != nil:
				codes <- err.Error()
			case r.Error != nil:
				codes <- fmt.Sprintf("%d %s", r.status, r.Error.Code)
			default:
				codes <- fmt.Sprint(r.status)
			}
		})
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != "429 queue_full" {
			t.Errorf("request beyond the queue: %s, want 429 queue_full", c)
		}
	}

	close(g.release)
	for range 4 {
		a := <-answers
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.r.status != http.StatusOK {
			t.Errorf("request %d: %d %+v", a.i, a.r.status, a.r.Error)
			continue
		}
		if d := a.r.matches(0, want[a.i]); d != "" {
			t.Errorf("request %d got another image's prediction: %s", a.i, d)
		}
	}
	if n := <-g.entered; n != 2 {
		t.Errorf("second forward pass of %d images, want the 2 queued requests together", n)
	}

	got, err := scrape(ts.url, nil,
		`tagnet_http_requests_total{code="200",handler="predict"}`,
		`tagnet_http_requests_total{code="429",handler="predict"}`,
		`tagnet_errors_total{kind="queue_full"}`,
		`tagnet_batch_size_count`,
		`tagnet_batch_size_sum`,
		`tagnet_images_total{result="ok"}`,
		`tagnet_queue_depth`,
		`tagnet_forward_duration_seconds_count`,
		`tagnet_http_request_duration_seconds_count{handler="predict"}`,
		`tagnet_http_requests_in_flight`,
		`tagnet_model_info{arch="resnet-tiny",provider="cpu",version="`+testP.Version()+`"}`,
	)
	if err != nil {
		t.Fatal(err)
	}
	want2 := []float64{4, extra, extra, 2, 4, 4, 0, 2, 4 + extra, 1, 1}
	for i := range want2 {
		if got[i] != want2[i] {
			t.Errorf("metrics: got %v, want %v", got, want2)
			break
		}
	}
}

// TestTimeoutInQueue: a request whose time runs out while queued is
// answered 503 timeout and never runs.
func TestTimeoutInQueue(t *testing.T) {
	g := newGate()
	ts := startServer(t, serverOpts{hook: g.hook, edit: func(o *Options) {
		o.RequestTimeout = 300 * time.Millisecond
	}})
	imgs, _ := distinctImages(t, 2)
	first := make(chan *response, 1)
	go func() {
		r, err := postImage(ts.url, imgs[0], nil)
		if err != nil {
			t.Error(err)
		}
		first <- r
	}()
	<-g.entered // the first request is in the model, held there
	r, err := postImage(ts.url, imgs[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusServiceUnavailable || r.Error == nil || r.Error.Code != codeTimeout ||
		!strings.Contains(r.Error.Message, "server.request_timeout") || r.header.Get("Retry-After") == "" {
		t.Errorf("queued past its time: %d %+v, want 503 timeout with Retry-After", r.status, r.Error)
	}
	// The first request ran out of time in the model: 503 timeout too.
	if r := <-first; r == nil || r.status != http.StatusServiceUnavailable || r.Error.Code != codeTimeout {
		t.Errorf("the request held in the model: %+v, want 503 timeout", r)
	}
	close(g.release)
	// The worker drops the timed-out request instead of running it: the
	// next forward pass is a new request's.
	imgs2, want := distinctImages(t, 1)
	r, err = postImage(ts.url, imgs2[0], nil)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("request after the timeouts: %v %+v", err, r)
	}
	if d := r.matches(0, want[0]); d != "" {
		t.Error(d)
	}
	if n := len(g.entered); n != 1 {
		t.Errorf("%d forward passes after the held one, want 1 (the timed-out request must not run)", n)
	}
}

// TestConcurrentLoad sends many requests at once through a tiny queue with
// batching: each is answered 200 with its own images' predictions, or
// refused with 429 (queue full) or 503 (timeout); nothing else.
func TestConcurrentLoad(t *testing.T) {
	ts := startServer(t, serverOpts{pred: &predictor.Options{MaxBatch: 4}, edit: func(o *Options) {
		o.QueueSize = 3
		o.Batching, o.MaxDelay = true, 2*time.Millisecond
	}})
	imgs, want := distinctImages(t, 16)
	photo := readImage(t, "horses.jpg")
	photoWant := reference(t, photo)

	const clients, each = 64, 3
	var mu sync.Mutex
	counts := map[string]int{}
	var failures []string
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for k := range each {
				i, j := (c*each+k)%len(imgs), (c*each+k+5)%len(imgs)
				var r *response
				var err error
				var expect []predictor.Prediction
				switch k {
				case 0: // one image
					r, err = postImage(ts.url, imgs[i], nil)
					expect = []predictor.Prediction{want[i]}
				case 1: // two images in a form
					body, h := multipartBody(t, part{"a.png", imgs[i]}, part{"b.png", imgs[j]})
					r, err = request(http.MethodPost, ts.url+"/v1/predict", body, h)
					expect = []predictor.Prediction{want[i], want[j]}
				default: // a real photo
					r, err = postImage(ts.url, photo, nil)
					expect = []predictor.Prediction{photoWant}
				}
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case r.status == http.StatusOK:
					counts["200"]++
					for x := range expect {
						if d := r.matches(x, expect[x]); d != "" {
							failures = append(failures, fmt.Sprintf("client %d request %d: %s", c, k, d))
						}
					}
				case r.status == http.StatusTooManyRequests && r.Error.Code == codeQueueFull,
					r.status == http.StatusServiceUnavailable && r.Error.Code == codeTimeout:
					counts[fmt.Sprintf("%d %s", r.status, r.Error.Code)]++
				default:
					failures = append(failures, fmt.Sprintf("undocumented answer %d %+v", r.status, r.Error))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("answers: %v", counts)
	for _, f := range failures {
		t.Error(f)
	}
	if counts["200"] == 0 {
		t.Error("no request succeeded")
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != clients*each {
		t.Errorf("%d answers counted, want %d", total, clients*each)
	}
}

// TestGracefulShutdown cancels Serve's context while requests are in the
// model and in the queue: the server turns not ready, stops accepting,
// answers every one of them 200, and only then returns.
func TestGracefulShutdown(t *testing.T) {
	g := newGate()
	ts := startServer(t, serverOpts{hook: g.hook, edit: func(o *Options) {
		o.QueueSize = 8
	}})
	probe := serveHandler(t, ts.s.Handler()) // the same handler, still reachable once ts stops accepting
	imgs, want := distinctImages(t, 4)

	type answer struct {
		i   int
		r   *response
		err error
	}
	answers := make(chan answer, len(imgs))
	for i := range imgs {
		go func() {
			r, err := postImage(ts.url, imgs[i], nil)
			answers <- answer{i, r, err}
		}()
		if i == 0 {
			<-g.entered // the first is in the model; the others queue
		}
	}
	waitFor(t, "three queued requests", func() bool { return len(ts.s.queue) == 3 })

	ts.cancel()
	waitFor(t, "shutdown to begin", func() bool { return !ts.s.Ready() })
	resp, err := http.Get(probe + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz during shutdown: %d, want 503", resp.StatusCode)
	}
	r, err := postImage(probe, imgs[0], nil)
	if err != nil || r.status != http.StatusServiceUnavailable || r.Error.Code != codeShuttingDown {
		t.Errorf("new prediction during shutdown: %v %+v, want 503 shutting_down", err, r)
	}
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", ts.addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-ts.done:
		t.Fatalf("Serve returned with requests in flight: %v", err)
	default:
	}

	close(g.release)
	var got []int
	for range imgs {
		a := <-answers
		if a.err != nil {
			t.Fatalf("request %d: %v", a.i, a.err)
		}
		if a.r.status != http.StatusOK {
			t.Errorf("request %d: %d %+v, want 200", a.i, a.r.status, a.r.Error)
			continue
		}
		if d := a.r.matches(0, want[a.i]); d != "" {
			t.Errorf("request %d: %s", a.i, d)
		}
		got = append(got, a.i)
	}
	sort.Ints(got)
	if err := ts.stop(); err != nil {
		t.Errorf("Serve: %v, want nil after a drained shutdown", err)
	}
	t.Logf("drained requests %v", got)
}

// TestShutdownTimeout: when requests outlast server.shutdown_timeout,
// Serve cuts them off and says so.
func TestShutdownTimeout(t *testing.T) {
	g := newGate()
	ts := startServer(t, serverOpts{hook: g.hook, edit: func(o *Options) {
		o.ShutdownTimeout = 50 * time.Millisecond
	}})
	imgs, _ := distinctImages(t, 1)
	done := make(chan error, 1)
	go func() {
		_, err := postImage(ts.url, imgs[0], nil)
		done <- err
	}()
	<-g.entered // the request is held in the model
	ts.cancel()
	if err := <-done; err == nil {
		t.Error("the cut-off request got an answer")
	}
	close(g.release) // let the worker finish, so Serve can return
	if err := ts.stop(); err == nil || !strings.Contains(err.Error(), "cut off") {
		t.Errorf("Serve: %v, want an error about requests cut off", err)
	}
}

// TestUnbatchedLargeRequest: without batching, a form larger than the
// predictor's MaxBatch runs in several forward passes and keeps its order.
func TestUnbatchedLargeRequest(t *testing.T) {
	g := newGate()
	close(g.release) // record sizes only
	ts := startServer(t, serverOpts{hook: g.hook})
	imgs, want := distinctImages(t, 19)
	parts := make([]part, len(imgs))
	for i := range imgs {
		parts[i] = part{fmt.Sprintf("%02d.png", i), imgs[i]}
	}
	body, h := multipartBody(t, parts...)
	r, err := request(http.MethodPost, ts.url+"/v1/predict", body, h)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("%v %+v", err, r)
	}
	for i := range imgs {
		if d := r.matches(i, want[i]); d != "" {
			t.Error(d)
		}
	}
	var sizes []int
	for len(g.entered) > 0 {
		sizes = append(sizes, <-g.entered)
	}
	if fmt.Sprint(sizes) != "[8 8 3]" { // testP's MaxBatch is 8
		t.Errorf("forward passes %v, want [8 8 3]", sizes)
	}
}
