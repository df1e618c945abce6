// Package blas is the training engine's only door to native code: matrix
// products from OpenBLAS (cblas_sgemm) and oneDNN (the matmul primitive, in
// fp32 and in bf16 with fp32 accumulation), reached through cgo, beside
// pure-Go reference implementations of the same contracts.
//
// In tagnet's flow it sits under trainer/nn: every convolution and linear
// layer of the trainer ends in one [Gemm] call — [Sgemm] in fp32, or
// [MatMul] with [BF16] in bf16 mixed precision. [RefSgemm] and [RefMatMul]
// are the slow, obviously correct twins used by the conformance tests
// (gonum's testblas pattern) and as the fallback when the package is built
// without cgo. [BF16Supported] says whether this CPU runs bf16 natively
// (AVX512_BF16 or AMX, as oneDNN detects it); [DisableBF16] and the
// environment variable TAGNET_NO_BF16 turn it off for tests.
//
// Beside the products it holds the engine's other native loops, each with
// a pure-Go twin that tests hold it to bit for bit: im2col to float32 and
// to bf16 ([Im2col], [Im2colBF16]), the flipped kernel of a stride-1
// input gradient ([FlipKernel]), max pooling ([MaxPool]), BatchNorm's
// per-channel passes ([BNStats], [BNApply], [BNGradSums], [BNGradInput])
// and Adam's update ([AdamStep]): loops Go does not vectorise.
//
// Matrices are row-major. All functions check their arguments and panic on a
// shape mismatch: these are programmer errors, never input errors.
package blas
