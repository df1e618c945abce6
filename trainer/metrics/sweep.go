package metrics

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"

	"github.com/tagnet/tagnet/models"
)

// DefaultGrid returns the fastai book's threshold grid, 29 values evenly
// spaced from 0.05 to 0.95.
func DefaultGrid() []float64 { return models.Grid(0.05, 0.95, 29) }

// Sweep computes, for each class and each threshold of grid, the precision,
// recall, F1 and accuracy of predicting p > threshold, with the class's
// support, and the global accuracy_multi at each threshold. probs and
// targets are n×c, labels names the c classes, and grid is strictly
// increasing in (0,1) (nil means [DefaultGrid]). The conventions are those
// of [models.ClassSweep] and the package documentation; with no items every
// accuracy is 0.
//
// Each class's scores are sorted once, so the cost is O(c·n·log n +
// c·len(grid)·log n).
func Sweep(probs, targets []float32, n, c int, labels []string, grid []float64) *models.Sweep {
	checkShape("Sweep", probs, targets, n, c)
	if len(labels) != c {
		panic(fmt.Sprintf("metrics.Sweep: %d labels for %d classes", len(labels), c))
	}
	if grid == nil {
		grid = DefaultGrid()
	}
	s := &models.Sweep{
		Thresholds:    slices.Clone(grid),
		Items:         n,
		Classes:       make([]models.ClassSweep, c),
		AccuracyMulti: make([]float64, len(grid)),
	}
	right := make([]int, len(grid)) // correct (item, class) pairs per threshold
	pos, neg := make([]float32, 0, n), make([]float32, 0, n)
	for j := range c {
		pos, neg = pos[:0], neg[:0]
		for i := range n {
			if positive(targets[i*c+j]) {
				pos = append(pos, probs[i*c+j])
			} else {
				neg = append(neg, probs[i*c+j])
			}
		}
		slices.Sort(pos)
		slices.Sort(neg)
		cs := models.ClassSweep{
			Label:     labels[j],
			Support:   len(pos),
			Precision: make([]float64, len(grid)),
			Recall:    make([]float64, len(grid)),
			F1:        make([]float64, len(grid)),
			Accuracy:  make([]float64, len(grid)),
		}
		for g, t := range grid {
			tp, fp := above(pos, t), above(neg, t)
			k := Counts{TP: tp, FP: fp, FN: len(pos) - tp, TN: len(neg) - fp}
			cs.Precision[g], cs.Recall[g], cs.F1[g], cs.Accuracy[g] = k.Precision(), k.Recall(), k.F1(), k.Accuracy()
			right[g] += k.TP + k.TN
		}
		s.Classes[j] = cs
	}
	if n*c > 0 {
		for g := range grid {
			s.AccuracyMulti[g] = float64(right[g]) / float64(n*c)
		}
	}
	return s
}

// above returns how many of the ascending values are predicted positive at
// threshold t. NaN values, sorted first by slices.Sort, never are.
func above(sorted []float32, t float64) int {
	i := sort.Search(len(sorted), func(i int) bool { return predicted(sorted[i], t) })
	return len(sorted) - i
}

// AllLabel is the label of the rows that [WriteSweepCSV] writes for the
// global accuracy_multi.
const AllLabel = "_all_"

// WriteSweepCSV writes s as CSV with the header label, threshold,
// precision, recall, f1, accuracy, support: one row per class and
// threshold, classes in output order, then one row per threshold labelled
// "_all_" whose accuracy is the global accuracy_multi, whose support is the
// total number of positives, and whose precision, recall and f1 are empty.
// Numbers are written in the shortest form that reads back exactly.
func WriteSweepCSV(w io.Writer, s *models.Sweep) error {
	cw := csv.NewWriter(w)
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	_ = cw.Write([]string{"label", "threshold", "precision", "recall", "f1", "accuracy", "support"})
	total := 0
	for _, c := range s.Classes {
		total += c.Support
		for g, t := range s.Thresholds {
			at := func(v []float64) string {
				if g < len(v) {
					return f(v[g])
				}
				return ""
			}
			_ = cw.Write([]string{c.Label, f(t), at(c.Precision), at(c.Recall), at(c.F1), at(c.Accuracy), strconv.Itoa(c.Support)})
		}
	}
	for g, t := range s.Thresholds {
		acc := ""
		if g < len(s.AccuracyMulti) {
			acc = f(s.AccuracyMulti[g])
		}
		_ = cw.Write([]string{AllLabel, f(t), "", "", "", acc, strconv.Itoa(total)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing sweep CSV: %w", err)
	}
	return nil
}
