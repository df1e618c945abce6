// Package metrics scores multi-label predictions on the validation set:
// fastai's accuracy_multi, F1 (macro and per sample), mean average
// precision, per-class precision/recall/F1, and the threshold sweep that the
// trainer stores in the model file so the predictor can choose per-class
// thresholds without retraining.
//
//	validation logits ──► Sigmoid ──► Evaluate (metrics at one threshold)
//	                               └─► Sweep (metrics over a threshold grid) ──► models.Sweep, WriteSweepCSV
//
// # Conventions
//
// Predictions and targets are row-major N×C float32 matrices: item i's value
// for class j is at i·C+j. A target counts as positive when it is at least
// 0.5 (targets are normally 0 or 1). A class is predicted for an item when
// [models.Present] says so: its probability is strictly greater than the
// threshold, compared in float32 as PyTorch compares a float32 tensor with
// a Python float, so the numbers match fastai's and the predictor, which
// decides with the same function, agrees with the sweep at every grid
// threshold.
//
// Where a ratio has a zero denominator:
//   - precision is 1 when nothing is predicted positive (no false
//     positives), as in [models.ClassSweep];
//   - recall is 0 when the class has no positives;
//   - F1 = 2TP/(2TP+FP+FN) is 0 when TP+FP+FN = 0, that is for a class with
//     no positives and no predictions, and likewise for an item with no
//     labels and no predicted labels. This is scikit-learn's
//     zero_division=0, and F1 macro and F1 samples include those classes
//     and items as zeros, so they match scikit-learn's f1_score with
//     average="macro" and average="samples" (zero_division=0). A perfect
//     model therefore scores below 1 when the validation set has images
//     without labels (F1 samples) or a class without positives (F1 macro).
//   - mAP averages the average precision of the classes that have at least
//     one positive; it is NaN when no class has one.
//
// Functions panic when the lengths of their arguments disagree with n and
// c: that is a programming error, not bad input.
package metrics

import (
	"fmt"
	"math"
	"slices"

	"github.com/tagnet/tagnet/models"
)

// positive reports whether target y marks a positive.
func positive(y float32) bool { return y >= 0.5 }

// predicted reports whether probability p is predicted positive at
// threshold t ([models.Present]).
func predicted(p float32, t float64) bool { return models.Present(p, t) }

func checkShape(fn string, preds, targets []float32, n, c int) {
	if n < 0 || c < 0 || len(preds) != n*c || len(targets) != n*c {
		panic(fmt.Sprintf("metrics.%s: %d predictions and %d targets for %d items × %d classes",
			fn, len(preds), len(targets), n, c))
	}
}

// Sigmoid returns [models.Sigmoid] of each logit in a new slice: the
// probabilities the predictor computes from the same logits.
func Sigmoid(logits []float32) []float32 {
	out := make([]float32, len(logits))
	models.SigmoidInto(out, logits)
	return out
}

// AccuracyMulti is fastai's accuracy_multi: the fraction of all N·C
// (item, class) pairs where (p > thresh) equals the target. With sigmoid
// set, preds are logits and go through [Sigmoid] first; otherwise they are
// probabilities. It is NaN for empty input and panics when the lengths
// differ.
func AccuracyMulti(preds, targets []float32, thresh float64, sigmoid bool) float64 {
	if len(preds) != len(targets) {
		panic(fmt.Sprintf("metrics.AccuracyMulti: %d predictions and %d targets", len(preds), len(targets)))
	}
	if len(preds) == 0 {
		return math.NaN()
	}
	if sigmoid {
		preds = Sigmoid(preds)
	}
	right := 0
	for i, p := range preds {
		if predicted(p, thresh) == positive(targets[i]) {
			right++
		}
	}
	return float64(right) / float64(len(preds))
}

// Counts is a confusion matrix for one class (or one item).
type Counts struct {
	TP int // predicted and true
	FP int // predicted, not true
	FN int // true, not predicted
	TN int // neither
}

// Precision is TP/(TP+FP), or 1 when nothing was predicted positive.
func (k Counts) Precision() float64 {
	if k.TP+k.FP == 0 {
		return 1
	}
	return float64(k.TP) / float64(k.TP+k.FP)
}

// Recall is TP/(TP+FN), or 0 when there are no positives.
func (k Counts) Recall() float64 {
	if k.TP+k.FN == 0 {
		return 0
	}
	return float64(k.TP) / float64(k.TP+k.FN)
}

// F1 is 2TP/(2TP+FP+FN), the harmonic mean of precision and recall, or 0
// when TP+FP+FN = 0.
func (k Counts) F1() float64 {
	d := 2*k.TP + k.FP + k.FN
	if d == 0 {
		return 0
	}
	return float64(2*k.TP) / float64(d)
}

// Accuracy is (TP+TN)/(TP+FP+FN+TN), or 0 when all counts are zero.
func (k Counts) Accuracy() float64 {
	n := k.TP + k.FP + k.FN + k.TN
	if n == 0 {
		return 0
	}
	return float64(k.TP+k.TN) / float64(n)
}

// ClassMetrics are one class's metrics at one threshold.
type ClassMetrics struct {
	Label   string // the class name; empty when no labels were given
	Support int    // positives among the items
	Counts
	// Precision, Recall and F1 follow the package's conventions for zero
	// denominators.
	Precision, Recall, F1 float64
}

// PerClass returns each class's counts, precision, recall and F1 at
// threshold thresh. probs and targets are n×c; labels names the classes
// (nil leaves the names empty).
func PerClass(probs, targets []float32, n, c int, labels []string, thresh float64) []ClassMetrics {
	checkShape("PerClass", probs, targets, n, c)
	if labels != nil && len(labels) != c {
		panic(fmt.Sprintf("metrics.PerClass: %d labels for %d classes", len(labels), c))
	}
	out := make([]ClassMetrics, c)
	for i := range n {
		for j := range c {
			k := &out[j].Counts
			switch p, y := predicted(probs[i*c+j], thresh), positive(targets[i*c+j]); {
			case p && y:
				k.TP++
			case p:
				k.FP++
			case y:
				k.FN++
			default:
				k.TN++
			}
		}
	}
	for j := range out {
		m := &out[j]
		if labels != nil {
			m.Label = labels[j]
		}
		m.Support = m.TP + m.FN
		m.Precision, m.Recall, m.F1 = m.Counts.Precision(), m.Counts.Recall(), m.Counts.F1()
	}
	return out
}

// F1Macro is the mean over the c classes of each class's F1 at thresh
// (scikit-learn's average="macro" with zero_division=0). It is NaN when
// c = 0.
func F1Macro(probs, targets []float32, n, c int, thresh float64) float64 {
	checkShape("F1Macro", probs, targets, n, c)
	if c == 0 {
		return math.NaN()
	}
	var sum float64
	for _, m := range PerClass(probs, targets, n, c, nil, thresh) {
		sum += m.F1
	}
	return sum / float64(c)
}

// F1Samples is the mean over the n items of each item's F1 between its
// predicted and true label sets at thresh (scikit-learn's
// average="samples" with zero_division=0: an item with no labels and no
// predictions scores 0). It is NaN when n = 0.
func F1Samples(probs, targets []float32, n, c int, thresh float64) float64 {
	checkShape("F1Samples", probs, targets, n, c)
	if n == 0 {
		return math.NaN()
	}
	var sum float64
	for i := range n {
		var k Counts
		for j := range c {
			switch p, y := predicted(probs[i*c+j], thresh), positive(targets[i*c+j]); {
			case p && y:
				k.TP++
			case p:
				k.FP++
			case y:
				k.FN++
			}
		}
		sum += k.F1()
	}
	return sum / float64(n)
}

// AveragePrecision is scikit-learn's average_precision_score for one class:
// with the scores taken as thresholds from the highest down, equal scores
// grouped into one threshold, AP = Σ (R_k − R_{k−1})·P_k over those
// thresholds, where P_k and R_k are the precision and recall of predicting
// score ≥ threshold k, and R_0 = 0. It is NaN when no target is positive.
func AveragePrecision(scores, targets []float32) float64 {
	if len(scores) != len(targets) {
		panic(fmt.Sprintf("metrics.AveragePrecision: %d scores and %d targets", len(scores), len(targets)))
	}
	idx := make([]int, len(scores))
	pos := 0
	for i := range idx {
		idx[i] = i
		if positive(targets[i]) {
			pos++
		}
	}
	if pos == 0 {
		return math.NaN()
	}
	slices.SortFunc(idx, func(a, b int) int {
		// Descending; NaN scores sort last.
		sa, sb := scores[a], scores[b]
		switch {
		case sa > sb || (sa == sa && sb != sb):
			return -1
		case sa < sb || (sa != sa && sb == sb):
			return 1
		}
		return 0
	})
	var ap, prevRecall float64
	tp, fp := 0, 0
	for k := 0; k < len(idx); {
		s := scores[idx[k]]
		for k < len(idx) && (scores[idx[k]] == s || (s != s && scores[idx[k]] != scores[idx[k]])) {
			if positive(targets[idx[k]]) {
				tp++
			} else {
				fp++
			}
			k++
		}
		recall := float64(tp) / float64(pos)
		ap += (recall - prevRecall) * float64(tp) / float64(tp+fp)
		prevRecall = recall
	}
	return ap
}

// MeanAP is the mean, over the classes with at least one positive, of each
// class's [AveragePrecision] of the n×c scores. It is NaN when no class has
// a positive.
func MeanAP(scores, targets []float32, n, c int) float64 {
	checkShape("MeanAP", scores, targets, n, c)
	col, ycol := make([]float32, n), make([]float32, n)
	var sum float64
	classes := 0
	for j := range c {
		for i := range n {
			col[i], ycol[i] = scores[i*c+j], targets[i*c+j]
		}
		if ap := AveragePrecision(col, ycol); !math.IsNaN(ap) {
			sum += ap
			classes++
		}
	}
	if classes == 0 {
		return math.NaN()
	}
	return sum / float64(classes)
}

// Summary holds the validation metrics at one threshold.
type Summary struct {
	Threshold     float64        // the decision threshold
	Items         int            // the number of items scored
	AccuracyMulti float64        // fastai's accuracy_multi
	F1Macro       float64        // mean per-class F1
	F1Samples     float64        // mean per-item F1
	MAP           float64        // mean average precision, threshold-free
	Classes       []ClassMetrics // per-class metrics, in output order
}

// Evaluate computes every metric of probs (probabilities, n×c) against
// targets at threshold thresh.
func Evaluate(probs, targets []float32, n, c int, labels []string, thresh float64) Summary {
	checkShape("Evaluate", probs, targets, n, c)
	return Summary{
		Threshold:     thresh,
		Items:         n,
		AccuracyMulti: AccuracyMulti(probs, targets, thresh, false),
		F1Macro:       F1Macro(probs, targets, n, c, thresh),
		F1Samples:     F1Samples(probs, targets, n, c, thresh),
		MAP:           MeanAP(probs, targets, n, c),
		Classes:       PerClass(probs, targets, n, c, labels, thresh),
	}
}

// Values returns the summary's metrics under their [models] names:
// models.MetricAccuracyMulti, MetricF1Macro, MetricF1Samples and
// MetricMAP (Threshold, Items and Classes left out). A model file's
// training summary (learn.Eval.Metrics) holds the same names plus
// models.MetricLoss.
func (s Summary) Values() map[string]float64 {
	return map[string]float64{
		models.MetricAccuracyMulti: s.AccuracyMulti,
		models.MetricF1Macro:       s.F1Macro,
		models.MetricF1Samples:     s.F1Samples,
		models.MetricMAP:           s.MAP,
	}
}
