package learn

import (
	"fmt"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
)

// Precision names, as train.precision spells them (the value set is
// models.Precisions).
const (
	PrecisionAuto = string(models.PrecisionAuto)
	PrecisionFP32 = string(models.PrecisionFP32)
	PrecisionBF16 = string(models.PrecisionBF16)
)

// ResolvePrecision turns a train.precision value into the engine's product
// precision and its name: "fp32"; "bf16-mixed" (an error naming what is
// missing where the CPU has no native bf16, see [blas.BF16Supported]); or
// "auto" and "" (bf16-mixed where the CPU multiplies bf16 natively, else
// fp32).
func ResolvePrecision(name string) (blas.Precision, string, error) {
	switch name {
	case PrecisionFP32:
		return blas.FP32, PrecisionFP32, nil
	case PrecisionBF16:
		if !blas.BF16Supported() {
			return blas.FP32, "", fmt.Errorf("train.precision %s needs a CPU with native bf16 products (AVX512_BF16 or AMX); this one has none (%s): use fp32 or auto", PrecisionBF16, blas.DNNLVersion())
		}
		return blas.BF16, PrecisionBF16, nil
	case PrecisionAuto, "":
		if blas.BF16Supported() {
			return blas.BF16, PrecisionBF16, nil
		}
		return blas.FP32, PrecisionFP32, nil
	}
	return blas.FP32, "", fmt.Errorf("train.precision %q is invalid: must be one of %s, %s, %s", name, PrecisionAuto, PrecisionFP32, PrecisionBF16)
}

// precisionName names the precision of a checkpoint: files written before
// train.precision existed hold no name and were trained in fp32.
func precisionName(s string) string {
	if s == "" {
		return PrecisionFP32
	}
	return s
}
