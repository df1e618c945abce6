package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Threshold strategy kinds: how the predictor picks each class's threshold
// from the sweep stored in the model file.
const (
	// StrategyF1 picks, per class, the threshold with the best F1.
	StrategyF1 = "f1"
	// StrategyAccuracy picks, per class, the threshold with the best accuracy.
	StrategyAccuracy = "accuracy"
	// StrategyPrecision picks, per class, the lowest threshold whose
	// precision is at least Value.
	StrategyPrecision = "precision"
	// StrategyRecall picks, per class, the highest threshold whose recall
	// is at least Value.
	StrategyRecall = "recall"
	// StrategyFixed uses Value for every class.
	StrategyFixed = "fixed"
)

// errStrategySyntax is the reason given for a strategy string that is none
// of the accepted forms.
var errStrategySyntax = errors.New("must be one of f1, accuracy, precision>=P, recall>=R, fixed:T (P, R, T in (0, 1))")

// ThresholdStrategy is the parsed form of thresholds.strategy. Its text form
// is one of "f1", "accuracy", "precision>=P", "recall>=R" or "fixed:T", with
// P, R and T in (0, 1).
//
// The zero value has no Kind and is rejected by validation; the default is
// {Kind: StrategyF1}.
type ThresholdStrategy struct {
	// Kind is one of the Strategy* constants.
	Kind string
	// Value is P, R or T for StrategyPrecision, StrategyRecall and
	// StrategyFixed, and 0 for the other kinds.
	Value float64
}

// ParseThresholdStrategy parses the text form of a threshold strategy.
// Blanks are ignored, so "precision >= 0.9" is accepted.
func ParseThresholdStrategy(s string) (ThresholdStrategy, error) {
	ts, err := parseStrategy(s)
	if err != nil {
		return ThresholdStrategy{}, fmt.Errorf("threshold strategy %q: %w", s, err)
	}
	return ts, nil
}

// parseStrategy is ParseThresholdStrategy with an error that gives only the
// reason, for use in a KeyError.
func parseStrategy(s string) (ThresholdStrategy, error) {
	s = strings.Join(strings.Fields(s), "")
	switch s {
	case StrategyF1, StrategyAccuracy:
		return ThresholdStrategy{Kind: s}, nil
	}
	for _, form := range []struct{ kind, sep string }{
		{StrategyPrecision, ">="},
		{StrategyRecall, ">="},
		{StrategyFixed, ":"},
	} {
		num, ok := strings.CutPrefix(s, form.kind+form.sep)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return ThresholdStrategy{}, fmt.Errorf("%s needs a number after %q, got %q", form.kind, form.sep, num)
		}
		if !(v > 0 && v < 1) {
			return ThresholdStrategy{}, fmt.Errorf("%s value must be in (0, 1), got %s", form.kind, num)
		}
		return ThresholdStrategy{Kind: form.kind, Value: v}, nil
	}
	return ThresholdStrategy{}, errStrategySyntax
}

// String returns the text form, such as "precision>=0.9"; it returns
// "" for the zero value.
func (ts ThresholdStrategy) String() string {
	v := strconv.FormatFloat(ts.Value, 'g', -1, 64)
	switch ts.Kind {
	case StrategyPrecision, StrategyRecall:
		return ts.Kind + ">=" + v
	case StrategyFixed:
		return ts.Kind + ":" + v
	default:
		return ts.Kind
	}
}

// MarshalText implements [encoding.TextMarshaler] with the text form.
func (ts ThresholdStrategy) MarshalText() ([]byte, error) {
	return []byte(ts.String()), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with
// [ParseThresholdStrategy].
func (ts *ThresholdStrategy) UnmarshalText(b []byte) error {
	v, err := ParseThresholdStrategy(string(b))
	if err != nil {
		return err
	}
	*ts = v
	return nil
}

// setText implements textSetter for the loader.
func (ts *ThresholdStrategy) setText(s string) error {
	v, err := parseStrategy(s)
	if err != nil {
		return err
	}
	*ts = v
	return nil
}

// validate checks a strategy built in code (parsed ones are always valid).
func (ts ThresholdStrategy) validate(c *checker, key string) {
	if _, err := parseStrategy(ts.String()); err != nil || ts.String() == "" {
		c.fail(key, ts.String(), "%v", errStrategySyntax)
	}
}
