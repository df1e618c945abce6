package preprocess

import (
	"fmt"
	"image"
	"sync"

	"github.com/nfnt/resize"
)

// maxNfntScale is the largest downscaling factor per axis that the nfnt
// resampler accepts. nfnt/resize sums 8-bit pixels times 8-bit fixed-point
// weights in int32; with about 2·scale weights of up to 256 per output, the
// sums overflow (silently) from a factor of about 30,000.
const maxNfntScale = 16384

// maxPooledRGBA bounds the conversion buffers kept for reuse, so that one
// huge image does not pin its buffer in the pool.
const maxPooledRGBA = 64 << 20

// rgbaPool holds *[]uint8 buffers for the *image.RGBA copy of the source.
var rgbaPool sync.Pool

func nfntFilter(i Interpolation) resize.InterpolationFunction {
	if i == Bicubic {
		return resize.Bicubic
	}
	return resize.Bilinear
}

// nfntResample is resample for ResamplerNfnt. It copies the rectangle src
// of img into a pooled *image.RGBA, the layout nfnt/resize has a fast 8-bit
// path for (wrapping the RGB pixels as an image.Image without copying sends
// nfnt/resize through image.Image.At for every tap, several times slower;
// see BenchmarkNfntInput), resizes it to outW×outH and writes the window
// through the same output as the Pillow resampler.
//
// nfnt/resize always filters rows first, keeping srcH·outW intermediate
// pixels. When that is over four times the srcW·outH of filtering columns
// first (a tall, narrow image), the copy is transposed, the transposed
// image resized and the window read back transposed, which bounds time and
// memory by the source size as resampleJob.run does. Unlike resampleJob,
// nfnt/resize computes the whole outW×outH image before the window is cut
// out, so a shorter_side resize of a very elongated image costs the full
// resized size.
func (p *Preprocessor) nfntResample(dst []float32, img *RGB, src image.Rectangle, outW, outH, winX, winY int) error {
	sw, sh := src.Dx(), src.Dy()
	if int64(sw) > maxNfntScale*int64(outW) || int64(sh) > maxNfntScale*int64(outH) {
		return fmt.Errorf("nfnt resampler: shrinking %dx%d to %dx%d exceeds its limit of %d times per axis",
			sw, sh, outW, outH, maxNfntScale)
	}
	transpose := int64(sh)*int64(outW) > 4*int64(sw)*int64(outH)
	switch p.order {
	case orderHorizontalFirst:
		transpose = false
	case orderVerticalFirst:
		transpose = true
	}

	n := 4 * sw * sh
	bufp, _ := rgbaPool.Get().(*[]uint8)
	if bufp == nil || cap(*bufp) < n {
		b := make([]uint8, n)
		bufp = &b
	}
	defer func() {
		if cap(*bufp) <= maxPooledRGBA {
			rgbaPool.Put(bufp)
		}
	}()
	in := toRGBA((*bufp)[:n], img, src, transpose)

	rw, rh := outW, outH
	if transpose {
		rw, rh = outH, outW
	}
	// Resize returns in itself when the size does not change; the window is
	// read before the buffer goes back to the pool.
	res := resize.Resize(uint(rw), uint(rh), in, nfntFilter(p.spec.Interpolation))

	out := p.output()
	row := make([]float32, 3*out.winW)
	for i := range out.winH {
		if !readRow(row, res, winX, winY+i, transpose) {
			return fmt.Errorf("nfnt resampler: result %v does not hold window row %d", res.Bounds(), winY+i)
		}
		out.emit(dst, i, row)
	}
	return nil
}

// toRGBA copies the rectangle r of m into an opaque *image.RGBA backed by
// pix (4·r.Dx()·r.Dy() bytes), transposed (pixel (x, y) of r at (y, x))
// when transpose is set.
func toRGBA(pix []uint8, m *RGB, r image.Rectangle, transpose bool) *image.RGBA {
	w, h := r.Dx(), r.Dy()
	stride := 3 * m.Width
	dstStride, step := 4*w, 4 // bytes between rows and between pixels of a row
	if transpose {
		dstStride, step = 4, 4*h
	}
	for y := range h {
		start := (r.Min.Y+y)*stride + 3*r.Min.X
		s := m.Pix[start : start+3*w]
		for x := range w {
			o := y*dstStride + x*step
			d := pix[o : o+4 : o+4]
			p := s[3*x : 3*x+3 : 3*x+3]
			d[0], d[1], d[2], d[3] = p[0], p[1], p[2], 0xff
		}
	}
	if transpose {
		return &image.RGBA{Pix: pix, Stride: 4 * h, Rect: image.Rect(0, 0, h, w)}
	}
	return &image.RGBA{Pix: pix, Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}
}

// readRow fills row (interleaved RGB on the 0..255 scale) with len(row)/3
// pixels of row y of the resized image res, starting at column x0; with
// transpose, res holds the resized image transposed. It reports false when
// res is smaller than the window, which a correct resize never is.
func readRow(row []float32, res image.Image, x0, y int, transpose bool) bool {
	n := len(row) / 3
	b := res.Bounds()
	// (px, py) steps by (dx, dy) through res.
	px, py, dx, dy := x0, y, 1, 0
	if transpose {
		px, py, dx, dy = y, x0, 0, 1
	}
	lastX, lastY := px+dx*(n-1), py+dy*(n-1)
	if px < 0 || py < 0 || lastX >= b.Dx() || lastY >= b.Dy() {
		return false
	}
	px, py = px+b.Min.X, py+b.Min.Y
	if m, ok := res.(*image.RGBA); ok {
		// Opaque pixels, so premultiplied and straight colour agree.
		off, step := m.PixOffset(px, py), 4*dx+m.Stride*dy
		for i := range n {
			row[3*i], row[3*i+1], row[3*i+2] = float32(m.Pix[off]), float32(m.Pix[off+1]), float32(m.Pix[off+2])
			off += step
		}
		return true
	}
	for i := range n {
		r, g, bl, _ := res.At(px+dx*i, py+dy*i).RGBA()
		row[3*i], row[3*i+1], row[3*i+2] = float32(r)/257, float32(g)/257, float32(bl)/257
	}
	return true
}
