//go:build cgo

package blas

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import "unsafe"

// Native reports whether Sgemm calls OpenBLAS (true) or falls back to the
// pure-Go reference (built without cgo).
const Native = true

// Sgemm computes C = alpha·op(A)·op(B) + beta·C with OpenBLAS's
// cblas_sgemm; see [Gemm] for the contract. It runs on the number of OpenBLAS
// threads set by [SetThreads]; several goroutines may call it at once.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scale(beta, m, n, c, ldc)
		return
	}
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

// SetThreads sets the number of threads OpenBLAS uses inside one Sgemm call
// (at least 1). The engine sets it to 1 and parallelises over goroutines.
func SetThreads(n int) { C.openblas_set_num_threads(C.int(max(1, n))) }

// Threads returns the number of threads OpenBLAS uses inside one call.
func Threads() int { return int(C.openblas_get_num_threads()) }

// Config describes the OpenBLAS build and the kernel it selected for this
// CPU, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64 (Haswell)".
func Config() string {
	return C.GoString(C.openblas_get_config()) + " (" + C.GoString(C.openblas_get_corename()) + ")"
}
