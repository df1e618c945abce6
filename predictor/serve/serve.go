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

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/predictor"
)

// MaxImages is the largest number of images one request may carry. With
// server.queue_size it bounds the memory held by decoded images.
const MaxImages = 64

// Server states.
const (
	stateStarting int32 = iota // warming up: not ready
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
	cfg     config.Server
	warmup  bool
	log     *zap.Logger
	token   []byte // required bearer token; nil when auth is off
	m       *metrics
	handler http.Handler

	chunk    int           // most images per forward pass
	batching bool          // collect requests into batches
	maxDelay time.Duration // how long a batch waits for more requests

	state   atomic.Int32
	started atomic.Bool
	slots   chan struct{} // queue slots: a request holds one until the worker takes it
	queue   chan *job     // preprocessed requests waiting for the worker
	stop    chan struct{} // closed to stop the worker
	stopped chan struct{} // closed when the worker has returned

	batchBuf []float32 // the worker's buffer for batches of several jobs

	// beforeForward, when set (by tests), is called by the worker before
	// each forward pass with the number of images.
	beforeForward func(n int)
}

// New builds the service for p from cfg's server section (limits,
// timeouts, queue, batching, auth) and runtime.warmup. It reads the bearer
// token file, if any. log may be nil.
func New(p *predictor.Predictor, cfg *config.Predict, log *zap.Logger) (*Server, error) {
	if p == nil || cfg == nil {
		return nil, errors.New("serve: nil predictor or configuration")
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("component", "serve"))
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	sc := cfg.Server
	token, err := loadToken(sc.Auth)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	s := &Server{
		p:        p,
		cfg:      sc,
		warmup:   cfg.Runtime.Warmup,
		log:      log,
		token:    token,
		m:        newMetrics(),
		chunk:    p.MaxBatch(),
		batching: sc.Batching.Enabled,
		maxDelay: sc.Batching.MaxDelay,
		slots:    make(chan struct{}, sc.QueueSize),
		queue:    make(chan *job, sc.QueueSize),
		stop:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	if s.batching {
		s.chunk = sc.Batching.MaxBatch
	}
	info := p.Info()
	s.m.modelInfo.WithLabelValues(p.Version(), info.Spec.Arch, p.Provider()).Set(1)
	s.handler = s.routes()
	if sc.WriteTimeout > 0 && (sc.RequestTimeout == 0 || sc.RequestTimeout > sc.WriteTimeout) {
		log.Warn("server.write_timeout is shorter than server.request_timeout: slow answers will be cut off",
			zap.Duration("write_timeout", sc.WriteTimeout), zap.Duration("request_timeout", sc.RequestTimeout))
	}
	return s, nil
}

// Handler returns the service's routes. They answer 503 to predictions
// until Serve has warmed the model up.
func (s *Server) Handler() http.Handler { return s.handler }

// Ready reports whether the server answers predictions: the model is
// warmed up and shutdown has not begun.
func (s *Server) Ready() bool { return s.state.Load() == stateReady }

// Serve starts the model worker, warms the model up (then turns ready),
// and serves HTTP on ln until ctx is done. Then it shuts down gracefully:
// it turns not ready, closes ln, waits up to server.shutdown_timeout for
// requests in flight and queued to be answered, stops the worker and
// returns nil, or an error when the timeout cut requests off. It returns
// an error at once when serving or warming up fails. Serve may be called
// only once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrStarted
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadTimeout:       s.cfg.ReadTimeout,
		ReadHeaderTimeout: s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	warmed := make(chan error, 1)
	go s.work(warmed)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.log.Info("serving", zap.String("addr", ln.Addr().String()),
		zap.String("model_version", s.p.Version()), zap.String("provider", s.p.Provider()),
		zap.Bool("batching", s.batching), zap.Int("max_batch", s.chunk),
		zap.Int("queue_size", s.cfg.QueueSize), zap.Bool("auth", s.token != nil))

	var failure error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-warmed:
			if err != nil {
				failure = err
				break wait
			}
			warmed = nil
		case err := <-served:
			served = nil
			failure = fmt.Errorf("serving HTTP: %w", err)
			break wait
		}
	}
	s.state.Store(stateStopping)
	if failure == nil {
		s.log.Info("shutting down: draining requests", zap.Duration("timeout", s.cfg.ShutdownTimeout))
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
	if s.cfg.ShutdownTimeout <= 0 {
		if err := hs.Close(); err != nil {
			return fmt.Errorf("closing HTTP server: %w", err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		cerr := hs.Close()
		return errors.Join(fmt.Errorf("shutting down: requests still running after %s were cut off: %w", s.cfg.ShutdownTimeout, err), cerr)
	}
	return nil
}

// Run serves p as cfg's server section says: it listens on server.listen
// (127.0.0.1:8080 by default) and calls Serve until ctx is done. cmd's
// serve subcommand calls it with a context cancelled on SIGTERM and SIGINT.
func Run(ctx context.Context, cfg *config.Predict, p *predictor.Predictor, log *zap.Logger) error {
	s, err := New(p, cfg, log)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("serve: listening on %s: %w", cfg.Server.Listen, err)
	}
	return s.Serve(ctx, ln)
}
