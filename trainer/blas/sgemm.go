package blas

import "fmt"

// Gemm is the contract shared by [Sgemm] and [RefSgemm]:
//
//	C = alpha·op(A)·op(B) + beta·C
//
// where op(A) is m×k (A is m×k, or k×m when transA), op(B) is k×n (B is k×n,
// or n×k when transB) and C is m×n, all row-major with leading dimensions
// lda, ldb, ldc. When beta is 0, C is overwritten (NaNs in C do not
// propagate), as the reference BLAS specifies.
type Gemm func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

var (
	_ Gemm = Sgemm
	_ Gemm = RefSgemm
)

// checkGemm panics when the arguments of a Gemm call are inconsistent.
func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	checkShapes(transA, transB, m, n, k, len(a), lda, len(b), ldb, c, ldc)
}

// operandShapes returns the stored rows and columns of A and B in
// C = op(A)·op(B) with C m×n and inner dimension k.
func operandShapes(transA, transB bool, m, n, k int) (ar, ac, br, bc int) {
	ar, ac, br, bc = m, k, k, n
	if transA {
		ar, ac = k, m
	}
	if transB {
		br, bc = n, k
	}
	return ar, ac, br, bc
}

// checkShapes is checkGemm given the lengths of A and B.
func checkShapes(transA, transB bool, m, n, k int, la, lda, lb, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("blas: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac, br, bc := operandShapes(transA, transB, m, n, k)
	checkLen("a", la, ar, ac, lda)
	checkLen("b", lb, br, bc, ldb)
	checkLen("c", len(c), m, n, ldc)
}

func checkLen(name string, l, rows, cols, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("blas: ld%s=%d < columns %d", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; l < need {
		panic(fmt.Sprintf("blas: %s has %d elements, need %d for %d×%d with ld %d", name, l, need, rows, cols, ld))
	}
}

// RefSgemm is the pure-Go reference implementation of [Gemm]: a plain triple
// loop with float64 accumulation. It is slow and exists to check [Sgemm].
func RefSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	at := func(i, p int) float64 {
		if transA {
			return float64(a[p*lda+i])
		}
		return float64(a[i*lda+p])
	}
	bt := func(p, j int) float64 {
		if transB {
			return float64(b[j*ldb+p])
		}
		return float64(b[p*ldb+j])
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += at(i, p) * bt(p, j)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}
