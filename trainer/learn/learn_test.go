package learn

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
	"github.com/tagnet/tagnet/trainer/data"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// fastai's fine_tune(3, base_lr=3e-3, freeze_epochs=4), worked by hand.
func TestFineTunePlanMatchesFastai(t *testing.T) {
	p := FineTunePlan(3, 3e-3, 4, 0.3, 5)
	if len(p) != 2 || p.Epochs() != 7 {
		t.Fatalf("plan %+v", p)
	}
	fz, uf := p[0], p[1]
	if !fz.Frozen || fz.Epochs != 4 || fz.PctStart != 0.99 || fz.Div != 25 || fz.DivFinal != 1e5 {
		t.Errorf("frozen phase %+v", fz)
	}
	if !near(fz.LRMax[0], 3e-4) || !near(fz.LRMax[1], 3e-4) || !near(fz.LRMax[2], 3e-3) {
		t.Errorf("slice(3e-3) = %v, want [3e-4 3e-4 3e-3]", fz.LRMax)
	}
	// base_lr halves to 1.5e-3; slice(1.5e-5, 1.5e-3) is geometric.
	if uf.Frozen || uf.Epochs != 3 || uf.PctStart != 0.3 || uf.Div != 5 ||
		!near(uf.LRMax[0], 1.5e-5) || !near(uf.LRMax[1], 1.5e-4) || !near(uf.LRMax[2], 1.5e-3) {
		t.Errorf("unfrozen phase %+v", uf)
	}
	if ph, e := p.At(5); ph != 1 || e != 1 {
		t.Errorf("epoch 5 is phase %d epoch %d, want 1, 1", ph, e)
	}
}

func TestOneCycleValues(t *testing.T) {
	ph := OneCyclePlan(1, [3]float64{1e-3, 1e-3, 1e-2}, 0.25, 25, 1e5)[0]
	for _, tc := range []struct {
		pos        float64
		lrHead, b1 float64
	}{
		{0, 1e-2 / 25, 0.95},                 // start: lr_max/div, β1 0.95
		{0.125, (1e-2/25 + 1e-2) / 2, 0.90},  // halfway up: cos midpoint
		{0.25, 1e-2, 0.85},                   // peak
		{0.625, (1e-2 + 1e-2/1e5) / 2, 0.90}, // halfway down
		{1, 1e-2 / 1e5, 0.95},                // the end
	} {
		lrs, b1 := ph.At(tc.pos)
		if !near(lrs[2], tc.lrHead) || !near(b1, tc.b1) || !near(lrs[0], lrs[2]/10) {
			t.Errorf("pos %v: lrs %v β1 %v, want head %v β1 %v", tc.pos, lrs, b1, tc.lrHead, tc.b1)
		}
	}
	if err := (Plan{{Epochs: 1, LRMax: [3]float64{1, 1, 1}, PctStart: 1, Div: 1, DivFinal: 1}}).Validate(); err == nil {
		t.Error("pct_start 1 accepted")
	}
}

func TestValley(t *testing.T) {
	// The longest decreasing run is indices 0..7 (lds[7] = 8), so, as in
	// fastai, max_start = 7 − 8 = −1, sections = 8/3, idx = −1 + 2 + 1 = 2.
	losses := []float64{5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 3, 9}
	if got := valley(losses); got != 2 {
		t.Errorf("valley = %d, want 2", got)
	}
}

// tinySet writes a small synthetic data set and loads it.
func tinySet(t *testing.T) (*data.Dataset, *data.Augmenter) {
	t.Helper()
	dir := t.TempDir()
	opt, err := data.Synth(dir, data.SynthOptions{Train: 96, Valid: 32, Size: 32, Classes: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.LoadCSV(opt)
	if err != nil {
		t.Fatal(err)
	}
	pre, err := preprocess.New(preprocess.Default(32), preprocess.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	aug, err := data.NewAugmenter(pre, data.AugmentOptions{Mode: data.AugmentCropFlip})
	if err != nil {
		t.Fatal(err)
	}
	return ds, aug
}

func tinyLearner(t *testing.T, ds *data.Dataset, aug *data.Augmenter, dir string, hooks Hooks) *Learner {
	t.Helper()
	g := models.MustBuild(models.Spec{Arch: "resnet-tiny", NumClasses: len(ds.Labels), InputSize: 32, Stem: models.StemSmall, Head: models.HeadFastai})
	l, err := New(g, models.Init(g, models.InitOptions{Seed: 1}), ds, aug, Config{
		BatchSize: 16, Threads: 2, Workers: 2, Seed: 9, WD: 0.01, Threshold: 0.2, Dir: dir, Hooks: hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// Interrupting after an epoch and resuming from the checkpoint gives the
// same weights, bit for bit, as an uninterrupted run: data order,
// augmentation, dropout, optimiser state and schedule position all resume.
func TestResumeIsExact(t *testing.T) {
	ds, aug := tinySet(t)
	plan := FineTunePlan(2, 3e-3, 1, 0.3, 5)

	full := tinyLearner(t, ds, aug, filepath.Join(t.TempDir(), "full"), Hooks{})
	if err := full.Fit(context.Background(), plan, false); err != nil {
		t.Fatal(err)
	}
	want := full.Weights()

	dir := filepath.Join(t.TempDir(), "cut")
	ctx, cancel := context.WithCancel(context.Background())
	cut := tinyLearner(t, ds, aug, dir, Hooks{OnEpoch: func(st EpochStats) {
		if st.Epoch == 1 { // mid-plan, after the first unfrozen epoch
			cancel()
		}
	}})
	if err := cut.Fit(ctx, plan, false); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted fit returned %v", err)
	}
	again := tinyLearner(t, ds, aug, dir, Hooks{})
	if err := again.Fit(context.Background(), plan, true); err != nil {
		t.Fatal(err)
	}
	got := again.Weights()
	for name, w := range want {
		if !slices.Equal(got[name].Data, w.Data) {
			t.Fatalf("%s differs after resume", name)
		}
	}
	if h := again.History(); len(h) != 3 || h[0].Phase != "frozen" || h[2].Phase != "unfrozen" {
		t.Errorf("history after resume: %+v", h)
	}
	// A different plan must not resume from this checkpoint.
	other := tinyLearner(t, ds, aug, dir, Hooks{})
	if err := other.Fit(context.Background(), FineTunePlan(3, 3e-3, 1, 0.3, 5), true); err == nil {
		t.Error("resumed a checkpoint into a different plan")
	}
}

func TestDivergenceStopsWithClearError(t *testing.T) {
	ds, aug := tinySet(t)
	l := tinyLearner(t, ds, aug, "", Hooks{})
	err := l.Fit(context.Background(), OneCyclePlan(2, [3]float64{1e9, 1e9, 1e9}, 0.25, 1, 1), false)
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("got %v, want ErrDiverged", err)
	}
}

func TestLRFindRestoresWeights(t *testing.T) {
	ds, aug := tinySet(t)
	l := tinyLearner(t, ds, aug, "", Hooks{})
	before := l.Weights()
	res, err := l.LRFind(context.Background(), LRFindOptions{NumIt: 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.LRs) < 10 || res.LRs[0] != 1e-7 {
		t.Errorf("%d points starting at %v", len(res.LRs), res.LRs)
	}
	for _, k := range []string{"valley", "minimum", "steepest"} {
		if v := res.Suggestions[k]; !(v > 0) {
			t.Errorf("suggestion %s = %v", k, v)
		}
	}
	after := l.Weights()
	for name, w := range before {
		if !slices.Equal(after[name].Data, w.Data) {
			t.Fatalf("lr_find left %s changed", name)
		}
	}
}
