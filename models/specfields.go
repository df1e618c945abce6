package models

import (
	"fmt"
	"math"
	"strings"
)

// Limits of a [Spec]'s fields. [Spec.Validate] enforces them, and
// tagnet-train's configuration (model.size, model.width) validates through
// [Spec.Problems], so the two cannot drift apart.
const (
	// MinInputSize and MaxInputSize bound Spec.InputSize, in pixels.
	MinInputSize = 16
	MaxInputSize = 4096
	// MaxWidth bounds Spec.Width, the channel multiplier, in (0, MaxWidth].
	MaxWidth = 8.0
)

// Stems returns the stems a Spec may name, the default first.
func Stems() []Stem { return []Stem{StemImageNet, StemSmall} }

// Heads returns the heads a Spec may name, the default first.
func Heads() []Head { return []Head{HeadLinear, HeadFastai} }

// SpecError reports one invalid field of a [Spec].
type SpecError struct {
	// Field is the field's JSON name: "arch", "num_classes",
	// "input_size", "stem", "head" or "width".
	Field string
	// Value is the field's value.
	Value any
	// Reason says what is allowed, such as "must be in (0, 8]".
	Reason string
}

// Error formats the error as `FIELD VALUE is invalid: REASON`, strings
// quoted.
func (e *SpecError) Error() string {
	v := fmt.Sprint(e.Value)
	if s, ok := e.Value.(string); ok {
		v = fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%s %s is invalid: %s", e.Field, v, e.Reason)
}

// Problems returns every invalid field of s as given, without the
// defaults of [Spec.Normalized] (an empty stem or head and a zero width
// are problems here), in field order; nil when there is none.
func (s Spec) Problems() []*SpecError {
	var out []*SpecError
	add := func(field string, v any, reason string) {
		out = append(out, &SpecError{Field: field, Value: v, Reason: reason})
	}
	if _, ok := archs[s.Arch]; !ok {
		add("arch", s.Arch, "must be one of "+strings.Join(Archs(), ", "))
	}
	if s.NumClasses < 1 {
		add("num_classes", s.NumClasses, "must be >= 1")
	}
	if s.InputSize < MinInputSize || s.InputSize > MaxInputSize {
		add("input_size", s.InputSize, fmt.Sprintf("must be between %d and %d", MinInputSize, MaxInputSize))
	}
	if !oneOf(s.Stem, Stems()) {
		add("stem", string(s.Stem), "must be one of "+join(Stems()))
	}
	if !oneOf(s.Head, Heads()) {
		add("head", string(s.Head), "must be one of "+join(Heads()))
	}
	if !(s.Width > 0 && s.Width <= MaxWidth) || math.IsNaN(s.Width) {
		add("width", s.Width, fmt.Sprintf("must be in (0, %g]", MaxWidth))
	}
	return out
}

func oneOf[T comparable](v T, set []T) bool {
	for _, x := range set {
		if v == x {
			return true
		}
	}
	return false
}

func join[T ~string](set []T) string {
	s := make([]string, len(set))
	for i, x := range set {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}
