package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// statusClientClosed is the status recorded in metrics for a request whose
// client went away before it was answered (nginx's convention); it is never
// sent.
const statusClientClosed = 499

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	queueDepth prometheus.Gauge
	batchSize  prometheus.Histogram
	forward    prometheus.Histogram
	errors     *prometheus.CounterVec
	images     *prometheus.CounterVec
	modelInfo  *prometheus.GaugeVec
}

// newMetrics builds and registers the metrics. Registration can fail only
// through a programming error (two metrics of one name), hence MustRegister.
func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagnet_http_requests_total",
			Help: "HTTP requests answered, by handler and status code (499: the client went away first).",
		}, []string{"handler", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tagnet_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by handler.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"handler"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tagnet_http_requests_in_flight",
			Help: "HTTP requests being handled.",
		}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tagnet_queue_depth",
			Help: "Prediction requests holding a queue slot: reading, decoding or waiting for the model.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tagnet_batch_size",
			Help:    "Images per forward pass.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		forward: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tagnet_forward_duration_seconds",
			Help:    "Time of one forward pass through the model.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagnet_errors_total",
			Help: "Refused requests and failed images, by error code (bad_image and too_many_pixels count images, the others requests).",
		}, []string{"kind"}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tagnet_images_total",
			Help: "Images received for prediction, by result: ok or error.",
		}, []string{"result"}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tagnet_model_info",
			Help: "1 for the model being served.",
		}, []string{"version", "arch", "provider"}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.inFlight, m.queueDepth, m.batchSize,
		m.forward, m.errors, m.images, m.modelInfo,
	)
	return m
}

// handler serves the registry in the Prometheus exposition formats.
func (m *metrics) handler(log *zap.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(log),
		Registry: m.reg,
	})
}

// statusWriter records the status code a handler sends.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts, times and tracks the requests of one handler.
func (m *metrics) instrument(name string, h http.Handler) http.Handler {
	dur := m.duration.WithLabelValues(name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		code := sw.code
		if code == 0 {
			// Nothing written: the handler gave up on a client that had
			// already gone away.
			code = statusClientClosed
		}
		m.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		dur.Observe(time.Since(start).Seconds())
	})
}
