package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/predictor"
)

// MaxImages is the largest number of images one request may carry. With
// Options.QueueSize it bounds the memory held by decoded images.
const MaxImages = 64

// Options configures a Server. cmd/tagnet-predict builds it from the
// configuration's server section (server.listen, server.max_body_bytes,
// …; the defaults are config's), the way it builds the predictor's session
// options from the runtime section; this package never reads the
// configuration itself. The pixel limit, the largest forward pass and the
// warm-up are the predictor's (predictor.Options MaxPixels, MaxBatch and
// Warmup): a Server only schedules requests onto it.
type Options struct {
	// Listen is the host:port Run listens on, such as "127.0.0.1:8080" or
	// ":8080"; Serve, given its listener, ignores it.
	Listen string
	// MaxBodyBytes caps a request body, in bytes; it must be at least 1.
	MaxBodyBytes int64
	// ReadTimeout and WriteTimeout are the http.Server's; zero means none.
	ReadTimeout, WriteTimeout time.Duration
	// RequestTimeout bounds the handling of one request, queueing
	// included; zero means none.
	RequestTimeout time.Duration
	// ShutdownTimeout is how long a graceful shutdown waits for requests
	// in flight; zero stops at once.
	ShutdownTimeout time.Duration
	// QueueSize is the number of requests that may wait for the model; it
	// must be at least 1. More are refused with 429 Too Many Requests.
	QueueSize int
	// Batching, when true, groups concurrent requests into forward passes
	// of up to the predictor's MaxBatch images; each request otherwise
	// runs alone (its own images still form one batch).
	Batching bool
	// MaxDelay is how long a batch waits for more requests once batching
	// has taken its first one; zero takes only the requests already
	// waiting. It must not be negative.
	MaxDelay time.Duration
	// BearerToken, when not empty, is the token /v1/predict, /v1/model and
	// /metrics require as "Authorization: Bearer …". Empty means the
	// service is open.
	BearerToken string
	// Logger receives the server's log lines. Nil means none.
	Logger *zap.Logger
}

// validate reports every unusable field of o.
func (o *Options) validate() error {
	var errs []error
	if o.MaxBodyBytes < 1 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes %d must be at least 1", o.MaxBodyBytes))
	}
	if o.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("QueueSize %d must be at least 1", o.QueueSize))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ReadTimeout", o.ReadTimeout}, {"WriteTimeout", o.WriteTimeout}, {"RequestTimeout", o.RequestTimeout},
		{"ShutdownTimeout", o.ShutdownTimeout}, {"MaxDelay", o.MaxDelay}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s must not be negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// Server states.
const (
	stateStarting int32 = iota // the model worker has not started: not ready
	stateReady                 // serving predictions
	stateStopping              // shutdown has begun: not ready
)

// ErrStarted is returned by Serve when the Server already served once.
var ErrStarted = errors.New("serve: server already started")

// Server is the HTTP prediction service for one Predictor. Build it with
// New, then call Serve once; Handler exposes its routes for callers that
// run their own http.Server. The Server does not close the Predictor.
type Server struct {
	p       *predictor.Predictor
	opt     Options
	log     *zap.Logger
	token   []byte // required bearer token; nil when auth is off
	m       *metrics
	handler http.Handler

	chunk    int           // most images per forward pass: the predictor's MaxBatch
	batching bool          // collect requests into batches
	maxDelay time.Duration // how long a batch waits for more requests
	runOpts  predictor.RunOptions

	state   atomic.Int32
	started atomic.Bool
	slots   chan struct{} // queue slots: a request holds one until the worker takes it
	queue   chan *job     // preprocessed requests waiting for the worker
	stop    chan struct{} // closed to stop the worker
	stopped chan struct{} // closed when the worker has returned

	// beforeForward, when set (by tests), is called by the worker before
	// each forward pass with the number of images.
	beforeForward func(n int)
}

// New builds the service for p with opt (limits, timeouts, queue,
// batching, auth). An unusable opt is an error naming every bad field.
// The Server does not warm the model up: p did when it was opened
// (predictor.Options.Warmup).
func New(p *predictor.Predictor, opt Options) (*Server, error) {
	if p == nil {
		return nil, errors.New("serve: nil predictor")
	}
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	log := opt.Logger
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("component", "serve"))
	s := &Server{
		p:        p,
		opt:      opt,
		log:      log,
		m:        newMetrics(),
		chunk:    p.MaxBatch(),
		batching: opt.Batching,
		maxDelay: opt.MaxDelay,
		slots:    make(chan struct{}, opt.QueueSize),
		queue:    make(chan *job, opt.QueueSize),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if opt.BearerToken != "" {
		s.token = []byte(opt.BearerToken)
	}
	s.runOpts = predictor.RunOptions{
		BeforePass: func(n int) {
			if s.beforeForward != nil {
				s.beforeForward(n)
			}
		},
		AfterPass: func(n int, took time.Duration) {
			s.m.forward.Observe(took.Seconds())
			s.m.batchSize.Observe(float64(n))
		},
	}
	info := p.Info()
	s.m.modelInfo.WithLabelValues(p.Version(), info.Spec.Arch, p.Provider()).Set(1)
	s.handler = s.routes()
	if opt.WriteTimeout > 0 && (opt.RequestTimeout == 0 || opt.RequestTimeout > opt.WriteTimeout) {
		log.Warn("the write timeout is shorter than the request timeout: slow answers will be cut off",
			zap.Duration("write_timeout", opt.WriteTimeout), zap.Duration("request_timeout", opt.RequestTimeout))
	}
	return s, nil
}

// Handler returns the service's routes. They answer 503 to predictions
// until Serve has started the model worker.
func (s *Server) Handler() http.Handler { return s.handler }

// Ready reports whether the server answers predictions: Serve has started
// the model worker and shutdown has not begun.
func (s *Server) Ready() bool { return s.state.Load() == stateReady }

// Serve starts the model worker (then turns ready) and serves HTTP on ln
// until ctx is done. Then it shuts down gracefully:
// it turns not ready, closes ln, waits up to server.shutdown_timeout for
// requests in flight and queued to be answered, stops the worker and
// returns nil, or an error when the timeout cut requests off. It returns
// an error at once when serving fails. Serve may be called only once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrStarted
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadTimeout:       s.opt.ReadTimeout,
		ReadHeaderTimeout: s.opt.ReadTimeout,
		WriteTimeout:      s.opt.WriteTimeout,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	go s.work()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.log.Info("serving", zap.String("addr", ln.Addr().String()),
		zap.String("model_version", s.p.Version()), zap.String("provider", s.p.Provider()),
		zap.Bool("batching", s.batching), zap.Int("max_batch", s.chunk),
		zap.Int("queue_size", s.opt.QueueSize), zap.Bool("auth", s.token != nil))

	var failure error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-served:
			served = nil
			failure = fmt.Errorf("serving HTTP: %w", err)
			break wait
		}
	}
	s.state.Store(stateStopping)
	if failure == nil {
		s.log.Info("shutting down: draining requests", zap.Duration("timeout", s.opt.ShutdownTimeout))
	} else {
		s.log.Error("stopping", zap.Error(failure))
	}
	err := s.shutdown(hs)
	close(s.stop)
	<-s.stopped
	if served != nil {
		if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && failure == nil {
			failure = fmt.Errorf("serving HTTP: %w", serr)
		}
	}
	if failure != nil {
		return failure
	}
	if err != nil {
		return err
	}
	s.log.Info("shut down")
	return nil
}

// shutdown stops hs: gracefully within the shutdown timeout, at once when
// it is zero or has passed.
func (s *Server) shutdown(hs *http.Server) error {
	if s.opt.ShutdownTimeout <= 0 {
		if err := hs.Close(); err != nil {
			return fmt.Errorf("closing HTTP server: %w", err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opt.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		cerr := hs.Close()
		return errors.Join(fmt.Errorf("shutting down: requests still running after %s were cut off: %w", s.opt.ShutdownTimeout, err), cerr)
	}
	return nil
}

// Run serves p with opt: it listens on opt.Listen and calls Serve until
// ctx is done. cmd's serve subcommand calls it with a context cancelled on
// SIGTERM and SIGINT.
func Run(ctx context.Context, p *predictor.Predictor, opt Options) error {
	s, err := New(p, opt)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opt.Listen)
	if err != nil {
		return fmt.Errorf("serve: listening on %s: %w", opt.Listen, err)
	}
	return s.Serve(ctx, ln)
}
