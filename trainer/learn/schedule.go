package learn

import (
	"fmt"
	"math"
)

// Phase is one fit_one_cycle call: a number of epochs with a one-cycle
// learning-rate and momentum schedule, the body frozen or not.
type Phase struct {
	// Name labels the phase in logs ("frozen", "unfrozen", "one-cycle").
	Name string
	// Frozen trains only the head (and every BatchNorm, fastai's train_bn).
	Frozen bool
	// Epochs is the phase's length.
	Epochs int
	// LRMax is the peak learning rate of each parameter group (stem…layer2,
	// layer3–4, head).
	LRMax [3]float64
	// PctStart is the fraction of the phase spent warming up.
	PctStart float64
	// Div: the schedule starts at LRMax/Div. DivFinal: it ends at
	// LRMax/DivFinal.
	Div, DivFinal float64
	// Moms are the β1 values at the start, the peak and the end.
	Moms [3]float64
}

// Plan is the sequence of phases of a training run.
type Plan []Phase

// Epochs is the total number of epochs of the plan.
func (p Plan) Epochs() int {
	n := 0
	for _, ph := range p {
		n += ph.Epochs
	}
	return n
}

// At returns the phase running global epoch e (from 0) and the epoch's
// index within it.
func (p Plan) At(e int) (phase int, epochInPhase int) {
	for i, ph := range p {
		if e < ph.Epochs {
			return i, e
		}
		e -= ph.Epochs
	}
	return len(p), 0
}

var defaultMoms = [3]float64{0.95, 0.85, 0.95}

// SliceLR returns the per-group learning rates of fastai's slice(lr):
// [lr/10, lr/10, lr].
func SliceLR(lr float64) [3]float64 { return [3]float64{lr / 10, lr / 10, lr} }

// SliceRange returns the per-group learning rates of fastai's
// slice(lo, hi): geometric from lo to hi, [lo, √(lo·hi), hi].
func SliceRange(lo, hi float64) [3]float64 { return [3]float64{lo, math.Sqrt(lo * hi), hi} }

// OneCyclePlan is fastai's fit_one_cycle(epochs, lr, div, div_final,
// pct_start) with the default momentums (0.95, 0.85, 0.95), unfrozen.
func OneCyclePlan(epochs int, lr [3]float64, pctStart, div, divFinal float64) Plan {
	return Plan{{Name: "one-cycle", Epochs: epochs, LRMax: lr, PctStart: pctStart, Div: div, DivFinal: divFinal, Moms: defaultMoms}}
}

// FineTunePlan is fastai's fine_tune(epochs, base_lr, freeze_epochs,
// lr_mult=100, pct_start, div): freeze → fit_one_cycle(freeze_epochs,
// slice(base_lr), pct_start=0.99) → base_lr /= 2 → unfreeze →
// fit_one_cycle(epochs, slice(base_lr/100, base_lr), pct_start, div).
// A zero freezeEpochs skips the frozen phase.
func FineTunePlan(epochs int, baseLR float64, freezeEpochs int, pctStart, div float64) Plan {
	var p Plan
	if freezeEpochs > 0 {
		p = append(p, Phase{Name: "frozen", Frozen: true, Epochs: freezeEpochs, LRMax: SliceLR(baseLR),
			PctStart: 0.99, Div: 25, DivFinal: 1e5, Moms: defaultMoms})
	}
	baseLR /= 2
	p = append(p, Phase{Name: "unfrozen", Epochs: epochs, LRMax: SliceRange(baseLR/100, baseLR),
		PctStart: pctStart, Div: div, DivFinal: 1e5, Moms: defaultMoms})
	return p
}

// Validate checks every phase.
func (p Plan) Validate() error {
	if len(p) == 0 {
		return fmt.Errorf("training plan is empty")
	}
	for i, ph := range p {
		switch {
		case ph.Epochs < 1:
			return fmt.Errorf("phase %d (%s): %d epochs", i, ph.Name, ph.Epochs)
		case !(ph.PctStart > 0 && ph.PctStart < 1):
			return fmt.Errorf("phase %d (%s): pct_start %v outside (0,1)", i, ph.Name, ph.PctStart)
		case !(ph.Div > 0) || !(ph.DivFinal > 0):
			return fmt.Errorf("phase %d (%s): div %v and div_final %v must be positive", i, ph.Name, ph.Div, ph.DivFinal)
		}
		for g, lr := range ph.LRMax {
			if !(lr > 0) || math.IsInf(lr, 0) {
				return fmt.Errorf("phase %d (%s): learning rate of group %d is %v", i, ph.Name, g, lr)
			}
		}
	}
	return nil
}

// cosine anneals from start to end as pos goes from 0 to 1 (fastai's
// SchedCos: start + (1 + cos(π(1−pos)))·(end−start)/2).
func cosine(start, end, pos float64) float64 {
	return start + (1+math.Cos(math.Pi*(1-pos)))*(end-start)/2
}

// At returns the learning rate of each group and β1 at position pos ∈ [0,1)
// of the phase (pos = step / total steps), as fastai's combined cosine
// schedules: warm-up over PctStart from LRMax/Div to LRMax, then down to
// LRMax/DivFinal; β1 from Moms[0] to Moms[1] and back to Moms[2].
func (ph Phase) At(pos float64) (lrs [3]float64, beta1 float64) {
	if pos < ph.PctStart {
		q := pos / ph.PctStart
		for g, lr := range ph.LRMax {
			lrs[g] = cosine(lr/ph.Div, lr, q)
		}
		return lrs, cosine(ph.Moms[0], ph.Moms[1], q)
	}
	q := (pos - ph.PctStart) / (1 - ph.PctStart)
	for g, lr := range ph.LRMax {
		lrs[g] = cosine(lr, lr/ph.DivFinal, q)
	}
	return lrs, cosine(ph.Moms[1], ph.Moms[2], q)
}
