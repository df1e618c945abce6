// Package blas is the training engine's only door to native code: the
// single-precision matrix product (cblas_sgemm) of OpenBLAS, reached through
// cgo, beside a pure-Go reference implementation of the same contract.
//
// In tagnet's flow it sits under trainer/nn: every convolution and linear
// layer of the trainer ends in [Sgemm]. [RefSgemm] is the slow, obviously
// correct twin used by the conformance tests (gonum's testblas pattern) and as
// the fallback when the package is built without cgo.
//
// Matrices are row-major. All functions check their arguments and panic on a
// shape mismatch: these are programmer errors, never input errors.
package blas
