package config

import (
	"errors"
	"strconv"
	"testing"

	"github.com/spf13/pflag"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor/postprocess"
)

// TestStrategyIsThePredictors: thresholds.strategy accepts and refuses
// exactly the strings postprocess.ParseStrategy does, from a file, the
// environment and a flag, parsing them to the same value, and a refusal
// names the key and gives the parser's own reason.
func TestStrategyIsThePredictors(t *testing.T) {
	isolateEnv(t)
	for _, in := range []string{
		"f1", "accuracy", "precision>=0.9", "precision >= 0.9", " recall >= 0.75 ", "fixed:0.5", "fixed: .25",
		"", "f2", "F1", "best", "precision>0.9", "precision>=", "precision>=high", "precision>=90",
		"recall>=1", "fixed:0", "fixed:1", "fixed:NaN", "fixed:-0.5", "fixed:1e-3",
	} {
		want, perr := postprocess.ParseStrategy(in)
		var se *postprocess.StrategyError
		if perr != nil && !errors.As(perr, &se) {
			t.Fatalf("postprocess.ParseStrategy(%q): %v is not a StrategyError", in, perr)
		}
		sources := map[string]func() (*Predict, error){
			"file": func() (*Predict, error) {
				return LoadPredict(writeFile(t, "s.yaml", "thresholds:\n  strategy: "+strconv.Quote(in)+"\n"), nil)
			},
			"flag": func() (*Predict, error) {
				return LoadPredict("", predictFlags(t, "--thresholds.strategy="+in))
			},
		}
		if in != "" { // an empty variable counts as unset
			sources["env"] = func() (*Predict, error) {
				t.Setenv(EnvName("thresholds.strategy"), in)
				defer t.Setenv(EnvName("thresholds.strategy"), "")
				return LoadPredict("", nil)
			}
		}
		for src, load := range sources {
			cfg, err := load()
			if perr != nil {
				var ke *KeyError
				if !errors.As(err, &ke) || ke.Key != "thresholds.strategy" || ke.Reason != se.Reason {
					t.Errorf("%s %q: %v; want a KeyError for thresholds.strategy with postprocess's reason %q", src, in, err, se.Reason)
				}
				continue
			}
			if err != nil || cfg.Thresholds.Strategy != want {
				t.Errorf("%s %q: %+v, %v; postprocess parses %+v", src, in, cfg, err, want)
			}
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Shard
		text    string
		wantErr bool
	}{
		{in: "", want: Shard{}, text: ""},
		{in: "0/1", want: Shard{Index: 0, Count: 1}, text: "0/1"},
		{in: "2/5", want: Shard{Index: 2, Count: 5}, text: "2/5"},
		{in: " 4/5 ", want: Shard{Index: 4, Count: 5}, text: "4/5"},
		{in: "auto/8", want: Shard{Count: 8, Auto: true}, text: "auto/8"},
		{in: "5/5", wantErr: true},
		{in: "-1/5", wantErr: true},
		{in: "1/0", wantErr: true},
		{in: "auto/0", wantErr: true},
		{in: "auto", wantErr: true},
		{in: "1", wantErr: true},
		{in: "a/b", wantErr: true},
		{in: "1/2/3", wantErr: true},
	} {
		got, err := ParseShard(tc.in)
		if tc.wantErr {
			wantErrors(t, err, `shard "`+tc.in+`": must be "", "i/n" with 0 <= i < n, or "auto/n"`)
			continue
		}
		if err != nil {
			t.Errorf("ParseShard(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want || got.String() != tc.text {
			t.Errorf("ParseShard(%q) = %+v (%q), want %+v (%q)", tc.in, got, got.String(), tc.want, tc.text)
		}
		if got.Enabled() != (tc.text != "") {
			t.Errorf("ParseShard(%q).Enabled() = %v", tc.in, got.Enabled())
		}
	}
}

func TestShardFromEnv(t *testing.T) {
	t.Setenv(JobCompletionIndexEnv, "2")
	if s, err := ShardFromEnv(3); err != nil || s != (Shard{Index: 2, Count: 3}) {
		t.Errorf("ShardFromEnv(3) = %+v, %v", s, err)
	}
	// A resolved shard is no longer Auto; a plain one resolves to itself.
	if s, err := (Shard{Count: 3, Auto: true}).Resolve(); err != nil || s != (Shard{Index: 2, Count: 3}) {
		t.Errorf("Resolve() = %+v, %v", s, err)
	}
	if s, err := (Shard{Index: 1, Count: 2}).Resolve(); err != nil || s != (Shard{Index: 1, Count: 2}) {
		t.Errorf("Resolve() of a plain shard = %+v, %v", s, err)
	}
	_, err := ShardFromEnv(2)
	wantErrors(t, err, "JOB_COMPLETION_INDEX=2 is outside [0, 2)")
	t.Setenv(JobCompletionIndexEnv, "x")
	_, err = ShardFromEnv(2)
	wantErrors(t, err, `JOB_COMPLETION_INDEX="x" is not an integer`)
	t.Setenv(JobCompletionIndexEnv, "")
	_, err = ShardFromEnv(2)
	wantErrors(t, err, "JOB_COMPLETION_INDEX is not set")
}

// TestModelKeysAreTheSpecs: model.arch, model.size, model.stem,
// model.head and model.width accept and refuse exactly what models.Spec
// does (its ranges are the trainer's and the predictor's), with its
// reasons.
func TestModelKeysAreTheSpecs(t *testing.T) {
	isolateEnv(t)
	for _, tc := range []struct{ key, value string }{
		{"model.width", "8"}, {"model.width", "8.5"}, {"model.width", "4.5"}, {"model.width", "0"}, {"model.width", "-1"},
		{"model.size", "16"}, {"model.size", "15"}, {"model.size", "4096"}, {"model.size", "4097"}, {"model.size", "2048"},
		{"model.arch", "resnet-tiny"}, {"model.arch", "resnet101"},
		{"model.stem", "small"}, {"model.stem", "tiny"},
		{"model.head", "linear"}, {"model.head", "mlp"},
	} {
		fs := pflag.NewFlagSet("tagnet-train", pflag.ContinueOnError)
		AddTrainFlags(fs)
		if err := fs.Parse([]string{"--" + FlagName(tc.key) + "=" + tc.value}); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadTrain("", fs)
		d := DefaultTrain()
		spec := models.Spec{Arch: d.Model.Arch, NumClasses: 1, InputSize: d.Model.Size,
			Stem: models.Stem(d.Model.Stem), Head: models.Head(d.Model.Head), Width: d.Model.Width}
		switch tc.key {
		case "model.width":
			spec.Width, _ = strconv.ParseFloat(tc.value, 64)
		case "model.size":
			spec.InputSize, _ = strconv.Atoi(tc.value)
		case "model.arch":
			spec.Arch = tc.value
		case "model.stem":
			spec.Stem = models.Stem(tc.value)
		case "model.head":
			spec.Head = models.Head(tc.value)
		}
		problems := spec.Problems()
		if len(problems) == 0 {
			if err != nil || cfg == nil {
				t.Errorf("%s=%s: %v; models.Spec accepts it", tc.key, tc.value, err)
			}
			continue
		}
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key || ke.Reason != problems[0].Reason {
			t.Errorf("%s=%s: %v; want a KeyError for %s with models' reason %q", tc.key, tc.value, err, tc.key, problems[0].Reason)
		}
	}
}
