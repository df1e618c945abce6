package learn

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/metrics"
	"github.com/tagnet/tagnet/trainer/nn"
)

// TestMetricNames: metrics.jsonl, the training summary (Eval.Metrics) and
// metrics.Summary.Values use the models.Metric* names and no others, and
// Score, what `tagnet-train eval` scores with, gives the learner's own
// validation numbers.
func TestMetricNames(t *testing.T) {
	ds, aug := tinySet(t)
	dir := t.TempDir()
	l := tinyLearner(t, ds, aug, dir, Hooks{})
	if err := l.Fit(context.Background(), OneCyclePlan(1, []float64{1e-3, 1e-3, 1e-3}, 0.25, 25, 1e5), false); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		t.Fatalf("metrics.jsonl is empty: %v", sc.Err())
	}
	var line map[string]any
	if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	h := l.History()[0]
	for name, want := range map[string]float64{
		models.MetricTrainLoss: h.TrainLoss, models.MetricValidLoss: h.ValidLoss,
		models.MetricAccuracyMulti: h.AccuracyMulti, models.MetricF1Macro: h.F1Macro,
		models.MetricF1Samples: h.F1Samples, models.MetricMAP: h.MAP,
	} {
		if got, ok := line[name].(float64); !ok || got != want {
			t.Errorf("metrics.jsonl %q = %v, want %v (line %s)", name, line[name], want, sc.Text())
		}
	}
	for _, stale := range []string{"map", "MAP", "loss"} {
		if _, ok := line[stale]; ok {
			t.Errorf("metrics.jsonl has a key %q outside the models.Metric* names", stale)
		}
	}

	ev, err := l.Evaluate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(ev.Metrics()))
	if want := slices.Sorted(slices.Values(models.SummaryMetrics())); !slices.Equal(keys, want) {
		t.Errorf("training summary metrics %v, want %v", keys, want)
	}
	if ev.Loss != h.ValidLoss || ev.MAP != h.MAP {
		t.Errorf("Evaluate after the epoch: loss %v mAP %v, the epoch's %v %v", ev.Loss, ev.MAP, h.ValidLoss, h.MAP)
	}
	c := len(ds.Labels)
	sc2 := Score(ev.Logits, ev.Targets, ev.N, c, 0.2)
	if !maps.Equal(sc2.Metrics(), ev.Metrics()) {
		t.Errorf("Score %v, the learner's %v", sc2.Metrics(), ev.Metrics())
	}
	if got := nn.BCEWithLogits(ev.Logits, ev.Targets, nil); got != ev.Loss {
		t.Errorf("loss %v, BCEWithLogits %v", ev.Loss, got)
	}
	v := metrics.Evaluate(ev.Probs, ev.Targets, ev.N, c, ds.Labels, 0.5).Values()
	for name := range v {
		if _, ok := ev.Metrics()[name]; !ok {
			t.Errorf("metrics.Summary.Values has %q, not a training summary metric", name)
		}
	}
}
