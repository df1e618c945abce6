package models

import (
	"math"
	"testing"
)

func TestSigmoid(t *testing.T) {
	for _, tc := range []struct{ x, want float64 }{
		{0, 0.5}, {1000, 1}, {-1000, 0}, {math.Inf(1), 1}, {math.Inf(-1), 0},
	} {
		if got := Sigmoid(tc.x); got != tc.want {
			t.Errorf("Sigmoid(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	for x := -30.0; x <= 30; x += 0.37 {
		naive := 1 / (1 + math.Exp(-x))
		if got := Sigmoid(x); math.Abs(got-naive) > 1e-15 {
			t.Errorf("Sigmoid(%v) = %v, want %v", x, got, naive)
		}
		if s := Sigmoid(x) + Sigmoid(-x); math.Abs(s-1) > 1e-15 {
			t.Errorf("Sigmoid(%v)+Sigmoid(%v) = %v, want 1", x, -x, s)
		}
	}
	dst := make([]float32, 4)
	SigmoidInto(dst, []float32{-1000, 0, 1000, -110})
	if dst[0] != 0 || dst[1] != 0.5 || dst[2] != 1 || dst[3] != 0 {
		t.Errorf("SigmoidInto: %v", dst)
	}
}

// TestPresentAtThreshold: p > t in float32, so a probability equal to a
// grid threshold (as float32) is not present even where float64(p) > t.
func TestPresentAtThreshold(t *testing.T) {
	p := float32(0.1)
	if !(float64(p) > 0.1) {
		t.Fatal("float32(0.1) is not above 0.1 in float64: the case tests nothing")
	}
	if Present(p, 0.1) {
		t.Error("Present(float32(0.1), 0.1) = true; the sweep counts it negative")
	}
	if !Present(math.Nextafter32(p, 1), 0.1) {
		t.Error("the next float32 above 0.1 is not present at 0.1")
	}
	for _, th := range Grid(0.05, 0.95, 29) {
		if Present(float32(th), th) {
			t.Errorf("Present(float32(%v), %v) = true", th, th)
		}
	}
}

func TestSweepSummarize(t *testing.T) {
	s := &Sweep{
		Thresholds: []float64{0.1, 0.3, 0.5},
		Classes: []ClassSweep{
			{Label: "cat", Support: 4, F1: []float64{0.2, 0.9, 0.5}},
			{Label: "dog", Support: 3, F1: []float64{0.4, 0.4, 0.4}},
		},
	}
	sum := s.Summarize()
	if len(sum) != 2 || sum[0].BestF1 != 0.9 || sum[0].BestF1Threshold != 0.3 || sum[0].Support != 4 {
		t.Errorf("cat: %+v", sum)
	}
	if sum[1].BestF1 != 0.4 || sum[1].BestF1Threshold != 0.1 {
		t.Errorf("dog: %+v (want the lowest threshold of a flat curve)", sum[1])
	}
	if got := s.BestF1Macro(); math.Abs(got-0.65) > 1e-15 {
		t.Errorf("BestF1Macro = %v, want 0.65", got)
	}
	var none *Sweep
	if none.Summarize() != nil || none.BestF1Macro() != 0 {
		t.Error("a nil sweep summarises to something")
	}
}
