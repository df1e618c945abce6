package predictor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/postprocess"
	"github.com/tagnet/tagnet/preprocess"
)

// DefaultMaxBatch is the largest batch PredictBytes runs at once when
// Options.MaxBatch is zero.
const DefaultMaxBatch = 32

// ErrImage is wrapped by preprocessing errors caused by the image itself:
// not an image, an unsupported format, truncated or corrupt data, or an
// image over the size limits (those also match *preprocess.LimitError with
// errors.As). A server answers them with a client error.
var ErrImage = errors.New("bad image")

// Options configures New. The zero value runs on the CPU with ONNX
// Runtime's default threading, f1 thresholds, no warm-up, batches of up to
// DefaultMaxBatch and preprocess's default decoding limits, and logs
// nothing.
type Options struct {
	// Session configures the ONNX Runtime session (threads, providers,
	// CUDA). Its Logger, when nil, is set to Logger.
	Session ort.SessionOptions
	// Thresholds says how per-class thresholds are chosen.
	Thresholds Thresholds
	// Warmup, when positive, runs one zero batch of that size (the
	// model's fixed batch size when it has one) before New returns, so the
	// first real batch is not slow. Zero means no warm-up. This is the
	// only warm-up: package serve and cmd run none of their own.
	Warmup int
	// MaxBatch is the largest forward pass Run (and so PredictBytes,
	// package batch and the HTTP service) sends to the session; zero means
	// DefaultMaxBatch.
	MaxBatch int
	// MaxPixels is the pixel limit (width × height, read from the header
	// before decoding) of every image the predictor preprocesses: the
	// Preprocessor's preprocess.Limits.MaxPixels. Zero means
	// preprocess.DefaultMaxPixels; negative means no limit.
	MaxPixels int64
	// MaxBytes bounds the encoded size PreprocessReader and PreprocessFile
	// read: preprocess.Limits.MaxBytes. Zero means
	// preprocess.DefaultMaxBytes; negative means no limit.
	MaxBytes int64
	// Logger receives the predictor's log lines. Nil means none.
	Logger *zap.Logger
}

// Predictor runs one tagnet model: preprocessing, ONNX Runtime forward pass
// and postprocessing. It is safe for concurrent use by many goroutines.
type Predictor struct {
	m        *model
	pre      *preprocess.Preprocessor
	sess     *ort.Session
	thr      []float64
	labels   []string
	fixed    int  // the model's fixed batch size; 0 when dynamic
	probs    bool // the output holds probabilities, not logits
	maxBatch int
	logger   *zap.Logger
	batches  sync.Pool // *Batch of maxBatch slots, for PredictBytes
	gather   sync.Pool // *[]float32, Run's buffer for several batches
}

// New opens the model file at modelPath on rt. It reads the metadata,
// builds the stored preprocessing, chooses the thresholds (see package
// postprocess), opens the session, checks that the session's input and
// output agree with the metadata, and runs the warm-up batch if asked.
// Before loading the model it makes the process give image-sized buffers
// back to the system when freed ([preprocess.ReturnFreedMemory]), a
// process-wide choice that suits serving, not training in the same
// process.
func New(rt *ort.Runtime, modelPath string, opts Options) (*Predictor, error) {
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	logger = logger.With(zap.String("component", "predictor"))
	if opts.MaxBatch < 0 || opts.Warmup < 0 {
		return nil, fmt.Errorf("opening predictor: max batch %d and warm-up %d must not be negative", opts.MaxBatch, opts.Warmup)
	}
	m, err := loadModel(modelPath, opts.Thresholds)
	if err != nil {
		return nil, err
	}
	preprocess.ReturnFreedMemory()
	pre, err := preprocess.New(m.pre, preprocess.Limits{MaxPixels: opts.MaxPixels, MaxBytes: opts.MaxBytes})
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", modelPath, err)
	}
	so := opts.Session
	if so.Logger == nil {
		so.Logger = opts.Logger
	}
	sess, err := ort.NewSession(rt, modelPath, so)
	if err != nil {
		return nil, err // ort names the model already
	}
	p := &Predictor{
		m: m, pre: pre, sess: sess,
		thr:      m.sel.Thresholds(),
		labels:   slices.Clone(m.md.Labels),
		maxBatch: opts.MaxBatch,
		logger:   logger.With(zap.String("model", m.sha256[:versionLen])),
	}
	if p.maxBatch == 0 {
		p.maxBatch = DefaultMaxBatch
	}
	if b := sess.InputShape()[0]; b > 0 {
		p.fixed = int(b)
	}
	p.probs = m.md.IO != nil && m.md.IO.OutputKind == models.OutputProbabilities
	if err := p.checkSession(); err != nil {
		p.closeQuietly()
		return nil, fmt.Errorf("opening model %s: %w", modelPath, err)
	}
	p.batches.New = func() any { return p.NewBatch(p.maxBatch) }
	p.gather.New = func() any { return new([]float32) }

	for _, w := range m.warnings {
		p.logger.Warn(w)
	}
	if p.fixed > 0 {
		p.logger.Info("the model's batch axis is fixed: batches are split and padded to it", zap.Int("fixed_batch", p.fixed))
	}
	if opts.Warmup > 0 {
		n := opts.Warmup
		if p.fixed > 0 {
			n = p.fixed
		}
		if err := sess.Warmup(n); err != nil {
			p.closeQuietly()
			return nil, fmt.Errorf("opening model %s: %w", modelPath, err)
		}
	}
	p.logger.Info("model loaded",
		zap.String("path", modelPath),
		zap.String("arch", m.md.Spec.Arch),
		zap.Int("classes", len(p.labels)),
		zap.Int("input_size", m.pre.Width),
		zap.String("provider", sess.Provider()),
		zap.String("threshold_strategy", m.sel.Strategy.String()),
		zap.Int("warmup_batch", opts.Warmup))
	return p, nil
}

// checkSession compares the session's shapes with the metadata.
func (p *Predictor) checkSession() error {
	shape := p.sess.InputShape()
	want := []int64{3, int64(p.m.pre.Height), int64(p.m.pre.Width)}
	if len(shape) != 4 || !slices.Equal(shape[1:], want) {
		return fmt.Errorf("the model's input is %v, its preprocessing makes [N %d %d %d]", shape, want[0], want[1], want[2])
	}
	if c := p.sess.NumClasses(); c != len(p.labels) {
		return fmt.Errorf("the model outputs %d classes, its metadata names %d labels", c, len(p.labels))
	}
	if io := p.m.md.IO; io != nil && (io.Input != p.sess.InputName() || io.Output != p.sess.LogitsName()) {
		return fmt.Errorf("the metadata names input %q and output %q, the session runs %q and %q",
			io.Input, io.Output, p.sess.InputName(), p.sess.LogitsName())
	}
	return nil
}

func (p *Predictor) closeQuietly() {
	if err := p.sess.Close(); err != nil {
		p.logger.Warn("closing session", zap.Error(err))
	}
}

// Close frees the session, waiting for runs in flight. The Predictor must
// not be used afterwards.
func (p *Predictor) Close() error { return p.sess.Close() }

// Labels returns the class names in output order.
func (p *Predictor) Labels() []string { return slices.Clone(p.labels) }

// NumClasses returns the number of classes, C.
func (p *Predictor) NumClasses() int { return len(p.labels) }

// Thresholds returns each class's threshold, in output order.
func (p *Predictor) Thresholds() []float64 { return slices.Clone(p.thr) }

// InputLen returns the number of float32 values of one preprocessed image,
// 3·H·W: a batch of n images is a buffer of n·InputLen values.
func (p *Predictor) InputLen() int { return p.pre.InputLen() }

// MaxBatch returns the largest forward pass Run sends to the session.
func (p *Predictor) MaxBatch() int { return p.maxBatch }

// FixedBatch returns the model's fixed batch size (many exports have 1), or
// 0 when its batch axis is dynamic. Forward accepts any batch either way.
func (p *Predictor) FixedBatch() int { return p.fixed }

// Provider returns the execution provider the session runs on.
func (p *Predictor) Provider() string { return p.sess.Provider() }

// Version returns the model's version: the first 12 hex digits of the
// sha256 of its file.
func (p *Predictor) Version() string { return p.m.sha256[:versionLen] }

// Info describes the model, its preprocessing, thresholds and provider.
// The result is the caller's to keep.
func (p *Predictor) Info() *Info {
	in := p.m.info(p.sess.Provider())
	in.FixedBatch = p.fixed
	return in
}

// checkDst reports a destination that cannot hold one image.
func (p *Predictor) checkDst(dst []float32) error {
	if len(dst) != p.pre.InputLen() {
		return fmt.Errorf("preprocessing: destination holds %d values, one image needs %d", len(dst), p.pre.InputLen())
	}
	return nil
}

// Preprocess decodes the encoded image data (any format preprocess.Decode
// reads: JPEG, PNG, GIF, WebP, HEIC/AVIF, TIFF, BMP; a JPEG shrunk on load
// to the model's resize size) and writes it into dst as the model's [3,H,W]
// input; dst must hold exactly InputLen values, typically one slot of a
// batch buffer. It decodes with the Preprocessor's options and limits
// (preprocess.Preprocessor.Decode): images with more than
// Options.MaxPixels pixels are refused from their header before decoding
// with a *preprocess.LimitError. Errors caused by the data wrap ErrImage.
func (p *Predictor) Preprocess(dst []float32, data []byte) error {
	if err := p.checkDst(dst); err != nil {
		return err
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: empty input", ErrImage)
	}
	img, err := p.pre.Decode(data)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrImage, err)
	}
	if err := p.pre.Into(dst, img); err != nil {
		return fmt.Errorf("%w: %w", ErrImage, err)
	}
	return nil
}

// PreprocessReader is Preprocess for an image read from r, reading at
// most Options.MaxBytes. A longer input is refused with a
// *preprocess.LimitError wrapped in ErrImage.
func (p *Predictor) PreprocessReader(dst []float32, r io.Reader) error {
	if err := p.checkDst(dst); err != nil {
		return err
	}
	data, err := preprocess.ReadAll(r, p.pre.DecodeOptions().Limits)
	var le *preprocess.LimitError
	if errors.As(err, &le) {
		return fmt.Errorf("%w: %w", ErrImage, err)
	}
	if err != nil {
		return err
	}
	return p.Preprocess(dst, data)
}

// PreprocessFile is PreprocessReader for the file at path. Errors opening
// or reading the file do not wrap ErrImage.
func (p *Predictor) PreprocessFile(dst []float32, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening image: %w", err)
	}
	defer f.Close()
	return p.PreprocessReader(dst, f)
}

// Forward runs n preprocessed images, batch holding n·InputLen values, and
// returns their n·C logits in a new slice, image after image.
func (p *Predictor) Forward(batch []float32, n int) ([]float32, error) {
	if n <= 0 {
		return nil, fmt.Errorf("forward: batch of %d images", n)
	}
	logits := make([]float32, n*len(p.labels))
	if err := p.ForwardInto(batch, n, logits); err != nil {
		return nil, err
	}
	return logits, nil
}

// ForwardInto is Forward writing the logits into logits, which must hold
// exactly n·C values, so batch loops can reuse one buffer.
//
// A model with a fixed batch size B (FixedBatch) runs n images as ⌈n/B⌉
// passes of B: full chunks in place, the last partial chunk zero-padded to
// B, its padding's outputs dropped. Images never affect each other (the
// model runs in inference mode), so the padding changes nothing.
func (p *Predictor) ForwardInto(batch []float32, n int, logits []float32) error {
	B := p.fixed
	if B <= 0 || n == B {
		if err := p.sess.RunInto(batch, n, logits); err != nil {
			return fmt.Errorf("forward: %w", err)
		}
		return nil
	}
	L, C := p.pre.InputLen(), len(p.labels)
	if n <= 0 || len(batch) != n*L || len(logits) != n*C {
		return fmt.Errorf("forward: batch of %d images needs %d inputs and %d outputs, got %d and %d", n, n*L, n*C, len(batch), len(logits))
	}
	var padIn, padOut []float32
	for a := 0; a < n; a += B {
		b := min(a+B, n)
		if b-a == B {
			if err := p.sess.RunInto(batch[a*L:b*L], B, logits[a*C:b*C]); err != nil {
				return fmt.Errorf("forward: images %d–%d of %d (fixed batch %d): %w", a, b-1, n, B, err)
			}
			continue
		}
		padIn, padOut = make([]float32, B*L), make([]float32, B*C)
		copy(padIn, batch[a*L:b*L])
		if err := p.sess.RunInto(padIn, B, padOut); err != nil {
			return fmt.Errorf("forward: images %d–%d of %d padded to the fixed batch %d: %w", a, b-1, n, B, err)
		}
		copy(logits[a*C:b*C], padOut)
	}
	return nil
}

// Prediction is the outcome for one image.
type Prediction struct {
	// Labels are the classes present (probability above threshold), in
	// output order; empty, not nil, when none is.
	Labels []string
	// Probabilities holds each class's probability, in output order.
	Probabilities []float32
	// Classes names all classes in output order and Thresholds holds the
	// threshold used for each. Both are shared by every Prediction of a
	// Predictor and must not be modified.
	Classes    []string
	Thresholds []float64
}

// Probability returns the probability of the class called label.
func (p Prediction) Probability(label string) (float32, bool) {
	i := slices.Index(p.Classes, label)
	if i < 0 || i >= len(p.Probabilities) {
		return 0, false
	}
	return p.Probabilities[i], true
}

// MarshalJSON writes {"labels": [...], "probabilities": {label: p, …},
// "thresholds": {label: t, …}}.
func (p Prediction) MarshalJSON() ([]byte, error) {
	probs := make(map[string]float32, len(p.Classes))
	thr := make(map[string]float64, len(p.Classes))
	for i, c := range p.Classes {
		if i < len(p.Probabilities) {
			probs[c] = p.Probabilities[i]
		}
		if i < len(p.Thresholds) {
			thr[c] = p.Thresholds[i]
		}
	}
	labels := p.Labels
	if labels == nil {
		labels = []string{}
	}
	return json.Marshal(struct {
		Labels        []string           `json:"labels"`
		Probabilities map[string]float32 `json:"probabilities"`
		Thresholds    map[string]float64 `json:"thresholds"`
	}{labels, probs, thr})
}

// Postprocess turns n images' logits (n·C values, image after image) into
// predictions: a numerically stable sigmoid, then each class's threshold.
func (p *Predictor) Postprocess(logits []float32, n int) ([]Prediction, error) {
	c := len(p.labels)
	if n < 0 || len(logits) != n*c {
		return nil, fmt.Errorf("postprocessing: %d logits for %d images of %d classes", len(logits), n, c)
	}
	out := make([]Prediction, n)
	probs := make([]float32, n*c) // one allocation for the whole batch
	postprocess.Probabilities(probs, logits, p.probs)
	for i := range out {
		pr := probs[i*c : (i+1)*c : (i+1)*c]
		out[i] = Prediction{Labels: postprocess.Labels(pr, p.thr, p.labels), Probabilities: pr, Classes: p.labels, Thresholds: p.thr}
	}
	return out, nil
}

// PredictBytes predicts each encoded image. It returns one Prediction and
// one error per image, in order: errs[i] is nil when preds[i] is valid.
// Images are decoded in parallel into a Batch of MaxBatch slots at a time
// and Run; a bad image fails alone, wrapping ErrImage. Images not yet run
// when ctx is done get ctx's error.
func (p *Predictor) PredictBytes(ctx context.Context, images [][]byte) ([]Prediction, []error) {
	preds := make([]Prediction, len(images))
	errs := make([]error, len(images))
	b := p.batches.Get().(*Batch)
	defer p.batches.Put(b)
	for start := 0; start < len(images); start += p.maxBatch {
		chunk := images[start:min(start+p.maxBatch, len(images))]
		if err := ctx.Err(); err != nil {
			for i := start; i < len(images); i++ {
				errs[i] = err
			}
			break
		}
		b.Reset(len(chunk))
		b.DecodeAll(chunk)
		_ = p.Run(ctx, RunOptions{}, b) // each slot holds its own error
		for i := range chunk {
			preds[start+i], errs[start+i] = b.Result(i)
		}
	}
	return preds, errs
}
