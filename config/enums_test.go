package config

import (
	"errors"
	"strings"
	"testing"

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
		for _, v := range values {
			t.Setenv(EnvName(key), v)
			if _, err := LoadPredict("", nil); err != nil {
				t.Errorf("%s=%s (an ort value): %v", key, v, err)
			}
		}
		t.Setenv(EnvName(key), "tpu")
		_, err := LoadPredict("", nil)
		var ke *KeyError
		want := "must be one of " + strings.Join(values, ", ")
		if !errors.As(err, &ke) || !strings.HasPrefix(ke.Key, key) || ke.Reason != want {
			t.Errorf("%s=tpu: %v; want a KeyError for %s: %s", key, err, key, want)
		}
		t.Setenv(EnvName(key), "")
	}
	t.Setenv(EnvName("runtime.providers"), "cuda,cpu")
	cfg, err := LoadPredict("", nil)
	if err != nil || len(cfg.Runtime.Providers) != 2 || cfg.Runtime.Providers[0] != ort.ProviderCUDA {
		t.Errorf("providers from the environment: %+v, %v", cfg, err)
	}
}
