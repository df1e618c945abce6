package ort

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/models"
)

// LogitsOutput is the output name a Session runs when the model has it.
const LogitsOutput = "logits"

// CUDA provider library file names; ONNX Runtime loads them from the folder
// of libonnxruntime.so.1.
const (
	cudaProviderLibrary   = "libonnxruntime_providers_cuda.so"
	sharedProviderLibrary = "libonnxruntime_providers_shared.so"
)

// SessionOptions configures NewSession. The zero value runs on the CPU with
// ONNX Runtime's default threading and all graph optimisations.
type SessionOptions struct {
	// IntraOpThreads is the number of threads one Run uses inside an
	// operator. Zero means ONNX Runtime's default (one per physical core).
	IntraOpThreads int
	// InterOpThreads is the number of threads running independent operators
	// in parallel. Zero means ONNX Runtime's default. ONNX Runtime uses it
	// only in its parallel execution mode, which this package leaves off
	// (it does not help a ResNet's chain of operators).
	InterOpThreads int
	// GraphOptimization is one of Optimizations(): "disable", "basic",
	// "extended" or "all" (case does not matter). Empty means "all".
	GraphOptimization Optimization
	// Providers lists execution providers (of Providers()) in preference
	// order: "cpu", "cuda" (case does not matter). Empty means CPU only. The first entry
	// is the one set up; the CPU is always available, so entries after
	// "cpu" are never reached, and ["cuda", "cpu"] reads as "CUDA, else the
	// CPU" once OnUnavailable is "fallback". The CPU provider also runs any
	// operator an accelerator lacks.
	Providers []Provider
	// CUDA configures the CUDA provider when Providers lists "cuda".
	CUDA CUDAOptions
	// Spin, when true, lets ONNX Runtime's intra-op threads spin while they
	// wait for work between and within operators (its own default). False,
	// the default here, makes them sleep: tagnet decodes images on the
	// same cores while a batch runs, and spinning threads take those
	// cores from the decoders. A ResNet-50 over 12-megapixel JPEGs on 2
	// busy cores ran at 10.2–11.0 images/s without spinning against
	// 6.1–7.9 with it (same run, interleaved; README "Benchmarks").
	Spin bool
	// MaxRunBatch is the largest number of images one ONNX Runtime run
	// takes: a longer batch runs as consecutive runs of at most this many,
	// each writing its own rows of the output, so callers still see one
	// batch. Zero means DefaultCPURunBatch on the CPU provider and no limit
	// on CUDA. See DefaultCPURunBatch for why.
	MaxRunBatch int
	// OnUnavailable says what to do when a listed accelerator cannot be
	// set up, one of Policies(): "fail" returns an error wrapping ErrProviderUnavailable that
	// names the reason; "fallback" continues on the CPU and logs a warning
	// naming the reason. Empty means "fail".
	OnUnavailable Policy
	// Logger receives the session's log lines. Nil means the Runtime's
	// logger.
	Logger *zap.Logger
}

// DefaultCPURunBatch is the most images one run takes on the CPU provider
// by default. The memory ONNX Runtime's CPU provider holds for activations
// grows with the images in a run, while its cost per image stops falling
// at a few images, the convolutions being large products already. Measured
// in `tagnet-predict predict` on 32 12-megapixel JPEGs, 2 cores, same
// session, runs of 32 / 8 / 4 / 2: a ResNet-50 at 224 px went at 14.9–15.1
// / 18.8–19.6 / 19.0–20.4 / 20.0–21.4 images/s with a peak RSS of 0.71 /
// 0.37 / 0.32 / 0.29 GB; a ResNet-18 at 22–25 / 25–31 / 29–30 / 28–31
// images/s, 0.46 / 0.27 / 0.24 / 0.22 GB. Runs of 32 are slower as well as
// larger: their activations no longer fit the caches.
const DefaultCPURunBatch = 4

// CUDAOptions configures the CUDA execution provider.
type CUDAOptions struct {
	// DeviceID is the GPU to run on. Zero is the first GPU.
	DeviceID int
	// CudnnConvAlgoSearch is one of ConvAlgoSearches(): "HEURISTIC",
	// "EXHAUSTIVE" or "DEFAULT" (case does not matter). Empty means
	// "HEURISTIC": the exhaustive search makes the first run at each new
	// batch size slow.
	CudnnConvAlgoSearch ConvAlgoSearch
	// MemLimit caps the provider's memory arena in bytes. Zero means no
	// limit.
	MemLimit uint64
}

// Validate reports the first invalid field, wrapping ErrOptions.
func (o SessionOptions) Validate() error {
	if o.IntraOpThreads < 0 {
		return fmt.Errorf("%w: intra-op threads %d is negative", ErrOptions, o.IntraOpThreads)
	}
	if o.InterOpThreads < 0 {
		return fmt.Errorf("%w: inter-op threads %d is negative", ErrOptions, o.InterOpThreads)
	}
	if _, err := optimizationLevel(o.GraphOptimization); err != nil {
		return err
	}
	seen := map[Provider]bool{}
	for _, p := range o.Providers {
		name := normalize(p, false)
		if !in(name, Providers()) {
			return fmt.Errorf("%w: unknown execution provider %q (want one of %s)", ErrOptions, p, strings.Join(Names(Providers()), ", "))
		}
		if seen[name] {
			return fmt.Errorf("%w: execution provider %q listed twice", ErrOptions, p)
		}
		seen[name] = true
	}
	if pol := normalize(o.OnUnavailable, false); pol != "" && !in(pol, Policies()) {
		return fmt.Errorf("%w: on-unavailable policy %q (want one of %s)", ErrOptions, o.OnUnavailable, strings.Join(Names(Policies()), ", "))
	}
	if o.MaxRunBatch < 0 {
		return fmt.Errorf("%w: max run batch %d is negative", ErrOptions, o.MaxRunBatch)
	}
	if o.CUDA.DeviceID < 0 {
		return fmt.Errorf("%w: cuda device id %d is negative", ErrOptions, o.CUDA.DeviceID)
	}
	if _, err := convAlgoSearch(o.CUDA.CudnnConvAlgoSearch); err != nil {
		return err
	}
	return nil
}

func optimizationLevel(s Optimization) (onnxruntime.GraphOptimizationLevel, error) {
	switch normalize(s, false) {
	case "", OptimizeAll:
		return onnxruntime.GraphOptimizationLevelEnableAll, nil
	case OptimizeExtended:
		return onnxruntime.GraphOptimizationLevelEnableExtended, nil
	case OptimizeBasic:
		return onnxruntime.GraphOptimizationLevelEnableBasic, nil
	case OptimizeDisable:
		return onnxruntime.GraphOptimizationLevelDisableAll, nil
	}
	return 0, fmt.Errorf("%w: graph optimisation %q (want one of %s)", ErrOptions, s, strings.Join(Names(Optimizations()), ", "))
}

func convAlgoSearch(s ConvAlgoSearch) (ConvAlgoSearch, error) {
	v := normalize(s, true)
	if v == "" {
		return ConvAlgoHeuristic, nil
	}
	if in(v, ConvAlgoSearches()) {
		return v, nil
	}
	return "", fmt.Errorf("%w: cudnn conv algo search %q (want one of %s)", ErrOptions, s, strings.Join(Names(ConvAlgoSearches()), ", "))
}

// Session runs one model. Its shape facts are read once when it is opened.
// A Session is safe for concurrent use by many goroutines; Close waits for
// runs in flight.
type Session struct {
	rt       *Runtime
	logger   *zap.Logger
	provider string

	inputName   string
	inputShape  []int64 // as the model declares it; -1 for dynamic axes
	sampleSize  int     // elements of one sample: product of inputShape[1:]
	outputNames []string
	logitsName  string
	classes     int
	runBatch    int // most images per ONNX Runtime run; 0: no limit

	mu     sync.RWMutex // read-held by runs, write-held by Close
	sess   *onnxruntime.DynamicAdvancedSession
	closed bool
}

// NewSession opens the ONNX model at modelPath. The model must have one
// float32 input whose axes other than the first (the batch axis, usually
// dynamic) are fixed, and a float32 [N,C] output named "logits" (or, when
// none is so named, its first output). Providers are set up as opts
// describes; Session.Provider tells which one runs.
func NewSession(rt *Runtime, modelPath string, opts SessionOptions) (*Session, error) {
	fi, err := os.Stat(modelPath)
	if err != nil {
		return nil, fmt.Errorf("opening model: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("opening model %s: not a regular file", modelPath)
	}
	return newSession(rt, modelSource{path: modelPath}, opts)
}

// NewSessionFromBytes is NewSession for a model held in memory. The bytes
// are not needed after it returns.
func NewSessionFromBytes(rt *Runtime, model []byte, opts SessionOptions) (*Session, error) {
	if len(model) == 0 {
		return nil, errors.New("opening model: no bytes")
	}
	return newSession(rt, modelSource{data: model}, opts)
}

// modelSource is a model file or a model in memory.
type modelSource struct {
	path string
	data []byte
}

func (m modelSource) String() string {
	if m.path != "" {
		return m.path
	}
	return fmt.Sprintf("<%d bytes in memory>", len(m.data))
}

func newSession(rt *Runtime, src modelSource, opts SessionOptions) (s *Session, err error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := rt.acquire(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if rerr := rt.release(); rerr != nil {
				rt.logger.Warn("releasing onnx runtime", zap.Error(rerr))
			}
		}
	}()
	logger := opts.Logger
	if logger == nil {
		logger = rt.logger
	} else {
		logger = logger.With(zap.String("component", "ort"))
	}
	logger = logger.With(zap.String("model", src.String()))

	s = &Session{rt: rt, logger: logger}
	if err := s.readInputsOutputs(src); err != nil {
		return nil, fmt.Errorf("opening model %s: %w", src, err)
	}

	// The first provider listed is the one wanted; the CPU is always
	// available, so nothing after "cpu" is ever reached.
	wantCUDA := len(opts.Providers) > 0 && normalize(opts.Providers[0], false) == ProviderCUDA
	fallback := normalize(opts.OnUnavailable, false) == OnUnavailableFallback

	s.provider = string(ProviderCPU)
	if wantCUDA {
		s.sess, err = s.open(src, opts, true)
		if err == nil {
			s.provider = string(ProviderCUDA)
		} else {
			var pe *providerError
			if !fallback || !errors.As(err, &pe) {
				return nil, fmt.Errorf("opening model %s: %w", src, err)
			}
			logger.Warn("cuda execution provider unavailable; falling back to cpu",
				zap.String("provider", string(pe.provider)), zap.String("reason", pe.reason.Error()))
		}
	}
	if s.sess == nil {
		if s.sess, err = s.open(src, opts, false); err != nil {
			return nil, fmt.Errorf("opening model %s: %w", src, err)
		}
	}
	s.runBatch = opts.MaxRunBatch
	if s.runBatch == 0 && s.provider == string(ProviderCPU) {
		s.runBatch = DefaultCPURunBatch
	}
	if s.inputShape[0] > 0 {
		s.runBatch = 0 // a fixed batch axis runs whole: a shorter run would not fit it
	}
	logger.Info("onnx session ready",
		zap.String("provider", s.provider), zap.Int("max_run_batch", s.runBatch),
		zap.String("input", s.inputName), zap.Int64s("input_shape", s.inputShape),
		zap.String("output", s.logitsName), zap.Int("classes", s.classes))
	return s, nil
}

// readInputsOutputs reads the model's input and output names and shapes
// through a temporary, unoptimised CPU session.
func (s *Session) readInputsOutputs(src modelSource) error {
	var ins, outs []onnxruntime.InputOutputInfo
	var err error
	if src.path != "" {
		// Read from the file's graph without loading its weights: asking
		// ONNX Runtime would build a whole session first (for a ResNet-50,
		// 100 MB more at the peak of loading, and seconds).
		ins, outs, err = fileInputsOutputs(src.path)
	} else {
		ins, outs, err = onnxruntime.GetInputOutputInfoWithONNXData(src.data)
	}
	if err != nil {
		return fmt.Errorf("reading inputs and outputs: %w", err)
	}

	if len(ins) != 1 {
		return fmt.Errorf("%w: %d inputs, want 1", ErrModel, len(ins))
	}
	in := ins[0]
	if in.OrtValueType != onnxruntime.ONNXTypeTensor || in.DataType != onnxruntime.TensorElementDataTypeFloat {
		return fmt.Errorf("%w: input %q is %s, want a float32 tensor", ErrModel, in.Name, in.String())
	}
	if len(in.Dimensions) < 2 {
		return fmt.Errorf("%w: input %q has shape %v, want a batch axis and at least one more", ErrModel, in.Name, in.Dimensions)
	}
	size := 1
	for i, d := range in.Dimensions[1:] {
		if d <= 0 {
			return fmt.Errorf("%w: input %q has shape %v; only the batch axis may be dynamic", ErrModel, in.Name, in.Dimensions)
		}
		if size > math.MaxInt32/int(d) {
			return fmt.Errorf("%w: input %q: one sample of shape %v is too large (axis %d)", ErrModel, in.Name, in.Dimensions, i+1)
		}
		size *= int(d)
	}
	s.inputName = in.Name
	s.inputShape = slices.Clone([]int64(in.Dimensions))
	s.sampleSize = size

	if len(outs) == 0 {
		return fmt.Errorf("%w: no outputs", ErrModel)
	}
	out := outs[0]
	for _, o := range outs {
		s.outputNames = append(s.outputNames, o.Name)
		if o.Name == LogitsOutput {
			out = o
		}
	}
	if out.OrtValueType != onnxruntime.ONNXTypeTensor || out.DataType != onnxruntime.TensorElementDataTypeFloat {
		return fmt.Errorf("%w: output %q is %s, want a float32 tensor", ErrModel, out.Name, out.String())
	}
	if len(out.Dimensions) != 2 || out.Dimensions[1] <= 0 || out.Dimensions[1] > math.MaxInt32 {
		return fmt.Errorf("%w: output %q has shape %v, want [N,C] with C fixed", ErrModel, out.Name, out.Dimensions)
	}
	if b := out.Dimensions[0]; b > 0 && b != s.inputShape[0] {
		return fmt.Errorf("%w: output %q has batch axis %d, input %q has %d", ErrModel, out.Name, b, in.Name, s.inputShape[0])
	}
	s.logitsName = out.Name
	s.classes = int(out.Dimensions[1])
	return nil
}

// open creates the ONNX Runtime session, with the CUDA provider when
// cuda is set. Any failure to use CUDA wraps ErrProviderUnavailable.
func (s *Session) open(src modelSource, opts SessionOptions, cuda bool) (*onnxruntime.DynamicAdvancedSession, error) {
	so, err := s.sessionOptions(opts)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	if cuda {
		if err := appendCUDA(so, s.rt.path, opts.CUDA); err != nil {
			return nil, &providerError{provider: ProviderCUDA, reason: err}
		}
	}
	ins, outs := []string{s.inputName}, []string{s.logitsName}
	var sess *onnxruntime.DynamicAdvancedSession
	if src.path != "" {
		sess, err = onnxruntime.NewDynamicAdvancedSession(src.path, ins, outs, so)
	} else {
		sess, err = onnxruntime.NewDynamicAdvancedSessionWithONNXData(src.data, ins, outs, so)
	}
	if err != nil {
		if cuda {
			return nil, &providerError{provider: ProviderCUDA, reason: fmt.Errorf("creating session: %w", err)}
		}
		return nil, fmt.Errorf("creating session: %w", err)
	}
	return sess, nil
}

// providerError says why an execution provider could not be used. It
// matches ErrProviderUnavailable.
type providerError struct {
	provider Provider
	reason   error
}

func (e *providerError) Error() string {
	return ErrProviderUnavailable.Error() + ": " + string(e.provider) + ": " + e.reason.Error()
}

func (e *providerError) Unwrap() []error { return []error{ErrProviderUnavailable, e.reason} }

// fileInputsOutputs reads the inputs and outputs of the ONNX file at path
// as ONNX Runtime describes them: initializers are not inputs, symbolic
// axes are -1.
func fileInputsOutputs(path string) (ins, outs []onnxruntime.InputOutputInfo, err error) {
	fi, err := models.ReadONNXInfo(path)
	if err != nil {
		return nil, nil, err
	}
	conv := func(vs []models.ValueInfo) []onnxruntime.InputOutputInfo {
		out := make([]onnxruntime.InputOutputInfo, len(vs))
		for i, v := range vs {
			out[i] = onnxruntime.InputOutputInfo{
				Name:         v.Name,
				OrtValueType: onnxruntime.ONNXTypeTensor,
				DataType:     onnxruntime.TensorElementDataType(v.ElemType),
				Dimensions:   onnxruntime.NewShape(v.Shape...),
			}
			if v.ElemType == 0 {
				out[i].OrtValueType = onnxruntime.ONNXTypeUnknown
			}
		}
		return out
	}
	return conv(fi.Inputs), conv(fi.Outputs), nil
}

// sessionOptions builds ONNX Runtime session options for threads and graph
// optimisation.
func (s *Session) sessionOptions(opts SessionOptions) (*onnxruntime.SessionOptions, error) {
	level, err := optimizationLevel(opts.GraphOptimization)
	if err != nil {
		return nil, err
	}
	so, err := onnxruntime.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("creating session options: %w", err)
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		so.Destroy()
		return nil, fmt.Errorf("setting graph optimisation: %w", err)
	}
	if opts.IntraOpThreads > 0 {
		if err := so.SetIntraOpNumThreads(opts.IntraOpThreads); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("setting intra-op threads: %w", err)
		}
	}
	if !opts.Spin {
		if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("turning off thread spinning: %w", err)
		}
	}
	if opts.InterOpThreads > 0 {
		if err := so.SetInterOpNumThreads(opts.InterOpThreads); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("setting inter-op threads: %w", err)
		}
	}
	return so, nil
}

// appendCUDA adds the CUDA provider to so. It first checks that the provider
// libraries sit beside the core library, where ONNX Runtime loads them from,
// so the usual reason reads plainly.
func appendCUDA(so *onnxruntime.SessionOptions, libraryPath string, opts CUDAOptions) error {
	if err := cudaLibrariesPresent(libraryPath); err != nil {
		return err
	}
	return appendCUDAProvider(so, opts)
}

// cudaLibrariesPresent checks for the CUDA provider libraries next to the
// core library (or next to the file it links to).
func cudaLibrariesPresent(libraryPath string) error {
	dirs := []string{filepath.Dir(libraryPath)}
	if real, err := filepath.EvalSymlinks(libraryPath); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, dir := range dirs {
		ok1, _ := isFile(filepath.Join(dir, cudaProviderLibrary))
		ok2, _ := isFile(filepath.Join(dir, sharedProviderLibrary))
		if ok1 && ok2 {
			return nil
		}
	}
	return fmt.Errorf("provider libraries %s and %s not found in %s; install them with scripts/setup.sh --cuda (run from the repository root)",
		cudaProviderLibrary, sharedProviderLibrary, strings.Join(dirs, " or "))
}

// appendCUDAProvider configures and appends the CUDA provider, returning
// ONNX Runtime's reason when it refuses.
func appendCUDAProvider(so *onnxruntime.SessionOptions, opts CUDAOptions) error {
	search, err := convAlgoSearch(opts.CudnnConvAlgoSearch)
	if err != nil {
		return err
	}
	co, err := onnxruntime.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("creating provider options: %w", err)
	}
	defer co.Destroy()
	settings := map[string]string{
		"device_id":              strconv.Itoa(opts.DeviceID),
		"cudnn_conv_algo_search": string(search),
	}
	if opts.MemLimit > 0 {
		settings["gpu_mem_limit"] = strconv.FormatUint(opts.MemLimit, 10)
	}
	if err := co.Update(settings); err != nil {
		return fmt.Errorf("setting provider options: %w", err)
	}
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return fmt.Errorf("appending provider: %w", err)
	}
	return nil
}

// InputName returns the name of the model's input.
func (s *Session) InputName() string { return s.inputName }

// InputShape returns the input's shape as the model declares it, with -1
// for the dynamic batch axis, such as [-1 3 224 224].
func (s *Session) InputShape() []int64 { return slices.Clone(s.inputShape) }

// OutputNames returns the names of all the model's outputs, in model order.
// Run returns only the logits output (see NumClasses).
func (s *Session) OutputNames() []string { return slices.Clone(s.outputNames) }

// LogitsName returns the name of the output Run returns: "logits" when the
// model has it, else its first output.
func (s *Session) LogitsName() string { return s.logitsName }

// NumClasses returns C, the width of the [N,C] logits output.
func (s *Session) NumClasses() int { return s.classes }

// Provider returns the execution provider the session runs on: "cpu", or
// "cuda" when the CUDA provider was set up (ONNX Runtime still places on the
// CPU any operator the CUDA provider lacks).
func (s *Session) Provider() string { return s.provider }

// Run runs a batch and returns its logits in a new slice of batch×classes
// values, sample after sample. input holds batch samples in the model's
// input layout (for tagnet, batch×3×H×W, channel-major); its length must be
// exactly batch times the size of one sample. input must not change until
// Run returns.
func (s *Session) Run(input []float32, batch int) ([]float32, error) {
	if err := s.checkBatch(len(input), batch); err != nil {
		return nil, err
	}
	out := make([]float32, batch*s.classes)
	if err := s.RunInto(input, batch, out); err != nil {
		return nil, err
	}
	return out, nil
}

// RunInto is Run writing the logits into out, which must hold exactly
// batch×classes values. It allocates no output slice, so callers can reuse
// buffers.
func (s *Session) RunInto(input []float32, batch int, out []float32) error {
	if err := s.checkBatch(len(input), batch); err != nil {
		return err
	}
	if want := batch * s.classes; len(out) != want {
		return fmt.Errorf("%w: output buffer holds %d values, batch %d needs %d (%d×%d)",
			ErrInput, len(out), batch, want, batch, s.classes)
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("running session: %w", ErrClosed)
	}
	step := batch
	if s.runBatch > 0 {
		step = min(batch, s.runBatch)
	}
	for lo := 0; lo < batch; lo += step {
		n := min(step, batch-lo)
		if err := s.run(input[lo*s.sampleSize:(lo+n)*s.sampleSize], n, out[lo*s.classes:(lo+n)*s.classes]); err != nil {
			return err
		}
	}
	return nil
}

// run runs the session once on n images; the caller holds s.mu.
func (s *Session) run(input []float32, n int, out []float32) error {
	shape := onnxruntime.Shape(slices.Clone(s.inputShape))
	shape[0] = int64(n)
	in, err := onnxruntime.NewTensor(shape, input)
	if err != nil {
		return fmt.Errorf("creating input tensor: %w", err)
	}
	defer in.Destroy()
	logits, err := onnxruntime.NewTensor(onnxruntime.NewShape(int64(n), int64(s.classes)), out)
	if err != nil {
		return fmt.Errorf("creating output tensor: %w", err)
	}
	defer logits.Destroy()
	if err := s.sess.Run([]onnxruntime.Value{in}, []onnxruntime.Value{logits}); err != nil {
		return fmt.Errorf("running session on batch %d: %w", n, err)
	}
	return nil
}

// checkBatch validates a batch size and input length against the model's
// input shape.
func (s *Session) checkBatch(n, batch int) error {
	if batch <= 0 {
		return fmt.Errorf("%w: batch %d, want at least 1", ErrInput, batch)
	}
	if fixed := s.inputShape[0]; fixed > 0 && int64(batch) != fixed {
		return fmt.Errorf("%w: batch %d, the model's input %q has a fixed batch of %d", ErrInput, batch, s.inputName, fixed)
	}
	if batch > math.MaxInt32/max(s.sampleSize, s.classes) {
		return fmt.Errorf("%w: batch %d is too large", ErrInput, batch)
	}
	shape := slices.Clone(s.inputShape)
	shape[0] = int64(batch)
	if want := batch * s.sampleSize; n != want {
		return fmt.Errorf("%w: batch %d of %v needs %d values, got %d", ErrInput, batch, shape, want, n)
	}
	return nil
}

// Warmup runs one zero-filled batch, so that the first real request does not
// pay for ONNX Runtime's lazy set-up (memory arenas, kernel selection).
func (s *Session) Warmup(batch int) error {
	if batch <= 0 || batch > math.MaxInt32/s.sampleSize {
		return fmt.Errorf("warming up: %w: batch %d", ErrInput, batch)
	}
	if s.runBatch > 0 {
		batch = min(batch, s.runBatch) // a longer batch is runs of this size
	}
	if _, err := s.Run(make([]float32, batch*s.sampleSize), batch); err != nil {
		return fmt.Errorf("warming up: %w", err)
	}
	return nil
}

// Close waits for runs in flight, then frees the session and gives back its
// reference to the Runtime. Later calls do nothing and return nil.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if err := s.sess.Destroy(); err != nil {
		errs = append(errs, fmt.Errorf("closing session: %w", err))
	}
	s.sess = nil
	if err := s.rt.release(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
