package models

import "math"

// The decision vocabulary of the trainer→predictor contract: how a logit
// becomes a probability and when a probability counts as a predicted
// class. The trainer's validation metrics and threshold sweep
// (trainer/metrics) and the predictor's postprocessing
// (predictor/postprocess) both call these, so a threshold chosen from the
// sweep means at prediction time exactly what it meant when the sweep
// counted it.

// Sigmoid returns σ(x) = 1/(1+e^−x) without overflow for any x: for
// negative x it computes e^x/(1+e^x), so ±1000 give exactly 0 and 1, never
// NaN. It is the sigmoid of PyTorch's BCEWithLogitsLoss and of the ONNX
// Sigmoid operator.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// SigmoidInto writes [Sigmoid] of each logit, computed in float64 and
// rounded to float32, into dst. dst must be at least as long as logits;
// dst and logits may be the same slice.
func SigmoidInto(dst, logits []float32) {
	dst = dst[:len(logits)]
	for i, x := range logits {
		dst[i] = float32(Sigmoid(float64(x)))
	}
}

// Present reports whether a class with probability p is predicted at
// threshold t: p > t, strictly, compared in float32 after rounding t to
// float32. That is how PyTorch compares a float32 tensor with a Python
// float, so it is fastai's accuracy_multi `(inp > thresh)`; the threshold
// sweep counts positives with it and the predictor decides with it, so the
// two agree even when p equals a grid threshold (p = float32(0.1) at
// t = 0.1 is not present, though float64(p) > 0.1).
func Present(p float32, t float64) bool { return p > float32(t) }
