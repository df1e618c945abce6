package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
	"github.com/tagnet/tagnet/trainer/data"
	"github.com/tagnet/tagnet/trainer/learn"
	"github.com/tagnet/tagnet/trainer/weights"
)

// aliases are the short spellings of keys that help shows (the README's);
// the dotted flag of such a key is hidden and keeps working. A command
// has the aliases of the keys it registers.
var aliases = []struct{ name, key, help string }{
	{"data", "data.dir", "image folder (data.dir)"},
	{"csv", "data.csv", "labels CSV, relative to --data unless found as given (data.csv)"},
	{"arch", "model.arch", "architecture: resnet18, resnet34, resnet50 or resnet-tiny (model.arch)"},
	{"size", "model.size", "square input size in pixels (model.size)"},
	{"epochs", "train.epochs", "epochs (train.epochs)"},
	{"batch-size", "train.batch_size", "batch size (train.batch_size)"},
	{"lr", "train.lr", "learning rate (train.lr)"},
	{"threads", "train.threads", "compute threads, 0 = all cores (train.threads)"},
	{"output", "output.dir", "output folder (output.dir)"},
	{"resume", "output.resume", "resume from the last checkpoint in the output folder (output.resume)"},
}

// Key selections of the commands (config.AddTrainFlagsFor): what each one
// reads.
var (
	// csvKeys read the labels CSV (loadData).
	csvKeys = []string{"data.dir", "data.csv", "data.folder", "data.fn_col", "data.label_col", "data.valid_col",
		"data.label_delim", "data.csv_delim", "data.valid_pct", "data.seed", "data.on_bad_item"}
	// evalKeys run an exported model over the validation split (evaluate).
	evalKeys = append(slices.Clone(csvKeys), "data.workers", "train.batch_size", "train.threads", "output.dir", "output.model", "runtime")
)

// addConfigFlags registers on fs the flags of the configuration keys that
// selectors select (sections or keys, see config.AddTrainFlagsFor) and the
// aliases of those keys. --config and the log flags are the root's.
func addConfigFlags(fs *pflag.FlagSet, selectors ...string) {
	config.AddTrainFlagsFor(fs, selectors...)
	for _, a := range aliases {
		if fs.Lookup(config.FlagName(a.key)) == nil {
			continue // a key this command does not use
		}
		if err := config.AddAlias(fs, a.name, "", a.key, a.help); err != nil {
			panic(err) // programmer error: a key was renamed
		}
	}
}

// loadData reads the data set the configuration names and reports its
// problems on w.
func loadData(cfg *config.Train, fs *pflag.FlagSet, labels []string, w io.Writer, log *zap.Logger) (*data.Dataset, error) {
	return loadDataChecked(cfg, fs, labels, nil, w, log)
}

// loadDataChecked is loadData that, with decode, decodes every image in
// full at load (see data.CSVOptions.Decode), so that damaged files are bad
// items named before training.
func loadDataChecked(cfg *config.Train, fs *pflag.FlagSet, labels []string, decode func(bool) preprocess.DecodeOptions, w io.Writer, log *zap.Logger) (*data.Dataset, error) {
	if err := cfg.RequireData(fs); err != nil {
		return nil, usage(err)
	}
	delim, _ := utf8.DecodeRuneInString(cfg.Data.CSVDelim)
	opt := data.CSVOptions{
		CSVPath: cfg.Data.CSV, ImageDir: cfg.Data.Dir, Prefix: cfg.Data.Folder,
		FnColumn: cfg.Data.FnCol, LabelColumn: cfg.Data.LabelCol, ValidColumn: cfg.Data.ValidCol,
		LabelDelim: cfg.Data.LabelDelim, Delimiter: delim, ValidPct: cfg.Data.ValidPct,
		Seed: uint64(cfg.Data.Seed), OnBadItem: cfg.Data.OnBadItem, Labels: labels,
		Decode: decode,
	}
	if opt.CSVPath == "" && opt.Prefix == "" {
		// --data alone names a folder written by `tagnet-train data`:
		// DIR/labels.csv with the images in DIR/images.
		opt.CSVPath = filepath.Join(cfg.Data.Dir, data.GeneratedCSV)
		opt.Prefix = data.GeneratedImages
	}
	ds, err := data.LoadCSV(opt)
	var le *data.LoadError
	if errors.As(err, &le) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("loading data: %w", err)
	}
	rep := ds.Report
	if n := len(rep.Problems); n > 0 {
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "skipped: %s\n", p)
		}
		fmt.Fprintf(w, "skipped %d bad item(s) of %s (data.on_bad_item=skip)\n", n, opt.CSVPath)
	}
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
		log.Warn("labels", zap.String("problem", warn))
	}
	log.Info("data", zap.String("csv", opt.CSVPath), zap.Int("train", len(ds.Train)), zap.Int("valid", len(ds.Valid)),
		zap.Int("labels", len(ds.Labels)), zap.Int("skipped", len(rep.Problems)))
	if len(ds.Valid) == 0 {
		return nil, fmt.Errorf("loading data: no validation items (mark some rows in %q or set data.valid_pct)", cfg.Data.ValidCol)
	}
	return ds, nil
}

// start is what training starts from: the initial weights and the input
// normalisation they expect.
type start struct {
	weights models.Weights
	// mean and std normalise the input (RGB, values in [0,1]); pretrained
	// weights bring their own (ImageNet's for torchvision and timm).
	mean, std [3]float32
	// pretrained is true when model.weights gave the weights.
	pretrained bool
}

// prepare loads the configured data set (reporting its problems on w) and
// builds the architecture for its labels with the initial weights.
func prepare(ctx context.Context, cfg *config.Train, fs *pflag.FlagSet, w io.Writer, log *zap.Logger) (*data.Dataset, *models.Graph, *start, error) {
	// The loader's decode options depend on the input size, resize and
	// augmentation only, not on the weights' normalisation.
	def := preprocess.Default(cfg.Model.Size)
	_, pre, err := preprocessingFor(cfg.Model.Size, cfg.Data.Resize, def.Mean, def.Std)
	if err != nil {
		return nil, nil, nil, usage(err)
	}
	aug, err := data.NewAugmenter(pre, augmentOptions(cfg))
	if err != nil {
		return nil, nil, nil, usage(err)
	}
	ds, err := loadDataChecked(cfg, fs, nil, aug.DecodeOptions, w, log)
	if err != nil {
		return nil, nil, nil, err
	}
	g, err := models.Build(specFor(cfg, len(ds.Labels)))
	if err != nil {
		return nil, nil, nil, usage(err)
	}
	st, err := initialWeights(ctx, cfg, g, w, log)
	if err != nil {
		return nil, nil, nil, err
	}
	return ds, g, st, nil
}

// specFor is the architecture the configuration asks for.
func specFor(cfg *config.Train, classes int) models.Spec {
	return models.Spec{
		Arch: cfg.Model.Arch, NumClasses: classes, InputSize: cfg.Model.Size,
		Stem: models.Stem(cfg.Model.Stem), Head: models.Head(cfg.Model.Head), Width: cfg.Model.Width,
	}
}

// initialWeights are random (seeded), or, with model.weights, the
// pretrained body (and head when it fits) over the random ones: fastai's
// vision_learner, whose fresh head keeps its random initialisation.
// A download's progress bar goes to w when it is a terminal.
func initialWeights(ctx context.Context, cfg *config.Train, g *models.Graph, w io.Writer, log *zap.Logger) (*start, error) {
	def := preprocess.Default(cfg.Model.Size)
	st := &start{
		weights: models.Init(g, models.InitOptions{Seed: uint64(cfg.Train.Seed), ZeroInitResidual: cfg.Model.ZeroInitResidual}),
		mean:    def.Mean, std: def.Std,
	}
	if cfg.Model.Weights == "" {
		return st, nil
	}
	var progress io.Writer
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		progress = f
	}
	l, err := weights.Load(ctx, cfg.Model.Weights, g, st.weights, weights.FetchOptions{BaseURL: cfg.Model.WeightsURL, Progress: progress})
	if err != nil {
		if errors.Is(err, weights.ErrUnknownName) {
			return nil, usage(fmt.Errorf("model.weights: %w", err))
		}
		return nil, fmt.Errorf("model.weights: %w", err)
	}
	st.weights, st.mean, st.std, st.pretrained = l.Weights, l.Mean, l.Std, true
	fields := []zap.Field{zap.String("weights", cfg.Model.Weights), zap.String("file", l.Path), zap.Int("tensors", l.Loaded),
		zap.Bool("head", l.Head), zap.Float32s("mean", l.Mean[:]), zap.Float32s("std", l.Std[:])}
	if l.Fetch != nil {
		fields = append(fields, zap.Bool("downloaded", l.Fetch.Downloaded), zap.Bool("refetched_damaged_cache", l.Fetch.Refetched))
	}
	if l.FoldedBN > 0 {
		fields = append(fields, zap.Int("folded_batchnorms", l.FoldedBN))
	}
	log.Info("pretrained weights", fields...)
	return st, nil
}

// preprocessingFor is the validation/serving preprocessing for the input
// size: fastai's squish-and-centre-crop, or (data.resize=squish) the whole
// image squished to size, normalised with mean and std (the initial
// weights' statistics, which the exported model stores).
func preprocessingFor(size int, resize models.Resize, mean, std [3]float32) (preprocess.Spec, *preprocess.Preprocessor, error) {
	spec := preprocess.Default(size)
	spec.Mean, spec.Std = mean, std
	if resize == models.ResizeSquish {
		spec.ResizeWidth, spec.ResizeHeight = size, size
	}
	pre, err := preprocess.New(spec, preprocess.Limits{})
	if err != nil {
		return spec, nil, err
	}
	return spec, pre, nil
}

// newLearner wires the data set, architecture and weights into a Learner.
func newLearner(cfg *config.Train, ds *data.Dataset, g *models.Graph, st *start, hooks learn.Hooks, log *zap.Logger) (*learn.Learner, preprocess.Spec, error) {
	spec, pre, err := preprocessingFor(cfg.Model.Size, cfg.Data.Resize, st.mean, st.std)
	if err != nil {
		return nil, spec, err
	}
	w := st.weights
	aug, err := data.NewAugmenter(pre, augmentOptions(cfg))
	if err != nil {
		return nil, spec, err
	}
	var bad []string
	for _, p := range ds.Report.Problems {
		bad = append(bad, p.String())
	}
	l, err := learn.New(g, w, ds, aug, learn.Config{
		BatchSize: cfg.Train.BatchSize, Threads: cfg.Train.Threads, Workers: cfg.Data.Workers, Prefetch: cfg.Data.Prefetch,
		Seed: uint64(cfg.Train.Seed), WD: cfg.Train.WD, WDBNBias: cfg.Train.WDBNBias, Threshold: cfg.Train.Threshold,
		Augment: aug.Options(), Dir: cfg.Output.Dir, Patience: cfg.Train.EarlyStoppingPatience, Logger: log, Hooks: hooks,
		FailOnBadItem: cfg.Data.OnBadItem == data.Fail, BadItems: bad,
		Precision: string(cfg.Train.Precision),
	})
	return l, spec, err
}

// augmentOptions is the training augmentation the configuration asks for.
func augmentOptions(cfg *config.Train) data.AugmentOptions {
	return data.AugmentOptions{Mode: cfg.Train.Aug, MinScale: cfg.Train.MinScale}
}

func planFor(cfg *config.Train) learn.Plan {
	t := cfg.Train
	if t.Schedule == models.OneCycle {
		return learn.OneCyclePlan(t.Epochs, []float64{t.LR, t.LR, t.LR}, t.PctStart, t.Div, t.DivFinal)
	}
	return learn.FineTunePlan(t.Epochs, t.LR, t.FreezeEpochs)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain data
	}
	return b
}

func joinMetrics(m map[string]float64) string {
	var parts []string
	for _, k := range models.SummaryMetrics() {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.4f", k, v))
		}
	}
	return strings.Join(parts, " ")
}
