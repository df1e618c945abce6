package models

// The value sets of a training recipe, owned here because the training
// summary of a model file records them (Training.Schedule,
// Training.Precision) and because the trainer (trainer/learn, trainer/data)
// and tagnet-train's configuration (train.schedule, train.precision,
// train.aug, data.on_bad_item, data.resize) must spell them alike, while
// the configuration package may not import the trainer (tagnet-predict
// builds it too, and never the trainer). Each value is spelt as the
// configuration key takes it.

// Schedule is a training schedule (train.schedule).
type Schedule string

// Schedules, as fastai names its fit methods.
const (
	// FineTune is fastai's fine_tune: freeze epochs of one cycle with the
	// pretrained body frozen, then epochs of one cycle with it unfrozen at
	// discriminative learning rates.
	FineTune Schedule = "fine_tune"
	// OneCycle is fastai's fit_one_cycle over every epoch, nothing frozen.
	OneCycle Schedule = "one_cycle"
)

// Schedules returns every Schedule, the default first.
func Schedules() []Schedule { return []Schedule{FineTune, OneCycle} }

// Precision is the number format of the trainer's convolution and linear
// products (train.precision).
type Precision string

// Precisions.
const (
	// PrecisionAuto is bf16-mixed where the CPU multiplies bf16 natively
	// (AVX512_BF16 or AMX), else fp32; a model records what it resolved to.
	PrecisionAuto Precision = "auto"
	// PrecisionFP32 is float32 throughout.
	PrecisionFP32 Precision = "fp32"
	// PrecisionBF16 is PyTorch's CPU autocast policy: bf16 operands with
	// float32 accumulation, float32 master weights, optimiser state,
	// BatchNorm, loss and metrics.
	PrecisionBF16 Precision = "bf16-mixed"
)

// Precisions returns every Precision, the default first.
func Precisions() []Precision { return []Precision{PrecisionAuto, PrecisionFP32, PrecisionBF16} }

// Augment is a training-time augmentation (train.aug).
type Augment string

// Augmentations.
const (
	// AugmentNone preprocesses training images exactly as validation ones.
	AugmentNone Augment = "none"
	// AugmentCrop is torchvision's RandomResizedCrop (fastai's
	// RandomResizedCrop item transform).
	AugmentCrop Augment = "crop"
	// AugmentCropFlip is AugmentCrop, then a horizontal flip with
	// probability 0.5.
	AugmentCropFlip Augment = "crop+flip"
)

// Augments returns every Augment, from none to most.
func Augments() []Augment { return []Augment{AugmentNone, AugmentCrop, AugmentCropFlip} }

// BadItemPolicy says what training does with a row or an image that
// cannot be read (data.on_bad_item).
type BadItemPolicy string

// Bad-item policies.
const (
	// BadItemSkip drops each bad item, naming it in the report, the
	// metrics log and the model's training summary.
	BadItemSkip BadItemPolicy = "skip"
	// BadItemFail stops before training, listing every bad item.
	BadItemFail BadItemPolicy = "fail"
)

// BadItemPolicies returns every BadItemPolicy, the default first.
func BadItemPolicies() []BadItemPolicy { return []BadItemPolicy{BadItemSkip, BadItemFail} }

// Resize is how an image becomes a model-size square for validation and
// serving (data.resize); the preprocessing stored in the model applies it.
type Resize string

// Resize methods.
const (
	// ResizeCrop is fastai's validation transform: squish to size +
	// ⌈size·0.14/8⌉·8, then centre-crop size × size.
	ResizeCrop Resize = "crop"
	// ResizeSquish squishes the whole image to size (nothing cut off).
	ResizeSquish Resize = "squish"
)

// Resizes returns every Resize, the default first.
func Resizes() []Resize { return []Resize{ResizeCrop, ResizeSquish} }
