package nn

import (
	"fmt"
	"math"

	"github.com/tagnet/tagnet/models"
)

// BCEWithLogits returns the binary cross-entropy of sigmoid(logits) against
// targets (0 or 1, or soft labels in [0,1]), averaged over all N·C
// elements, as PyTorch's BCEWithLogitsLoss with mean reduction. It uses the
// stable form max(x,0) − x·y + log(1 + e^−|x|). When grad is not nil it
// receives the gradient of that mean with respect to the logits,
// (σ(x) − y)/(N·C) with σ = [models.Sigmoid] (the predictor's), ready
// for [Net.Backward]. It panics when the lengths
// differ.
func BCEWithLogits(logits, targets, grad []float32) float64 {
	if len(targets) != len(logits) || (grad != nil && len(grad) != len(logits)) {
		panic(fmt.Sprintf("nn: BCEWithLogits: %d logits, %d targets, %d gradients", len(logits), len(targets), len(grad)))
	}
	if len(logits) == 0 {
		return 0
	}
	inv := 1 / float64(len(logits))
	var sum float64
	for i, v := range logits {
		x, y := float64(v), float64(targets[i])
		sum += max(x, 0) - x*y + math.Log1p(math.Exp(-math.Abs(x)))
		if grad != nil {
			grad[i] = float32((models.Sigmoid(x) - y) * inv)
		}
	}
	return sum * inv
}
