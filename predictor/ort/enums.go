package ort

import (
	"strings"
)

// The value sets of SessionOptions, owned here and typed; tagnet-predict's
// configuration (runtime.providers, runtime.on_unavailable,
// runtime.graph_optimization, runtime.cudnn_conv_algo_search) validates
// through them, so the two cannot list different values.

// Provider names an ONNX Runtime execution provider.
type Provider string

// Execution providers for SessionOptions.Providers and Session.Provider.
const (
	ProviderCPU  Provider = "cpu"
	ProviderCUDA Provider = "cuda"
)

// Providers returns every Provider, the default first.
func Providers() []Provider { return []Provider{ProviderCPU, ProviderCUDA} }

// Policy says what NewSession does when a requested accelerator cannot be
// used (SessionOptions.OnUnavailable).
type Policy string

// Policies for SessionOptions.OnUnavailable.
const (
	// OnUnavailableFail makes NewSession fail when a requested accelerator
	// cannot be used.
	OnUnavailableFail Policy = "fail"
	// OnUnavailableFallback makes NewSession continue on the CPU, logging a
	// warning that names the reason.
	OnUnavailableFallback Policy = "fallback"
)

// Policies returns every Policy, the default first.
func Policies() []Policy { return []Policy{OnUnavailableFail, OnUnavailableFallback} }

// Optimization is a graph optimisation level
// (SessionOptions.GraphOptimization).
type Optimization string

// Graph optimisation levels for SessionOptions.GraphOptimization.
const (
	OptimizeDisable  Optimization = "disable"
	OptimizeBasic    Optimization = "basic"
	OptimizeExtended Optimization = "extended"
	OptimizeAll      Optimization = "all"
)

// Optimizations returns every Optimization, from none to all.
func Optimizations() []Optimization {
	return []Optimization{OptimizeDisable, OptimizeBasic, OptimizeExtended, OptimizeAll}
}

// ConvAlgoSearch is cuDNN's convolution algorithm search, spelt as ONNX
// Runtime's CUDA provider option cudnn_conv_algo_search spells it
// (CUDAOptions.CudnnConvAlgoSearch).
type ConvAlgoSearch string

// cuDNN convolution algorithm searches.
const (
	// ConvAlgoHeuristic picks an algorithm from cuDNN's heuristics (the
	// default).
	ConvAlgoHeuristic ConvAlgoSearch = "HEURISTIC"
	// ConvAlgoExhaustive benchmarks every algorithm at each new shape: the
	// first run at each new batch size is slow.
	ConvAlgoExhaustive ConvAlgoSearch = "EXHAUSTIVE"
	// ConvAlgoDefault uses cuDNN's default algorithm.
	ConvAlgoDefault ConvAlgoSearch = "DEFAULT"
)

// ConvAlgoSearches returns every ConvAlgoSearch, the default first.
func ConvAlgoSearches() []ConvAlgoSearch {
	return []ConvAlgoSearch{ConvAlgoHeuristic, ConvAlgoExhaustive, ConvAlgoDefault}
}

// Names returns the values of a value set as strings, for messages and
// for validating text against it.
func Names[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// normalize returns v trimmed and in the case of its value set (lower for
// every set but ConvAlgoSearch, which ONNX Runtime spells in upper case):
// SessionOptions accepts any case.
func normalize[T ~string](v T, upper bool) T {
	s := strings.TrimSpace(string(v))
	if upper {
		return T(strings.ToUpper(s))
	}
	return T(strings.ToLower(s))
}

// in reports whether v is one of set.
func in[T ~string](v T, set []T) bool {
	for _, x := range set {
		if v == x {
			return true
		}
	}
	return false
}
