package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/internal/clilog"
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor/ort"
)

// TestRuntimeValuesAreOrts: the runtime.* enum keys accept every value of
// ort's typed value sets, from the environment, and refuse anything else
// with a KeyError naming the key and listing ort's values.
func TestRuntimeValuesAreOrts(t *testing.T) {
	isolateEnv(t)
	for key, values := range map[string][]string{
		"runtime.providers":              ort.Names(ort.Providers()),
		"runtime.on_unavailable":         ort.Names(ort.Policies()),
		"runtime.graph_optimization":     ort.Names(ort.Optimizations()),
		"runtime.cudnn_conv_algo_search": ort.Names(ort.ConvAlgoSearches()),
	} {
		checkValueSet(t, key, values, func() error { _, err := LoadPredict("", nil); return err })
	}
	t.Setenv(EnvName("runtime.providers"), "cuda,cpu")
	cfg, err := LoadPredict("", nil)
	if err != nil || len(cfg.Runtime.Providers) != 2 || cfg.Runtime.Providers[0] != ort.ProviderCUDA {
		t.Errorf("providers from the environment: %+v, %v", cfg, err)
	}
}

// TestTrainValuesAreTheOwners: the training recipe's enum keys and the log
// section accept every value of their owners' sets (models for what the
// training summary records, clilog for logging), from the environment,
// and refuse anything else naming the key and listing the owner's values.
func TestTrainValuesAreTheOwners(t *testing.T) {
	isolateEnv(t)
	for key, values := range map[string][]string{
		"train.schedule":   ort.Names(models.Schedules()),
		"train.precision":  ort.Names(models.Precisions()),
		"train.aug":        ort.Names(models.Augments()),
		"data.on_bad_item": ort.Names(models.BadItemPolicies()),
		"data.resize":      ort.Names(models.Resizes()),
		"log.format":       clilog.Formats(),
		"log.level":        clilog.Levels(),
	} {
		checkValueSet(t, key, values, func() error { _, err := LoadTrain("", nil); return err })
	}
	d := DefaultTrain()
	if d.Train.Schedule != models.Schedules()[0] || d.Train.Precision != models.Precisions()[0] ||
		d.Data.OnBadItem != models.BadItemPolicies()[0] || d.Data.Resize != models.Resizes()[0] {
		t.Errorf("defaults are not the owners' defaults (each set lists its default first): %+v %+v", d.Train, d.Data)
	}
}

// checkValueSet sets key from the environment to each of values, which
// load must accept, then to a value outside them, which load must refuse
// with a KeyError for key (runtime.providers[0] for a list) listing values.
func checkValueSet(t *testing.T, key string, values []string, load func() error) {
	t.Helper()
	for _, v := range values {
		t.Setenv(EnvName(key), v)
		if err := load(); err != nil {
			t.Errorf("%s=%s (the owner's value): %v", key, v, err)
		}
	}
	t.Setenv(EnvName(key), "bogus")
	err := load()
	var ke *KeyError
	want := "must be one of " + strings.Join(values, ", ")
	if !errors.As(err, &ke) || !strings.HasPrefix(ke.Key, key) || ke.Reason != want {
		t.Errorf("%s=bogus: %v; want a KeyError for %s: %s", key, err, key, want)
	}
	t.Setenv(EnvName(key), "")
}
