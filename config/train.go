package config

import (
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/tagnet/tagnet/internal/clilog"
	"github.com/tagnet/tagnet/models"
)

// Train is the configuration of tagnet-train. Keys are the YAML names of
// the fields, joined with dots: data.dir, train.epochs, …
type Train struct {
	// Data says where the images and labels are and how to read them.
	Data Data `yaml:"data"`
	// Model describes the network to train.
	Model Architecture `yaml:"model"`
	// Train holds the optimisation schedule and its hyper-parameters.
	Train Training `yaml:"train"`
	// Sweep is the threshold grid evaluated on the validation set and
	// stored in the model file.
	Sweep Sweep `yaml:"sweep"`
	// Output says where the model and the reports are written.
	Output Output `yaml:"output"`
	// Runtime locates ONNX Runtime, used to check the exported model.
	Runtime TrainRuntime `yaml:"runtime"`
	// Log configures the logger built by cmd/.
	Log Log `yaml:"log"`
}

// Data is the data section of [Train]: a folder of images and a CSV of
// labels, fastai's from_csv layout.
type Data struct {
	// Dir is the data folder; the images are in Dir/Folder. Required by
	// [Train.RequireData]; "" is the default.
	Dir string `yaml:"dir" config:"path" help:"folder holding the images"`
	// CSV is the labels file, one row per image. A relative path written in
	// a config file resolves against the file's directory; one from a flag
	// or the environment is read from Dir (fastai's from_csv(path,
	// csv_fname)), or as given when only that exists. The default "" means
	// none.
	CSV string `yaml:"csv" config:"path" help:"CSV file of image names and labels"`
	// Folder is a sub-folder of Dir holding the images, prefixed to the file
	// names in the CSV; "" (the default) means Dir itself.
	Folder string `yaml:"folder" help:"sub-folder of data.dir prefixed to the CSV file names"`
	// FnCol is the CSV column with the image file names; default "fname".
	FnCol string `yaml:"fn_col" help:"CSV column with the image file names"`
	// LabelCol is the CSV column with the labels; default "labels".
	LabelCol string `yaml:"label_col" help:"CSV column with the labels"`
	// ValidCol is the CSV column marking validation rows (true/1); when the
	// CSV has no such column, or ValidCol is "", a random ValidPct of the
	// rows is used instead. Default "is_valid".
	ValidCol string `yaml:"valid_col" help:"CSV column marking validation rows"`
	// LabelDelim separates the labels inside one label cell; default " ".
	LabelDelim string `yaml:"label_delim" help:"separator between labels inside one cell"`
	// CSVDelim is the CSV field separator, one character; default ",".
	CSVDelim string `yaml:"csv_delim" help:"CSV field separator (one character)"`
	// ValidPct is the fraction of rows held out for validation when there is
	// no valid column, in (0, 1); default 0.2.
	ValidPct float64 `yaml:"valid_pct" help:"fraction held out for validation when the CSV has no valid column"`
	// Seed seeds the random validation split; default 42.
	Seed int64 `yaml:"seed" help:"seed of the random validation split"`
	// OnBadItem says what to do with an image that cannot be read: "skip"
	// (the default: log and leave it out) or "fail".
	OnBadItem models.BadItemPolicy `yaml:"on_bad_item" help:"what to do with unreadable images: skip or fail"`
	// Workers is the number of image-loading goroutines; 0 (the default)
	// means one per CPU.
	Workers int `yaml:"workers" help:"image-loading goroutines (0 = number of CPUs)"`
	// Prefetch is the number of batches loaded ahead of the training step;
	// 0 loads synchronously. Default 4.
	Prefetch int `yaml:"prefetch" help:"batches loaded ahead of the training step"`
	// Resize is how images become model.size squares for validation, for
	// training without crop augmentation, and for the predictor (it is
	// stored in the model): "crop" (the default, fastai's validation
	// transform: squish to size + ⌈size·0.14/8⌉·8, then centre-crop) or
	// "squish" (squish the whole image to size: nothing is cut off, for
	// data whose objects reach the border).
	Resize models.Resize `yaml:"resize" help:"image to square: crop (fastai: squish larger, centre-crop) or squish (whole image)"`
}

// Architecture is the model section of [Train].
type Architecture struct {
	// Arch is the network: "resnet18" (the default), "resnet34", "resnet50"
	// or "resnet-tiny" (a small variant for tests and CPU demos).
	Arch string `yaml:"arch" help:"network: resnet18, resnet34, resnet50 or resnet-tiny"`
	// Stem is the input stem: "imagenet" (the default: 7×7 stride-2 conv and
	// max-pool) or "small" (3×3 stride-1, for small images).
	Stem string `yaml:"stem" help:"input stem: imagenet or small"`
	// Width multiplies the channel counts, in (0, models.MaxWidth] = (0, 8];
	// default 1.
	Width float64 `yaml:"width" help:"channel width multiplier, in (0, 8]"`
	// Head is the classifier head: "fastai" (the default: pooling,
	// batch-norm, dropout and two linear layers) or "linear".
	Head string `yaml:"head" help:"classifier head: fastai or linear"`
	// Weights are the pretrained weights training starts from, named as
	// torchvision names them: "" (the default) is random initialisation;
	// "IMAGENET1K_V1", "IMAGENET1K_V2" (resnet50) or "DEFAULT" are
	// torchvision's published ImageNet weights for Arch, downloaded once
	// into $TAGNET_CACHE_DIR (default os.UserCacheDir()/tagnet/weights)
	// and verified; any value with a '.' or '/' is a file: a PyTorch state
	// dict (.pth, .pt, .bin, .ckpt), a .safetensors file or an ONNX ResNet
	// (.onnx). A relative file path in a config file resolves against the
	// file's directory; a name is left as written.
	Weights string `yaml:"weights" config:"path,name" help:"pretrained weights: IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT, or a .pth/.safetensors/.onnx file (empty = random init)"`
	// WeightsURL is the base URL named weights are downloaded from (a
	// mirror); "" (the default) means torchvision's,
	// https://download.pytorch.org/models.
	WeightsURL string `yaml:"weights_url" help:"base URL of named weights (empty = https://download.pytorch.org/models)"`
	// Size is the square input size in pixels, models.MinInputSize to
	// models.MaxInputSize (16 to 4096); default 128.
	Size int `yaml:"size" help:"square input size in pixels"`
	// ZeroInitResidual starts the last batch-norm of each residual block at
	// zero; default false.
	ZeroInitResidual bool `yaml:"zero_init_residual" help:"zero-initialise the last batch-norm of each residual block"`
}

// Training is the train section of [Train].
type Training struct {
	// Schedule is "fine_tune" (the default: FreezeEpochs with the body
	// frozen, then Epochs unfrozen) or "one_cycle" (Epochs of one cycle).
	Schedule models.Schedule `yaml:"schedule" help:"schedule: fine_tune or one_cycle"`
	// Epochs is the number of (unfrozen) epochs, >= 1; default 3.
	Epochs int `yaml:"epochs" help:"number of (unfrozen) epochs"`
	// FreezeEpochs is the number of frozen epochs of fine_tune, >= 0;
	// default 1. Ignored by one_cycle.
	FreezeEpochs int `yaml:"freeze_epochs" help:"frozen epochs before unfreezing (fine_tune)"`
	// BatchSize is the number of images per step, >= 1; default 64.
	BatchSize int `yaml:"batch_size" help:"images per training step"`
	// LR is the peak learning rate, > 0; default 0.002.
	LR float64 `yaml:"lr" help:"peak learning rate"`
	// WD is the decoupled weight decay, >= 0; default 0.01.
	WD float64 `yaml:"wd" help:"weight decay"`
	// WDBNBias applies the weight decay to batch-norm parameters and
	// biases too (fastai's wd_bn_bias; PyTorch's AdamW decays every
	// parameter). Default false.
	WDBNBias bool `yaml:"wd_bn_bias" help:"apply weight decay to batch-norm parameters and biases too"`
	// PctStart is the fraction of each cycle spent warming up, in (0, 1);
	// default 0.25.
	PctStart float64 `yaml:"pct_start" help:"fraction of the cycle spent warming up"`
	// Div sets the starting learning rate to LR/Div, > 0; default 25.
	Div float64 `yaml:"div" help:"initial learning rate is lr/div"`
	// DivFinal sets the final learning rate to LR/DivFinal, > 0; default 1e5.
	DivFinal float64 `yaml:"div_final" help:"final learning rate is lr/div_final"`
	// Aug is the training augmentation: "none", "crop" (the default: random
	// resized crop) or "crop+flip" (and horizontal flips).
	Aug models.Augment `yaml:"aug" help:"augmentation: none, crop or crop+flip"`
	// MinScale is the smallest area fraction kept by the random crop, in
	// (0, 1]; default 0.35.
	MinScale float64 `yaml:"min_scale" help:"smallest area fraction kept by the random crop"`
	// Threshold is the probability threshold of the accuracy_multi metric
	// reported during training, in (0, 1); default 0.2.
	Threshold float64 `yaml:"threshold" help:"threshold of the accuracy_multi metric"`
	// EarlyStoppingPatience stops after this many epochs without a better
	// validation loss, >= 0; 0 (the default) never stops early.
	EarlyStoppingPatience int `yaml:"early_stopping_patience" help:"epochs without improvement before stopping (0 = off)"`
	// Threads is the number of compute threads, >= 0; 0 (the default) uses
	// all cores.
	Threads int `yaml:"threads" help:"compute threads (0 = all cores)"`
	// Seed seeds initialisation, shuffling and augmentation; default 42.
	Seed int64 `yaml:"seed" help:"seed of initialisation, shuffling and augmentation"`
	// Precision is the number format of the convolution and linear
	// products: "fp32", "bf16-mixed" (bf16 operands with fp32 accumulation,
	// fp32 master weights, optimiser state, BatchNorm, loss and metrics:
	// PyTorch's CPU autocast policy; the exported model stays fp32) or
	// "auto" (the default: bf16-mixed where the CPU multiplies bf16 natively,
	// AVX512_BF16 or AMX, else fp32). bf16-mixed on a CPU without it is an
	// error when training starts.
	Precision models.Precision `yaml:"precision" help:"product precision: auto, fp32 or bf16-mixed"`
}

// Sweep is the sweep section of [Train]: Steps thresholds evenly spaced
// from Start to Stop, both included.
type Sweep struct {
	// Start is the first threshold, in (0, 1) and below Stop; default 0.05.
	Start float64 `yaml:"start" help:"first threshold of the sweep"`
	// Stop is the last threshold, in (0, 1); default 0.95.
	Stop float64 `yaml:"stop" help:"last threshold of the sweep"`
	// Steps is the number of thresholds, >= 2; default 29.
	Steps int `yaml:"steps" help:"number of thresholds in the sweep"`
}

// Output is the output section of [Train].
type Output struct {
	// Dir receives the model, plots and checkpoints; default "out". "" is
	// the working directory.
	Dir string `yaml:"dir" config:"path" help:"output folder"`
	// Model is the ONNX file name, relative to Dir unless absolute; default
	// "model.onnx". See [Train.ModelPath].
	Model string `yaml:"model" help:"model file name, relative to output.dir"`
	// Plots writes loss, learning-rate and threshold plots; default true.
	Plots bool `yaml:"plots" help:"write training plots"`
	// Resume continues from the checkpoint in Dir; default false.
	Resume bool `yaml:"resume" help:"resume from the checkpoint in output.dir"`
}

// TrainRuntime is the runtime section of [Train].
type TrainRuntime struct {
	// Library is the path to libonnxruntime.so.1; "" (the default) means
	// $TAGNET_ORT_LIBRARY, then the project's own copy.
	Library string `yaml:"library" config:"path" help:"path to libonnxruntime.so.1"`
}

// Log is the log section of both binaries.
type Log struct {
	// Format is "console" (human-readable) or "json"; "" (the default)
	// picks console on a terminal and JSON otherwise (containers, CI).
	Format string `yaml:"format" help:"log format: console or json"`
	// Level is the minimum level logged: "debug", "info" (the default),
	// "warn" or "error".
	Level string `yaml:"level" help:"log level: debug, info, warn or error"`
}

// DefaultTrain returns the defaults of tagnet-train.
func DefaultTrain() *Train {
	return &Train{
		Data: Data{
			FnCol:      "fname",
			LabelCol:   "labels",
			ValidCol:   "is_valid",
			LabelDelim: " ",
			CSVDelim:   ",",
			ValidPct:   0.2,
			Seed:       42,
			OnBadItem:  models.BadItemSkip,
			Prefetch:   4,
			Resize:     models.ResizeCrop,
		},
		Model: Architecture{
			Arch:  "resnet18",
			Stem:  "imagenet",
			Width: 1,
			Head:  "fastai",
			Size:  128,
		},
		Train: Training{
			Schedule:     models.FineTune,
			Epochs:       3,
			FreezeEpochs: 1,
			BatchSize:    64,
			LR:           0.002,
			WD:           0.01,
			PctStart:     0.25,
			Div:          25,
			DivFinal:     1e5,
			Aug:          models.AugmentCrop,
			MinScale:     0.35,
			Threshold:    0.2,
			Seed:         42,
			Precision:    models.PrecisionAuto,
		},
		Sweep:  Sweep{Start: 0.05, Stop: 0.95, Steps: 29},
		Output: Output{Dir: "out", Model: "model.onnx", Plots: true},
		Log:    defaultLog(),
	}
}

func defaultLog() Log { return Log{Format: "", Level: "info"} }

// Validate checks every key of t and returns all problems found, each a
// [*KeyError], joined with [errors.Join]. It does not require data.dir;
// see [Train.RequireData].
func (t *Train) Validate() error {
	var c checker
	t.Data.validate(&c)
	t.Model.validate(&c)
	t.Train.validate(&c)
	t.Sweep.validate(&c)
	t.Output.validate(&c)
	t.Log.validate(&c)
	return c.err()
}

// RequireData reports an error unless data.dir is set; training needs it,
// other commands of tagnet-train may not.
//
// fs, when not nil, is the command's flag set: the error names the flag
// its help shows (see [VisibleFlag]).
func (t *Train) RequireData(fs *pflag.FlagSet) error {
	if t.Data.Dir == "" {
		return &KeyError{Key: "data.dir", Reason: "is required: set it in the config file, $" + EnvName("data.dir") + " or " + VisibleFlag(fs, "data.dir")}
	}
	return nil
}

// ModelPath returns the file the model is written to: output.model joined
// to output.dir, or output.model alone when it is absolute.
func (t *Train) ModelPath() string {
	if filepath.IsAbs(t.Output.Model) {
		return t.Output.Model
	}
	return filepath.Join(t.Output.Dir, t.Output.Model)
}

func (d *Data) validate(c *checker) {
	c.notEmpty("data.fn_col", d.FnCol)
	c.notEmpty("data.label_col", d.LabelCol)
	c.notEmpty("data.label_delim", d.LabelDelim)
	if r, n := utf8.DecodeRuneInString(d.CSVDelim); n != len(d.CSVDelim) || n == 0 || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' {
		c.fail("data.csv_delim", d.CSVDelim, "must be a single character other than a quote or a line break")
	}
	c.openUnit("data.valid_pct", d.ValidPct)
	oneOfSet(c, "data.on_bad_item", d.OnBadItem, models.BadItemPolicies())
	atLeast(c, "data.workers", d.Workers, 0)
	atLeast(c, "data.prefetch", d.Prefetch, 0)
	oneOfSet(c, "data.resize", d.Resize, models.Resizes())
}

// specKeys maps the fields of a models.Spec to the keys of the model
// section that set them.
var specKeys = map[string]string{
	"arch": "model.arch", "input_size": "model.size", "stem": "model.stem", "head": "model.head", "width": "model.width",
}

func (a *Architecture) validate(c *checker) {
	// The architecture's names and ranges are models.Spec's: validate
	// through it, so that what the configuration accepts is what the
	// trainer can build and the predictor can load.
	spec := models.Spec{Arch: a.Arch, NumClasses: 1, InputSize: a.Size, Stem: models.Stem(a.Stem), Head: models.Head(a.Head), Width: a.Width}
	for _, p := range spec.Problems() {
		if key, ok := specKeys[p.Field]; ok {
			c.fail(key, p.Value, "%s", p.Reason)
		}
	}
	if IsWeightsFile(a.Weights) {
		switch strings.ToLower(filepath.Ext(a.Weights)) {
		case ".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".onnx":
		default:
			c.fail("model.weights", a.Weights, "must be empty, a weights name (IMAGENET1K_V1, IMAGENET1K_V2, DEFAULT) or a .pth, .pt, .bin, .ckpt, .safetensors or .onnx file")
		}
	}
	if a.WeightsURL != "" && !strings.HasPrefix(a.WeightsURL, "http://") && !strings.HasPrefix(a.WeightsURL, "https://") {
		c.fail("model.weights_url", a.WeightsURL, "must be an http:// or https:// URL")
	}
}

// IsWeightsFile reports whether a model.weights value names a file (it
// holds a '.' or a path separator) rather than published weights
// (IMAGENET1K_V1, DEFAULT) or nothing.
func IsWeightsFile(v string) bool { return strings.ContainsAny(v, "./"+string(filepath.Separator)) }

func (t *Training) validate(c *checker) {
	oneOfSet(c, "train.schedule", t.Schedule, models.Schedules())
	atLeast(c, "train.epochs", t.Epochs, 1)
	atLeast(c, "train.freeze_epochs", t.FreezeEpochs, 0)
	atLeast(c, "train.batch_size", t.BatchSize, 1)
	c.positive("train.lr", t.LR)
	c.nonNegative("train.wd", t.WD)
	c.openUnit("train.pct_start", t.PctStart)
	c.positive("train.div", t.Div)
	c.positive("train.div_final", t.DivFinal)
	oneOfSet(c, "train.aug", t.Aug, models.Augments())
	if !(t.MinScale > 0 && t.MinScale <= 1) {
		c.fail("train.min_scale", t.MinScale, "must be in (0, 1]")
	}
	c.openUnit("train.threshold", t.Threshold)
	atLeast(c, "train.early_stopping_patience", t.EarlyStoppingPatience, 0)
	atLeast(c, "train.threads", t.Threads, 0)
	oneOfSet(c, "train.precision", t.Precision, models.Precisions())
}

func (s *Sweep) validate(c *checker) {
	c.openUnit("sweep.start", s.Start)
	c.openUnit("sweep.stop", s.Stop)
	if s.Start >= s.Stop {
		c.fail("sweep.stop", s.Stop, "must be greater than sweep.start (%s)", formatValue(s.Start))
	}
	atLeast(c, "sweep.steps", s.Steps, 2)
}

func (o *Output) validate(c *checker) {
	c.notEmpty("output.model", o.Model)
}

func (l *Log) validate(c *checker) {
	if l.Format != "" {
		c.oneOf("log.format", l.Format, clilog.Formats()...)
	}
	c.oneOf("log.level", l.Level, clilog.Levels()...)
}
