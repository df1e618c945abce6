package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/preprocess"
)

// Error codes of the JSON error bodies; see the package documentation.
const (
	codeBadRequest    = "bad_request"
	codeUnauthorized  = "unauthorized"
	codeBodyTooLarge  = "body_too_large"
	codeTooManyPixels = "too_many_pixels"
	codeTooManyImages = "too_many_images"
	codeBadImage      = "bad_image"
	codeQueueFull     = "queue_full"
	codeNotReady      = "not_ready"
	codeShuttingDown  = "shutting_down"
	codeTimeout       = "timeout"
	codeInternal      = "internal"
	codeCanceled      = "canceled" // metrics only: the client went away
)

// apiError is an error answered to the client.
type apiError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/predict", s.m.instrument("predict", s.auth(http.HandlerFunc(s.handlePredict))))
	mux.Handle("GET /v1/model", s.m.instrument("model", s.auth(http.HandlerFunc(s.handleModel))))
	mux.Handle("GET /metrics", s.m.instrument("metrics", s.auth(s.m.handler(s.log))))
	mux.Handle("GET /healthz", s.m.instrument("healthz", http.HandlerFunc(s.handleHealth)))
	mux.Handle("GET /readyz", s.m.instrument("readyz", http.HandlerFunc(s.handleReady)))
	return mux
}

// writeJSON answers v as JSON with status.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encoding a response", zap.Error(err))
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the response failed"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if _, err := w.Write(append(b, '\n')); err != nil {
		s.log.Debug("writing a response", zap.Error(err))
	}
}

// fail counts e and answers it.
func (s *Server) fail(w http.ResponseWriter, e *apiError) {
	s.m.errors.WithLabelValues(e.Code).Inc()
	s.answerError(w, e)
}

// answerError answers e without counting it.
func (s *Server) answerError(w http.ResponseWriter, e *apiError) {
	switch e.status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	if e.status >= 500 {
		s.log.Warn("request failed", zap.Int("status", e.status), zap.String("code", e.Code), zap.String("message", e.Message))
	}
	s.writeJSON(w, e.status, struct {
		Error *apiError `json:"error"`
	}{e})
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	switch s.state.Load() {
	case stateReady:
		s.writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "model_version": s.p.Version()})
	case stateStarting:
		w.Header().Set("Retry-After", "1")
		s.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting"})
	default:
		s.writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting_down"})
	}
}

func (s *Server) handleModel(w http.ResponseWriter, _ *http.Request) {
	info := s.p.Info()
	info.Path = filepath.Base(info.Path) // the server's file system is nobody's business
	s.writeJSON(w, http.StatusOK, info)
}

// upload is one image of a request.
type upload struct {
	name string
	data []byte
}

// result is one image's entry in the answer: its prediction or its error.
type result struct {
	index int
	name  string
	pred  *predictor.Prediction
	err   *apiError
}

// MarshalJSON writes {"index", "name", "error"} or {"index", "name",
// "labels", "probabilities", "thresholds"}, the last three as
// predictor.Prediction writes them.
func (r result) MarshalJSON() ([]byte, error) {
	head, err := json.Marshal(struct {
		Index int       `json:"index"`
		Name  string    `json:"name,omitempty"`
		Error *apiError `json:"error,omitempty"`
	}{r.index, r.name, r.err})
	if err != nil || r.pred == nil {
		return head, err
	}
	body, err := r.pred.MarshalJSON()
	if err != nil {
		return nil, err
	}
	if len(body) < 2 || body[0] != '{' || len(head) < 2 {
		return nil, fmt.Errorf("encoding prediction: unexpected JSON %.20q", body)
	}
	// Splice the two objects: {head…} + {body…} → {head…,body…}.
	out := make([]byte, 0, len(head)+len(body))
	out = append(out, head[:len(head)-1]...)
	out = append(out, ',')
	return append(out, body[1:]...), nil
}

// predictResponse is the answer to POST /v1/predict.
type predictResponse struct {
	ModelVersion string   `json:"model_version"`
	Results      []result `json:"results"`
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.opt.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opt.RequestTimeout)
		defer cancel()
	}
	switch s.state.Load() {
	case stateStarting:
		s.fail(w, &apiError{http.StatusServiceUnavailable, codeNotReady, "the model is warming up"})
		return
	case stateStopping:
		s.fail(w, &apiError{http.StatusServiceUnavailable, codeShuttingDown, "the server is shutting down"})
		return
	}
	if r.ContentLength > s.opt.MaxBodyBytes {
		s.fail(w, s.bodyTooLarge())
		return
	}

	// Take a queue slot before reading anything; the worker gives it back
	// when it takes the job.
	select {
	case s.slots <- struct{}{}:
		s.m.queueDepth.Inc()
	default:
		s.fail(w, &apiError{http.StatusTooManyRequests, codeQueueFull,
			fmt.Sprintf("%d requests are already waiting for the model (server.queue_size); retry later", s.opt.QueueSize)})
		return
	}
	holding := true
	defer func() {
		if holding {
			s.release()
		}
	}()

	ups, aerr := s.readImages(w, r)
	if aerr != nil {
		s.fail(w, aerr)
		return
	}
	results := make([]result, len(ups))
	b, good := s.preprocess(ups, results)
	if err := ctx.Err(); err != nil {
		s.gaveUp(w, err)
		return
	}
	if len(good) == 0 && len(ups) == 1 {
		s.answerError(w, results[0].err) // counted by preprocess
		return
	}
	if len(good) > 0 {
		j := &job{ctx: ctx, batch: b, n: len(good), result: make(chan error, 1)}
		select {
		case s.queue <- j:
			holding = false
		default:
			// Unreachable: the queue holds as many jobs as there are slots.
			s.fail(w, &apiError{http.StatusTooManyRequests, codeQueueFull, "the queue is full; retry later"})
			return
		}
		var err error
		select {
		case err = <-j.result:
		case <-ctx.Done():
			s.gaveUp(w, ctx.Err())
			return
		case <-s.stopped:
			s.fail(w, &apiError{http.StatusServiceUnavailable, codeShuttingDown, "the server shut down before the model answered"})
			return
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
			s.gaveUp(w, err)
			return
		case errors.Is(err, errShuttingDown):
			s.fail(w, &apiError{http.StatusServiceUnavailable, codeShuttingDown, "the server shut down before the model answered"})
			return
		case err != nil:
			s.fail(w, &apiError{http.StatusInternalServerError, codeInternal, "the model failed to run"})
			return
		}
		for _, i := range good {
			pred, err := b.Result(i)
			if err != nil { // unreachable: Run succeeded for every decoded slot
				s.fail(w, &apiError{http.StatusInternalServerError, codeInternal, "the model failed to run"})
				return
			}
			results[i].pred = &pred
		}
	}
	s.m.images.WithLabelValues("ok").Add(float64(len(good)))
	s.writeJSON(w, http.StatusOK, predictResponse{ModelVersion: s.p.Version(), Results: results})
}

// gaveUp answers a request whose context ended: 503 timeout when its time
// ran out; nothing (but metrics) when its client went away.
func (s *Server) gaveUp(w http.ResponseWriter, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		s.fail(w, &apiError{http.StatusServiceUnavailable, codeTimeout,
			fmt.Sprintf("no answer from the model within %s (server.request_timeout)", s.opt.RequestTimeout)})
		return
	}
	s.m.errors.WithLabelValues(codeCanceled).Inc()
}

func (s *Server) bodyTooLarge() *apiError {
	return &apiError{http.StatusRequestEntityTooLarge, codeBodyTooLarge,
		fmt.Sprintf("the request body is over the limit of %d bytes (server.max_body_bytes)", s.opt.MaxBodyBytes)}
}

// readImages reads the request's images: the whole body, or every part of
// a multipart form.
func (s *Server) readImages(w http.ResponseWriter, r *http.Request) ([]upload, *apiError) {
	body := http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		data, err := io.ReadAll(body)
		if err != nil {
			return nil, s.readError(err)
		}
		if len(data) == 0 {
			return nil, &apiError{http.StatusBadRequest, codeBadRequest,
				"empty body: send one encoded image, or a multipart/form-data form of images"}
		}
		return []upload{{data: data}}, nil
	}
	boundary := params["boundary"]
	if boundary == "" {
		return nil, &apiError{http.StatusBadRequest, codeBadRequest, "multipart content type without a boundary"}
	}
	mr := multipart.NewReader(body, boundary)
	var ups []upload
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, s.readError(err)
		}
		if len(ups) == MaxImages {
			return nil, &apiError{http.StatusRequestEntityTooLarge, codeTooManyImages,
				fmt.Sprintf("the form holds more than %d images; split it into several requests", MaxImages)}
		}
		name := part.FileName()
		if name == "" {
			name = part.FormName()
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, s.readError(err)
		}
		ups = append(ups, upload{name: name, data: data})
	}
	if len(ups) == 0 {
		return nil, &apiError{http.StatusBadRequest, codeBadRequest, "the multipart form holds no images"}
	}
	return ups, nil
}

// readError classifies an error reading the body.
func (s *Server) readError(err error) *apiError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return s.bodyTooLarge()
	}
	return &apiError{http.StatusBadRequest, codeBadRequest, "reading the request: " + err.Error()}
}

// preprocess decodes the images in parallel into the slots of a new
// predictor.Batch, fills in results' names and errors, and returns the
// batch and the indices of the images that decoded.
func (s *Server) preprocess(ups []upload, results []result) (*predictor.Batch, []int) {
	b := s.p.NewBatch(len(ups))
	data := make([][]byte, len(ups))
	for i, u := range ups {
		data[i] = u.data
	}
	b.DecodeAll(data)
	var good []int
	for i := range results {
		results[i].index, results[i].name = i, ups[i].name
		if err := b.Err(i); err != nil {
			results[i].err = s.imageError(err)
			s.m.errors.WithLabelValues(results[i].err.Code).Inc()
			s.m.images.WithLabelValues("error").Inc()
			continue
		}
		good = append(good, i)
	}
	return b, good
}

// imageError classifies an error preprocessing one image.
func (s *Server) imageError(err error) *apiError {
	var le *preprocess.LimitError
	if errors.As(err, &le) && le.What == "pixels" {
		return &apiError{http.StatusRequestEntityTooLarge, codeTooManyPixels,
			fmt.Sprintf("the image has %d pixels, over the limit of %d (server.max_pixels); scale it down", le.Got, le.Limit)}
	}
	if errors.Is(err, predictor.ErrImage) {
		return &apiError{http.StatusUnprocessableEntity, codeBadImage, err.Error()}
	}
	s.log.Error("preprocessing an image", zap.Error(err))
	return &apiError{http.StatusInternalServerError, codeInternal, "preprocessing failed"}
}
