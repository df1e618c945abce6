package optim

import (
	"math"
	"testing"
)

// TestOneCycleHandComputed checks fit_one_cycle(100 steps, lr_max 1e-2)
// with fastai's defaults against values computed by hand.
func TestOneCycleHandComputed(t *testing.T) {
	s := NewOneCycle([]float64{1e-2}, 100)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		i       int
		lr, mom float64
	}{
		{0, 1e-2 / 25, 0.95},
		{10, 0.0037167184270002532, 0.9154508497187474}, // warm-up at 0.4
		{25, 1e-2, 0.85},                                // the peak
		{50, 0.007500025000000001, 0.875},               // annealing at 1/3
		{100, 1e-7, 0.95},                               // the end
	} {
		h := s.At(c.i)
		if !near(h.LRs[0], c.lr, 1e-12) || !near(h.Mom, c.mom, 1e-12) {
			t.Errorf("step %d: lr %.12g mom %.12g, want %.12g %.12g", c.i, h.LRs[0], h.Mom, c.lr, c.mom)
		}
	}
	// Monotone phases.
	prev := s.At(0).LRs[0]
	for i := 1; i < 100; i++ {
		lr := s.At(i).LRs[0]
		if (i <= 25 && lr < prev) || (i > 25 && lr > prev) {
			t.Fatalf("step %d: lr %g after %g breaks the one-cycle shape", i, lr, prev)
		}
		prev = lr
	}
}

func TestSlices(t *testing.T) {
	check := func(name string, got, want []float64) {
		t.Helper()
		for i := range want {
			if len(got) != len(want) || !near(got[i], want[i], 1e-12) {
				t.Fatalf("%s = %v, want %v", name, got, want)
			}
		}
	}
	check("slice(1e-3)", Slice(1e-3, 3), []float64{1e-4, 1e-4, 1e-3})
	check("slice(1e-5, 1e-3)", SliceRange(1e-5, 1e-3, 3), []float64{1e-5, 1e-4, 1e-3})
	check("slice(a, b) 2 groups", SliceRange(1e-4, 1e-2, 2), []float64{1e-4, 1e-2})

	frozen, unfrozen := FineTune(2e-3, 100, 10, 40, 3)
	check("fine_tune frozen", frozen.LRMax, []float64{2e-4, 2e-4, 2e-3})
	check("fine_tune unfrozen", unfrozen.LRMax, []float64{1e-5, 1e-5 * 10, 1e-3})
	if frozen.PctStart != 0.99 || unfrozen.PctStart != 0.3 || unfrozen.Div != 5 || frozen.Steps != 10 || unfrozen.Steps != 40 {
		t.Fatalf("fine_tune phases: %+v %+v", frozen, unfrozen)
	}
	// The unfrozen phase starts at lr/5 and peaks at step 0.3·40.
	if h := unfrozen.At(0); !near(h.LRs[2], 1e-3/5, 1e-12) {
		t.Errorf("unfrozen start lr %g, want %g", h.LRs[2], 1e-3/5)
	}
	if h := unfrozen.At(12); !near(h.LRs[0], 1e-5, 1e-12) || !near(h.Mom, 0.85, 1e-12) {
		t.Errorf("unfrozen peak %v mom %g", h.LRs, h.Mom)
	}
}

func TestLRFind(t *testing.T) {
	f := LRFind{Start: 1e-7, End: 10, Steps: 100, Groups: 3, Mom: 0.9}
	for _, c := range []struct {
		i  int
		lr float64
	}{{0, 1e-7}, {50, 1e-7 * math.Sqrt(1e8)}, {100, 10}} {
		if h := f.At(c.i); !near(h.LRs[2], c.lr, 1e-9) || h.LRs[0] != h.LRs[2] {
			t.Errorf("step %d: %v, want %g", c.i, h.LRs, c.lr)
		}
	}
}

func TestOneCycleValidate(t *testing.T) {
	for _, s := range []OneCycle{
		{Steps: 10},
		{LRMax: []float64{1e-3}},
		{LRMax: []float64{-1}, Steps: 3},
		{LRMax: []float64{1e-3}, Steps: 3, PctStart: 1.5},
	} {
		if s.Validate() == nil {
			t.Errorf("%+v validated", s)
		}
	}
}
