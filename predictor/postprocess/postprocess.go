// Package postprocess is the last stage of tagnet's predictor: it turns a
// model's logits into labels.
//
//	logits ──► Probabilities ──► p > threshold[c] (Labels) ──► labels
//
// The per-class thresholds are chosen once, when a model is opened, from the
// validation threshold sweep the trainer stores in the model file (see
// [models.Sweep]), by a [Strategy]:
//
//   - f1 (the default): each class's best F1 over the grid, after a 3-point
//     moving average (see [Smooth]), so that a single noisy grid point
//     cannot win;
//   - accuracy: each class's best accuracy, smoothed the same way;
//   - precision>=P: the lowest threshold whose precision reaches P, which
//     keeps the most recall; if no grid point reaches P, the highest
//     threshold, with a warning;
//   - recall>=R: the highest threshold whose recall reaches R, which keeps
//     the most precision; if no grid point reaches R, the lowest threshold,
//     with a warning;
//   - fixed:T: T for every class.
//
// Per-class overrides, by label name, take precedence over the strategy.
//
// Ties in the smoothed curves are broken towards the threshold nearest 0.5,
// then towards the lower threshold.
//
// A model without a sweep (a random-initialised one, or one trained without
// a validation set) has nothing to choose from: every strategy but fixed:T
// fails with an error wrapping [ErrNoSweep] that suggests fixed:T, unless
// overrides cover every class. The predictor never silently falls back to
// 0.5.
//
// A class is present when its probability is strictly greater than its
// threshold, compared as the sweep compares ([models.Present], in
// float32), and probabilities are [models.Sigmoid] of the logits: the
// trainer and the predictor share one sigmoid and one comparison.
package postprocess

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tagnet/tagnet/models"
)

// Kind names how a [Strategy] picks thresholds. Its values are the Kind*
// constants; config's thresholds.strategy key parses through [Strategy]'s
// UnmarshalText, so the predictor and its configuration accept the same
// kinds and ranges.
type Kind string

// Strategy kinds.
const (
	// KindF1 picks each class's best smoothed F1.
	KindF1 Kind = "f1"
	// KindAccuracy picks each class's best smoothed accuracy.
	KindAccuracy Kind = "accuracy"
	// KindPrecision picks the lowest threshold with precision >= Value.
	KindPrecision Kind = "precision"
	// KindRecall picks the highest threshold with recall >= Value.
	KindRecall Kind = "recall"
	// KindFixed uses Value for every class.
	KindFixed Kind = "fixed"
)

// SourceOverride is the [Choice.Source] of a threshold set by an override.
const SourceOverride = "override"

// ErrNoSweep is wrapped by the error [Select] returns when the strategy
// needs a sweep and the model has none.
var ErrNoSweep = errors.New("model has no threshold sweep")

// ErrUnknownLabel is wrapped by the error [Select] returns when an override
// names a label the model does not have.
var ErrUnknownLabel = errors.New("unknown label")

// StrategyError reports a threshold strategy that is none of the accepted
// forms, or whose value is out of range. [ParseStrategy],
// [Strategy.UnmarshalText] and [Strategy.Validate] return it.
type StrategyError struct {
	// Text is the strategy as given (or its text form, from Validate).
	Text string
	// Reason says what is wrong, such as "precision value must be in
	// (0, 1), got 90".
	Reason string
}

// Error formats the error as `threshold strategy "TEXT": REASON`.
func (e *StrategyError) Error() string {
	return fmt.Sprintf("threshold strategy %q: %s", e.Text, e.Reason)
}

// syntaxReason is the reason given for a strategy that is none of the
// accepted forms.
const syntaxReason = "must be one of f1, accuracy, precision>=P, recall>=R, fixed:T (P, R, T in (0, 1))"

// Strategy says how per-class thresholds are chosen from a sweep. Its text
// form is "f1", "accuracy", "precision>=P", "recall>=R" or "fixed:T", with
// P, R and T in (0, 1). The zero value means f1.
type Strategy struct {
	// Kind is one of the Kind* constants; "" means KindF1.
	Kind Kind
	// Value is P, R or T for the precision, recall and fixed kinds; it is
	// ignored by the others.
	Value float64
}

// ParseStrategy parses the text form of a strategy. Blanks are ignored, so
// "precision >= 0.9" is accepted; kinds are lower case. The error is a
// *[StrategyError].
func ParseStrategy(s string) (Strategy, error) {
	t := strings.Join(strings.Fields(s), "")
	switch k := Kind(t); k {
	case KindF1, KindAccuracy:
		return Strategy{Kind: k}, nil
	}
	for _, form := range []struct {
		kind Kind
		sep  string
	}{
		{KindPrecision, ">="}, {KindRecall, ">="}, {KindFixed, ":"},
	} {
		num, ok := strings.CutPrefix(t, string(form.kind)+form.sep)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return Strategy{}, &StrategyError{s, fmt.Sprintf("%s needs a number after %q, got %q", form.kind, form.sep, num)}
		}
		if !(v > 0 && v < 1) {
			return Strategy{}, &StrategyError{s, fmt.Sprintf("%s value must be in (0, 1), got %s", form.kind, num)}
		}
		return Strategy{Kind: form.kind, Value: v}, nil
	}
	return Strategy{}, &StrategyError{s, syntaxReason}
}

// Validate reports whether a strategy built in code is usable (parsed ones
// always are). The error is a *[StrategyError].
func (s Strategy) Validate() error {
	switch s.Kind {
	case "", KindF1, KindAccuracy:
		return nil
	case KindPrecision, KindRecall, KindFixed:
		if !(s.Value > 0 && s.Value < 1) {
			return &StrategyError{s.String(), fmt.Sprintf("%s value must be in (0, 1), got %v", s.Kind, s.Value)}
		}
		return nil
	}
	return &StrategyError{string(s.Kind), syntaxReason}
}

// String returns the text form, such as "precision>=0.9"; the zero value
// is "f1".
func (s Strategy) String() string {
	v := strconv.FormatFloat(s.Value, 'g', -1, 64)
	switch s.Kind {
	case "":
		return string(KindF1)
	case KindPrecision, KindRecall:
		return string(s.Kind) + ">=" + v
	case KindFixed:
		return string(s.Kind) + ":" + v
	}
	return string(s.Kind)
}

// MarshalText implements [encoding.TextMarshaler] with the text form.
func (s Strategy) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseStrategy].
func (s *Strategy) UnmarshalText(b []byte) error {
	v, err := ParseStrategy(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Choice is the threshold chosen for one class.
type Choice struct {
	// Label is the class's name.
	Label string `json:"label"`
	// Threshold is the decision threshold: the class is present when its
	// probability is greater.
	Threshold float64 `json:"threshold"`
	// Source is the strategy's text form, or "override".
	Source string `json:"source"`
	// Index is the grid index of Threshold in the sweep, or -1 when the
	// threshold did not come from the sweep (fixed, override).
	Index int `json:"-"`
	// Precision, Recall and F1 are the sweep's validation metrics at
	// Threshold; nil when Index is -1.
	Precision *float64 `json:"precision,omitempty"`
	Recall    *float64 `json:"recall,omitempty"`
	F1        *float64 `json:"f1,omitempty"`
}

// Selection is the outcome of [Select]: one threshold per class, in output
// order. It is immutable once returned.
type Selection struct {
	// Strategy is the strategy that chose the thresholds not overridden.
	Strategy Strategy
	// Classes holds one choice per label, in output order.
	Classes []Choice
	// Warnings explains choices the strategy could not make as asked (a
	// target precision or recall out of reach, a class without positives).
	Warnings []string
}

// Thresholds returns the thresholds in output order, in a new slice.
func (s *Selection) Thresholds() []float64 {
	out := make([]float64, len(s.Classes))
	for i, c := range s.Classes {
		out[i] = c.Threshold
	}
	return out
}

// Select chooses a threshold for each label. sweep may be nil (see the
// package documentation); when it is not, it must have been validated
// against labels (models.LoadMetadata does). overrides maps label names to
// thresholds in (0, 1); a name that is not a label is an error wrapping
// [ErrUnknownLabel] that names it.
func Select(labels []string, sweep *models.Sweep, st Strategy, overrides map[string]float64) (*Selection, error) {
	if st.Kind == "" {
		st.Kind = KindF1
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	if err := checkOverrides(labels, overrides); err != nil {
		return nil, err
	}
	if sweep != nil {
		if err := sweep.Validate(labels); err != nil {
			return nil, err
		}
	}
	sel := &Selection{Strategy: st, Classes: make([]Choice, len(labels))}
	for i, label := range labels {
		if t, ok := overrides[label]; ok {
			sel.Classes[i] = Choice{Label: label, Threshold: t, Source: SourceOverride, Index: -1}
			continue
		}
		if st.Kind == KindFixed {
			sel.Classes[i] = Choice{Label: label, Threshold: st.Value, Source: st.String(), Index: -1}
			continue
		}
		if sweep == nil {
			return nil, fmt.Errorf("%w: strategy %s needs one to choose the threshold of %q; use fixed:T (for example fixed:0.5) or override every class",
				ErrNoSweep, st, label)
		}
		idx, warn := choose(sweep.Thresholds, &sweep.Classes[i], st)
		if warn != "" {
			sel.Warnings = append(sel.Warnings, fmt.Sprintf("class %q: %s", label, warn))
		}
		if c := &sweep.Classes[i]; c.TrainSupport != nil && *c.TrainSupport == 0 {
			sel.Warnings = append(sel.Warnings, fmt.Sprintf("class %q: %s: its threshold comes from the sweep of an untrained output", label, c.OneSided()))
		}
		sel.Classes[i] = fromSweep(label, st.String(), sweep, i, idx)
	}
	return sel, nil
}

// checkOverrides rejects override labels the model lacks and values
// outside (0, 1), naming each.
func checkOverrides(labels []string, overrides map[string]float64) error {
	names := make([]string, 0, len(overrides))
	for name := range overrides {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		if !slices.Contains(labels, name) {
			errs = append(errs, fmt.Errorf("threshold override %q: %w (the model's labels are %s)",
				name, ErrUnknownLabel, strings.Join(labels, ", ")))
			continue
		}
		if t := overrides[name]; !(t > 0 && t < 1) {
			errs = append(errs, fmt.Errorf("threshold override %q: %v is outside (0, 1)", name, t))
		}
	}
	return errors.Join(errs...)
}

// fromSweep builds the choice of grid index idx for class i.
func fromSweep(label, source string, sweep *models.Sweep, i, idx int) Choice {
	c := sweep.Classes[i]
	p, r, f := c.Precision[idx], c.Recall[idx], c.F1[idx]
	return Choice{
		Label: label, Threshold: sweep.Thresholds[idx], Source: source, Index: idx,
		Precision: &p, Recall: &r, F1: &f,
	}
}

// eps absorbs rounding in metric comparisons: a precision of 0.9 computed
// as 0.8999999999999999 still reaches 0.9.
const eps = 1e-9

// choose returns the grid index the strategy picks for one class, and a
// warning when it could not pick as asked.
func choose(grid []float64, c *models.ClassSweep, st Strategy) (int, string) {
	switch st.Kind {
	case KindAccuracy:
		return argmaxSmoothed(grid, c.Accuracy), ""
	case KindPrecision:
		for i, p := range c.Precision {
			if p >= st.Value-eps {
				if c.Recall[i] == 0 && c.Support > 0 {
					return i, fmt.Sprintf("precision %.3g is reached only where recall is 0 (threshold %.3g): the class will rarely be predicted",
						st.Value, grid[i])
				}
				return i, ""
			}
		}
		last := len(grid) - 1
		return last, fmt.Sprintf("no threshold reaches precision %.3g (best %.3g); using the highest threshold %.3g",
			st.Value, slices.Max(c.Precision), grid[last])
	case KindRecall:
		for i := len(c.Recall) - 1; i >= 0; i-- {
			if c.Recall[i] >= st.Value-eps {
				return i, ""
			}
		}
		return 0, fmt.Sprintf("no threshold reaches recall %.3g (best %.3g); using the lowest threshold %.3g",
			st.Value, slices.Max(c.Recall), grid[0])
	default: // KindF1
		i := argmaxSmoothed(grid, c.F1)
		if c.Support == 0 {
			return i, fmt.Sprintf("no positives in the validation sweep, so F1 is 0 everywhere; using %.3g", grid[i])
		}
		return i, ""
	}
}

// Smooth returns the 3-point moving average of v: each point averaged with
// its two neighbours. Beyond the ends of the grid the curve counts as 0, so
// an end point is (v[0]+v[1])/3: like every other point, a single noisy
// value contributes a third at most, and an end point cannot win on its own
// value alone.
func Smooth(v []float64) []float64 {
	out := make([]float64, len(v))
	for i := range v {
		var sum float64
		for j := max(i-1, 0); j <= min(i+1, len(v)-1); j++ {
			sum += v[j]
		}
		out[i] = sum / 3
	}
	return out
}

// argmaxSmoothed returns the index of the largest value of Smooth(v),
// breaking ties (within rounding) towards the grid point nearest 0.5, then
// towards the lower threshold.
func argmaxSmoothed(grid, v []float64) int {
	s := Smooth(v)
	best := 0
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] > s[best]+eps:
			best = i
		case s[i] >= s[best]-eps:
			// A tie: prefer nearer 0.5; at equal distance keep the lower
			// (earlier) one.
			if math.Abs(grid[i]-0.5) < math.Abs(grid[best]-0.5)-eps {
				best = i
			}
		}
	}
	return best
}

// Probabilities writes the probabilities of a model's n×C outputs into
// dst, which must be at least as long as outputs: [models.Sigmoid] of each
// logit, or, when areProbs is set (a model adopted with a probabilities
// output, models.OutputProbabilities), the outputs as they are, clamped
// into [0, 1] against rounding. The trainer computes its validation
// probabilities with the same sigmoid.
func Probabilities(dst, outputs []float32, areProbs bool) {
	if !areProbs {
		models.SigmoidInto(dst, outputs)
		return
	}
	dst = dst[:len(outputs)]
	for i, v := range outputs {
		dst[i] = min(max(v, 0), 1)
	}
}

// Labels returns the labels present in one image's probabilities, in
// output order: class j is present when [models.Present](probs[j],
// thresholds[j]), the comparison the trainer's sweep counted with, so a
// threshold taken from the sweep means here what it meant there, even for
// a probability equal to it. probs, thresholds and labels have one entry
// per class. The result is never nil.
func Labels(probs []float32, thresholds []float64, labels []string) []string {
	out := []string{}
	for j, p := range probs {
		if models.Present(p, thresholds[j]) {
			out = append(out, labels[j])
		}
	}
	return out
}
