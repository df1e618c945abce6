//go:build !cgo

package blas

import "math"

// Native reports whether Sgemm calls OpenBLAS (true) or falls back to the
// pure-Go reference (built without cgo).
const Native = false

// Sgemm is [RefSgemm] in builds without cgo: correct, but two orders of
// magnitude slower than OpenBLAS.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	RefSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SetThreads does nothing without OpenBLAS.
func SetThreads(int) {}

// Threads returns 1 without OpenBLAS.
func Threads() int { return 1 }

// Config says that OpenBLAS is not linked.
func Config() string { return "pure Go reference (built without cgo)" }

func cpuBF16() bool { return false }

func matmul(prec Precision, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if prec == BF16 && !BF16Supported() {
		panic("blas: bf16 matmul on a CPU without native bf16 support (check BF16Supported first)")
	}
	RefMatMul(prec, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// DNNLVersion says that oneDNN is not linked.
func DNNLVersion() string { return "no oneDNN (built without cgo)" }

func matmulBF16(transA, transB bool, m, n, k int, alpha float32, a Operand, lda int, b Operand, ldb int, beta float32, c []float32, ldc int) {
	if !BF16Supported() {
		panic("blas: bf16 matmul on a CPU without native bf16 support (check BF16Supported first)")
	}
	checkOperands(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	RefMatMul(BF16, transA, transB, m, n, k, alpha, a.float32s(), lda, b.float32s(), ldb, beta, c, ldc)
}

func toBF16(dst []uint16, src []float32) {
	for i, v := range src {
		dst[i] = BF16Bits(v)
	}
}

func im2colBF16(col []uint16, x []float32, g *Geom, cS, nS, n0, n1 int) {
	refIm2colBF16(col, x, g, cS, nS, n0, n1)
}

func im2col(col []float32, x []float32, g *Geom, cS, nS, n0, n1 int) {
	refIm2col(col, x, g, cS, nS, n0, n1)
}

// float32s returns the operand's values as float32 (bf16 ones widened),
// for the pure-Go reference products of builds without cgo.
func (o Operand) float32s() []float32 {
	if o.F32 != nil {
		return o.F32
	}
	f := make([]float32, len(o.B16))
	for i, h := range o.B16 {
		f[i] = math.Float32frombits(uint32(h) << 16) // bf16 widens exactly
	}
	return f
}

func bnStats(x []float32) (mean, variance float64) { return refBNStats(x) }

func bnApply(y, x, res []float32, a, b float32, relu bool) { refBNApply(y, x, res, a, b, relu) }

func bnGradSums(x, dy, y, gs, dres []float32, mean float32, relu, resAdd bool) (sg, sgx float64) {
	return refBNGradSums(x, dy, y, gs, dres, mean, relu, resAdd)
}

func bnGradInput(dx, x, dy, y []float32, mean, ka, kb, kc float32, relu, add bool) {
	refBNGradInput(dx, x, dy, y, mean, ka, kb, kc, relu, add)
}

func adamStep(v, g, avg, sq []float32, k *AdamConsts) { refAdamStep(v, g, avg, sq, k) }

func flipKernel(dst, w []float32, cout, cin, kk, ci0, ci1 int) {
	refFlipKernel(dst, w, cout, cin, kk, ci0, ci1)
}

func maxPool(y []float32, arg []int32, x []float32, g *Geom, p0, p1 int) {
	refMaxPool(y, arg, x, g, p0, p1)
}
