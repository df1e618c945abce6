package preprocess

import "math"

// kernel is a separable resampling filter with its support (half-width) at
// scale 1.
type kernel struct {
	support float64
	at      func(x float64) float64
}

func kernelFor(i Interpolation) kernel {
	if i == Bicubic {
		return kernel{support: 2, at: cubic}
	}
	return kernel{support: 1, at: triangle}
}

func triangle(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

// cubic is Keys' cubic convolution with a = -0.5, as Pillow's BICUBIC.
func cubic(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// axis holds the filter taps along one axis for a window of output samples:
// output i (counting from the window start) is the sum over k of
// w[off[i]+k] · in[first[i]+k], for k < off[i+1]−off[i].
type axis struct {
	first []int
	off   []int
	w     []float32
}

// newAxis computes the taps that resample the source samples [in0, in1) to
// outSize samples, for the outputs [from, to). Taps never leave [in0, in1),
// so the result equals cropping the source first and resizing the crop.
// The sample positions, the widening of the kernel when downsampling, the
// rounding of the tap range and the normalisation all follow Pillow's
// precompute_coeffs.
func newAxis(in0, in1, outSize, from, to int, k kernel) axis {
	inSize := in1 - in0
	scale := float64(inSize) / float64(outSize)
	filterScale := max(scale, 1)
	support := k.support * filterScale
	ss := 1 / filterScale
	n := to - from
	a := axis{first: make([]int, n), off: make([]int, n+1)}
	a.w = make([]float32, 0, n*(int(math.Ceil(support))*2+1))
	var ws []float64
	for i := range n {
		center := (float64(from+i) + 0.5) * scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), inSize)
		ws = ws[:0]
		var sum float64
		for j := lo; j < hi; j++ {
			v := k.at((float64(j) - center + 0.5) * ss)
			ws = append(ws, v)
			sum += v
		}
		for _, v := range ws {
			if sum != 0 {
				v /= sum
			}
			a.w = append(a.w, float32(v))
		}
		a.first[i] = in0 + lo
		a.off[i+1] = len(a.w)
	}
	return a
}

// taps returns output i's first source index and weights.
func (a *axis) taps(i int) (first int, w []float32) {
	return a.first[i], a.w[a.off[i]:a.off[i+1]]
}

// span returns the smallest source range [lo, hi) the taps read.
func (a *axis) span() (lo, hi int) {
	lo, hi = math.MaxInt, 0
	for i, f := range a.first {
		if a.off[i+1] > a.off[i] {
			lo = min(lo, f)
			hi = max(hi, f+a.off[i+1]-a.off[i])
		}
	}
	if lo > hi {
		return 0, 0
	}
	return lo, hi
}

// Pass orders for resampleJob.order.
const (
	orderAuto = iota
	orderHorizontalFirst
	orderVerticalFirst
)

// resampleJob says what to compute: the source rectangle src (in pixels of
// img) is resized to outW×outH, and the window of that result starting at
// (winX, winY) of size winW×winH is written, scaled and normalised, into
// planes of dst laid out as [3][winH][winW].
type resampleJob struct {
	img          *RGB
	srcX0, srcY0 int
	srcX1, srcY1 int
	outW, outH   int
	winX, winY   int
	kernel       kernel
	output
	// order picks the pass order (see run); tests force each to check both
	// against Pillow.
	order int
}

// output says how resized pixels are written: a window of winW×winH pixels
// goes, scaled and normalised, into planes of dst laid out as
// [3][winH][winW]. Both resamplers write through it.
type output struct {
	winW, winH int
	// plane[c] is the output plane of RGB channel c; value v in 0..255 of
	// channel c is written as v·mul[c] + add[c].
	plane    [3]int
	mul, add [3]float32
}

// run resamples in two separable passes, clamping to [0,255] after each as
// Pillow's 8-bit passes do. Pillow always filters rows first, and so does
// run unless that would cost more than four times the other order: rows
// first keeps every source row the vertical taps read, columns first every
// source column the horizontal taps read, and for a very tall, narrow image
// the first is huge. Switching bounds time and memory by the source size
// whatever the aspect ratio. The orders agree up to float rounding for
// bilinear; for bicubic the intermediate clamp differs where the first pass
// overshoots, by a few levels at strong edges.
func (j *resampleJob) run(dst []float32) {
	hx := newAxis(j.srcX0, j.srcX1, j.outW, j.winX, j.winX+j.winW, j.kernel)
	vy := newAxis(j.srcY0, j.srcY1, j.outH, j.winY, j.winY+j.winH, j.kernel)
	rowLo, rowHi := vy.span()
	colLo, colHi := hx.span()
	rowsFirst := (rowHi-rowLo)*j.winW <= 4*(colHi-colLo)*j.winH
	switch j.order {
	case orderHorizontalFirst:
		rowsFirst = true
	case orderVerticalFirst:
		rowsFirst = false
	}
	src, stride := j.img.Pix, 3*j.img.Width
	rowLen := 3 * j.winW
	out := make([]float32, rowLen)
	if rowsFirst {
		tmp := make([]float32, (rowHi-rowLo)*rowLen)
		for y := rowLo; y < rowHi; y++ {
			horizontal(tmp[(y-rowLo)*rowLen:(y-rowLo+1)*rowLen], src[y*stride:(y+1)*stride], &hx, 0)
		}
		for i := range j.winH {
			clear(out)
			first, w := vy.taps(i)
			for k, wk := range w {
				y := first + k - rowLo
				accumulate(out, tmp[y*rowLen:(y+1)*rowLen], wk)
			}
			j.emit(dst, i, out)
		}
		return
	}
	colLen := 3 * (colHi - colLo)
	tmp := make([]float32, j.winH*colLen)
	for i := range j.winH {
		row := tmp[i*colLen : (i+1)*colLen]
		first, w := vy.taps(i)
		for k, wk := range w {
			y := first + k
			accumulate(row, src[y*stride+3*colLo:y*stride+3*colHi], wk)
		}
		for x, v := range row {
			row[x] = clamp255(v)
		}
	}
	for i := range j.winH {
		horizontal(out, tmp[i*colLen:(i+1)*colLen], &hx, colLo)
		j.emit(dst, i, out)
	}
}

// horizontal resamples one interleaved RGB row: out[3i+c] is output i's
// channel c, clamped to [0,255]. in starts at source column base.
func horizontal[T uint8 | float32](out []float32, in []T, a *axis, base int) {
	for i := range len(out) / 3 {
		first, w := a.taps(i)
		p := in[3*(first-base) : 3*(first-base+len(w))]
		var r, g, b float32
		for k, wk := range w {
			r += wk * float32(p[3*k])
			g += wk * float32(p[3*k+1])
			b += wk * float32(p[3*k+2])
		}
		out[3*i], out[3*i+1], out[3*i+2] = clamp255(r), clamp255(g), clamp255(b)
	}
}

// accumulate adds w·in to acc element by element.
func accumulate[T uint8 | float32](acc []float32, in []T, w float32) {
	in = in[:len(acc)]
	for x, v := range in {
		acc[x] += w * float32(v)
	}
}

// emit clamps, normalises and scatters window row i (interleaved RGB, 3·winW
// values on the 0..255 scale) into the planes of dst.
func (o *output) emit(dst []float32, i int, row []float32) {
	planeLen := o.winW * o.winH
	off := i * o.winW
	for c := range 3 {
		p := dst[o.plane[c]*planeLen+off : o.plane[c]*planeLen+off+o.winW]
		m, a := o.mul[c], o.add[c]
		for x := range p {
			p[x] = clamp255(row[3*x+c])*m + a
		}
	}
}

func clamp255(v float32) float32 {
	return min(max(v, 0), 255)
}
