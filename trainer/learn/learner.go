// Package learn is tagnet's training workflow: fastai's Learner in Go. It
// drives the engine (trainer/nn, trainer/optim) over the data loaders
// (trainer/data) through a Plan of one-cycle phases (fit_one_cycle,
// fine_tune), evaluates the validation set every epoch (loss,
// accuracy_multi, F1, mAP; trainer/metrics), writes atomic best/last
// checkpoints that a killed run resumes from bit-exactly, finds learning
// rates (lr_find), and hands back weights for export.
//
// The loop never prints: progress bars, tables and logs attach through
// [Hooks] (as gomlx keeps its Loop apart from its progress bars).
package learn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/data"
	"github.com/tagnet/tagnet/trainer/metrics"
	"github.com/tagnet/tagnet/trainer/nn"
	"github.com/tagnet/tagnet/trainer/optim"
)

// ErrInterrupted is returned by Fit when its context is cancelled (SIGINT,
// SIGTERM); the last completed epoch is in the checkpoint.
var ErrInterrupted = errors.New("training interrupted")

// ErrDiverged is returned when the training loss becomes NaN or infinite.
var ErrDiverged = errors.New("training diverged")

// Config tunes a Learner. Zero values are documented per field.
type Config struct {
	// BatchSize is the number of images per step. Zero means 64.
	BatchSize int
	// Threads is the number of cores the engine uses. Zero means all.
	Threads int
	// Precision is train.precision: "fp32", "bf16-mixed" or "auto" (the
	// zero value ""; see [ResolvePrecision]). The resolved choice is logged
	// and returned by [Learner.Precision].
	Precision string
	// Workers decode and augment images; Prefetch batches are prepared
	// ahead. Zero means the loader's defaults.
	Workers, Prefetch int
	// Seed determines the data order, augmentation and dropout.
	Seed uint64
	// WD is Adam's decoupled weight decay. Zero means none; fastai's
	// default is 0.01.
	WD float64
	// WDBNBias applies the weight decay to BatchNorm parameters and
	// biases too (fastai's wd_bn_bias, default false).
	WDBNBias bool
	// Threshold is accuracy_multi's decision threshold. Zero means 0.5.
	Threshold float64
	// Augment is the training augmentation.
	Augment data.AugmentOptions
	// Dir receives the checkpoints (best.ckpt, last.ckpt) and the metrics
	// log (metrics.jsonl). Empty means neither is written.
	Dir string
	// Patience stops training after that many epochs without a better
	// validation loss. Zero means no early stopping. With early stopping,
	// [Learner.LoadBest] gives the weights to export (fastai's
	// SaveModelCallback).
	Patience int
	// FailOnBadItem (data.on_bad_item: fail) makes Fit and Evaluate stop
	// with an error naming the item when an image fails to load during
	// training (it changed after the data set was checked). Otherwise such
	// an item is left out of its batch, counted and named in the epoch's
	// stats.
	FailOnBadItem bool
	// BadItems names the items left out when the data set was loaded
	// (data.on_bad_item: skip), for every line of metrics.jsonl. Nil means
	// none.
	BadItems []string
	// Logger receives progress at info level. Nil means none.
	Logger *zap.Logger
	// Hooks observe the loop.
	Hooks Hooks
}

// Hooks let callers watch training without the loop printing anything.
// Nil hooks are skipped.
type Hooks struct {
	// OnBatch runs after every training step.
	OnBatch func(BatchInfo)
	// OnEpoch runs after every epoch's validation.
	OnEpoch func(EpochStats)
}

// BatchInfo describes one finished training step.
type BatchInfo struct {
	Epoch, Epochs  int // global epoch (from 0) and total
	Batch, Batches int
	Loss           float64
	LR             float64 // head group's learning rate
	Images         int     // images in the epoch so far
	Elapsed        time.Duration
}

// EpochStats is one row of the per-epoch table and one line of
// metrics.jsonl. The metrics' JSON keys are the models.Metric* names
// (train_loss, valid_loss, accuracy_multi, f1_macro, f1_samples, mAP).
type EpochStats struct {
	Epoch         int     `json:"epoch"` // from 0
	Phase         string  `json:"phase"`
	TrainLoss     float64 `json:"train_loss"` // mean over the epoch's steps
	ValidLoss     float64 `json:"valid_loss"`
	AccuracyMulti float64 `json:"accuracy_multi"`
	F1Macro       float64 `json:"f1_macro"`
	F1Samples     float64 `json:"f1_samples"`
	MAP           float64 `json:"mAP"`
	Seconds       float64 `json:"seconds"`
	ImagesPerSec  float64 `json:"images_per_sec"`
	// Skipped counts the items, training and validation, that failed to
	// load during this epoch and were left out of it; SkippedItems names
	// them ("path: error").
	Skipped      int      `json:"skipped_items,omitempty"`
	SkippedItems []string `json:"skipped_item_list,omitempty"`
	// BadItems counts the items left out when the data set was loaded
	// (Config.BadItems), the same in every epoch; BadItemList names them.
	BadItems    int      `json:"bad_items,omitempty"`
	BadItemList []string `json:"bad_item_list,omitempty"`
}

// Eval is the result of one pass over the validation set.
type Eval struct {
	Loss          float64
	AccuracyMulti float64 // at Config.Threshold
	F1Macro       float64 // at 0.5
	F1Samples     float64 // at 0.5
	MAP           float64
	// Probs and Targets are N×C, in validation order.
	Probs, Targets []float32
	N              int
	// Logits are the raw outputs, N×C.
	Logits []float32
	// Failed lists the validation items that could not be loaded and are
	// left out of the metrics.
	Failed []*data.ItemError
}

// Metrics returns the named metrics of e, as stored in a model's training
// summary: the names of models.SummaryMetrics.
func (e *Eval) Metrics() map[string]float64 {
	return map[string]float64{
		models.MetricLoss:          e.Loss,
		models.MetricAccuracyMulti: e.AccuracyMulti,
		models.MetricF1Macro:       e.F1Macro,
		models.MetricF1Samples:     e.F1Samples,
		models.MetricMAP:           e.MAP,
	}
}

// Score computes the validation metrics of n items' logits against their
// targets (both n×c, row-major): the mean BCE-with-logits loss, the
// probabilities (models.Sigmoid), accuracy_multi at thresh, F1 macro and
// F1 samples at 0.5, and mAP. It is how the learner scores each epoch and
// how `tagnet-train eval` scores a model's logits. Failed is left nil.
func Score(logits, targets []float32, n, c int, thresh float64) *Eval {
	ev := &Eval{Logits: logits, Targets: targets, N: n}
	ev.Loss = nn.BCEWithLogits(logits, targets, nil)
	ev.Probs = metrics.Sigmoid(logits)
	ev.AccuracyMulti = metrics.AccuracyMulti(ev.Probs, targets, thresh, false)
	ev.F1Macro = metrics.F1Macro(ev.Probs, targets, n, c, 0.5)
	ev.F1Samples = metrics.F1Samples(ev.Probs, targets, n, c, 0.5)
	ev.MAP = metrics.MeanAP(ev.Probs, targets, n, c)
	return ev
}

// Learner trains one network on one data set.
type Learner struct {
	cfg          Config
	log          *zap.Logger
	net          *nn.Net
	precision    string // "fp32" or "bf16-mixed"
	opt          optim.Optimizer
	labels       []string
	train, valid *data.Loader
	grad         []float32
	history      []EpochStats
	// fp is the fingerprint of the last Fit's run; early and bestEpoch say
	// whether early stopping ended it and which epoch had the lowest
	// validation loss.
	fp        string
	early     bool
	bestEpoch int
}

// New builds the network of g with weights w and loaders over ds, using
// aug for training images and its preprocessor (exactly as the predictor)
// for validation images.
func New(g *models.Graph, w models.Weights, ds *data.Dataset, aug *data.Augmenter, cfg Config) (*Learner, error) {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 64
	}
	if cfg.Threshold == 0 {
		cfg.Threshold = 0.5
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if len(ds.Labels) != g.Spec.NumClasses {
		return nil, fmt.Errorf("data set has %d labels, model %d classes", len(ds.Labels), g.Spec.NumClasses)
	}
	if len(ds.Train) < cfg.BatchSize {
		return nil, fmt.Errorf("%d training items is fewer than one batch of %d", len(ds.Train), cfg.BatchSize)
	}
	prec, precName, err := ResolvePrecision(cfg.Precision)
	if err != nil {
		return nil, err
	}
	net, err := nn.New(g, w, nn.Config{MaxBatch: cfg.BatchSize, Threads: cfg.Threads, Seed: cfg.Seed, Precision: prec})
	if err != nil {
		return nil, fmt.Errorf("building network: %w", err)
	}
	requested := cfg.Precision
	if requested == "" {
		requested = PrecisionAuto
	}
	log.Info("precision", zap.String("precision", precName), zap.String("requested", requested),
		zap.Bool("cpu_bf16", blas.BF16Supported()), zap.String("kernels", blas.DNNLVersion()))
	l := &Learner{cfg: cfg, log: log, net: net, precision: precName, labels: ds.Labels, grad: make([]float32, cfg.BatchSize*g.Spec.NumClasses)}
	l.opt = optim.NewAdam(net.Params(), optim.AdamConfig{WD: cfg.WD, WDBNBias: cfg.WDBNBias})
	lopt := data.LoaderOptions{BatchSize: cfg.BatchSize, Seed: cfg.Seed, Workers: cfg.Workers, Prefetch: cfg.Prefetch, Logger: log}
	lopt.Train = true
	if l.train, err = data.NewLoader(ds.Train, aug, lopt); err != nil {
		net.Close()
		return nil, fmt.Errorf("training loader: %w", err)
	}
	lopt.Train = false
	if l.valid, err = data.NewLoader(ds.Valid, aug, lopt); err != nil {
		l.train.Close()
		net.Close()
		return nil, fmt.Errorf("validation loader: %w", err)
	}
	return l, nil
}

// Close stops the loaders and the engine.
func (l *Learner) Close() {
	l.train.Close()
	l.valid.Close()
	l.net.Close()
}

// Net is the network being trained.
func (l *Learner) Net() *nn.Net { return l.net }

// Precision is the resolved train.precision, "fp32" or "bf16-mixed", for
// the training summary.
func (l *Learner) Precision() string { return l.precision }

// History returns the stats of every epoch so far (including those before
// a resume).
func (l *Learner) History() []EpochStats { return append([]EpochStats(nil), l.history...) }

// Labels is the vocabulary, in output order.
func (l *Learner) Labels() []string { return l.labels }

// epochSeed is the dropout seed of global epoch e.
func (l *Learner) epochSeed(e int) uint64 { return l.cfg.Seed*0x9e3779b97f4a7c15 + uint64(e) + 1 }

// Fit runs plan from its first epoch, or, with resume, from the epoch after
// the one saved in Dir's last checkpoint (which must come from the same
// plan, model and data; with no checkpoint yet — a run killed in its first
// epoch — it starts from the first epoch). After every epoch it validates, calls
// Hooks.OnEpoch, appends to metrics.jsonl and writes last.ckpt (and
// best.ckpt when the validation loss improved), atomically. A cancelled ctx
// stops at the next step with ErrInterrupted; the work of the unfinished
// epoch is lost and resuming repeats that epoch exactly.
func (l *Learner) Fit(ctx context.Context, plan Plan, resume bool) error {
	if err := plan.Validate(); err != nil {
		return err
	}
	fp := l.fingerprint(plan)
	l.fp, l.early = fp, false
	start, best, bestEpoch := 0, math.Inf(1), -1
	defer func() { l.bestEpoch = bestEpoch }()
	var ck *checkpoint
	if resume {
		var err error
		ck, err = loadCheckpoint(l.ckptPath(lastCkpt))
		if errors.Is(err, fs.ErrNotExist) {
			// Killed before the first epoch's checkpoint (a restarted
			// Kubernetes Job always passes --resume): nothing to resume,
			// so the run starts over, and a metrics line written just
			// before the kill goes.
			l.log.Warn("no checkpoint to resume from yet: starting from the first epoch", zap.String("checkpoint", l.ckptPath(lastCkpt)))
			if err := l.rewriteMetrics(); err != nil {
				return fmt.Errorf("resuming: %w", err)
			}
		} else if err != nil {
			return fmt.Errorf("resuming: %w", err)
		}
	}
	if ck != nil {
		if ck.Fingerprint != fp {
			return fmt.Errorf("resuming: the checkpoint %s comes from a different run (model, data, plan or seed changed)", l.ckptPath(lastCkpt))
		}
		if err := l.restore(ck); err != nil {
			return fmt.Errorf("resuming: %w", err)
		}
		if was := precisionName(ck.Precision); was != l.precision {
			l.log.Warn("resuming in another precision: weights and optimiser state carry over in fp32, but the run is no longer bit-identical to an uninterrupted one",
				zap.String("checkpoint", was), zap.String("now", l.precision))
		}
		start, best, bestEpoch = ck.Epoch, ck.Best, ck.BestEpoch
		l.history = ck.History
		// The log may hold epochs finished after the checkpoint (killed
		// in between): rewrite it to match the checkpoint.
		if err := l.rewriteMetrics(); err != nil {
			return fmt.Errorf("resuming: %w", err)
		}
		l.log.Info("resuming", zap.Int("epoch", start), zap.Int("epochs", plan.Epochs()))
	}
	total := plan.Epochs()
	steps := l.train.Len()
	for e := start; e < total; e++ {
		pi, ei := plan.At(e)
		ph := plan[pi]
		if ei == 0 || e == start {
			if ph.Frozen {
				l.net.Freeze()
			} else {
				l.net.Unfreeze()
			}
		}
		if ei == 0 { // fastai clears the optimiser state at freeze/unfreeze
			l.opt.Reset()
		}
		l.net.Reseed(l.epochSeed(e))
		cycle := ph.Cycle
		cycle.Steps = ph.Epochs * steps
		t0 := time.Now()
		var lossSum float64
		nSteps, images := 0, 0
		var failed []*data.ItemError
		for b, err := range l.train.Epoch(e) {
			if err != nil {
				return fmt.Errorf("epoch %d: %w", e, err)
			}
			if ctx.Err() != nil {
				return ErrInterrupted
			}
			if len(b.Failed) > 0 && l.cfg.FailOnBadItem {
				return fmt.Errorf("epoch %d: %w", e, badItems(b.Failed))
			}
			failed = append(failed, b.Failed...)
			if b.N == 0 {
				continue
			}
			hyp := cycle.At(ei*steps + nSteps)
			loss, err := l.step(b, hyp)
			if err != nil {
				return fmt.Errorf("epoch %d step %d: %w", e, nSteps, err)
			}
			lossSum += loss
			nSteps++
			images += b.N
			if h := l.cfg.Hooks.OnBatch; h != nil {
				h(BatchInfo{Epoch: e, Epochs: total, Batch: nSteps, Batches: steps, Loss: loss, LR: hyp.LRs[len(hyp.LRs)-1], Images: images, Elapsed: time.Since(t0)})
			}
		}
		if ctx.Err() != nil {
			return ErrInterrupted
		}
		trainTime := time.Since(t0)
		ev, err := l.Evaluate(ctx)
		if err != nil {
			return fmt.Errorf("epoch %d: %w", e, err)
		}
		failed = append(failed, ev.Failed...)
		st := EpochStats{
			Epoch: e, Phase: ph.Name, TrainLoss: lossSum / float64(max(nSteps, 1)), ValidLoss: ev.Loss,
			AccuracyMulti: ev.AccuracyMulti, F1Macro: ev.F1Macro, F1Samples: ev.F1Samples, MAP: ev.MAP,
			Seconds: time.Since(t0).Seconds(), ImagesPerSec: float64(images) / trainTime.Seconds(),
			Skipped: len(failed), BadItems: len(l.cfg.BadItems), BadItemList: l.cfg.BadItems,
		}
		for _, f := range failed {
			st.SkippedItems = append(st.SkippedItems, fmt.Sprintf("%s: %v", f.Path, f.Err))
		}
		l.history = append(l.history, st)
		if h := l.cfg.Hooks.OnEpoch; h != nil {
			h(st)
		}
		l.log.Info("epoch", zap.Int("epoch", e), zap.String("phase", ph.Name), zap.Float64(models.MetricTrainLoss, st.TrainLoss),
			zap.Float64(models.MetricValidLoss, st.ValidLoss), zap.Float64(models.MetricF1Macro, st.F1Macro), zap.Float64(models.MetricMAP, st.MAP),
			zap.Float64("images_per_sec", st.ImagesPerSec))
		improved := ev.Loss < best
		if improved {
			best, bestEpoch = ev.Loss, e
		}
		if err := l.saveEpoch(fp, e+1, best, bestEpoch, improved, st); err != nil {
			return err
		}
		if l.cfg.Patience > 0 && e-bestEpoch >= l.cfg.Patience {
			l.log.Info("early stopping", zap.Int("epoch", e), zap.Int("best_epoch", bestEpoch), zap.Int("patience", l.cfg.Patience))
			l.early = true
			break
		}
	}
	return nil
}

// EarlyStopped reports whether early stopping ended the last Fit, and the
// epoch (from 0) with the lowest validation loss, whose weights are in
// best.ckpt; bestEpoch is −1 before any epoch finished.
func (l *Learner) EarlyStopped() (early bool, bestEpoch int) { return l.early, l.bestEpoch }

// badItems is the error for items that failed to load under
// FailOnBadItem.
func badItems(failed []*data.ItemError) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d item(s) failed to load (data.on_bad_item=fail):", len(failed))
	for _, f := range failed {
		fmt.Fprintf(&b, "\n  %s: %v", f.Path, f.Err)
	}
	return fmt.Errorf("%w: %s", data.ErrBadData, b.String())
}

// step runs one training step and returns its loss.
func (l *Learner) step(b *data.Batch, h optim.Hypers) (float64, error) {
	logits, err := l.net.Forward(b.Images[:b.N*l.net.InputLen()], b.N, true)
	if err != nil {
		return 0, err
	}
	c := l.net.NumClasses()
	grad := l.grad[:b.N*c]
	loss := nn.BCEWithLogits(logits, b.Targets[:b.N*c], grad)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("%w: the training loss is %v (lower the learning rate, or check the data)", ErrDiverged, loss)
	}
	if err := l.net.Backward(grad); err != nil {
		return 0, err
	}
	if err := l.opt.Step(h); err != nil {
		return 0, err
	}
	return loss, nil
}

// Evaluate runs the validation set in evaluation mode and computes the
// loss and metrics, in the training precision (as PyTorch's autocast
// validates).
func (l *Learner) Evaluate(ctx context.Context) (*Eval, error) {
	return l.evaluate(ctx, l.net)
}

// EvaluateExported is Evaluate for the network as it is exported: in fp32
// whatever the training precision, so that the final metrics and the
// threshold sweep describe the ONNX model the predictor runs (a bf16-mixed
// learner evaluates a float32 copy of its weights).
func (l *Learner) EvaluateExported(ctx context.Context) (*Eval, error) {
	if l.net.Precision() == blas.FP32 {
		return l.evaluate(ctx, l.net)
	}
	net, err := nn.New(l.net.Graph(), l.net.Weights(), nn.Config{
		MaxBatch: l.cfg.BatchSize, Threads: l.cfg.Threads, Seed: l.cfg.Seed, Precision: blas.FP32,
	})
	if err != nil {
		return nil, fmt.Errorf("validating in fp32: %w", err)
	}
	defer net.Close()
	return l.evaluate(ctx, net)
}

func (l *Learner) evaluate(ctx context.Context, net *nn.Net) (*Eval, error) {
	c := net.NumClasses()
	n := len(l.valid.Items())
	logits, targets := make([]float32, 0, n*c), make([]float32, 0, n*c)
	var failed []*data.ItemError
	items := 0
	for b, err := range l.valid.Epoch(0) {
		if err != nil {
			return nil, fmt.Errorf("validating: %w", err)
		}
		if ctx.Err() != nil {
			return nil, ErrInterrupted
		}
		if len(b.Failed) > 0 && l.cfg.FailOnBadItem {
			return nil, fmt.Errorf("validating: %w", badItems(b.Failed))
		}
		failed = append(failed, b.Failed...)
		if b.N == 0 {
			continue
		}
		out, err := net.Forward(b.Images[:b.N*net.InputLen()], b.N, false)
		if err != nil {
			return nil, fmt.Errorf("validating: %w", err)
		}
		logits = append(logits, out...)
		targets = append(targets, b.Targets[:b.N*c]...)
		items += b.N
	}
	if items == 0 {
		return nil, fmt.Errorf("validating: no validation items could be loaded")
	}
	ev := Score(logits, targets, items, c, l.cfg.Threshold)
	ev.Failed = failed
	return ev, nil
}

// Sweep computes the threshold sweep of e over grid (nil: the book's 29
// points from 0.05 to 0.95).
func (l *Learner) Sweep(e *Eval, grid []float64) *models.Sweep {
	return metrics.Sweep(e.Probs, e.Targets, e.N, len(l.labels), l.labels, grid)
}

// Weights returns a copy of the current weights.
func (l *Learner) Weights() models.Weights { return l.net.Weights() }

// LoadBest replaces the weights with those of best.ckpt, the epoch of the
// last Fit with the lowest validation loss. It refuses a best.ckpt written
// by another run (another model, data, plan or seed) and is an error
// before Fit.
func (l *Learner) LoadBest() error {
	path := l.ckptPath(bestCkpt)
	if l.fp == "" {
		return fmt.Errorf("loading %s: no run to take it from (call Fit first)", path)
	}
	ck, err := loadCheckpoint(path)
	if err != nil {
		return err
	}
	if ck.Fingerprint != l.fp {
		return fmt.Errorf("loading %s: it comes from a different run (model, data, plan or seed changed)", path)
	}
	if err := l.setWeights(ck); err != nil {
		return fmt.Errorf("loading %s: %w", path, err)
	}
	return nil
}
