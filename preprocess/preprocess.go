package preprocess

import (
	"fmt"
	"image"
	"math"

	"github.com/tagnet/tagnet/preprocess/vips"
)

// Preprocessor applies one [Spec]. It is immutable and safe for concurrent
// use by many goroutines.
type Preprocessor struct {
	spec     Spec
	limits   Limits
	plane    [3]int
	mul, add [3]float32
	order    int // resampling pass order; tests force one, see resampleJob and nfntResample
}

// New returns a Preprocessor for spec, decoding within limits (the zero
// Limits means the defaults). It fails when spec is invalid or libvips
// cannot start.
func New(spec Spec, limits Limits) (*Preprocessor, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	// The decoder starts now, so that a missing libvips is New's error
	// rather than every image's.
	if err := vips.Start(); err != nil {
		return nil, err
	}
	p := &Preprocessor{spec: spec, limits: limits, plane: [3]int{0, 1, 2}}
	if spec.ChannelOrder == OrderBGR {
		p.plane = [3]int{2, 1, 0}
	}
	for c := range 3 {
		std, mean := float64(spec.Std[c]), float64(spec.Mean[c])
		p.mul[c] = float32(1 / (255 * std))
		p.add[c] = float32(-mean / std)
	}
	return p, nil
}

// ReturnFreedMemory makes the process give image-sized buffers back to the
// system when they are freed (glibc's mmap threshold fixed at 128 KiB;
// nothing on other C libraries). Programs that serve models call it once,
// before loading one: a ResNet-50 predictor peaks at 0.37 GB RSS with it,
// 0.55 GB without. Training must not: see [vips.ReturnFreedMemory] for
// what it costs oneDNN's matrix products.
func ReturnFreedMemory() { vips.ReturnFreedMemory() }

// Spec returns the spec p applies.
func (p *Preprocessor) Spec() Spec { return p.spec }

// InputLen is the number of float32 values one image fills: 3·Height·Width.
func (p *Preprocessor) InputLen() int { return p.spec.InputLen() }

// Decode decodes an encoded image within p's limits, applying EXIF
// orientation when the spec asks for it. See [Decode].
func (p *Preprocessor) Decode(data []byte) (*RGB, error) {
	return Decode(data, p.DecodeOptions())
}

// DecodeFile decodes the image file at path as [Preprocessor.Decode] does.
func (p *Preprocessor) DecodeFile(path string) (*RGB, error) {
	return DecodeFile(path, p.DecodeOptions())
}

// DecodeOptions returns the options p decodes with: its limits, its spec's
// orientation and colour handling, and shrink-on-load to the size the spec
// resizes to (see [DraftScale]). Callers may change the Limits field.
func (p *Preprocessor) DecodeOptions() DecodeOptions {
	return DecodeOptions{
		Limits:          p.limits,
		EXIFOrientation: p.spec.EXIFOrientation,
		Colour:          p.spec.Colour,
		Draft:           p.spec.resizedSize,
	}
}

// CropDecodeOptions are p's decode options for images that will be cut by
// random crops covering at least minScale of their area (the training-time
// RandomResizedCrop): a JPEG is reduced on load only as far
// as keeps its shorter side at least Width/√minScale (and Height/√minScale)
// pixels, so that the smallest crop is still resized down, never up, to
// the input size. minScale must be in (0,1].
func (p *Preprocessor) CropDecodeOptions(minScale float64) DecodeOptions {
	o := p.DecodeOptions()
	side := float64(max(p.spec.Width, p.spec.Height)) / math.Sqrt(minScale)
	need := int(math.Ceil(side))
	o.Draft = func(w, h int) (int, int) {
		// The shorter side must reach need; the longer follows the aspect.
		if w <= h {
			return need, int(math.Ceil(float64(need) * float64(h) / float64(w)))
		}
		return int(math.Ceil(float64(need) * float64(w) / float64(h))), need
	}
	return o
}

// Into resizes img as the spec says, centre-crops it to Width×Height,
// normalises it and writes it to dst as [3][Height][Width] planes. dst must
// hold exactly InputLen values (Into panics otherwise: that is a caller's
// bug); a batch is filled by passing consecutive slices of one [N,3,H,W]
// buffer. It fails only on an empty or inconsistent img.
func (p *Preprocessor) Into(dst []float32, img *RGB) error {
	p.checkDst(dst)
	if err := img.valid(); err != nil {
		return fmt.Errorf("preprocessing: %w", err)
	}
	s := p.spec
	rw, rh := s.resizedSize(img.Width, img.Height)
	// Centre crop, rounding the offset down (fastai's crop_pad).
	winX, winY := (rw-s.Width)/2, (rh-s.Height)/2
	if err := p.resample(dst, img, image.Rect(0, 0, img.Width, img.Height), rw, rh, winX, winY); err != nil {
		return fmt.Errorf("preprocessing: %w", err)
	}
	return nil
}

// RegionInto crops the rectangle r out of img, resizes it straight to
// Width×Height (ignoring the spec's resize mode, as the training-time
// RandomResizedCrop does), normalises it and writes it to dst as Into does.
// r must be non-empty and lie inside img.
func (p *Preprocessor) RegionInto(dst []float32, img *RGB, r image.Rectangle) error {
	p.checkDst(dst)
	if err := img.valid(); err != nil {
		return fmt.Errorf("preprocessing region: %w", err)
	}
	if r.Empty() || !r.In(image.Rect(0, 0, img.Width, img.Height)) {
		return fmt.Errorf("preprocessing region: %v is empty or outside the %dx%d image", r, img.Width, img.Height)
	}
	if err := p.resample(dst, img, r, p.spec.Width, p.spec.Height, 0, 0); err != nil {
		return fmt.Errorf("preprocessing region: %w", err)
	}
	return nil
}

// File decodes the image file at path and preprocesses it into dst.
func (p *Preprocessor) File(dst []float32, path string) error {
	img, err := p.DecodeFile(path)
	if err != nil {
		return err
	}
	if err := p.Into(dst, img); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Bytes decodes an encoded image and preprocesses it into dst.
func (p *Preprocessor) Bytes(dst []float32, data []byte) error {
	img, err := p.Decode(data)
	if err != nil {
		return err
	}
	return p.Into(dst, img)
}

func (p *Preprocessor) checkDst(dst []float32) {
	if len(dst) != p.InputLen() {
		panic(fmt.Sprintf("preprocess: destination holds %d values, want %d", len(dst), p.InputLen()))
	}
}

// resample resizes the rectangle src of img to outW×outH with the spec's
// resampler and writes the Width×Height window at (winX, winY) of the
// result, normalised, into dst.
func (p *Preprocessor) resample(dst []float32, img *RGB, src image.Rectangle, outW, outH, winX, winY int) error {
	if p.spec.Resampler == ResamplerNfnt {
		return p.nfntResample(dst, img, src, outW, outH, winX, winY)
	}
	j := &resampleJob{
		img:   img,
		srcX0: src.Min.X, srcY0: src.Min.Y, srcX1: src.Max.X, srcY1: src.Max.Y,
		outW: outW, outH: outH,
		winX: winX, winY: winY,
		kernel: kernelFor(p.spec.Interpolation),
		output: p.output(),
		order:  p.order,
	}
	j.run(dst)
	return nil
}

// output returns how p writes a resized window into its destination.
func (p *Preprocessor) output() output {
	return output{winW: p.spec.Width, winH: p.spec.Height, plane: p.plane, mul: p.mul, add: p.add}
}
