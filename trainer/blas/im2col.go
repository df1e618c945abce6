package blas

import "fmt"

// Geom is the geometry of a 2-D convolution window over one channel plane:
// Cin input channels of H×W, a K×K kernel with stride S and zero padding
// P, giving Ho×Wo outputs.
type Geom struct {
	Cin, H, W, K, S, P, Ho, Wo int
}

// MatMulBF16 is [MatMul] with [BF16] where B already holds bfloat16 values
// (bit patterns, as [Im2colBF16] writes them): A is rounded to bf16, B is
// used as it is, the products accumulate in float32. The [Gemm] contract
// applies with B of type []uint16. It panics when [BF16Supported] is false.
func MatMulBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []uint16, ldb int, beta float32, c []float32, ldc int) {
	matmulBF16B(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
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
							row[j] = BF16Bits(v)
							j++
						}
					}
				}
			}
		}
	}
}
