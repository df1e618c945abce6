package learn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/data"
)

// learnerWith builds the tiny learner with cfg's data-handling fields.
func learnerWith(t *testing.T, ds *data.Dataset, aug *data.Augmenter, cfg Config) *Learner {
	t.Helper()
	g := models.MustBuild(models.Spec{Arch: "resnet-tiny", NumClasses: len(ds.Labels), InputSize: 32, Stem: models.StemSmall, Head: models.HeadFastai})
	cfg.BatchSize, cfg.Threads, cfg.Workers, cfg.Seed, cfg.WD, cfg.Precision = 16, 2, 2, 9, 0.01, PrecisionFP32
	l, err := New(g, models.Init(g, models.InitOptions{Seed: 1}), ds, aug, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// TestEarlyStoppingExportsBest: validation targets are the complement of
// the training targets, so the validation loss rises as training fits;
// early stopping ends the run, best.ckpt holds the first epoch, and
// LoadBest restores exactly its weights. A best.ckpt of another run is
// refused, as is LoadBest before Fit.
func TestEarlyStoppingExportsBest(t *testing.T) {
	ds, aug := tinySet(t)
	ds.Valid = nil
	for _, it := range ds.Train[:32] {
		v := it
		v.Target = make([]float32, len(it.Target))
		for j, x := range it.Target {
			v.Target[j] = 1 - x
		}
		ds.Valid = append(ds.Valid, v)
	}
	dir := t.TempDir()
	var first models.Weights
	var l *Learner
	l = learnerWith(t, ds, aug, Config{Dir: dir, Patience: 1, Hooks: Hooks{OnEpoch: func(st EpochStats) {
		if st.Epoch == 0 {
			first = l.Weights()
		}
	}}})
	if err := l.LoadBest(); err == nil {
		t.Error("LoadBest before Fit succeeded")
	}
	if err := l.Fit(context.Background(), OneCyclePlan(6, []float64{1e-2, 1e-2, 1e-2}, 0.25, 25, 1e5), false); err != nil {
		t.Fatal(err)
	}
	early, best := l.EarlyStopped()
	h := l.History()
	if !early || best != 0 || len(h) != 2 {
		t.Fatalf("early %v, best epoch %d, %d epochs run (valid losses %v, %v); want early stopping after epoch 1 with best 0",
			early, best, len(h), h[0].ValidLoss, h[len(h)-1].ValidLoss)
	}
	if same(l.Weights(), first) {
		t.Fatal("the last epoch's weights equal the first's; the test proves nothing")
	}
	if err := l.LoadBest(); err != nil {
		t.Fatal(err)
	}
	if !same(l.Weights(), first) {
		t.Error("LoadBest did not restore the best epoch's weights")
	}

	// Another run (another plan) must refuse this run's best.ckpt.
	otherDir := t.TempDir()
	o := learnerWith(t, ds, aug, Config{Dir: otherDir, Patience: 1})
	if err := o.Fit(context.Background(), OneCyclePlan(1, []float64{1e-3, 1e-3, 1e-3}, 0.25, 25, 1e5), false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "best.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(otherDir, "best.ckpt"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := o.LoadBest(); err == nil || !strings.Contains(err.Error(), "different run") {
		t.Errorf("LoadBest of another run's best.ckpt: %v", err)
	}
}

func same(a, b models.Weights) bool {
	if len(a) != len(b) {
		return false
	}
	for n, w := range a {
		if !slices.Equal(w.Data, b[n].Data) {
			return false
		}
	}
	return true
}

// TestBadItemMidTraining: an image damaged after loading is named in the
// epoch's stats (and metrics.jsonl) under skip, and stops Fit under fail.
func TestBadItemMidTraining(t *testing.T) {
	ds, aug := tinySet(t)
	victim := ds.Train[3].Path
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	plan := OneCyclePlan(1, []float64{1e-3, 1e-3, 1e-3}, 0.25, 25, 1e5)

	dir := t.TempDir()
	l := learnerWith(t, ds, aug, Config{Dir: dir, BadItems: []string{"labels.csv:9: x.png: cut"}})
	if err := l.Fit(context.Background(), plan, false); err != nil {
		t.Fatal(err)
	}
	st := l.History()[0]
	if st.Skipped != 1 || len(st.SkippedItems) != 1 || !strings.Contains(st.SkippedItems[0], victim) || st.BadItems != 1 {
		t.Errorf("stats: skipped %d %q, bad items %d", st.Skipped, st.SkippedItems, st.BadItems)
	}
	m, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"skipped_items":1`, victim, `"bad_items":1`, `x.png: cut`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics.jsonl lacks %s:\n%s", want, m)
		}
	}

	f := learnerWith(t, ds, aug, Config{FailOnBadItem: true})
	err = f.Fit(context.Background(), plan, false)
	if !errors.Is(err, data.ErrBadData) || !strings.Contains(err.Error(), victim) {
		t.Errorf("fail policy: got %v, want ErrBadData naming %s", err, victim)
	}
}
