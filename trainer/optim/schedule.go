package optim

import (
	"fmt"
	"math"
)

// Schedule gives the hyper-parameters of step i of a fit, i in [0, Len()).
type Schedule interface {
	At(i int) Hypers
	Len() int
}

// Slice returns fastai's slice(lr) for n parameter groups: lr/10 for every
// group but the last, lr for the last ([lr/10, lr/10, lr] for a ResNet).
func Slice(lr float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lr / 10
	}
	if n > 0 {
		out[n-1] = lr
	}
	return out
}

// SliceRange returns fastai's slice(a, b) for n parameter groups: a
// geometric progression from a to b ([a, √(ab), b] for a ResNet).
func SliceRange(a, b float64, n int) []float64 {
	out := make([]float64, n)
	if n == 1 {
		out[0] = b
		return out
	}
	step := math.Pow(b/a, 1/float64(n-1))
	for i := range out {
		out[i] = a * math.Pow(step, float64(i))
	}
	out[n-1] = b
	return out
}

// Cos is fastai's cosine annealing from start to end at position p in
// [0, 1]: start + (1 + cos(π(1−p)))·(end − start)/2.
func Cos(start, end, p float64) float64 {
	return start + (1+math.Cos(math.Pi*(1-p)))*(end-start)/2
}

// OneCycle is fastai's fit_one_cycle schedule over Steps steps: the
// learning rate anneals (cosine) from LRMax/Div up to LRMax over the first
// PctStart of the steps, then down to LRMax/DivFinal; the momentum anneals
// from Moms[0] to Moms[1] and back to Moms[2] over the same phases. Step i
// is at position i/Steps, as fastai's training iteration counter.
type OneCycle struct {
	// LRMax is the peak learning rate of each parameter group (see Slice
	// and SliceRange).
	LRMax []float64
	// Steps is the number of optimiser steps of the whole fit.
	Steps int
	// Div: the start is LRMax/Div; 0 means 25.
	Div float64
	// DivFinal: the end is LRMax/DivFinal; 0 means 1e5.
	DivFinal float64
	// PctStart is the fraction of steps spent warming up; 0 means 0.25.
	// fastai's fine_tune uses 0.99 for the frozen phase and 0.3 after.
	PctStart float64
	// Moms are the momentum (β1) at the start, the peak learning rate and
	// the end; the zero value means (0.95, 0.85, 0.95).
	Moms [3]float64
}

// NewOneCycle returns fit_one_cycle over steps steps with peak learning
// rates lrMax and fastai's defaults for everything else.
func NewOneCycle(lrMax []float64, steps int) OneCycle {
	return OneCycle{LRMax: lrMax, Steps: steps}
}

func (s OneCycle) normalized() OneCycle {
	if s.Div == 0 {
		s.Div = 25
	}
	if s.DivFinal == 0 {
		s.DivFinal = 1e5
	}
	if s.PctStart == 0 {
		s.PctStart = 0.25
	}
	if s.Moms == [3]float64{} {
		s.Moms = [3]float64{0.95, 0.85, 0.95}
	}
	return s
}

// Validate reports the first invalid field.
func (s OneCycle) Validate() error {
	s = s.normalized()
	switch {
	case len(s.LRMax) == 0:
		return fmt.Errorf("one-cycle: no learning rates")
	case s.Steps < 1:
		return fmt.Errorf("one-cycle: steps %d is invalid: must be >= 1", s.Steps)
	case !(s.PctStart > 0 && s.PctStart <= 1):
		return fmt.Errorf("one-cycle: pct_start %g is invalid: must be in (0, 1]", s.PctStart)
	case !(s.Div > 0 && s.DivFinal > 0):
		return fmt.Errorf("one-cycle: div %g and div_final %g must be > 0", s.Div, s.DivFinal)
	}
	for _, lr := range s.LRMax {
		if !(lr > 0) || math.IsInf(lr, 0) {
			return fmt.Errorf("one-cycle: learning rate %g is invalid: must be > 0", lr)
		}
	}
	return nil
}

// Len returns Steps.
func (s OneCycle) Len() int { return s.Steps }

// At returns the learning rates and momentum of step i.
func (s OneCycle) At(i int) Hypers {
	s = s.normalized()
	pos := float64(i) / float64(max(1, s.Steps))
	pos = min(max(pos, 0), 1)
	// fastai's combine_scheds over the phases [0, pct) and [pct, 1].
	var first bool
	var p float64
	if pos < s.PctStart {
		first, p = true, pos/s.PctStart
	} else if s.PctStart < 1 {
		p = (pos - s.PctStart) / (1 - s.PctStart)
	} else {
		first, p = true, 1
	}
	h := Hypers{LRs: make([]float64, len(s.LRMax))}
	for g, lr := range s.LRMax {
		if first {
			h.LRs[g] = Cos(lr/s.Div, lr, p)
		} else {
			h.LRs[g] = Cos(lr, lr/s.DivFinal, p)
		}
	}
	if first {
		h.Mom = Cos(s.Moms[0], s.Moms[1], p)
	} else {
		h.Mom = Cos(s.Moms[1], s.Moms[2], p)
	}
	return h
}

// FineTune returns the two schedules of fastai's fine_tune(epochs,
// base_lr, freeze_epochs, lr_mult, pct_start=0.3, div=5) for groups
// parameter groups: the frozen phase, fit_one_cycle(freezeSteps,
// slice(baseLR), pct_start=0.99), and, after base_lr /= 2 and unfreezing,
// fit_one_cycle(steps, slice(baseLR/lrMult, baseLR), pct_start=0.3, div=5).
// fastai's defaults are baseLR 2e-3 and lrMult 100. The caller freezes
// the network and resets the optimiser before each phase.
func FineTune(baseLR, lrMult float64, freezeSteps, steps, groups int) (frozen, unfrozen OneCycle) {
	frozen = OneCycle{LRMax: Slice(baseLR, groups), Steps: freezeSteps, PctStart: 0.99}
	baseLR /= 2
	unfrozen = OneCycle{LRMax: SliceRange(baseLR/lrMult, baseLR, groups), Steps: steps, PctStart: 0.3, Div: 5}
	return frozen, unfrozen
}

// Constant is a schedule with the same hyper-parameters at every step.
type Constant struct {
	LRs   []float64
	Mom   float64
	Steps int
}

// At returns the constant hyper-parameters.
func (c Constant) At(int) Hypers { return Hypers{LRs: c.LRs, Mom: c.Mom} }

// Len returns Steps.
func (c Constant) Len() int { return c.Steps }

// LRFind is fastai's lr_find sweep: at step i the learning rate of every
// group is Start·(End/Start)^(i/Steps); the momentum is Mom.
type LRFind struct {
	Start, End float64 // fastai: 1e-7 and 10
	Steps      int     // fastai: 100
	Groups     int     // parameter groups
	Mom        float64 // β1 during the sweep; fastai's default 0.9
}

// At returns the learning rates of step i.
func (f LRFind) At(i int) Hypers {
	lr := f.Start * math.Pow(f.End/f.Start, float64(i)/float64(max(1, f.Steps)))
	h := Hypers{LRs: make([]float64, f.Groups), Mom: f.Mom}
	for g := range h.LRs {
		h.LRs[g] = lr
	}
	return h
}

// Len returns Steps.
func (f LRFind) Len() int { return f.Steps }

var (
	_ Schedule = OneCycle{}
	_ Schedule = Constant{}
	_ Schedule = LRFind{}
)
