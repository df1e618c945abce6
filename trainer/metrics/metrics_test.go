package metrics

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/models"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The worked example used by several tests: 4 items, classes cat and dog,
// threshold 0.5.
//
//	item  p(cat) y(cat)  p(dog) y(dog)   predicted    true
//	0     0.9    1       0.2    0        {cat}        {cat}
//	1     0.6    0       0.7    1        {cat,dog}    {dog}
//	2     0.4    1       0.8    1        {dog}        {cat,dog}
//	3     0.1    0       0.3    0        {}           {}
var (
	exProbs   = []float32{0.9, 0.2, 0.6, 0.7, 0.4, 0.8, 0.1, 0.3}
	exTargets = []float32{1, 0, 0, 1, 1, 1, 0, 0}
	exLabels  = []string{"cat", "dog"}
)

func TestAccuracyMulti(t *testing.T) {
	// Right pairs: item 0 both, item 1 dog only, item 2 dog only, item 3
	// both: 6 of 8.
	if got := AccuracyMulti(exProbs, exTargets, 0.5, false); !near(got, 0.75) {
		t.Errorf("probabilities: %v, want 0.75", got)
	}
	// At 0.05 everything is predicted: right where y = 1, 4 of 8.
	if got := AccuracyMulti(exProbs, exTargets, 0.05, false); !near(got, 0.5) {
		t.Errorf("threshold 0.05: %v, want 0.5", got)
	}
	// Logits 2, −1, 0, 3 → σ 0.88, 0.27, 0.5, 0.95; at 0.5 the prediction
	// is 1, 0, 0 (0.5 is not > 0.5), 1 against targets 1, 0, 1, 1: 3 of 4.
	logits := []float32{2, -1, 0, 3}
	if got := AccuracyMulti(logits, []float32{1, 0, 1, 1}, 0.5, true); !near(got, 0.75) {
		t.Errorf("logits: %v, want 0.75", got)
	}
	// The sigmoid flag matters: σ(−0.4) = 0.401 > 0.2, while −0.4 taken
	// as a probability is not.
	if a, b := AccuracyMulti([]float32{-0.4}, []float32{1}, 0.2, true), AccuracyMulti([]float32{-0.4}, []float32{1}, 0.2, false); a != 1 || b != 0 {
		t.Errorf("sigmoid flag: %v and %v, want 1 and 0", a, b)
	}
	if got := AccuracyMulti(nil, nil, 0.5, false); !math.IsNaN(got) {
		t.Errorf("empty: %v, want NaN", got)
	}
}

func TestSigmoid(t *testing.T) {
	got := Sigmoid([]float32{0, 2, -2, -1000})
	// σ(2) = 1/(1+e^−2) = 0.8807970779778823.
	want := []float32{0.5, 0.8807970779778823, 0.11920292202211755, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("σ[%d] = %v, want %v", i, got[i], want[i])
		}
		// The predictor's probabilities are the same numbers.
		if p := float32(models.Sigmoid(float64([]float32{0, 2, -2, -1000}[i]))); p != got[i] {
			t.Errorf("σ[%d] = %v, models.Sigmoid gives %v", i, got[i], p)
		}
	}
}

// TestProbabilityAtGridThreshold: an item whose probability equals a grid
// threshold (p = float32(t)) is not counted positive at t — by the sweep,
// PerClass and AccuracyMulti alike, and as models.Present (the
// predictor's decision) says — even where float64(p) > t, as for 0.1.
func TestProbabilityAtGridThreshold(t *testing.T) {
	grid := []float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9}
	n := len(grid)
	probs, targets := make([]float32, n), make([]float32, n)
	for k, th := range grid {
		probs[k], targets[k] = float32(th), 1 // item k sits exactly on threshold k
	}
	s := Sweep(probs, targets, n, 1, []string{"a"}, grid)
	for g, th := range grid {
		present := 0
		for _, p := range probs {
			if models.Present(p, th) {
				present++
			}
		}
		if want := n - 1 - g; present != want {
			t.Fatalf("models.Present counts %d items above %v, want %d", present, th, want)
		}
		if got := s.Classes[0].Recall[g] * float64(n); math.Abs(got-float64(present)) > 1e-9 {
			t.Errorf("sweep at %v counts %v positives, the predictor's decision %d", th, got, present)
		}
		if pc := PerClass(probs, targets, n, 1, nil, th); pc[0].TP != present {
			t.Errorf("PerClass at %v: TP %d, want %d", th, pc[0].TP, present)
		}
		if acc := AccuracyMulti(probs, targets, th, false); !near(acc, float64(present)/float64(n)) {
			t.Errorf("AccuracyMulti at %v = %v, want %v", th, acc, float64(present)/float64(n))
		}
	}
}

func TestPerClassAndF1(t *testing.T) {
	// cat: TP item 0, FP item 1, FN item 2, TN item 3 → P = R = F1 = 0.5.
	// dog: TP items 1 and 2, TN items 0 and 3 → P = R = F1 = 1.
	got := PerClass(exProbs, exTargets, 4, 2, exLabels, 0.5)
	want := []ClassMetrics{
		{Label: "cat", Support: 2, Counts: Counts{TP: 1, FP: 1, FN: 1, TN: 1}, Precision: 0.5, Recall: 0.5, F1: 0.5},
		{Label: "dog", Support: 2, Counts: Counts{TP: 2, TN: 2}, Precision: 1, Recall: 1, F1: 1},
	}
	for j := range want {
		if got[j] != want[j] {
			t.Errorf("class %d: %+v, want %+v", j, got[j], want[j])
		}
	}
	// Macro: (0.5 + 1)/2.
	if got := F1Macro(exProbs, exTargets, 4, 2, 0.5); !near(got, 0.75) {
		t.Errorf("F1 macro %v, want 0.75", got)
	}
	// Samples: item 0 1; item 1 2·1/(2·1+1) = 2/3; item 2 2/3; item 3 no
	// labels and no predictions: 0. Mean 7/12.
	if got := F1Samples(exProbs, exTargets, 4, 2, 0.5); !near(got, 7.0/12) {
		t.Errorf("F1 samples %v, want 7/12", got)
	}
}

func TestConventionsWithoutPositives(t *testing.T) {
	// Class "none" has no positives. At 0.5 nothing is predicted for it:
	// precision 1, recall 0, F1 0 (zero_division=0), and it counts as 0 in
	// the macro mean. At 0.2 it is predicted once: precision 0.
	probs := []float32{
		0.9, 0.1,
		0.8, 0.3,
		0.2, 0.1,
	}
	targets := []float32{
		1, 0,
		1, 0,
		0, 0,
	}
	m := PerClass(probs, targets, 3, 2, []string{"some", "none"}, 0.5)
	if n := m[1]; n.Precision != 1 || n.Recall != 0 || n.F1 != 0 || n.Support != 0 || n.TN != 3 {
		t.Errorf("class without positives or predictions: %+v", n)
	}
	// "some": TP 2, TN 1 → F1 1; macro (1 + 0)/2.
	if got := F1Macro(probs, targets, 3, 2, 0.5); !near(got, 0.5) {
		t.Errorf("F1 macro %v, want 0.5", got)
	}
	m = PerClass(probs, targets, 3, 2, nil, 0.2)
	if n := m[1]; n.Precision != 0 || n.FP != 1 || n.F1 != 0 {
		t.Errorf("class without positives, one prediction: %+v", n)
	}
	// mAP skips the class without positives: AP(some) = 1 (0.9 and 0.8
	// rank above 0.2).
	if got := MeanAP(probs, targets, 3, 2); !near(got, 1) {
		t.Errorf("mAP %v, want 1", got)
	}
	if got := MeanAP(probs, make([]float32, 6), 3, 2); !math.IsNaN(got) {
		t.Errorf("mAP without any positive: %v, want NaN", got)
	}
	// Samples: item 0 {some}/{some} 1, item 1 1, item 2 empty/empty 0.
	if got := F1Samples(probs, targets, 3, 2, 0.5); !near(got, 2.0/3) {
		t.Errorf("F1 samples %v, want 2/3", got)
	}
}

func TestAveragePrecision(t *testing.T) {
	// cat scores 0.9+, 0.6−, 0.4+, 0.1− (two positives):
	//   ≥0.9: P 1/1,  R 1/2 → 1/2·1
	//   ≥0.6: P 1/2,  R 1/2 → 0
	//   ≥0.4: P 2/3,  R 1   → 1/2·2/3 = 1/3
	//   ≥0.1: R unchanged   → 0
	// AP = 5/6.
	if got := AveragePrecision([]float32{0.9, 0.6, 0.4, 0.1}, []float32{1, 0, 1, 0}); !near(got, 5.0/6) {
		t.Errorf("AP %v, want 5/6", got)
	}
	// dog scores 0.2−, 0.7+, 0.8+, 0.3−: positives ranked first, AP = 1.
	// mAP of the example = (5/6 + 1)/2 = 11/12.
	if got := MeanAP(exProbs, exTargets, 4, 2); !near(got, 11.0/12) {
		t.Errorf("mAP %v, want 11/12", got)
	}
	// Ties form one threshold. Scores 0.8+, 0.8−, 0.8−, 0.3+, 0.3−:
	//   ≥0.8: TP 1, FP 2 → P 1/3, R 1/2 → 1/6
	//   ≥0.3: TP 2, FP 3 → P 2/5, R 1   → 1/5
	// AP = 11/30, whatever the order of the tied items.
	scores := []float32{0.8, 0.8, 0.8, 0.3, 0.3}
	for _, targets := range [][]float32{{1, 0, 0, 1, 0}, {0, 0, 1, 0, 1}, {0, 1, 0, 1, 0}} {
		if got := AveragePrecision(scores, targets); !near(got, 11.0/30) {
			t.Errorf("ties %v: AP %v, want 11/30", targets, got)
		}
	}
	// All scores tied: one threshold with P = positives/n, R = 1.
	if got := AveragePrecision([]float32{0.5, 0.5, 0.5, 0.5}, []float32{1, 0, 0, 0}); !near(got, 0.25) {
		t.Errorf("all tied: %v, want 1/4", got)
	}
	if got := AveragePrecision([]float32{0.5}, []float32{0}); !math.IsNaN(got) {
		t.Errorf("no positives: %v, want NaN", got)
	}
}

func TestEvaluate(t *testing.T) {
	s := Evaluate(exProbs, exTargets, 4, 2, exLabels, 0.5)
	if s.Items != 4 || !near(s.AccuracyMulti, 0.75) || !near(s.F1Macro, 0.75) || !near(s.F1Samples, 7.0/12) || !near(s.MAP, 11.0/12) {
		t.Errorf("summary %+v", s)
	}
	v := s.Values()
	if len(v) != 4 || v[models.MetricMAP] != s.MAP || v[models.MetricF1Macro] != s.F1Macro {
		t.Errorf("values %v", v)
	}
}

func TestShapePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic on a shape mismatch")
		}
	}()
	F1Macro(exProbs, exTargets, 3, 2, 0.5)
}

func TestSweep(t *testing.T) {
	// Three classes, four items, grid 0.05, 0.5, 0.95.
	//
	//	a: p 0.1−  0.4+  0.6−  0.9+
	//	b: p 0.5+  0.5−  0.2−  0.7−   (0.5 is not > 0.5)
	//	c: p 0.3−  0.3−  0.3−  0.3−   (no positives)
	probs := []float32{
		0.1, 0.5, 0.3,
		0.4, 0.5, 0.3,
		0.6, 0.2, 0.3,
		0.9, 0.7, 0.3,
	}
	targets := []float32{
		0, 1, 0,
		1, 0, 0,
		0, 0, 0,
		1, 0, 0,
	}
	grid := []float64{0.05, 0.5, 0.95}
	s := Sweep(probs, targets, 4, 3, []string{"a", "b", "c"}, grid)
	if err := s.Validate([]string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	type row struct{ p, r, f1, acc float64 }
	want := map[string][]row{
		// 0.05: TP2 FP2 → P ½ R 1 F1 4/6; 0.5: TP1 FP1 FN1 TN1; 0.95:
		// nothing predicted → P 1, R 0, F1 0, acc 2/4.
		"a": {{0.5, 1, 2.0 / 3, 0.5}, {0.5, 0.5, 0.5, 0.5}, {1, 0, 0, 0.5}},
		// 0.05: TP1 FP3 → P ¼ R 1 F1 2/5 acc ¼; 0.5: only 0.7 → TP0 FP1
		// FN1 TN2 → P 0 R 0 F1 0 acc ½; 0.95: TN3 FN1 → P 1, acc ¾.
		"b": {{0.25, 1, 0.4, 0.25}, {0, 0, 0, 0.5}, {1, 0, 0, 0.75}},
		// 0.05: FP4 → P 0, R 0 (no positives), acc 0; above 0.3: TN4.
		"c": {{0, 0, 0, 0}, {1, 0, 0, 1}, {1, 0, 0, 1}},
	}
	support := map[string]int{"a": 2, "b": 1, "c": 0}
	for _, c := range s.Classes {
		if c.Support != support[c.Label] {
			t.Errorf("%s support %d, want %d", c.Label, c.Support, support[c.Label])
		}
		for g, w := range want[c.Label] {
			if !near(c.Precision[g], w.p) || !near(c.Recall[g], w.r) || !near(c.F1[g], w.f1) || !near(c.Accuracy[g], w.acc) {
				t.Errorf("%s at %v: P %v R %v F1 %v acc %v, want %+v", c.Label, grid[g], c.Precision[g], c.Recall[g], c.F1[g], c.Accuracy[g], w)
			}
		}
	}
	// Right pairs of 12: 0.05: 2+1+0; 0.5: 2+2+4; 0.95: 2+3+4.
	for g, w := range []float64{3.0 / 12, 8.0 / 12, 9.0 / 12} {
		if !near(s.AccuracyMulti[g], w) {
			t.Errorf("accuracy_multi at %v: %v, want %v", grid[g], s.AccuracyMulti[g], w)
		}
	}
	if s.Items != 4 {
		t.Errorf("items %d", s.Items)
	}
	// The sweep agrees with the one-threshold metrics at every grid point.
	for g, th := range grid {
		if a := AccuracyMulti(probs, targets, th, false); !near(a, s.AccuracyMulti[g]) {
			t.Errorf("at %v: AccuracyMulti %v, sweep %v", th, a, s.AccuracyMulti[g])
		}
		for j, m := range PerClass(probs, targets, 4, 3, nil, th) {
			c := s.Classes[j]
			if m.Precision != c.Precision[g] || m.Recall != c.Recall[g] || m.F1 != c.F1[g] {
				t.Errorf("class %d at %v: PerClass %+v, sweep P %v R %v F1 %v", j, th, m, c.Precision[g], c.Recall[g], c.F1[g])
			}
		}
	}
	if d := DefaultGrid(); len(d) != 29 || d[0] != 0.05 || d[28] != 0.95 || !near(d[1], 0.05+0.9/28) {
		t.Errorf("default grid %v", d)
	}
	if s := Sweep(probs, targets, 4, 3, []string{"a", "b", "c"}, nil); len(s.Thresholds) != 29 {
		t.Errorf("nil grid gave %d thresholds", len(s.Thresholds))
	}
}

func TestWriteSweepCSV(t *testing.T) {
	// Class a of TestSweep on the grid 0.25, 0.75:
	// 0.25: TP2 FP1 (0.6) TN1 → P 2/3, R 1, F1 4/5, acc 3/4.
	// 0.75: TP1 (0.9) FN1 TN2 → P 1, R 1/2, F1 2/3, acc 3/4.
	s := Sweep([]float32{0.1, 0.4, 0.6, 0.9}, []float32{0, 1, 0, 1}, 4, 1, []string{"a"}, []float64{0.25, 0.75})
	var buf bytes.Buffer
	if err := WriteSweepCSV(&buf, s); err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"label,threshold,precision,recall,f1,accuracy,support",
		"a,0.25,0.6666666666666666,1,0.8,0.75,2",
		"a,0.75,1,0.5,0.6666666666666666,0.75,2",
		"_all_,0.25,,,,0.75,2",
		"_all_,0.75,,,,0.75,2",
		"",
	}, "\n")
	if buf.String() != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", buf.String(), want)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 5 {
		t.Errorf("CSV reads back as %d records, %v", len(recs), err)
	}
}

func ExampleEvaluate() {
	probs := []float32{
		0.9, 0.2, // cat, dog of item 0
		0.6, 0.7,
		0.4, 0.8,
		0.1, 0.3,
	}
	targets := []float32{
		1, 0,
		0, 1,
		1, 1,
		0, 0,
	}
	s := Evaluate(probs, targets, 4, 2, []string{"cat", "dog"}, 0.5)
	fmt.Printf("accuracy_multi %.4f  F1 macro %.4f  F1 samples %.4f  mAP %.4f\n", s.AccuracyMulti, s.F1Macro, s.F1Samples, s.MAP)
	for _, c := range s.Classes {
		fmt.Printf("%s: P %.2f R %.2f F1 %.2f support %d\n", c.Label, c.Precision, c.Recall, c.F1, c.Support)
	}
	// Output:
	// accuracy_multi 0.7500  F1 macro 0.7500  F1 samples 0.5833  mAP 0.9167
	// cat: P 0.50 R 0.50 F1 0.50 support 2
	// dog: P 1.00 R 1.00 F1 1.00 support 2
}

func ExampleAccuracyMulti() {
	logits := []float32{2, -1, 0, 3}
	targets := []float32{1, 0, 1, 1}
	fmt.Println(AccuracyMulti(logits, targets, 0.5, true))
	// Output: 0.75
}

func ExampleSweep() {
	probs := []float32{0.1, 0.4, 0.6, 0.9}
	targets := []float32{0, 1, 0, 1}
	s := Sweep(probs, targets, 4, 1, []string{"a"}, []float64{0.25, 0.5, 0.75})
	if err := WriteSweepCSV(os.Stdout, s); err != nil {
		fmt.Println(err)
	}
	// Output:
	// label,threshold,precision,recall,f1,accuracy,support
	// a,0.25,0.6666666666666666,1,0.8,0.75,2
	// a,0.5,0.5,0.5,0.5,0.5,2
	// a,0.75,1,0.5,0.6666666666666666,0.75,2
	// _all_,0.25,,,,0.75,2
	// _all_,0.5,,,,0.5,2
	// _all_,0.75,,,,0.75,2
}
