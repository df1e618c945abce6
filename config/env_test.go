package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEnvMap sets thresholds.overrides from TAGNET_THRESHOLDS_OVERRIDES,
// labels with spaces, commas and "=" included, over the file's value.
func TestEnvMap(t *testing.T) {
	isolateEnv(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(file, []byte("thresholds:\n  overrides:\n    cat: 0.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TAGNET_THRESHOLDS_OVERRIDES", `{"traffic light": 0.4, "a,b=c": 0.25, "Cat": 0.3}`)
	cfg, err := LoadPredict(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"traffic light": 0.4, "a,b=c": 0.25, "Cat": 0.3}
	if len(cfg.Thresholds.Overrides) != len(want) {
		t.Fatalf("overrides %v, want %v", cfg.Thresholds.Overrides, want)
	}
	for k, v := range want {
		if cfg.Thresholds.Overrides[k] != v {
			t.Errorf("overrides[%q] = %v, want %v", k, cfg.Thresholds.Overrides[k], v)
		}
	}

	for val, msg := range map[string]string{
		`cat=0.4`:                  `config env TAGNET_THRESHOLDS_OVERRIDES: thresholds.overrides: "cat=0.4" is invalid: must be a JSON object of label: number`,
		`{"cat": "high"}`:          `label "cat": "high" is not a number`,
		`{"cat": 0.4, "cat": 0.5}`: `label "cat" appears twice`,
		`{"cat": 0.4`:              `not valid JSON`,
		`{"cat": 1.5}`:             `config env TAGNET_THRESHOLDS_OVERRIDES: thresholds.overrides["cat"]: 1.5 is invalid: must be in (0, 1)`,
	} {
		t.Setenv("TAGNET_THRESHOLDS_OVERRIDES", val)
		_, err := LoadPredict("", nil)
		wantErrors(t, err, msg)
	}
}

// TestUnknownEnv: a misspelt TAGNET_ variable is an error naming it with
// the closest name; the other binary's keys and the listed non-key
// variables are accepted.
func TestUnknownEnv(t *testing.T) {
	isolateEnv(t)
	t.Setenv("TAGNET_TRAIN_EPOCS", "3")
	_, err := LoadTrain("", nil)
	wantErrors(t, err, `config env TAGNET_TRAIN_EPOCS: train.epocs: unknown variable`, `(did you mean TAGNET_TRAIN_EPOCHS?)`)
	_, err = LoadPredict("", nil)
	wantErrors(t, err, `env TAGNET_TRAIN_EPOCS`)

	t.Setenv("TAGNET_TRAIN_EPOCS", "")
	os.Unsetenv("TAGNET_TRAIN_EPOCS")
	t.Setenv("TAGNET_SERVR_LISTEN", ":1")
	_, err = LoadPredict("", nil)
	wantErrors(t, err, `env TAGNET_SERVR_LISTEN`, `did you mean TAGNET_SERVER_LISTEN?`)
	os.Unsetenv("TAGNET_SERVR_LISTEN")

	t.Setenv("TAGNET_SERVER_LISTEN", ":8081")
	t.Setenv("TAGNET_TRAIN_EPOCHS", "3")
	t.Setenv("TAGNET_ORT_LIBRARY", "/nowhere/libonnxruntime.so")
	if _, err := LoadTrain("", nil); err != nil {
		t.Errorf("train with a predict key and a listed variable set: %v", err)
	}
	if _, err := LoadPredict("", nil); err != nil {
		t.Errorf("predict with a train key and a listed variable set: %v", err)
	}
}

// TestEnvironmentListed: every TAGNET_… name in the repository's code and
// scripts is a key's variable or in Environment, and the README documents
// each of Environment.
func TestEnvironmentListed(t *testing.T) {
	known := map[string]bool{}
	for _, k := range append(TrainKeys(), PredictKeys()...) {
		known[EnvName(k)] = true
	}
	for _, e := range Environment {
		known[e.Name] = true
	}
	root := filepath.Join("..")
	re := regexp.MustCompile(`TAGNET_[A-Z0-9][A-Z0-9_]*[A-Z0-9]`)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".native", "node_modules", "out", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if ext != ".go" && ext != ".sh" && ext != ".yaml" && d.Name() != "Dockerfile" {
			return nil
		}
		if filepath.Dir(path) == filepath.Join(root, "config") && strings.HasSuffix(path, "_test.go") {
			return nil // this package's tests set misspelt names on purpose
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range re.FindAllString(string(b), -1) {
			if !known[n] {
				t.Errorf("%s reads %s, which is neither a configuration key nor in config.Environment", path, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range Environment {
		if !strings.Contains(string(readme), "`"+e.Name+"`") {
			t.Errorf("README.md does not document %s", e.Name)
		}
	}
}
