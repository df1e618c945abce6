package data

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
)

// AugmentMode names the training-time augmentation: the value set is
// models.Augments (train.aug spells it the same).
type AugmentMode = models.Augment

const (
	// AugmentNone preprocesses training images exactly as validation
	// images and the predictor do.
	AugmentNone = models.AugmentNone
	// AugmentCrop applies [RandomResizedCrop].
	AugmentCrop = models.AugmentCrop
	// AugmentCropFlip applies [RandomResizedCrop], then a horizontal flip
	// with probability 0.5.
	AugmentCropFlip = models.AugmentCropFlip
)

// ParseAugmentMode parses one of [models.Augments] ("none", "crop",
// "crop+flip"), ignoring case and surrounding space.
func ParseAugmentMode(s string) (AugmentMode, error) {
	m := AugmentMode(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(models.Augments(), m) {
		return m, nil
	}
	return "", fmt.Errorf("unknown augmentation %q (want one of %q)", s, models.Augments())
}

// DefaultMinScale is the smallest crop area fraction of [RandomResizedCrop]
// in the fastai book's multi-label chapter.
const DefaultMinScale = 0.35

// AugmentOptions configure an [Augmenter].
type AugmentOptions struct {
	// Mode is the augmentation. Empty means AugmentNone.
	Mode AugmentMode
	// MinScale is the smallest crop area, as a fraction of the image, in
	// (0,1]. Zero means DefaultMinScale.
	MinScale float64
	// Brightness, in crop modes, adds a value drawn uniformly from
	// [−Brightness, Brightness] to every channel on the [0,1] scale. Zero
	// turns it off; 0.1 is light.
	Brightness float64
	// Contrast, in crop modes, scales every channel about 0.5 by a factor
	// drawn log-uniformly from [1/(1+Contrast), 1+Contrast]. Zero turns it
	// off; 0.2 is light.
	Contrast float64
}

// Augmenter turns decoded images into normalised network inputs, augmented
// for training and plain for validation. It is immutable and safe for
// concurrent use.
type Augmenter struct {
	pre *preprocess.Preprocessor
	opt AugmentOptions
	// mean and std of the channel in each output plane.
	mean, std [3]float32
}

// NewAugmenter returns an Augmenter producing pre's input size and
// normalisation.
func NewAugmenter(pre *preprocess.Preprocessor, opt AugmentOptions) (*Augmenter, error) {
	if pre == nil {
		return nil, errors.New("augmenter: no preprocessor")
	}
	if opt.Mode == "" {
		opt.Mode = AugmentNone
	}
	if _, err := ParseAugmentMode(string(opt.Mode)); err != nil {
		return nil, fmt.Errorf("augmenter: %w", err)
	}
	if opt.MinScale == 0 {
		opt.MinScale = DefaultMinScale
	}
	if !(opt.MinScale > 0 && opt.MinScale <= 1) {
		return nil, fmt.Errorf("augmenter: min scale %v is outside (0,1]", opt.MinScale)
	}
	if !(opt.Brightness >= 0 && opt.Brightness <= 1) {
		return nil, fmt.Errorf("augmenter: brightness %v is outside [0,1]", opt.Brightness)
	}
	if !(opt.Contrast >= 0 && opt.Contrast <= 10) {
		return nil, fmt.Errorf("augmenter: contrast %v is outside [0,10]", opt.Contrast)
	}
	a := &Augmenter{pre: pre, opt: opt}
	spec := pre.Spec()
	for c := range 3 {
		p := c
		if spec.ChannelOrder == preprocess.OrderBGR {
			p = 2 - c
		}
		a.mean[p], a.std[p] = spec.Mean[c], spec.Std[c]
	}
	return a, nil
}

// DecodeOptions returns how an image is decoded for a's training (train)
// or validation transform. Validation decodes exactly as the predictor
// does; random crops decode a JPEG reduced on load only as far as keeps
// the smallest crop at least the input size (see
// preprocess.Preprocessor.CropDecodeOptions).
func (a *Augmenter) DecodeOptions(train bool) preprocess.DecodeOptions {
	if train && a.opt.Mode != AugmentNone {
		return a.pre.CropDecodeOptions(a.opt.MinScale)
	}
	return a.pre.DecodeOptions()
}

// Preprocessor returns the preprocessor a applies.
func (a *Augmenter) Preprocessor() *preprocess.Preprocessor { return a.pre }

// Options returns a's options, defaults filled in.
func (a *Augmenter) Options() AugmentOptions { return a.opt }

// Valid preprocesses img into dst exactly as the predictor does: the
// preprocess Spec's whole-image resize and centre crop, then normalisation.
// dst must hold the preprocessor's InputLen values.
func (a *Augmenter) Valid(dst []float32, img *preprocess.RGB) error {
	return a.pre.Into(dst, img)
}

// Train augments img into dst with randomness drawn from rng (see
// [ItemRand]). In mode none it is [Augmenter.Valid]. dst must hold the
// preprocessor's InputLen values.
func (a *Augmenter) Train(dst []float32, img *preprocess.RGB, rng *rand.Rand) error {
	if a.opt.Mode == AugmentNone {
		return a.Valid(dst, img)
	}
	if img == nil {
		return errors.New("augmenting: no image")
	}
	r := RandomResizedCrop(img.Width, img.Height, a.opt.MinScale, rng)
	if err := a.pre.RegionInto(dst, img, r); err != nil {
		return fmt.Errorf("augmenting: %w", err)
	}
	spec := a.pre.Spec()
	if a.opt.Mode == AugmentCropFlip && rng.IntN(2) == 1 {
		flipPlanes(dst, spec.Width, spec.Height)
	}
	if a.opt.Brightness > 0 || a.opt.Contrast > 0 {
		var shift, scale float64 = 0, 1
		if a.opt.Brightness > 0 {
			shift = (2*rng.Float64() - 1) * a.opt.Brightness
		}
		if a.opt.Contrast > 0 {
			l := math.Log1p(a.opt.Contrast)
			scale = math.Exp((2*rng.Float64() - 1) * l)
		}
		a.light(dst, spec.Width*spec.Height, float32(shift), float32(scale))
	}
	return nil
}

// flipPlanes mirrors each row of the [3][h][w] planes in dst.
func flipPlanes(dst []float32, w, h int) {
	for r := range 3 * h {
		row := dst[r*w : (r+1)*w]
		for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
			row[i], row[j] = row[j], row[i]
		}
	}
}

// light applies v' = clamp((v − 0.5)·scale + 0.5 + shift, 0, 1) to every
// value on the [0,1] scale, working through each plane's normalisation.
func (a *Augmenter) light(dst []float32, plane int, shift, scale float32) {
	for p := range 3 {
		m, s := a.mean[p], a.std[p]
		vals := dst[p*plane : (p+1)*plane]
		for i, x := range vals {
			v := x*s + m
			v = (v-0.5)*scale + 0.5 + shift
			v = min(max(v, 0), 1)
			vals[i] = (v - m) / s
		}
	}
}

// RandomResizedCrop returns the crop rectangle of fastai's (and
// torchvision's) RandomResizedCrop for a w×h image: up to 10 tries drawing
// an area fraction uniformly from [minScale, 1] and an aspect ratio
// log-uniformly from [3/4, 4/3], rounding the side lengths half to even as
// Python does, and taking the first crop that fits, at a uniformly random
// position. When none fits it falls back to the largest centred crop whose
// aspect ratio is clamped to [3/4, 4/3]. The caller resizes the crop to the
// network's input size (bilinear in tagnet's default Spec).
func RandomResizedCrop(w, h int, minScale float64, rng *rand.Rand) image.Rectangle {
	const lo, hi = 3.0 / 4, 4.0 / 3
	area := float64(w) * float64(h)
	logLo, logHi := math.Log(lo), math.Log(hi)
	for range 10 {
		a := (minScale + rng.Float64()*(1-minScale)) * area
		ratio := math.Exp(logLo + rng.Float64()*(logHi-logLo))
		nw := int(math.RoundToEven(math.Sqrt(a * ratio)))
		nh := int(math.RoundToEven(math.Sqrt(a / ratio)))
		if nw > 0 && nh > 0 && nw <= w && nh <= h {
			x := rng.IntN(w - nw + 1)
			y := rng.IntN(h - nh + 1)
			return image.Rect(x, y, x+nw, y+nh)
		}
	}
	cw, ch := w, h
	switch r := float64(w) / float64(h); {
	case r < lo:
		ch = int(float64(w) / lo)
	case r > hi:
		cw = int(float64(h) * hi)
	}
	cw, ch = max(min(cw, w), 1), max(min(ch, h), 1)
	x, y := (w-cw)/2, (h-ch)/2
	return image.Rect(x, y, x+cw, y+ch)
}
