package preprocess

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidSpec is wrapped by every error that [Spec.Validate] returns.
var ErrInvalidSpec = errors.New("invalid preprocessing spec")

// ResizeMode names how the whole image is resized before the centre crop.
type ResizeMode string

const (
	// ResizeSquish resizes the image to exactly ResizeWidth×ResizeHeight,
	// ignoring its aspect ratio (fastai's ResizeMethod.Squish and the
	// validation path of RandomResizedCrop).
	ResizeSquish ResizeMode = "squish"
	// ResizeShorterSide scales the image, keeping its aspect ratio, so that
	// its shorter side is ResizeShorter pixels; the longer side is
	// truncated to an integer (torchvision's Resize(int)).
	ResizeShorterSide ResizeMode = "shorter_side"
)

// Interpolation names the resampling filter. Both filters are applied
// separably and are widened when downsampling (antialiased), as Pillow does.
type Interpolation string

const (
	// Bilinear is the triangle filter (Pillow's BILINEAR, fastai's default).
	Bilinear Interpolation = "bilinear"
	// Bicubic is the cubic convolution filter with a = -0.5 (Pillow's
	// BICUBIC; nfnt/resize's Bicubic is the same kernel).
	Bicubic Interpolation = "bicubic"
)

// Resampler names the implementation that resizes the image. Both apply
// the spec's Interpolation separably, widened when downsampling, at the
// same sample positions and with the same geometry; they differ in
// rounding and at the image borders.
type Resampler string

const (
	// ResamplerPillow, which the empty string also selects, is this
	// package's own resampler. It reproduces Pillow's resize to within a
	// level (Pillow's weights, clamping after each pass, taps dropped and
	// renormalised at the borders), so a model trained in
	// PyTorch or fastai on Pillow-loaded images sees the values it was
	// trained on. It is the default and the recommended choice, and the
	// faster one.
	ResamplerPillow Resampler = "pillow"
	// ResamplerNfnt resizes with github.com/nfnt/resize (its Bilinear or
	// Bicubic filter), the resizer the product specification names. Its
	// weights are 8-bit fixed point, it truncates instead of rounding
	// after each pass and it repeats edge pixels instead of renormalising
	// the taps, so its outputs are about one level darker than Pillow's,
	// differ by up to 2–4 levels inside the image and by up to about 12 in
	// the outer two pixels when downscaling (TestResamplersAgree). Choose
	// it for models trained on images that nfnt/resize prepared, or where
	// that library is required; it takes two to three times the CPU time.
	ResamplerNfnt Resampler = "nfnt"
)

// ChannelOrder names the order of the three colour planes in the output.
type ChannelOrder string

const (
	// OrderRGB puts red in plane 0, green in plane 1 and blue in plane 2.
	OrderRGB ChannelOrder = "rgb"
	// OrderBGR puts blue in plane 0, green in plane 1 and red in plane 2.
	OrderBGR ChannelOrder = "bgr"
)

// Spec describes the whole preprocessing of one image into a [3,Height,Width]
// float32 tensor: decode, resize, centre crop, scale to [0,1], normalise, and
// lay out as planes. The zero value is not valid; start from [Default].
//
// Mean and Std apply to values already scaled to [0,1]: a channel value v in
// 0..255 becomes (v/255 − Mean[c]) / Std[c]. They are given in RGB order
// whatever ChannelOrder says. A model that wants raw 0..255 input uses
// Mean 0 and Std 1/255.
type Spec struct {
	// Width and Height are the network input size in pixels; both must be
	// positive.
	Width  int `json:"width"`
	Height int `json:"height"`

	// ResizeMode says how the whole image is resized before the centre
	// crop to Width×Height. It must be set.
	ResizeMode ResizeMode `json:"resize_mode"`
	// ResizeWidth and ResizeHeight are the size that ResizeSquish resizes
	// to; each must be at least Width and Height respectively. Zero (and
	// omitted from JSON) in other modes.
	ResizeWidth  int `json:"resize_width,omitempty"`
	ResizeHeight int `json:"resize_height,omitempty"`
	// ResizeShorter is the length ResizeShorterSide gives the shorter side;
	// it must be at least max(Width, Height). Zero (and omitted from JSON)
	// in other modes.
	ResizeShorter int `json:"resize_shorter,omitempty"`

	// Interpolation is the resampling filter. It must be set.
	Interpolation Interpolation `json:"interpolation"`
	// Resampler is the implementation that resizes: ResamplerPillow (or
	// empty, the default, and omitted from JSON) or ResamplerNfnt.
	Resampler Resampler `json:"resampler,omitempty"`

	// Mean and Std normalise each channel after scaling to [0,1], in RGB
	// order. Every Std must be positive and finite.
	Mean [3]float32 `json:"mean"`
	Std  [3]float32 `json:"std"`

	// ChannelOrder is the order of the output planes. It must be set.
	ChannelOrder ChannelOrder `json:"channel_order"`

	// EXIFOrientation, when true, turns JPEG images upright according to
	// their EXIF Orientation tag before anything else. False (Pillow's and
	// fastai's behaviour) uses the pixels as stored.
	EXIFOrientation bool `json:"exif_orientation"`

	// Colour says how embedded ICC profiles are treated: ColourSRGB
	// converts to sRGB, ColourAsIs (or empty, and omitted from JSON, as in
	// models written before the key existed) keeps the stored values.
	Colour Colour `json:"colour,omitempty"`
}

// ImageNet channel statistics on [0,1]-scaled RGB values, as torchvision and
// fastai use them.
var (
	imageNetMean = [3]float32{0.485, 0.456, 0.406}
	imageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// Default returns tagnet's preprocessing for a square input of size pixels:
// fastai's validation transform (squish to size + ceil(size·0.14/8)·8, then
// centre-crop to size; 128 → 152 → 128), bilinear, ImageNet normalisation,
// RGB planes, with EXIF orientation applied and colour converted to sRGB. It returns an invalid Spec when
// size is not positive.
func Default(size int) Spec {
	extra := 0
	if size > 0 {
		extra = int(math.Ceil(float64(size)*0.14/8)) * 8
	}
	return Spec{
		Width:           size,
		Height:          size,
		ResizeMode:      ResizeSquish,
		ResizeWidth:     size + extra,
		ResizeHeight:    size + extra,
		Interpolation:   Bilinear,
		Mean:            imageNetMean,
		Std:             imageNetStd,
		ChannelOrder:    OrderRGB,
		EXIFOrientation: true,
		Colour:          ColourSRGB,
	}
}

// Torchvision returns torchvision's classic evaluation transform for a
// square input of size pixels: scale the shorter side to resize, centre-crop
// to size, bilinear, ImageNet normalisation, RGB planes, EXIF orientation
// and colour profiles ignored as Pillow does (Resize(256), CenterCrop(224)
// for the ImageNet models).
func Torchvision(size, resize int) Spec {
	return Spec{
		Width:         size,
		Height:        size,
		ResizeMode:    ResizeShorterSide,
		ResizeShorter: resize,
		Interpolation: Bilinear,
		Mean:          imageNetMean,
		Std:           imageNetStd,
		ChannelOrder:  OrderRGB,
		Colour:        ColourAsIs,
	}
}

// InputLen is the number of float32 values in one preprocessed image:
// 3·Height·Width.
func (s Spec) InputLen() int { return 3 * s.Width * s.Height }

// Validate reports the first problem with s, wrapping [ErrInvalidSpec].
func (s Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	const maxSide = 1 << 15
	if s.Width <= 0 || s.Height <= 0 || s.Width > maxSide || s.Height > maxSide {
		return bad("input size %dx%d must be positive and at most %d", s.Width, s.Height, maxSide)
	}
	switch s.ResizeMode {
	case ResizeSquish:
		if s.ResizeWidth < s.Width || s.ResizeHeight < s.Height || s.ResizeWidth > maxSide || s.ResizeHeight > maxSide {
			return bad("squish size %dx%d must cover the input size %dx%d and be at most %d",
				s.ResizeWidth, s.ResizeHeight, s.Width, s.Height, maxSide)
		}
		if s.ResizeShorter != 0 {
			return bad("resize_shorter %d is set but resize_mode is %q", s.ResizeShorter, s.ResizeMode)
		}
	case ResizeShorterSide:
		if s.ResizeShorter < max(s.Width, s.Height) || s.ResizeShorter > maxSide {
			return bad("resize_shorter %d must be at least the larger input side %d and at most %d",
				s.ResizeShorter, max(s.Width, s.Height), maxSide)
		}
		if s.ResizeWidth != 0 || s.ResizeHeight != 0 {
			return bad("resize_width/resize_height are set but resize_mode is %q", s.ResizeMode)
		}
	default:
		return bad("unknown resize_mode %q (want %q or %q)", s.ResizeMode, ResizeSquish, ResizeShorterSide)
	}
	switch s.Interpolation {
	case Bilinear, Bicubic:
	default:
		return bad("unknown interpolation %q (want %q or %q)", s.Interpolation, Bilinear, Bicubic)
	}
	switch s.Resampler {
	case "", ResamplerPillow, ResamplerNfnt:
	default:
		return bad("unknown resampler %q (want %q, %q or empty for %q)",
			s.Resampler, ResamplerPillow, ResamplerNfnt, ResamplerPillow)
	}
	switch s.ChannelOrder {
	case OrderRGB, OrderBGR:
	default:
		return bad("unknown channel_order %q (want %q or %q)", s.ChannelOrder, OrderRGB, OrderBGR)
	}
	switch s.Colour {
	case "", ColourSRGB, ColourAsIs:
	default:
		return bad("unknown colour %q (want %q, %q or empty for %q)", s.Colour, ColourSRGB, ColourAsIs, ColourAsIs)
	}
	for c := range 3 {
		m, sd := float64(s.Mean[c]), float64(s.Std[c])
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return bad("mean[%d] = %v is not finite", c, m)
		}
		if !(sd > 0) || math.IsInf(sd, 0) {
			return bad("std[%d] = %v must be positive and finite", c, sd)
		}
	}
	return nil
}

// resizedSize returns the size the whole srcW×srcH image is resized to
// before the centre crop.
func (s Spec) resizedSize(srcW, srcH int) (w, h int) {
	if s.ResizeMode == ResizeSquish {
		return s.ResizeWidth, s.ResizeHeight
	}
	// torchvision: new_long = int(new_short * long / short).
	if srcW <= srcH {
		return s.ResizeShorter, int(int64(s.ResizeShorter) * int64(srcH) / int64(srcW))
	}
	return int(int64(s.ResizeShorter) * int64(srcW) / int64(srcH)), s.ResizeShorter
}
