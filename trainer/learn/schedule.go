package learn

import (
	"fmt"

	"github.com/tagnet/tagnet/trainer/optim"
)

// Phase is one fit_one_cycle call: a number of epochs under a one-cycle
// schedule, with the body frozen or not.
type Phase struct {
	// Name labels the phase in logs and the epoch table ("frozen",
	// "unfrozen", "one-cycle").
	Name string
	// Frozen trains only the head (and every BatchNorm, fastai's train_bn).
	Frozen bool
	// Epochs is the phase's length.
	Epochs int
	// Cycle is the learning-rate and momentum schedule; its Steps are set
	// from Epochs and the number of batches per epoch when the phase runs.
	Cycle optim.OneCycle
}

// Plan is the sequence of phases of a training run. The optimiser state is
// cleared at the start of every phase, as fastai does at freeze/unfreeze.
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

// OneCyclePlan is fastai's fit_one_cycle(epochs, lr_max, div, div_final,
// pct_start) with the default momentums, unfrozen; lrMax has one rate per
// parameter group (see optim.Slice).
func OneCyclePlan(epochs int, lrMax []float64, pctStart, div, divFinal float64) Plan {
	c := optim.NewOneCycle(lrMax, 0)
	c.PctStart, c.Div, c.DivFinal = pctStart, div, divFinal
	return Plan{{Name: "one-cycle", Epochs: epochs, Cycle: c}}
}

// FineTunePlan is fastai's fine_tune(epochs, base_lr, freeze_epochs,
// lr_mult=100, pct_start=0.3, div=5): freeze → fit_one_cycle(freeze_epochs,
// slice(base_lr), pct_start=0.99) → base_lr /= 2 → unfreeze →
// fit_one_cycle(epochs, slice(base_lr/100, base_lr), pct_start=0.3, div=5).
// A zero freezeEpochs skips the frozen phase.
func FineTunePlan(epochs int, baseLR float64, freezeEpochs int) Plan {
	frozen, unfrozen := optim.FineTune(baseLR, 100, 0, 0, 3)
	var p Plan
	if freezeEpochs > 0 {
		p = append(p, Phase{Name: "frozen", Frozen: true, Epochs: freezeEpochs, Cycle: frozen})
	}
	return append(p, Phase{Name: "unfrozen", Epochs: epochs, Cycle: unfrozen})
}

// Validate checks every phase.
func (p Plan) Validate() error {
	if len(p) == 0 {
		return fmt.Errorf("training plan is empty")
	}
	for i, ph := range p {
		if ph.Epochs < 1 {
			return fmt.Errorf("phase %d (%s): %d epochs", i, ph.Name, ph.Epochs)
		}
		c := ph.Cycle
		c.Steps = ph.Epochs
		if err := c.Validate(); err != nil {
			return fmt.Errorf("phase %d (%s): %w", i, ph.Name, err)
		}
	}
	return nil
}
