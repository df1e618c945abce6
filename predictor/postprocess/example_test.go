package postprocess_test

import (
	"fmt"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor/postprocess"
)

// Choose thresholds from a two-class sweep over five grid points. The
// single F1 spike of "cat" at 0.1 loses to the broader peak at 0.7 once
// smoothed.
func ExampleSelect() {
	sweep := &models.Sweep{
		Thresholds: []float64{0.1, 0.3, 0.5, 0.7, 0.9},
		Items:      20,
		Classes: []models.ClassSweep{
			{Label: "cat", Support: 8,
				F1:        []float64{0.9, 0.4, 0.6, 0.8, 0.7},
				Precision: []float64{0.4, 0.5, 0.7, 0.8, 0.95},
				Recall:    []float64{1, 0.9, 0.8, 0.6, 0.3},
				Accuracy:  []float64{0.5, 0.6, 0.7, 0.8, 0.7}},
			{Label: "dog", Support: 5,
				F1:        []float64{0.5, 0.6, 0.5, 0.3, 0.1},
				Precision: []float64{0.3, 0.6, 0.8, 0.9, 1},
				Recall:    []float64{1, 0.8, 0.5, 0.2, 0.1},
				Accuracy:  []float64{0.4, 0.7, 0.8, 0.7, 0.6}},
		},
		AccuracyMulti: []float64{0.45, 0.65, 0.75, 0.75, 0.65},
	}
	labels := []string{"cat", "dog"}
	for _, s := range []string{"f1", "precision>=0.8", "recall>=0.8", "fixed:0.5"} {
		st, err := postprocess.ParseStrategy(s)
		if err != nil {
			fmt.Println(err)
			return
		}
		sel, err := postprocess.Select(labels, sweep, st, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-15s %v\n", s, sel.Thresholds())
	}
	// Output:
	// f1              [0.7 0.3]
	// precision>=0.8  [0.7 0.5]
	// recall>=0.8     [0.5 0.3]
	// fixed:0.5       [0.5 0.5]
}

// One image's logits become probabilities and labels: a class is present
// when its probability is strictly above its threshold.
func ExampleLabels() {
	logits := []float32{2, -1, 0}
	probs := make([]float32, len(logits))
	postprocess.Probabilities(probs, logits, false)
	fmt.Printf("%.3f\n", probs)
	fmt.Println(postprocess.Labels(probs, []float64{0.5, 0.2, 0.5}, []string{"cat", "dog", "bird"}))
	// Output:
	// [0.881 0.269 0.500]
	// [cat dog]
}
