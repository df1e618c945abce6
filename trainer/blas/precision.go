package blas

import (
	"math"
	"os"
	"sync/atomic"
)

// Precision is the number format of a matrix product's operands. The
// product always accumulates and returns float32.
type Precision int

const (
	// FP32 multiplies float32 operands.
	FP32 Precision = iota
	// BF16 rounds both operands to bfloat16 (8-bit mantissa, round to
	// nearest even) and accumulates their products in float32: PyTorch's
	// CPU autocast policy for convolutions and linear layers.
	BF16
)

// String returns "fp32" or "bf16".
func (p Precision) String() string {
	if p == BF16 {
		return "bf16"
	}
	return "fp32"
}

// bf16Off is set by TAGNET_NO_BF16 (any non-empty value) or
// [DisableBF16]: the process then behaves as on a CPU without native bf16.
var bf16Off atomic.Bool

func init() { bf16Off.Store(os.Getenv("TAGNET_NO_BF16") != "") }

// DisableBF16 makes [BF16Supported] report false (off = true) or the CPU's
// answer again (off = false), as if the CPU lacked AVX512_BF16 and AMX.
// Tests use it to exercise the fp32 fallback on any machine; the
// environment variable TAGNET_NO_BF16=1 does the same for a whole process.
func DisableBF16(off bool) { bf16Off.Store(off) }

// BF16Supported reports whether [MatMul] with [BF16] runs natively on this
// CPU: oneDNN dispatches to AVX512_BF16 (e.g. Intel Cooper Lake and later,
// AMD Zen 4) or AMX, and bf16 is not disabled. Without it bf16 products
// would be emulated at a fraction of fp32's speed, so callers fall back to
// fp32 (or refuse an explicit bf16 request).
func BF16Supported() bool { return !bf16Off.Load() && cpuBF16() }

// MatMul computes C = alpha·op(A)·op(B) + beta·C (the [Gemm] contract)
// with oneDNN's matmul on the calling thread: with [FP32] on float32
// operands, with [BF16] on operands rounded to bfloat16 (see [RoundBF16])
// with float32 accumulation. Primitives are created once per shape and
// cached for the life of the process; several goroutines may call MatMul
// at once. BF16 panics when [BF16Supported] is false; built without cgo,
// MatMul is the pure-Go reference ([RefMatMul]).
func MatMul(prec Precision, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	matmul(prec, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// RoundBF16 rounds x to the nearest bfloat16 value (ties to even; NaN stays
// NaN), returned as float32: what a bf16 product sees of its operand.
func RoundBF16(x float32) float32 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return x
	}
	u += 0x7fff + (u>>16)&1
	return math.Float32frombits(u &^ 0xffff)
}

// RefMatMul is the pure-Go reference of [MatMul]: [RefSgemm] on operands
// first rounded with [RoundBF16] when prec is [BF16].
func RefMatMul(prec Precision, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if prec == BF16 {
		a, b = roundAll(a), roundAll(b)
	}
	RefSgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func f32bits(x float32) uint32 { return math.Float32bits(x) }

func roundAll(s []float32) []float32 {
	r := make([]float32, len(s))
	for i, v := range s {
		r[i] = RoundBF16(v)
	}
	return r
}
