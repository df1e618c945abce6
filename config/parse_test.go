package config

import (
	"testing"
)

func TestParseThresholdStrategy(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    ThresholdStrategy
		text    string
		wantErr string
	}{
		{in: "f1", want: ThresholdStrategy{Kind: StrategyF1}, text: "f1"},
		{in: "accuracy", want: ThresholdStrategy{Kind: StrategyAccuracy}, text: "accuracy"},
		{in: "precision>=0.9", want: ThresholdStrategy{Kind: StrategyPrecision, Value: 0.9}, text: "precision>=0.9"},
		{in: " recall >= 0.75 ", want: ThresholdStrategy{Kind: StrategyRecall, Value: 0.75}, text: "recall>=0.75"},
		{in: "fixed:0.5", want: ThresholdStrategy{Kind: StrategyFixed, Value: 0.5}, text: "fixed:0.5"},
		{in: "fixed: .25", want: ThresholdStrategy{Kind: StrategyFixed, Value: 0.25}, text: "fixed:0.25"},
		{in: "", wantErr: `threshold strategy "": must be one of f1, accuracy`},
		{in: "F1", wantErr: "must be one of"},
		{in: "precision>0.9", wantErr: "must be one of"},
		{in: "precision>=", wantErr: `precision needs a number after ">=", got ""`},
		{in: "precision>=high", wantErr: `precision needs a number after ">="`},
		{in: "recall>=1", wantErr: "recall value must be in (0, 1), got 1"},
		{in: "fixed:0", wantErr: "fixed value must be in (0, 1), got 0"},
		{in: "fixed:NaN", wantErr: "fixed value must be in (0, 1)"},
		{in: "fixed:-0.5", wantErr: "fixed value must be in (0, 1)"},
	} {
		got, err := ParseThresholdStrategy(tc.in)
		if tc.wantErr != "" {
			wantErrors(t, err, tc.wantErr)
			continue
		}
		if err != nil {
			t.Errorf("ParseThresholdStrategy(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseThresholdStrategy(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if got.String() != tc.text {
			t.Errorf("ParseThresholdStrategy(%q).String() = %q, want %q", tc.in, got.String(), tc.text)
		}
		var back ThresholdStrategy
		if err := back.UnmarshalText([]byte(got.String())); err != nil || back != got {
			t.Errorf("round trip of %q: %+v, %v", tc.in, back, err)
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
