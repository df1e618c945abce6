package blas

import (
	"fmt"
	"math"
)

// Geom is the geometry of a 2-D convolution window over one channel plane:
// Cin input channels of H×W, a K×K kernel with stride S and zero padding
// P, giving Ho×Wo outputs.
type Geom struct {
	Cin, H, W, K, S, P, Ho, Wo int
}

// Operand is one matrix operand of [MatMulBF16]: float32 values (F32,
// rounded to bf16 on the fly) or values already in bf16 (B16, bit
// patterns as [ToBF16] and [Im2colBF16] write them). Exactly one is set.
type Operand struct {
	F32 []float32
	B16 []uint16
}

// F32 and B16 make Operands.
func F32(v []float32) Operand { return Operand{F32: v} }

// B16 is an Operand of bf16 values.
func B16(v []uint16) Operand { return Operand{B16: v} }

func (o Operand) len() int {
	if o.F32 != nil {
		return len(o.F32)
	}
	return len(o.B16)
}

// MatMulBF16 is [MatMul] with [BF16] on operands that may already be in
// bf16 ([Operand]): float32 operands are rounded, bf16 ones used as they
// are; the products accumulate in float32, under the [Gemm] contract.
// Callers convert an operand used by many products once (a layer's
// weights) with [ToBF16]. It panics when [BF16Supported] is false.
func MatMulBF16(transA, transB bool, m, n, k int, alpha float32, a Operand, lda int, b Operand, ldb int, beta float32, c []float32, ldc int) {
	matmulBF16(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// ToBF16 writes src rounded to bfloat16 ([RoundBF16]) as bit patterns into
// dst[:len(src)], with AVX512_BF16 where present.
func ToBF16(dst []uint16, src []float32) { toBF16(dst, src) }

// checkOperands is checkGemm for Operands.
func checkOperands(transA, transB bool, m, n, k int, a Operand, lda int, b Operand, ldb int, c []float32, ldc int) {
	if (a.F32 == nil) == (a.B16 == nil) || (b.F32 == nil) == (b.B16 == nil) {
		if !(m == 0 || n == 0 || k == 0) {
			panic("blas: an Operand needs exactly one of F32 and B16")
		}
	}
	checkShapes(transA, transB, m, n, k, a.len(), lda, b.len(), ldb, c, ldc)
}

// Im2col writes the receptive fields of images [n0, n1) of x into col: a
// [Cin·K·K, (n1−n0)·Ho·Wo] row-major matrix whose row order matches a
// [out, in, kh, kw] weight layout, zero where the window reads padding.
// cS and nS are the channel and image strides of x (so x may be CNHW or
// NCHW). In C (one memcpy per output row at stride 1); the pure-Go twin
// is the fallback without cgo and the test's reference.
func Im2col(col []float32, x []float32, g *Geom, cS, nS, n0, n1 int) {
	im2col(col, x, g, cS, nS, n0, n1)
}

// Im2colBF16 writes the receptive fields of images [n0, n1) of x into col
// rounded to bfloat16 (see [RoundBF16]): a [Cin·K·K, (n1−n0)·Ho·Wo]
// row-major matrix whose row order matches a [out, in, kh, kw] weight
// layout, zero where the window reads padding. cS and nS are the channel
// and image strides of x (CNHW or NCHW). It is trainer/nn's im2col fused
// with the conversion that bf16 products need, in C with AVX512_BF16
// where present.
func Im2colBF16(col []uint16, x []float32, g *Geom, cS, nS, n0, n1 int) {
	im2colBF16(col, x, g, cS, nS, n0, n1)
}

// BF16Bits returns x rounded to bfloat16 as its 16-bit pattern.
func BF16Bits(x float32) uint16 {
	return uint16(f32bits(RoundBF16(x)) >> 16)
}

// checkIm2col panics when col or x is too short for the geometry.
func checkIm2col(lcol, lx int, g *Geom, cS, nS, n0, n1 int) {
	if want := g.Cin * g.K * g.K * (n1 - n0) * g.Ho * g.Wo; lcol != want {
		panic(fmt.Sprintf("blas: im2col buffer has %d values, want %d", lcol, want))
	}
	if n1 > n0 && g.Cin > 0 {
		if need := (g.Cin-1)*cS + (n1-1)*nS + g.H*g.W; lx < need {
			panic(fmt.Sprintf("blas: im2col input has %d values, need %d", lx, need))
		}
	}
}

// refIm2colBF16 is the pure-Go im2col with bf16 output.
func refIm2colBF16(col []uint16, x []float32, g *Geom, cS, nS, n0, n1 int) {
	f := make([]float32, len(col))
	refIm2col(f, x, g, cS, nS, n0, n1)
	for i, v := range f {
		col[i] = BF16Bits(v)
	}
}

// refIm2col is the pure-Go im2col: one loop per output value.
func refIm2col(col []float32, x []float32, g *Geom, cS, nS, n0, n1 int) {
	checkIm2col(len(col), len(x), g, cS, nS, n0, n1)
	cols := (n1 - n0) * g.Ho * g.Wo
	r := 0
	for ci := 0; ci < g.Cin; ci++ {
		for kh := 0; kh < g.K; kh++ {
			for kw := 0; kw < g.K; kw++ {
				row := col[r*cols : (r+1)*cols]
				r++
				j := 0
				for n := n0; n < n1; n++ {
					for oh := 0; oh < g.Ho; oh++ {
						for ow := 0; ow < g.Wo; ow++ {
							ih, iw := oh*g.S-g.P+kh, ow*g.S-g.P+kw
							var v float32
							if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
								v = x[ci*cS+n*nS+ih*g.W+iw]
							}
							row[j] = v
							j++
						}
					}
				}
			}
		}
	}
}

// FlipKernel writes rows [ci0, ci1) of the spatially flipped, transposed
// kernel of a convolution weight w [cout, cin, k, k] (kk = k·k):
// dst[ci][co][i] = w[co][ci][kk−1−i], a [cin, cout·kk] matrix — the
// kernel whose convolution with dY is the input gradient of a stride-1
// convolution. In C; the pure-Go twin is the fallback and the test's
// reference.
func FlipKernel(dst, w []float32, cout, cin, kk, ci0, ci1 int) {
	if len(w) != cout*cin*kk || len(dst) < cout*cin*kk || ci0 < 0 || ci1 > cin || ci0 > ci1 {
		panic(fmt.Sprintf("blas: FlipKernel of %d values into %d as [%d,%d,%d] rows [%d,%d)", len(w), len(dst), cout, cin, kk, ci0, ci1))
	}
	if ci0 == ci1 {
		return
	}
	flipKernel(dst, w, cout, cin, kk, ci0, ci1)
}

// refFlipKernel is the pure-Go twin of FlipKernel.
func refFlipKernel(dst, w []float32, cout, cin, kk, ci0, ci1 int) {
	for ci := ci0; ci < ci1; ci++ {
		for co := 0; co < cout; co++ {
			src := w[(co*cin+ci)*kk : (co*cin+ci+1)*kk]
			d := dst[(ci*cout+co)*kk : (ci*cout+co+1)*kk]
			for i := range d {
				d[i] = src[kk-1-i]
			}
		}
	}
}

// MaxPool computes 2-D max pooling of the planes [p0, p1) of x (each
// g.H×g.W, one after the other) into y (each g.Ho×g.Wo): every output is
// the largest value of its K×K window at stride S, padding P never winning
// (PyTorch pads with −∞), and arg holds the index of that value within its
// input plane — the first in row-major order among equal values. g.Cin is
// not used. In C (branch-free selects: the winners of a ReLU output are
// unpredictable); the pure-Go twin is the fallback and the test's
// reference.
func MaxPool(y []float32, arg []int32, x []float32, g *Geom, p0, p1 int) {
	in, out := g.H*g.W, g.Ho*g.Wo
	if p0 < 0 || p0 > p1 || len(x) < p1*in || len(y) < p1*out || len(arg) < p1*out {
		panic(fmt.Sprintf("blas: MaxPool of planes [%d,%d) over %d inputs into %d outputs, %d indices (%+v)", p0, p1, len(x), len(y), len(arg), *g))
	}
	if p0 == p1 {
		return
	}
	maxPool(y, arg, x, g, p0, p1)
}

// refMaxPool is the pure-Go twin of MaxPool.
func refMaxPool(y []float32, arg []int32, x []float32, g *Geom, p0, p1 int) {
	in, out := g.H*g.W, g.Ho*g.Wo
	for pl := p0; pl < p1; pl++ {
		xs := x[pl*in : (pl+1)*in]
		ys := y[pl*out : (pl+1)*out]
		as := arg[pl*out : (pl+1)*out]
		for oh := 0; oh < g.Ho; oh++ {
			h0, h1 := max(0, oh*g.S-g.P), min(g.H, oh*g.S-g.P+g.K)
			for ow := 0; ow < g.Wo; ow++ {
				w0, w1 := max(0, ow*g.S-g.P), min(g.W, ow*g.S-g.P+g.K)
				best, bi := float32(math.Inf(-1)), h0*g.W+w0
				for ih := h0; ih < h1; ih++ {
					for iw := w0; iw < w1; iw++ {
						if v := xs[ih*g.W+iw]; v > best {
							best, bi = v, ih*g.W+iw
						}
					}
				}
				ys[oh*g.Wo+ow] = best
				as[oh*g.Wo+ow] = int32(bi)
			}
		}
	}
}
