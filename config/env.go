package config

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// EnvVar is an environment variable tagnet reads that is not a
// configuration key.
type EnvVar struct {
	// Name is the variable, such as "TAGNET_ORT_LIBRARY".
	Name string
	// Reader names who reads it: a binary, or "tests", "benchmarks",
	// "setup.sh" for development-only variables.
	Reader string
	// Doc says what it does.
	Doc string
}

// Environment lists every environment variable tagnet's code and scripts
// read that is not a configuration key (the keys' own TAGNET_… variables
// are [EnvName] of each key). It is the one list of them: the README's
// "Environment variables" table is checked against it, and a TAGNET_…
// variable that is neither a key nor listed here is an error when a binary
// loads its configuration.
var Environment = []EnvVar{
	{"TAGNET_ORT_LIBRARY", "tagnet-predict, tagnet-train eval/adopt", "ONNX Runtime shared library, consulted after runtime.library and before the project's .native/ folder"},
	{JobCompletionIndexEnv, "tagnet-predict", "shard index for predict.shard \"auto/n\" (set by a Kubernetes Indexed Job)"},
	{"TAGNET_CACHE_DIR", "tagnet-train", "cache folder of downloaded pretrained weights (default: the user cache folder's tagnet/weights)"},
	{"TAGNET_NO_BF16", "tagnet-train", "any non-empty value turns off the bf16 CPU kernels, as on a CPU without AVX512_BF16"},
	{"TAGNET_SHARED", "setup.sh", "shared folder holding fixtures/ when not beside the checkout"},
	{"TAGNET_NPM_CACHE", "setup.sh, docker-steps.sh", "folder of npm tarballs already downloaded"},
	{"TAGNET_BENCH_THREADS", "benchmarks", "ONNX Runtime intra-op threads of every benchmark session"},
	{"TAGNET_BENCH_PEER", "benchmarks", "0 leaves the Node.js peer out"},
	{"TAGNET_BENCH_PROVIDER", "benchmarks", "cuda runs the benchmark sessions on the GPU"},
	{"TAGNET_PLOT_DIR", "tests", "folder where trainer/plot's tests keep their sample plots"},
	{"TAGNET_ORT_TEST_CHILD", "tests", "marks predictor/ort's re-executed child test process"},
}

// envPrefix starts the variable of every key and of most of [Environment].
const envPrefix = "TAGNET_"

// checkEnv returns a [*KeyError] for each TAGNET_… variable in environ
// (os.Environ's form) that is not the variable of a key of s, of a key of
// other (the environment is shared by both binaries, so the other's keys
// are accepted and ignored), or one of [Environment]. Each error suggests
// the closest known variable.
func checkEnv(environ []string, s, other *schema) []error {
	known := map[string]bool{}
	var names []string
	add := func(n string) {
		if !known[n] {
			known[n] = true
			names = append(names, n)
		}
	}
	for _, sc := range []*schema{s, other} {
		for _, f := range sc.fields {
			add(EnvName(f.key))
		}
	}
	for _, e := range Environment {
		add(e.Name)
	}
	var errs []error
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || known[name] {
			continue
		}
		reason := "unknown variable: no configuration key " + envKeyGuess(name)
		if h := suggestEnv(name, names); h != "" {
			reason += h
		}
		errs = append(errs, &KeyError{Source: "env " + name, Key: envKeyGuess(name), Reason: reason})
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errs
}

// envKeyGuess turns a variable name back into the dotted key it would
// stand for, for messages: the first underscore after TAGNET_ becomes a
// dot, so a misspelt train.epochz comes back as "train.epochz" (underscores
// inside key names cannot be told from dots, so this is only a guess).
func envKeyGuess(name string) string {
	rest := strings.ToLower(strings.TrimPrefix(name, envPrefix))
	sec, key, ok := strings.Cut(rest, "_")
	if !ok {
		return sec
	}
	return sec + "." + key
}

// suggestEnv returns ` (did you mean TAGNET_X?)` for the known variable
// closest to name, or "" when none is close.
func suggestEnv(name string, known []string) string {
	best, bestD := "", 4
	for _, k := range known {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// envMaps reads the map-typed keys of s from the environment. Their
// variables hold a JSON object of label → number, such as
// TAGNET_THRESHOLDS_OVERRIDES='{"traffic light": 0.4, "car": 0.3}' (JSON,
// so that any label text, spaces, commas and "=" included, can be written).
// An empty variable is ignored, as for every key.
func envMaps(s *schema) (map[string]map[string]float64, []error) {
	out := map[string]map[string]float64{}
	var errs []error
	for i := range s.fields {
		f := &s.fields[i]
		if f.kind() != kindMap {
			continue
		}
		name := EnvName(f.key)
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		m, err := parseEnvMap(v)
		if err != nil {
			errs = append(errs, &KeyError{Source: "env " + name, Key: f.key, Value: formatValue(v), Reason: err.Error()})
			continue
		}
		out[f.key] = m
	}
	return out, errs
}

// parseEnvMap decodes a JSON object of label → number, refusing duplicate
// labels and non-numbers.
func parseEnvMap(v string) (map[string]float64, error) {
	dec := json.NewDecoder(strings.NewReader(v))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf(`must be a JSON object of label: number, such as {"cat": 0.4, "traffic light": 0.3}`)
	}
	m := map[string]float64{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %v", err)
		}
		label := kt.(string) // object keys are strings
		var x any
		if err := dec.Decode(&x); err != nil {
			return nil, fmt.Errorf("not valid JSON: %v", err)
		}
		n, ok := x.(float64)
		if !ok {
			return nil, fmt.Errorf("label %q: %s is not a number", label, formatValue(x))
		}
		if _, dup := m[label]; dup {
			return nil, fmt.Errorf("label %q appears twice", label)
		}
		m[label] = n
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("not valid JSON: text after the object")
	}
	return m, nil
}
