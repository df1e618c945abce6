package postprocess

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/models"
)

// grid is the hand-made sweep's grid: 0.1, 0.2, …, 0.9.
var grid = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}

// handSweep is a sweep small enough to check by hand:
//
//   - cat has a noisy F1 spike of 0.9 at 0.3 which raw argmax would pick;
//     smoothed, 0.7 and 0.8 tie at (0.6+0.7+0.7)/3 = 0.667 and 0.7 is
//     nearer 0.5;
//   - dog has a flat F1 (every point ties: 0.5 wins) and never reaches a
//     precision of 0.95 or a recall of 0.95;
//   - bird has no positives.
func handSweep() *models.Sweep {
	return &models.Sweep{
		Thresholds: grid,
		Items:      100,
		Classes: []models.ClassSweep{
			{
				Label: "cat", Support: 40,
				F1:        []float64{0.50, 0.50, 0.90, 0.50, 0.50, 0.60, 0.70, 0.70, 0.60},
				Precision: []float64{0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95, 1.00},
				Recall:    []float64{1.00, 0.95, 0.90, 0.85, 0.80, 0.70, 0.60, 0.40, 0.20},
				Accuracy:  []float64{0.60, 0.62, 0.64, 0.70, 0.75, 0.80, 0.78, 0.70, 0.65},
			},
			{
				Label: "dog", Support: 10,
				F1:        []float64{0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4},
				Precision: []float64{0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9},
				Recall:    []float64{0.9, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.1},
				Accuracy:  []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5},
			},
			{
				Label: "bird", Support: 0,
				F1:        []float64{0, 0, 0, 0, 0, 0, 0, 0, 0},
				Precision: []float64{0, 0, 0, 0, 0, 1, 1, 1, 1},
				Recall:    []float64{0, 0, 0, 0, 0, 0, 0, 0, 0},
				Accuracy:  []float64{0.1, 0.3, 0.5, 0.7, 0.9, 1, 1, 1, 1},
			},
		},
		AccuracyMulti: []float64{0.4, 0.5, 0.6, 0.6, 0.7, 0.8, 0.8, 0.7, 0.6},
	}
}

var labels = []string{"cat", "dog", "bird"}

func TestSelectByStrategy(t *testing.T) {
	for _, tc := range []struct {
		strategy string
		want     []float64
		warnings []string // substrings, one per warning, in order
	}{
		// cat: spike at 0.3 rejected, tie 0.7/0.8 → 0.7. dog: flat → 0.5.
		// bird: no positives → 0.5 with a warning.
		{"f1", []float64{0.7, 0.5, 0.5}, []string{`"bird": no positives`}},
		// cat: smoothed accuracy peaks at 0.6 ((0.75+0.8+0.78)/3).
		// dog: flat → 0.5. bird: 1 from 0.7 to 0.9 ((0.9+1+1)/3 at 0.6 is
		// lower) → 0.7, the nearest 0.5.
		{"accuracy", []float64{0.6, 0.5, 0.7}, nil},
		// cat: precision first reaches 0.9 exactly at 0.7. dog: first 0.9 at
		// 0.9. bird: precision 1 from 0.6, but recall is 0 there (support 0,
		// so no warning).
		{"precision>=0.9", []float64{0.7, 0.9, 0.6}, nil},
		// dog never reaches 0.95: the highest threshold, with a warning.
		{"precision>=0.95", []float64{0.8, 0.9, 0.6}, []string{`"dog": no threshold reaches precision 0.95`}},
		// cat: the highest threshold with recall >= 0.8 is 0.5; dog 0.3.
		// bird never has recall: the lowest, with a warning.
		{"recall>=0.8", []float64{0.5, 0.3, 0.1}, []string{`"bird": no threshold reaches recall 0.8`}},
		{"fixed:0.42", []float64{0.42, 0.42, 0.42}, nil},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			st, err := ParseStrategy(tc.strategy)
			if err != nil {
				t.Fatal(err)
			}
			sel, err := Select(labels, handSweep(), st, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := sel.Thresholds()
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-12 {
					t.Errorf("%s: threshold %v, want %v", labels[i], got[i], tc.want[i])
				}
				if sel.Classes[i].Source != st.String() {
					t.Errorf("%s: source %q, want %q", labels[i], sel.Classes[i].Source, st.String())
				}
			}
			if len(sel.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d matching %q", sel.Warnings, len(tc.warnings), tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.Contains(sel.Warnings[i], w) {
					t.Errorf("warning %q does not contain %q", sel.Warnings[i], w)
				}
			}
		})
	}
}

// The chosen point's metrics come from the sweep at the chosen index.
func TestChoiceCarriesSweepMetrics(t *testing.T) {
	sel, err := Select(labels, handSweep(), Strategy{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cat := sel.Classes[0]
	if cat.Index != 6 || *cat.Precision != 0.9 || *cat.Recall != 0.6 || *cat.F1 != 0.7 {
		t.Errorf("cat: index %d P %v R %v F1 %v, want 6 0.9 0.6 0.7", cat.Index, *cat.Precision, *cat.Recall, *cat.F1)
	}
	if sel.Strategy.String() != "f1" {
		t.Errorf("zero strategy reads %q, want f1", sel.Strategy)
	}
}

func TestSmoothingRejectsASpikeAndTiesGoLower(t *testing.T) {
	// Raw argmax of this curve is the spike at index 2.
	spike := []float64{0.50, 0.50, 0.90, 0.50, 0.50, 0.60, 0.70, 0.70, 0.60}
	if i := argmaxSmoothed(grid, spike); grid[i] != 0.7 {
		t.Errorf("spike curve: picked %v, want 0.7", grid[i])
	}
	// Smoothed: 0.3 and 0.7 tie at 1 and are equally far from 0.5: the
	// lower wins.
	twin := []float64{0, 1, 1, 1, 0, 1, 1, 1, 0}
	if i := argmaxSmoothed(grid, twin); grid[i] != 0.3 {
		t.Errorf("twin curve: picked %v, want 0.3", grid[i])
	}
	// A spike at an end of the grid does not win either: (0.9+0.3)/3 at
	// 0.1, against (0.5+0.6+0.55)/3 at 0.7.
	edge := []float64{0.9, 0.3, 0.2, 0.3, 0.4, 0.5, 0.6, 0.55, 0.3}
	if i := argmaxSmoothed(grid, edge); grid[i] != 0.7 {
		t.Errorf("edge spike: picked %v, want 0.7", grid[i])
	}
	// A plateau: nearest 0.5 wins.
	plateau := []float64{0, 0, 1, 1, 1, 1, 1, 0, 0}
	if i := argmaxSmoothed(grid, plateau); grid[i] != 0.5 {
		t.Errorf("plateau: picked %v, want 0.5", grid[i])
	}
	// The ends count the missing neighbour as 0.
	got := Smooth([]float64{3, 0, 6, 3})
	want := []float64{1, 3, 3, 3}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("Smooth: %v, want %v", got, want)
			break
		}
	}
}

func TestOverrides(t *testing.T) {
	sel, err := Select(labels, handSweep(), Strategy{Kind: KindF1}, map[string]float64{"dog": 0.33})
	if err != nil {
		t.Fatal(err)
	}
	if c := sel.Classes[1]; c.Threshold != 0.33 || c.Source != SourceOverride || c.Index != -1 || c.F1 != nil {
		t.Errorf("dog: %+v, want override 0.33", c)
	}
	if sel.Classes[0].Threshold != 0.7 {
		t.Errorf("cat: %v, want 0.7 from f1", sel.Classes[0].Threshold)
	}

	_, err = Select(labels, handSweep(), Strategy{}, map[string]float64{"dgo": 0.3, "cat": 0.2})
	if !errors.Is(err, ErrUnknownLabel) || !strings.Contains(err.Error(), `"dgo"`) {
		t.Errorf("unknown label: %v, want an error naming \"dgo\"", err)
	}
	_, err = Select(labels, handSweep(), Strategy{}, map[string]float64{"cat": 1.5})
	if err == nil || !strings.Contains(err.Error(), `"cat"`) {
		t.Errorf("override 1.5: %v, want an error naming cat", err)
	}
}

func TestWithoutSweep(t *testing.T) {
	for _, s := range []string{"f1", "accuracy", "precision>=0.5", "recall>=0.5"} {
		st, _ := ParseStrategy(s)
		_, err := Select(labels, nil, st, nil)
		if !errors.Is(err, ErrNoSweep) || !strings.Contains(err.Error(), "fixed:") {
			t.Errorf("%s without a sweep: %v, want ErrNoSweep suggesting fixed:T", s, err)
		}
	}
	sel, err := Select(labels, nil, Strategy{Kind: KindFixed, Value: 0.5}, nil)
	if err != nil || sel.Thresholds()[2] != 0.5 {
		t.Errorf("fixed without a sweep: %v, %v", sel, err)
	}
	// Overrides covering every class need no sweep.
	all := map[string]float64{"cat": 0.1, "dog": 0.2, "bird": 0.3}
	sel, err = Select(labels, nil, Strategy{}, all)
	if err != nil || sel.Thresholds()[1] != 0.2 {
		t.Errorf("full overrides without a sweep: %v, %v", sel, err)
	}
}

// strategyCases are the accepted and refused strategy texts, with the
// parse or the reason; config's tests hold thresholds.strategy to them.
var strategyCases = []struct {
	In     string
	Want   Strategy
	Text   string // the text form of Want
	Reason string // "" when accepted
}{
	{In: "f1", Want: Strategy{Kind: KindF1}, Text: "f1"},
	{In: "accuracy", Want: Strategy{Kind: KindAccuracy}, Text: "accuracy"},
	{In: "precision>=0.9", Want: Strategy{Kind: KindPrecision, Value: 0.9}, Text: "precision>=0.9"},
	{In: "precision >= 0.9", Want: Strategy{Kind: KindPrecision, Value: 0.9}, Text: "precision>=0.9"},
	{In: " recall >= 0.75 ", Want: Strategy{Kind: KindRecall, Value: 0.75}, Text: "recall>=0.75"},
	{In: "fixed:0.5", Want: Strategy{Kind: KindFixed, Value: 0.5}, Text: "fixed:0.5"},
	{In: "fixed: .25", Want: Strategy{Kind: KindFixed, Value: 0.25}, Text: "fixed:0.25"},
	{In: "", Reason: syntaxReason},
	{In: "f2", Reason: syntaxReason},
	{In: "F1", Reason: syntaxReason},
	{In: "precision>0.9", Reason: syntaxReason},
	{In: "recall>0.5", Reason: syntaxReason},
	{In: "precision>=", Reason: `precision needs a number after ">=", got ""`},
	{In: "precision>=high", Reason: `precision needs a number after ">=", got "high"`},
	{In: "precision>=90", Reason: "precision value must be in (0, 1), got 90"},
	{In: "recall>=1", Reason: "recall value must be in (0, 1), got 1"},
	{In: "fixed:0", Reason: "fixed value must be in (0, 1), got 0"},
	{In: "fixed:1", Reason: "fixed value must be in (0, 1), got 1"},
	{In: "fixed:NaN", Reason: "fixed value must be in (0, 1), got NaN"},
	{In: "fixed:-0.1", Reason: "fixed value must be in (0, 1), got -0.1"},
}

func TestParseStrategy(t *testing.T) {
	for _, tc := range strategyCases {
		got, err := ParseStrategy(tc.In)
		var back Strategy
		uerr := back.UnmarshalText([]byte(tc.In))
		if tc.Reason != "" {
			var se *StrategyError
			if !errors.As(err, &se) || se.Reason != tc.Reason || se.Text != tc.In {
				t.Errorf("ParseStrategy(%q): %v, want a StrategyError %q", tc.In, err, tc.Reason)
			}
			if uerr == nil || uerr.Error() != err.Error() {
				t.Errorf("UnmarshalText(%q): %v, want %v", tc.In, uerr, err)
			}
			continue
		}
		if err != nil || got != tc.Want || got.String() != tc.Text {
			t.Errorf("ParseStrategy(%q) = %+v (%q), %v; want %+v (%q)", tc.In, got, got.String(), err, tc.Want, tc.Text)
		}
		if uerr != nil || back != got {
			t.Errorf("UnmarshalText(%q) = %+v, %v", tc.In, back, uerr)
		}
		if b, _ := got.MarshalText(); string(b) != tc.Text {
			t.Errorf("MarshalText of %q = %q", tc.In, b)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("a parsed strategy fails Validate: %v", err)
		}
	}
	// Built in code: the zero value is f1; a value out of range or an
	// unknown kind is refused with the parser's reasons.
	if err := (Strategy{}).Validate(); err != nil || (Strategy{}).String() != "f1" {
		t.Errorf("zero strategy: %q, %v", Strategy{}.String(), err)
	}
	for st, reason := range map[Strategy]string{
		{Kind: KindFixed, Value: 1}:     "fixed value must be in (0, 1), got 1",
		{Kind: KindPrecision}:           "precision value must be in (0, 1), got 0",
		{Kind: "best"}:                  syntaxReason,
		{Kind: KindRecall, Value: -0.5}: "recall value must be in (0, 1), got -0.5",
	} {
		var se *StrategyError
		if err := st.Validate(); !errors.As(err, &se) || se.Reason != reason {
			t.Errorf("Validate(%+v) = %v, want %q", st, err, reason)
		}
	}
}

// TestLabelsAtGridThresholds: a probability exactly at a sweep grid
// threshold decides as the sweep counted it (models.Present, float32), not
// as a float64 comparison would: float32(0.1) > 0.1 in float64.
func TestLabelsAtGridThresholds(t *testing.T) {
	// The case that disagreed: float32(0.1) is 0.100000001…, above 0.1
	// in float64.
	if float64(float32(0.1)) <= 0.1 {
		t.Fatal("float32(0.1) is not above 0.1 in float64: the case below tests nothing")
	}
	if got := Labels([]float32{float32(0.1)}, []float64{0.1}, []string{"a"}); len(got) != 0 {
		t.Errorf("p = float32(0.1) at t = 0.1: labels %v, want none (the sweep counts it negative)", got)
	}
	labels := []string{"a", "b"}
	for _, th := range models.Grid(0.05, 0.95, 29) {
		at := float32(th)
		probs := []float32{at, math.Nextafter32(at, 1)}
		got := Labels(probs, []float64{th, th}, labels)
		if !slices.Equal(got, []string{"b"}) {
			t.Errorf("threshold %v: labels %v, want [b] (p == t is not present, the next float32 up is)", th, got)
		}
	}
	if got := Labels([]float32{0.1}, []float64{0.5}, []string{"a"}); got == nil || len(got) != 0 {
		t.Errorf("no label present: %#v, want an empty non-nil slice", got)
	}
}

func TestProbabilities(t *testing.T) {
	dst := make([]float32, 3)
	Probabilities(dst, []float32{-1000, 0, 1000}, false)
	if dst[0] != 0 || dst[1] != 0.5 || dst[2] != 1 {
		t.Errorf("logits: %v", dst)
	}
	Probabilities(dst, []float32{-0.0001, 0.25, 1.0001}, true)
	if dst[0] != 0 || dst[1] != 0.25 || dst[2] != 1 {
		t.Errorf("probabilities: %v", dst)
	}
}
