package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/postprocess"
	"github.com/tagnet/tagnet/preprocess"
)

// Predict is the configuration of tagnet-predict. Keys are the YAML names
// of the fields, joined with dots: runtime.providers, server.listen, …
type Predict struct {
	// Model names the model file.
	Model ModelFile `yaml:"model"`
	// Runtime configures ONNX Runtime sessions.
	Runtime Runtime `yaml:"runtime"`
	// Thresholds says how per-class thresholds are picked from the sweep
	// stored in the model file.
	Thresholds Thresholds `yaml:"thresholds"`
	// Predict configures batch prediction over a directory.
	Predict Prediction `yaml:"predict"`
	// Server configures the HTTP service.
	Server Server `yaml:"server"`
	// Log configures the logger built by cmd/.
	Log Log `yaml:"log"`
}

// ModelFile is the model section of [Predict].
type ModelFile struct {
	// Path is the ONNX model written by tagnet-train. "" (the default) is
	// allowed by Validate, since some commands take the model as an
	// argument; commands that need it call [Predict.RequireModel].
	Path string `yaml:"path" config:"path" help:"ONNX model file"`
}

// Runtime is the runtime section of [Predict].
type Runtime struct {
	// Library is the path to libonnxruntime.so.1; "" (the default) means
	// $TAGNET_ORT_LIBRARY, then the project's own copy.
	Library string `yaml:"library" config:"path" help:"path to libonnxruntime.so.1"`
	// IntraOpThreads is ONNX Runtime's intra-op thread count, >= 0; 0 (the
	// default) leaves ONNX Runtime's own default.
	IntraOpThreads int `yaml:"intra_op_threads" help:"ONNX Runtime intra-op threads (0 = ORT default)"`
	// InterOpThreads is ONNX Runtime's inter-op thread count, >= 0; 0 (the
	// default) leaves ONNX Runtime's own default.
	InterOpThreads int `yaml:"inter_op_threads" help:"ONNX Runtime inter-op threads (0 = ORT default)"`
	// GraphOptimization is the graph optimisation level: "disable",
	// "basic", "extended" or "all" (the default).
	GraphOptimization ort.Optimization `yaml:"graph_optimization" help:"graph optimisation: disable, basic, extended or all"`
	// Providers lists the execution providers in order of preference, each
	// "cpu" or "cuda", without duplicates; default ["cpu"]. In the
	// environment, write them comma-separated: TAGNET_RUNTIME_PROVIDERS=cuda,cpu.
	Providers []ort.Provider `yaml:"providers" help:"execution providers in order of preference: cpu, cuda"`
	// CUDADeviceID is the GPU used by the cuda provider, >= 0; default 0.
	CUDADeviceID int `yaml:"cuda_device_id" help:"GPU used by the cuda provider"`
	// CUDNNConvAlgoSearch is cuDNN's convolution algorithm search:
	// "EXHAUSTIVE" (slow first run at each new shape), "HEURISTIC" (the
	// default) or "DEFAULT".
	CUDNNConvAlgoSearch ort.ConvAlgoSearch `yaml:"cudnn_conv_algo_search" help:"cuDNN convolution search: EXHAUSTIVE, HEURISTIC or DEFAULT"`
	// CUDAMemLimit caps the cuda provider's memory arena in bytes, >= 0;
	// 0 (the default) means no limit.
	CUDAMemLimit int64 `yaml:"cuda_mem_limit" help:"cuda memory arena limit in bytes (0 = unlimited)"`
	// OnUnavailable says what to do when a listed provider cannot be used:
	// "fail" (the default) or "fallback" (log a warning and go on with the
	// remaining providers, CPU as the last resort).
	OnUnavailable ort.Policy `yaml:"on_unavailable" help:"when a provider is unavailable: fail or fallback"`
	// Warmup runs one batch through each new session before its first
	// images (predict's first batch, serve's first request);
	// default true.
	Warmup bool `yaml:"warmup" help:"run a warm-up batch through a new session before its first images"`
}

// Thresholds is the thresholds section of [Predict].
type Thresholds struct {
	// Strategy picks each class's threshold from the sweep in the model
	// file; default f1. The forms, ranges and parser are the predictor's
	// ([postprocess.Strategy], [postprocess.ParseStrategy]); the zero value
	// means f1.
	Strategy postprocess.Strategy `yaml:"strategy" help:"threshold strategy: f1, accuracy, precision>=P, recall>=R or fixed:T"`
	// Overrides maps a label name to a fixed threshold in (0, 1) for that
	// class, taking precedence over Strategy. Label names keep their case.
	// Only a config file sets it (no environment variable or flag); nil
	// (the default) means none.
	Overrides map[string]float64 `yaml:"overrides"`
}

// Prediction is the predict section of [Predict]: batch prediction over a
// directory of images.
type Prediction struct {
	// BatchSize is the number of images per inference call, 1 to 4096;
	// default 32.
	BatchSize int `yaml:"batch_size" help:"images per inference call"`
	// Workers is the number of decoding goroutines, >= 0; 0 (the default)
	// means one per CPU.
	Workers int `yaml:"workers" help:"image-decoding goroutines (0 = number of CPUs)"`
	// Extensions lists the file extensions treated as images, each starting
	// with a dot, compared case-insensitively; default preprocess.Extensions,
	// every format the decoder reads (.jpg .jpeg .jpe .jfif .png .gif .webp
	// .heic .heif .avif .tif .tiff .bmp .dib). Comma-separated in the
	// environment.
	Extensions []string `yaml:"extensions" help:"file extensions treated as images"`
	// FollowSymlinks follows symbolic links while walking; default false.
	FollowSymlinks bool `yaml:"follow_symlinks" help:"follow symbolic links while walking the input"`
	// Output is the results file; "" (the default) means standard output.
	Output string `yaml:"output" config:"path" help:"results file (empty = standard output)"`
	// Resume skips images already present in Output; default false.
	Resume bool `yaml:"resume" help:"skip images already in predict.output"`
	// Shard selects this process's part of the input: "" (the default:
	// everything), "i/n", or "auto/n" with i from $JOB_COMPLETION_INDEX.
	// See [Shard].
	Shard Shard `yaml:"shard" help:"process shard i/n of the input (auto/n: i from $JOB_COMPLETION_INDEX)"`
	// MaxPixels refuses images with more pixels (width × height, read from
	// the header before decoding), >= 1; default preprocess.DefaultMaxPixels
	// (89,478,485, Pillow's limit), the same as training's.
	MaxPixels int64 `yaml:"max_pixels" help:"largest image accepted, in pixels"`
}

// Server is the server section of [Predict].
type Server struct {
	// Listen is the host:port to listen on; default "127.0.0.1:8080".
	// Use ":8080" to listen on every interface.
	Listen string `yaml:"listen" help:"address to listen on, host:port"`
	// MaxBodyBytes caps a request body, >= 1; default 20 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" help:"largest request body in bytes"`
	// MaxPixels refuses images with more pixels, >= 1; default
	// preprocess.DefaultMaxPixels (89,478,485), as predict.max_pixels.
	MaxPixels int64 `yaml:"max_pixels" help:"largest image accepted, in pixels"`
	// ReadTimeout is http.Server.ReadTimeout, >= 0 (0 = none); default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout" help:"HTTP read timeout (0 = none)"`
	// WriteTimeout is http.Server.WriteTimeout, >= 0 (0 = none); default 30s.
	WriteTimeout time.Duration `yaml:"write_timeout" help:"HTTP write timeout (0 = none)"`
	// RequestTimeout bounds the handling of one request, queueing included,
	// >= 0 (0 = none); default 10s.
	RequestTimeout time.Duration `yaml:"request_timeout" help:"time limit for handling one request (0 = none)"`
	// ShutdownTimeout is how long a graceful shutdown waits for requests in
	// flight, >= 0 (0 = stop at once); default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" help:"how long shutdown waits for requests in flight"`
	// QueueSize is the number of requests that may wait for the model,
	// >= 1; more are refused with 429 Too Many Requests. Default 64.
	QueueSize int `yaml:"queue_size" help:"requests that may wait for the model"`
	// Batching groups concurrent requests into one inference call.
	Batching Batching `yaml:"batching"`
	// Auth protects the prediction endpoints.
	Auth Auth `yaml:"auth"`
}

// Batching is the server.batching section of [Predict].
type Batching struct {
	// Enabled groups concurrent requests into batches; default false.
	Enabled bool `yaml:"enabled" help:"group concurrent requests into one inference call"`
	// MaxBatch is the largest batch, 1 to 4096; default 8.
	MaxBatch int `yaml:"max_batch" help:"largest batch of grouped requests"`
	// MaxDelay is how long the first request waits for others, >= 0;
	// default 5ms.
	MaxDelay time.Duration `yaml:"max_delay" help:"how long a request waits to be grouped"`
}

// Auth is the server.auth section of [Predict]. At most one of its fields
// may be set; with neither (the default) the service is open.
type Auth struct {
	// BearerToken is the token clients send as "Authorization: Bearer …";
	// "" (the default) means none. Prefer BearerTokenFile, or
	// $TAGNET_SERVER_AUTH_BEARER_TOKEN, over writing it in a file.
	BearerToken string `yaml:"bearer_token" help:"required bearer token (prefer --server.auth.bearer-token-file)"`
	// BearerTokenFile is a file whose content (trimmed of surrounding white
	// space) is the bearer token; "" (the default) means none.
	BearerTokenFile string `yaml:"bearer_token_file" config:"path" help:"file holding the required bearer token"`
}

// DefaultPredict returns the defaults of tagnet-predict.
func DefaultPredict() *Predict {
	return &Predict{
		Runtime: Runtime{
			GraphOptimization:   ort.OptimizeAll,
			Providers:           []ort.Provider{ort.ProviderCPU},
			CUDNNConvAlgoSearch: ort.ConvAlgoHeuristic,
			OnUnavailable:       ort.OnUnavailableFail,
			Warmup:              true,
		},
		Thresholds: Thresholds{Strategy: postprocess.Strategy{Kind: postprocess.KindF1}},
		Predict: Prediction{
			BatchSize:  32,
			Extensions: slices.Clone(preprocess.Extensions),
			MaxPixels:  preprocess.DefaultMaxPixels,
		},
		Server: Server{
			Listen:          "127.0.0.1:8080",
			MaxBodyBytes:    20 << 20,
			MaxPixels:       preprocess.DefaultMaxPixels,
			ReadTimeout:     30 * time.Second,
			WriteTimeout:    30 * time.Second,
			RequestTimeout:  10 * time.Second,
			ShutdownTimeout: 30 * time.Second,
			QueueSize:       64,
			Batching:        Batching{MaxBatch: 8, MaxDelay: 5 * time.Millisecond},
		},
		Log: defaultLog(),
	}
}

// Validate checks every key of p and returns all problems found, each a
// [*KeyError], joined with [errors.Join]. It does not require model.path;
// see [Predict.RequireModel].
func (p *Predict) Validate() error {
	var c checker
	p.Runtime.validate(&c)
	p.Thresholds.validate(&c)
	p.Predict.validate(&c)
	p.Server.validate(&c)
	p.Log.validate(&c)
	return c.err()
}

// RequireModel reports an error unless model.path is set; predict and
// serve call it, commands taking the model as an argument do not.
//
// fs, when not nil, is the command's flag set: the error names the flag
// its help shows (see [VisibleFlag]).
func (p *Predict) RequireModel(fs *pflag.FlagSet) error {
	if p.Model.Path == "" {
		return &KeyError{Key: "model.path", Reason: "is required: set it in the config file, $" + EnvName("model.path") + " or " + VisibleFlag(fs, "model.path")}
	}
	return nil
}

func (r *Runtime) validate(c *checker) {
	atLeast(c, "runtime.intra_op_threads", r.IntraOpThreads, 0)
	atLeast(c, "runtime.inter_op_threads", r.InterOpThreads, 0)
	// The value sets are ort's (typed there), so the configuration and
	// the session accept the same values.
	oneOfSet(c, "runtime.graph_optimization", r.GraphOptimization, ort.Optimizations())
	if len(r.Providers) == 0 {
		c.fail("runtime.providers", ort.Names(r.Providers), "must list at least one of %s", strings.Join(ort.Names(ort.Providers()), ", "))
	}
	for i, p := range r.Providers {
		key := fmt.Sprintf("runtime.providers[%d]", i)
		oneOfSet(c, key, p, ort.Providers())
		if first := slices.Index(r.Providers, p); first < i {
			c.fail(key, string(p), "duplicate of runtime.providers[%d]", first)
		}
	}
	atLeast(c, "runtime.cuda_device_id", r.CUDADeviceID, 0)
	oneOfSet(c, "runtime.cudnn_conv_algo_search", r.CUDNNConvAlgoSearch, ort.ConvAlgoSearches())
	atLeast(c, "runtime.cuda_mem_limit", r.CUDAMemLimit, 0)
	oneOfSet(c, "runtime.on_unavailable", r.OnUnavailable, ort.Policies())
}

// overrideKey is the key under which one entry of thresholds.overrides is
// reported.
func overrideKey(label string) string {
	return "thresholds.overrides[" + strconv.Quote(label) + "]"
}

func (t *Thresholds) validate(c *checker) {
	validateStrategy(c, "thresholds.strategy", t.Strategy)
	labels := make([]string, 0, len(t.Overrides))
	for l := range t.Overrides {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	for _, l := range labels {
		if l == "" {
			c.fail(overrideKey(l), l, "label must not be empty")
		}
		c.openUnit(overrideKey(l), t.Overrides[l])
	}
}

func (p *Prediction) validate(c *checker) {
	between(c, "predict.batch_size", p.BatchSize, 1, 4096)
	atLeast(c, "predict.workers", p.Workers, 0)
	for i, e := range p.Extensions {
		if len(e) < 2 || e[0] != '.' || strings.ContainsAny(e[1:], "./\\") {
			c.fail(fmt.Sprintf("predict.extensions[%d]", i), e, `must be a dot and a name, such as ".jpg"`)
		}
	}
	p.Shard.validate(c, "predict.shard")
	atLeast(c, "predict.max_pixels", p.MaxPixels, 1)
}

func (s *Server) validate(c *checker) {
	if _, port, err := net.SplitHostPort(s.Listen); err != nil {
		c.fail("server.listen", s.Listen, `must be host:port, such as "127.0.0.1:8080" or ":8080"`)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		c.fail("server.listen", s.Listen, "port must be a number from 0 to 65535")
	}
	atLeast(c, "server.max_body_bytes", s.MaxBodyBytes, 1)
	atLeast(c, "server.max_pixels", s.MaxPixels, 1)
	c.nonNegativeDuration("server.read_timeout", s.ReadTimeout)
	c.nonNegativeDuration("server.write_timeout", s.WriteTimeout)
	c.nonNegativeDuration("server.request_timeout", s.RequestTimeout)
	c.nonNegativeDuration("server.shutdown_timeout", s.ShutdownTimeout)
	atLeast(c, "server.queue_size", s.QueueSize, 1)
	between(c, "server.batching.max_batch", s.Batching.MaxBatch, 1, 4096)
	c.nonNegativeDuration("server.batching.max_delay", s.Batching.MaxDelay)
	if s.Auth.BearerToken != "" && s.Auth.BearerTokenFile != "" {
		c.fail("server.auth.bearer_token_file", s.Auth.BearerTokenFile, "must not be set together with server.auth.bearer_token")
	}
}
