package nn

import "github.com/tagnet/tagnet/trainer/blas"

// SetFP32Kernel makes networks built afterwards use OpenBLAS ("openblas")
// or oneDNN ("onednn") for fp32 products; benchmarks compare the two.
func SetFP32Kernel(name string) {
	if name == "onednn" {
		fp32Gemm = dnnlFP32
		return
	}
	fp32Gemm = blas.Sgemm
}
