package learn

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/data"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// fastai's fine_tune(3, base_lr=3e-3, freeze_epochs=4), worked by hand:
// frozen, slice(3e-3) = [3e-4, 3e-4, 3e-3] from lr/25 with pct_start 0.99;
// then base_lr 1.5e-3, slice(1.5e-5, 1.5e-3) = [1.5e-5, 1.5e-4, 1.5e-3]
// from lr/5, peaking at 30% of the steps.
func TestFineTunePlanMatchesFastai(t *testing.T) {
	p := FineTunePlan(3, 3e-3, 4)
	if len(p) != 2 || p.Epochs() != 7 || !p[0].Frozen || p[1].Frozen || p[0].Epochs != 4 || p[1].Epochs != 3 {
		t.Fatalf("plan %+v", p)
	}
	fz, uf := p[0].Cycle, p[1].Cycle
	fz.Steps, uf.Steps = 100, 100
	for _, tc := range []struct {
		name string
		got  []float64
		want []float64
	}{
		{"frozen start", fz.At(0).LRs, []float64{3e-4 / 25, 3e-4 / 25, 3e-3 / 25}},
		{"frozen peak", fz.At(99).LRs, []float64{3e-4, 3e-4, 3e-3}},
		{"unfrozen start", uf.At(0).LRs, []float64{1.5e-5 / 5, 1.5e-4 / 5, 1.5e-3 / 5}},
		{"unfrozen peak", uf.At(30).LRs, []float64{1.5e-5, 1.5e-4, 1.5e-3}},
	} {
		for g := range tc.want {
			if !near(tc.got[g], tc.want[g]) {
				t.Errorf("%s: group %d lr %v, want %v", tc.name, g, tc.got[g], tc.want[g])
			}
		}
	}
	if m := uf.At(30).Mom; !near(m, 0.85) {
		t.Errorf("β1 at the peak %v, want 0.85", m)
	}
	if ph, e := p.At(5); ph != 1 || e != 1 {
		t.Errorf("epoch 5 is phase %d epoch %d, want 1, 1", ph, e)
	}
	bad := OneCyclePlan(1, []float64{1e-3, 1e-3, 1e-3}, 1.5, 25, 1e5)
	if err := bad.Validate(); err == nil {
		t.Error("pct_start 1.5 accepted")
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
	return tinyLearnerPrec(t, ds, aug, dir, hooks, PrecisionFP32, nil)
}

// tinyLearnerPrec is tinyLearner in a given train.precision, logging to
// log (nil: nowhere).
func tinyLearnerPrec(t *testing.T, ds *data.Dataset, aug *data.Augmenter, dir string, hooks Hooks, precision string, log *zap.Logger) *Learner {
	t.Helper()
	g := models.MustBuild(models.Spec{Arch: "resnet-tiny", NumClasses: len(ds.Labels), InputSize: 32, Stem: models.StemSmall, Head: models.HeadFastai})
	l, err := New(g, models.Init(g, models.InitOptions{Seed: 1}), ds, aug, Config{
		BatchSize: 16, Threads: 2, Workers: 2, Seed: 9, WD: 0.01, Threshold: 0.2, Dir: dir, Hooks: hooks,
		Precision: precision, Logger: log,
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
func TestResumeIsExact(t *testing.T) { testResumeIsExact(t, PrecisionFP32) }

// TestResumeIsExactBF16: the same in bf16-mixed (where the CPU has it).
func TestResumeIsExactBF16(t *testing.T) {
	if !blas.BF16Supported() {
		t.Skip("no native bf16 on this CPU")
	}
	testResumeIsExact(t, PrecisionBF16)
}

func testResumeIsExact(t *testing.T, precision string) {
	ds, aug := tinySet(t)
	plan := FineTunePlan(2, 3e-3, 1)
	tinyLearner := func(t *testing.T, ds *data.Dataset, aug *data.Augmenter, dir string, hooks Hooks) *Learner {
		t.Helper()
		return tinyLearnerPrec(t, ds, aug, dir, hooks, precision, nil)
	}

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
	if err := other.Fit(context.Background(), FineTunePlan(3, 3e-3, 1), true); err == nil {
		t.Error("resumed a checkpoint into a different plan")
	}
}

func TestDivergenceStopsWithClearError(t *testing.T) {
	ds, aug := tinySet(t)
	l := tinyLearner(t, ds, aug, "", Hooks{})
	err := l.Fit(context.Background(), OneCyclePlan(2, []float64{1e9, 1e9, 1e9}, 0.25, 1, 1), false)
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

// TestResumeBeforeFirstCheckpoint: a run killed before its first
// checkpoint (nothing in the folder but, perhaps, the metrics line written
// just before last.ckpt) resumes by starting over: a restarted Job that
// always passes --resume must not fail for ever. It ends with the same
// weights, bit for bit, as an uninterrupted run, and the log holds each
// epoch once.
func TestResumeBeforeFirstCheckpoint(t *testing.T) {
	ds, aug := tinySet(t)
	plan := FineTunePlan(1, 3e-3, 1)
	full := tinyLearner(t, ds, aug, filepath.Join(t.TempDir(), "full"), Hooks{})
	if err := full.Fit(context.Background(), plan, false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stale := `{"epoch":0,"phase":"frozen","train_loss":0.7}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, metricsFile), []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	again := tinyLearner(t, ds, aug, dir, Hooks{})
	if err := again.Fit(context.Background(), plan, true); err != nil {
		t.Fatalf("resuming with no checkpoint yet: %v", err)
	}
	got, want := again.Weights(), full.Weights()
	for name, w := range want {
		if !slices.Equal(got[name].Data, w.Data) {
			t.Fatalf("%s differs from an uninterrupted run", name)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, metricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != plan.Epochs() {
		t.Errorf("metrics.jsonl has %d lines, want %d (one per epoch):\n%s", n, plan.Epochs(), b)
	}
}
