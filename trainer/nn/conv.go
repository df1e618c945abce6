package nn

import (
	"fmt"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/tensor"
)

// Conv tuning: a worker's chunk holds whole images, enough of them that the
// product has at least minCols columns, but no more than maxColFloats
// values of im2col scratch.
const (
	minCols      = 512
	maxColFloats = 1 << 21
)

// geom is the geometry of a 2-D convolution or pooling window.
type geom struct {
	cin, h, w, k, s, p, ho, wo int
}

// blas returns g as trainer/blas spells it.
func (g *geom) blas() blas.Geom {
	return blas.Geom{Cin: g.cin, H: g.h, W: g.w, K: g.k, S: g.s, P: g.p, Ho: g.ho, Wo: g.wo}
}

// conv is a 2-D convolution by im2col and a matrix product (no im2col for 1×1 stride-1
// convolutions, whose input already is the B matrix in [C, N·H·W] layout).
type conv struct {
	net      *Net
	name     string
	x, y     *value
	w, b     *tensor.Param // b nil without bias
	g        geom
	cout, kk int // kk = cin·k·k, the product's inner dimension
	direct   bool
	// flip: a stride-1 convolution whose input gradient is computed as the
	// convolution of dY with the spatially flipped, transposed kernel
	// (im2col of dY, then one product with inner dimension cout·k·k)
	// instead of the product with inner dimension cout followed by col2im.
	flip bool
	dg   geom // geometry of that convolution over dY
	// bg and bdg are g and dg for trainer/blas (bf16 im2col).
	bg, bdg blas.Geom
	// w16 is the weight rounded to bf16 (bf16 precision only), refreshed
	// by every forward pass: the products of the forward and backward
	// passes read it instead of rounding the weight per chunk.
	w16    []uint16
	group  int // images per chunk
	lanes  int // fixed shares of the batch whose weight gradients are summed apart (convLanes)
	cnt    counter
	dxAdd  bool
	wAdd   []bool // per lane: its partial holds a contribution
	fwdFn  func(int)
	bwdFn  func(int)
	sumFn  func(int)
	flipFn func(int)
}

func (n *Net) newConv(l models.Layer, x, y *value, param paramFunc) (*conv, error) {
	w, err := param(l, "weight")
	if err != nil {
		return nil, err
	}
	c := &conv{
		net: n, name: l.Name, x: x, y: y, w: w,
		g:    geom{cin: l.InC, h: x.h, w: x.w, k: l.Kernel, s: l.Stride, p: l.Pad, ho: y.h, wo: y.w},
		cout: l.OutC, kk: l.InC * l.Kernel * l.Kernel,
		lanes: convLanes(n.lanes, n.cfg.MaxBatch, y.h*y.w),
	}
	if l.Bias {
		if c.b, err = param(l, "bias"); err != nil {
			return nil, err
		}
	}
	if want := c.cout * c.kk; len(w.Value) != want {
		return nil, fmt.Errorf("layer %s: weight has %d values, want %d", l.Name, len(w.Value), want)
	}
	c.direct = l.Kernel == 1 && l.Stride == 1 && l.Pad == 0 && !x.nchw
	c.flip = !c.direct && l.Stride == 1 && l.Pad <= l.Kernel-1 && !x.nchw
	if c.flip {
		c.dg = geom{cin: c.cout, h: y.h, w: y.w, k: l.Kernel, s: 1, p: l.Kernel - 1 - l.Pad, ho: x.h, wo: x.w}
	}
	c.bg, c.bdg = c.g.blas(), c.dg.blas()
	if n.cfg.Precision == blas.BF16 {
		c.w16 = make([]uint16, len(w.Value))
	}
	hw := y.h * y.w
	c.group = max(1, min((minCols+hw-1)/hw, maxColFloats/(c.kk*hw)))
	c.group = min(c.group, max(1, (n.cfg.MaxBatch+c.lanes-1)/c.lanes))
	c.wAdd = make([]bool, c.lanes)
	c.fwdFn, c.bwdFn, c.sumFn, c.flipFn = c.forwardWorker, c.backwardWorker, c.sumWorker, c.flipWorker
	return c, nil
}

// minLaneCols is the least number of product columns (images · output
// pixels) a weight-gradient lane should hold when the batch allows: below
// it oneDNN's dW product runs at half speed or less (M=512, N=4608:
// K=64 58 GFLOP/s, K=128 110, K=256 135 on one Zen 4 core).
const minLaneCols = 128

// convLanes returns the lanes of a convolution with hw output pixels per
// image: the Net's (at least minLanes), fewer — but never under 2, so two
// workers still share the backward pass — when a lane of maxBatch/lanes
// images would hold fewer than minLaneCols columns (ResNet-18's layer4 at
// 64 px). It depends on the shapes only, never on the thread count, up to
// minLanes threads, so neither do the sums.
func convLanes(netLanes, maxBatch, hw int) int {
	return min(netLanes, max(2, maxBatch*hw/minLaneCols))
}

// scratchLen is the im2col buffer a worker needs for this layer.
func (c *conv) scratchLen() int {
	if c.direct {
		return 0
	}
	n := c.kk * c.group * c.g.ho * c.g.wo
	if c.flip {
		n = max(n, c.cout*c.g.k*c.g.k*c.group*c.g.h*c.g.w)
	}
	return n
}

// flipLen is the size of the flipped kernel buffer this layer needs.
func (c *conv) flipLen() int {
	if !c.flip {
		return 0
	}
	return len(c.w.Value)
}

// flipWorker writes a share of the rows of the flipped kernel
// wf[ci][co][kh][kw] = w[co][ci][k−1−kh][k−1−kw], a [cin, cout·k·k] matrix.
func (c *conv) flipWorker(w int) {
	lo, hi := span(c.g.cin, c.net.threads, w)
	blas.FlipKernel(c.net.flipped[:len(c.w.Value)], c.w.Value, c.cout, c.g.cin, c.g.k*c.g.k, lo, hi)
}

// strides returns the channel and image strides of the input.
func (c *conv) strides() (cS, nS int) {
	hw := c.g.h * c.g.w
	if c.x.nchw {
		return hw, c.g.cin * hw
	}
	return c.net.n * hw, hw
}

func (c *conv) forward(bool) {
	if c.w16 != nil {
		blas.ToBF16(c.w16, c.w.Value)
	}
	c.cnt.reset()
	c.net.pool.run(c.fwdFn)
}

// forwardWorker computes chunks of images taken dynamically: each chunk's
// output columns are written by one worker only.
func (c *conv) forwardWorker(w int) {
	n := c.net.n
	hw := c.g.ho * c.g.wo
	ld := n * hw
	y := c.y.data[:c.cout*ld]
	col := c.net.scratch[w]
	cS, nS := c.strides()
	for {
		n0, n1, ok := c.cnt.take(c.group, n)
		if !ok {
			return
		}
		cols := (n1 - n0) * hw
		if c.direct {
			if c.w16 != nil {
				blas.MatMulBF16(false, false, c.cout, cols, c.kk, 1, blas.B16(c.w16), c.kk, blas.F32(c.x.data[n0*hw:c.kk*ld]), ld, 0, y[n0*hw:], ld)
			} else {
				c.net.gemm(false, false, c.cout, cols, c.kk, 1, c.w.Value, c.kk, c.x.data[n0*hw:c.kk*ld], ld, 0, y[n0*hw:], ld)
			}
		} else if c.net.scratch16 != nil {
			col16 := c.net.scratch16[w][:c.kk*cols]
			blas.Im2colBF16(col16, c.x.data, &c.bg, cS, nS, n0, n1)
			blas.MatMulBF16(false, false, c.cout, cols, c.kk, 1, blas.B16(c.w16), c.kk, blas.B16(col16), cols, 0, y[n0*hw:], ld)
		} else {
			blas.Im2col(col[:c.kk*cols], c.x.data, &c.bg, cS, nS, n0, n1)
			c.net.gemm(false, false, c.cout, cols, c.kk, 1, c.w.Value, c.kk, col, cols, 0, y[n0*hw:], ld)
		}
		if c.b != nil {
			for co := 0; co < c.cout; co++ {
				row := y[co*ld+n0*hw : co*ld+n1*hw]
				b := c.b.Value[co]
				for i := range row {
					row[i] += b
				}
			}
		}
	}
}

func (c *conv) backward() {
	c.dxAdd = false
	if c.x.grad != nil {
		c.dxAdd = c.x.claimGrad()
	}
	needW := !c.w.Frozen
	if !needW && c.x.grad == nil {
		return
	}
	if c.flip && c.x.grad != nil {
		c.net.pool.run(c.flipFn)
		if c.w16 != nil {
			blas.ToBF16(c.net.flipped16, c.net.flipped[:len(c.w.Value)])
		}
	}
	c.cnt.reset()
	c.net.pool.run(c.bwdFn)
	if needW && c.lanes > 1 {
		c.net.pool.run(c.sumFn)
	}
	if c.b != nil && !c.b.Frozen {
		n := c.net.n
		ld := n * c.g.ho * c.g.wo
		for co := 0; co < c.cout; co++ {
			var s float64
			for _, v := range c.y.grad[co*ld : (co+1)*ld] {
				s += float64(v)
			}
			c.b.Grad[co] = float32(s)
		}
	}
}

// backwardWorker takes lanes dynamically. A lane is a fixed, contiguous
// share of the images whose weight-gradient contributions are summed in a
// fixed order into the lane's own buffer (lane 0: the gradient itself), so
// the result does not depend on which worker ran which lane. For each chunk
// of the lane it accumulates dW += dY·colsᵀ and writes dX: for stride-1
// layers as the product of the flipped kernel with the im2col of dY, for
// the others through dcols = Wᵀ·dY and col2im.
func (c *conv) backwardWorker(w int) {
	for {
		l, _, ok := c.cnt.take(1, c.lanes)
		if !ok {
			return
		}
		c.backwardLane(w, l)
	}
}

func (c *conv) backwardLane(w, lane int) {
	n := c.net.n
	hw := c.g.ho * c.g.wo
	ld := n * hw
	lo, hi := span(n, c.lanes, lane)
	needW := !c.w.Frozen
	dw := c.w.Grad
	if lane > 0 {
		dw = c.net.partial[lane][:len(dw)]
	}
	c.wAdd[lane] = false
	dy := c.y.grad[:c.cout*ld]
	col := c.net.scratch[w]
	cS, nS := c.strides()
	for n0 := lo; n0 < hi; n0 += c.group {
		n1 := min(hi, n0+c.group)
		cols := (n1 - n0) * hw
		if needW {
			var beta float32
			if c.wAdd[lane] {
				beta = 1
			}
			if c.direct {
				if c.w16 != nil {
					blas.MatMulBF16(false, true, c.cout, c.kk, cols, 1, blas.F32(dy[n0*hw:]), ld, blas.F32(c.x.data[n0*hw:c.kk*ld]), ld, beta, dw, c.kk)
				} else {
					c.net.gemm(false, true, c.cout, c.kk, cols, 1, dy[n0*hw:], ld, c.x.data[n0*hw:c.kk*ld], ld, beta, dw, c.kk)
				}
			} else if c.net.scratch16 != nil {
				col16 := c.net.scratch16[w][:c.kk*cols]
				blas.Im2colBF16(col16, c.x.data, &c.bg, cS, nS, n0, n1)
				blas.MatMulBF16(false, true, c.cout, c.kk, cols, 1, blas.F32(dy[n0*hw:]), ld, blas.B16(col16), cols, beta, dw, c.kk)
			} else {
				blas.Im2col(col[:c.kk*cols], c.x.data, &c.bg, cS, nS, n0, n1)
				c.net.gemm(false, true, c.cout, c.kk, cols, 1, dy[n0*hw:], ld, col, cols, beta, dw, c.kk)
			}
			c.wAdd[lane] = true
		}
		if c.x.grad == nil {
			continue
		}
		if c.direct {
			var beta float32
			if c.dxAdd {
				beta = 1
			}
			if c.w16 != nil {
				blas.MatMulBF16(true, false, c.kk, cols, c.cout, 1, blas.B16(c.w16), c.kk, blas.F32(dy[n0*hw:]), ld, beta, c.x.grad[n0*hw:c.kk*ld], ld)
			} else {
				c.net.gemm(true, false, c.kk, cols, c.cout, 1, c.w.Value, c.kk, dy[n0*hw:], ld, beta, c.x.grad[n0*hw:c.kk*ld], ld)
			}
			continue
		}
		if c.flip {
			var beta float32
			if c.dxAdd {
				beta = 1
			}
			inHW := c.g.h * c.g.w
			xcols := (n1 - n0) * inHW
			fk := c.cout * c.g.k * c.g.k
			if c.net.scratch16 != nil {
				col16 := c.net.scratch16[w][:fk*xcols]
				blas.Im2colBF16(col16, dy, &c.bdg, ld, hw, n0, n1)
				blas.MatMulBF16(false, false, c.g.cin, xcols, fk, 1, blas.B16(c.net.flipped16), fk, blas.B16(col16), xcols, beta, c.x.grad[n0*inHW:], n*inHW)
				continue
			}
			blas.Im2col(col[:fk*xcols], dy, &c.bdg, ld, hw, n0, n1)
			c.net.gemm(false, false, c.g.cin, xcols, fk, 1, c.net.flipped, fk, col, xcols, beta, c.x.grad[n0*inHW:], n*inHW)
			continue
		}
		if c.w16 != nil {
			blas.MatMulBF16(true, false, c.kk, cols, c.cout, 1, blas.B16(c.w16), c.kk, blas.F32(dy[n0*hw:]), ld, 0, col[:c.kk*cols], cols)
		} else {
			c.net.gemm(true, false, c.kk, cols, c.cout, 1, c.w.Value, c.kk, dy[n0*hw:], ld, 0, col[:c.kk*cols], cols)
		}
		if !c.dxAdd {
			planeLen := c.g.h * c.g.w
			for ci := 0; ci < c.g.cin; ci++ {
				clear(c.x.grad[ci*cS+n0*nS : ci*cS+(n1-1)*nS+planeLen])
			}
		}
		col2im(c.x.grad, col[:c.kk*cols], &c.g, cS, nS, n0, n1)
	}
	if needW && lane == 0 && !c.wAdd[0] {
		clear(dw)
	}
}

// sumWorker adds the other lanes' weight-gradient partials to lane 0's, in
// lane order, over a static share of the elements.
func (c *conv) sumWorker(w int) {
	dw := c.w.Grad
	lo, hi := span(len(dw), c.net.threads, w)
	dst := dw[lo:hi]
	for p := 1; p < c.lanes; p++ {
		if !c.wAdd[p] {
			continue
		}
		src := c.net.partial[p][lo:hi]
		src = src[:len(dst)]
		for i := range dst {
			dst[i] += src[i]
		}
	}
}

// validRange returns the outputs o in [lo, hi) of an axis with no padding
// hits: 0 <= o·s + off < size.
func validRange(outs, s, off, size int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	last := size - 1 - off
	if last < 0 {
		return 0, 0
	}
	hi = min(outs, last/s+1)
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// col2im adds the columns col (as written by blas.Im2col) back into the input
// gradient dx: the adjoint of im2col.
func col2im(dx, col []float32, g *geom, cS, nS, n0, n1 int) {
	cols := (n1 - n0) * g.ho * g.wo
	if len(col) != g.cin*g.k*g.k*cols {
		panic(fmt.Sprintf("nn: col2im buffer has %d values, want %d", len(col), g.cin*g.k*g.k*cols))
	}
	r := 0
	plane := g.h * g.w
	for ci := 0; ci < g.cin; ci++ {
		for kh := 0; kh < g.k; kh++ {
			for kw := 0; kw < g.k; kw++ {
				row := col[r*cols : (r+1)*cols]
				r++
				off := kw - g.p
				lo, hi := validRange(g.wo, g.s, off, g.w)
				j := 0
				for n := n0; n < n1; n++ {
					dst := dx[ci*cS+n*nS : ci*cS+n*nS+plane]
					for oh := 0; oh < g.ho; oh++ {
						src := row[j : j+g.wo]
						j += g.wo
						ih := oh*g.s - g.p + kh
						if ih < 0 || ih >= g.h {
							continue
						}
						line := dst[ih*g.w : (ih+1)*g.w]
						if g.s == 1 {
							a := line[lo+off : hi+off]
							b := src[lo:hi]
							for i := range a {
								a[i] += b[i]
							}
							continue
						}
						for ow := lo; ow < hi; ow++ {
							line[ow*g.s+off] += src[ow]
						}
					}
				}
			}
		}
	}
}
