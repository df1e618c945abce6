package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"

	// Formats every tagnet binary reads; registered here so that the
	// trainer and the predictor accept exactly the same files.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
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

// DecodeOptions control [Decode].
type DecodeOptions struct {
	Limits
	// EXIFOrientation turns JPEG images upright by their EXIF Orientation
	// tag (see [Spec.EXIFOrientation]).
	EXIFOrientation bool
}

// Decode decodes a JPEG, PNG, GIF (first frame), WebP, BMP or TIFF image.
// It reads the header first and refuses images over opt's pixel limit with
// a [*LimitError] before decoding. An unknown format gives an error wrapping
// image.ErrFormat. JPEG colour is reconstructed as libjpeg-turbo does it
// (see fromYCbCr), so a JPEG decodes to the pixels Pillow would give, up to
// rare one-to-three-level differences of the inverse DCT.
func Decode(data []byte, opt DecodeOptions) (*RGB, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading image header: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%s image has no pixels (%dx%d)", format, cfg.Width, cfg.Height)
	}
	if limit, n := opt.maxPixels(), int64(cfg.Width)*int64(cfg.Height); limit >= 0 && n > limit {
		return nil, &LimitError{What: "pixels", Got: n, Limit: limit}
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding %s image: %w", format, err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, fmt.Errorf("decoding %s image: header says %dx%d, data %dx%d",
			format, cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	m := FromImage(img)
	if opt.EXIFOrientation && format == "jpeg" {
		m = orient(m, jpegOrientation(data))
	}
	return m, nil
}

// DecodeReader reads at most opt.MaxBytes from r and decodes them as
// [Decode] does.
func DecodeReader(r io.Reader, opt DecodeOptions) (*RGB, error) {
	data, err := readLimited(r, opt.maxBytes())
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

func readLimited(r io.Reader, limit int64) ([]byte, error) {
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

// FromImage converts any image to [RGB], dropping alpha (the stored,
// non-premultiplied colour is kept) and replicating grey. Common decoder
// outputs (YCbCr, grey, RGBA, NRGBA, paletted) take fast paths.
func FromImage(img image.Image) *RGB {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	m := NewRGB(w, h)
	pix := m.Pix
	switch src := img.(type) {
	case *image.YCbCr:
		fromYCbCr(pix, src)
	case *image.NYCbCrA:
		fromYCbCr(pix, &src.YCbCr)
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
