package preprocess

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"

	"github.com/tagnet/tagnet/preprocess/vips"
)

// Default decoding limits; see [Limits].
const (
	// DefaultMaxPixels is Pillow's decompression-bomb threshold
	// (MAX_IMAGE_PIXELS): about 89 megapixels.
	DefaultMaxPixels = 1024 * 1024 * 1024 / 4 / 3
	// DefaultMaxBytes bounds the encoded size read from a file or reader.
	DefaultMaxBytes = 256 << 20
)

// Limits bounds what decoding accepts, so that a hostile or broken file is
// refused from its header before any pixel is decoded.
type Limits struct {
	// MaxPixels is the largest width·height accepted. Zero means
	// DefaultMaxPixels; negative means no limit.
	MaxPixels int64
	// MaxBytes is the largest encoded input read by DecodeFile and
	// DecodeReader. Zero means DefaultMaxBytes; negative means no limit.
	MaxBytes int64
}

func (l Limits) maxPixels() int64 {
	if l.MaxPixels == 0 {
		return DefaultMaxPixels
	}
	return l.MaxPixels
}

func (l Limits) maxBytes() int64 {
	if l.MaxBytes == 0 {
		return DefaultMaxBytes
	}
	return l.MaxBytes
}

// LimitError reports an input refused by [Limits] before decoding.
type LimitError struct {
	What  string // "pixels" (from the header) or "bytes" (encoded size)
	Got   int64  // the image's pixel count, or the bytes read (limit + 1)
	Limit int64  // the limit in force
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("image has %d %s, over the limit of %d", e.Got, e.What, e.Limit)
}

// RGB is a decoded image: Width·Height pixels of interleaved 8-bit red,
// green and blue, row by row, with no padding (len(Pix) = 3·Width·Height).
// Alpha has been dropped and grey replicated; the values are the stored
// colour, as Pillow's convert("RGB") gives it.
type RGB struct {
	Width, Height int
	Pix           []uint8
}

// NewRGB returns a black w×h image.
func NewRGB(w, h int) *RGB {
	return &RGB{Width: w, Height: h, Pix: make([]uint8, 3*w*h)}
}

// valid reports whether m is a usable, consistent image.
func (m *RGB) valid() error {
	if m == nil || m.Width <= 0 || m.Height <= 0 {
		return errors.New("empty image")
	}
	if len(m.Pix) != 3*m.Width*m.Height {
		return fmt.Errorf("image of %dx%d has %d bytes, want %d", m.Width, m.Height, len(m.Pix), 3*m.Width*m.Height)
	}
	return nil
}

// ErrFormat is wrapped by the error for data that is not an image in a
// format tagnet reads (see [Extensions]).
var ErrFormat = vips.ErrFormat

// Extensions are the file name extensions of the formats [Decode] reads,
// lower case with their dot: what tagnet-predict walks for by default and
// what its service accepts. One list for every command.
var Extensions = []string{
	".jpg", ".jpeg", ".jpe", ".jfif", // JPEG
	".png",
	".gif",
	".webp",
	".heic", ".heif", ".avif", // HEIF containers (HEVC or AV1)
	".tif", ".tiff",
	".bmp", ".dib",
}

// Colour names how decoding treats colour profiles; a model records it in
// its preprocessing [Spec] so that training and serving agree.
type Colour string

const (
	// ColourSRGB converts images with an embedded ICC profile (Adobe RGB,
	// Display P3, ProPhoto, a camera's CMYK) to sRGB values. tagnet's own
	// models are trained this way.
	ColourSRGB Colour = "srgb"
	// ColourAsIs, which the empty string also selects, uses the stored
	// values and ignores embedded profiles, as Pillow's Image.open does
	// (and so torchvision and fastai): for models trained elsewhere. CMYK
	// is still converted to RGB, through its profile.
	ColourAsIs Colour = "as-is"
)

// DecodeOptions control [Decode].
type DecodeOptions struct {
	Limits
	// EXIFOrientation turns images upright by their EXIF Orientation tag,
	// whatever the container (JPEG, PNG eXIf, WebP, HEIF, TIFF).
	EXIFOrientation bool
	// Colour says whether embedded ICC profiles are applied.
	Colour Colour
	// Draft, when set, lets a JPEG be decoded at a reduced DCT scale
	// (shrink-on-load). It is called with the upright size of the image in
	// pixels and returns the size the caller will resize it to; Decode
	// then applies Pillow's Image.draft rule (see [DraftScale]) to that
	// size. Nil decodes at full size.
	Draft func(width, height int) (needW, needH int)
}

// DraftScale returns the DCT scale denominator — 8, 4, 2 or 1 — that
// Pillow's JpegImageFile.draft("RGB", (needW, needH)) picks for a w×h
// JPEG: the largest s with s ≤ min(w div needW, h div needH). The image is
// then decoded at ceil(w/s)×ceil(h/s) pixels, at least needW×needH, so
// the resize that follows only ever shrinks it. Non-positive needs give 1.
func DraftScale(w, h, needW, needH int) int {
	if needW <= 0 || needH <= 0 {
		return 1
	}
	scale := min(w/needW, h/needH)
	for _, s := range []int{8, 4, 2} {
		if scale >= s {
			return s
		}
	}
	return 1
}

// Config is what an image's header says, read without decoding pixels.
type Config struct {
	// Width and Height are the stored size of the first page or frame in
	// pixels (before EXIF orientation).
	Width, Height int
	// Format names the container: "jpeg", "png", "gif", "webp", "heif",
	// "tiff" or "bmp".
	Format string
}

// DecodeConfig reads the header of the encoded image in data, as [Decode]
// does before decoding: an unknown format gives an error wrapping
// [ErrFormat], an image over lim's pixel limit a [*LimitError].
func DecodeConfig(data []byte, lim Limits) (Config, error) {
	h, err := header(data, lim)
	return Config{Width: h.Width, Height: h.Height, Format: string(h.Format)}, err
}

// header reads data's header and applies lim's pixel limit.
func header(data []byte, lim Limits) (vips.Header, error) {
	h, err := vips.ReadHeader(data)
	if err != nil {
		return h, fmt.Errorf("reading image header: %w", err)
	}
	if h.Width <= 0 || h.Height <= 0 {
		return h, fmt.Errorf("%s image has no pixels (%dx%d)", h.Format, h.Width, h.Height)
	}
	if limit, n := lim.maxPixels(), int64(h.Width)*int64(h.Height); limit >= 0 && n > limit {
		return h, &LimitError{What: "pixels", Got: n, Limit: limit}
	}
	return h, nil
}

// Decode decodes the first page or frame of a JPEG (baseline, progressive,
// arithmetic-coded, CMYK/YCCK), PNG (any depth, grey, palette, alpha,
// interlaced), GIF (composited on its logical screen), WebP (lossy,
// lossless, alpha, animated), HEIC/HEIF/AVIF, TIFF or BMP (incl. RLE)
// image through libvips (package vips). It reads the header first and
// refuses an image over opt's pixel limit with a [*LimitError] before
// decoding. Data of another format gives an error wrapping [ErrFormat];
// truncated or corrupt data is an error, never a partly grey image.
//
// 16-bit samples are scaled to 8 bits, grey is replicated, alpha is
// dropped keeping the stored colour (Pillow's convert("RGB")).
func Decode(data []byte, opt DecodeOptions) (*RGB, error) {
	h, err := header(data, opt.Limits)
	if err != nil {
		return nil, err
	}
	vo := vips.Options{
		AutoRotate: opt.EXIFOrientation,
		ToSRGB:     opt.Colour == ColourSRGB,
		FailOn:     vips.FailOnError,
	}
	if opt.Draft != nil && h.Format == vips.JPEG {
		// The need is for the upright image; the DCT scales stored axes.
		w, ht := h.Width, h.Height
		swap := opt.EXIFOrientation && h.Orientation >= 5
		if swap {
			w, ht = ht, w
		}
		nw, nh := opt.Draft(w, ht)
		if swap {
			nw, nh = nh, nw
		}
		vo.Shrink = DraftScale(h.Width, h.Height, nw, nh)
	}
	m, err := vips.Decode(data, h, vo)
	if err != nil {
		return nil, fmt.Errorf("decoding %s image: %w", h.Format, err)
	}
	return &RGB{Width: m.Width, Height: m.Height, Pix: m.Pix}, nil
}

// DecodeReader reads at most opt.MaxBytes from r and decodes them as
// [Decode] does.
func DecodeReader(r io.Reader, opt DecodeOptions) (*RGB, error) {
	data, err := ReadAll(r, opt.Limits)
	if err != nil {
		return nil, err
	}
	return Decode(data, opt)
}

// DecodeFile decodes the image in the file at path as [Decode] does,
// refusing files over opt.MaxBytes.
func DecodeFile(path string, opt DecodeOptions) (*RGB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening image: %w", err)
	}
	defer f.Close()
	m, err := DecodeReader(f, opt)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	return m, nil
}

// ReadAll reads an encoded image from r, refusing more than lim.MaxBytes
// with a [*LimitError].
func ReadAll(r io.Reader, lim Limits) ([]byte, error) {
	limit := lim.maxBytes()
	if limit < 0 {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("reading image: %w", err)
		}
		return data, nil
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading image: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, &LimitError{What: "bytes", Got: int64(len(data)), Limit: limit}
	}
	return data, nil
}

// FromImage converts an image made in Go (image.Image) to [RGB], dropping
// alpha (the stored, non-premultiplied colour is kept) and replicating
// grey; grey, RGBA, NRGBA and paletted images take fast paths. Files are
// decoded with [Decode], not through Go's image decoders.
func FromImage(img image.Image) *RGB {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	m := NewRGB(w, h)
	pix := m.Pix
	switch src := img.(type) {
	case *image.Gray:
		for y := range h {
			o := src.PixOffset(b.Min.X, b.Min.Y+y)
			row := src.Pix[o : o+w]
			out := pix[3*w*y : 3*w*(y+1)]
			for x, v := range row {
				out[3*x], out[3*x+1], out[3*x+2] = v, v, v
			}
		}
	case *image.NRGBA:
		for y := range h {
			o := src.PixOffset(b.Min.X, b.Min.Y+y)
			row := src.Pix[o : o+4*w]
			out := pix[3*w*y : 3*w*(y+1)]
			for x := range w {
				out[3*x], out[3*x+1], out[3*x+2] = row[4*x], row[4*x+1], row[4*x+2]
			}
		}
	case *image.RGBA:
		for y := range h {
			o := src.PixOffset(b.Min.X, b.Min.Y+y)
			row := src.Pix[o : o+4*w]
			out := pix[3*w*y : 3*w*(y+1)]
			for x := range w {
				r, g, bl, a := row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]
				if a != 0xff {
					r, g, bl = unpremultiply(r, a), unpremultiply(g, a), unpremultiply(bl, a)
				}
				out[3*x], out[3*x+1], out[3*x+2] = r, g, bl
			}
		}
	case *image.Paletted:
		var lut [256][3]uint8
		for i, c := range src.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			lut[i] = [3]uint8{n.R, n.G, n.B}
		}
		for y := range h {
			o := src.PixOffset(b.Min.X, b.Min.Y+y)
			row := src.Pix[o : o+w]
			out := pix[3*w*y : 3*w*(y+1)]
			for x, idx := range row {
				c := lut[idx]
				out[3*x], out[3*x+1], out[3*x+2] = c[0], c[1], c[2]
			}
		}
	default:
		i := 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				n := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				pix[i], pix[i+1], pix[i+2] = n.R, n.G, n.B
				i += 3
			}
		}
	}
	return m
}

// unpremultiply recovers a colour channel from its premultiplied value.
func unpremultiply(v, a uint8) uint8 {
	if a == 0 {
		return 0
	}
	return uint8((uint32(v)*0xff + uint32(a)/2) / uint32(a))
}
