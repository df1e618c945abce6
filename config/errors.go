package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// KeyError reports one problem with the value of one configuration key.
// Loading and validation return every KeyError they find, joined with
// [errors.Join]; use [errors.As] to pick one out.
type KeyError struct {
	// Source names where the value came from: the config file path as given,
	// "env TAGNET_…" for an environment variable, "flag --…" for a flag, or
	// "" for a default or a value set in code (as seen by Validate).
	Source string
	// Line is the line of the key in the config file, 0 when unknown or when
	// the value did not come from a file.
	Line int
	// Key is the full dotted key, such as "server.queue_size". Entries of a
	// map are written key["entry"].
	Key string
	// Value is the offending value as text (strings quoted), or "" when the
	// problem is not about a value (an unknown or missing key).
	Value string
	// Reason says what is wrong or what is allowed, such as "must be >= 1".
	Reason string
}

// Error formats the error as
// "config SOURCE[:LINE]: KEY: VALUE is invalid: REASON"; the source part is
// left out when Source is empty, and "VALUE is invalid: " when Value is.
func (e *KeyError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString("config ")
		b.WriteString(e.Source)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Key)
	b.WriteString(": ")
	if e.Value != "" {
		b.WriteString(e.Value)
		b.WriteString(" is invalid: ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// formatValue renders a value for a KeyError: strings quoted, lists in
// brackets, durations in Go syntax.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case []any:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = formatValue(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case time.Duration:
		return strconv.Quote(x.String())
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case fmt.Stringer:
		return strconv.Quote(x.String())
	default:
		return fmt.Sprint(x)
	}
}

// splitErrors flattens an error made by errors.Join into its parts.
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// checker collects validation errors; its methods name the key and the
// allowed range in the messages.
type checker struct {
	errs []error
}

func (c *checker) err() error { return errors.Join(c.errs...) }

// fail records one problem with key's value v.
func (c *checker) fail(key string, v any, format string, args ...any) {
	c.errs = append(c.errs, &KeyError{Key: key, Value: formatValue(v), Reason: fmt.Sprintf(format, args...)})
}

// oneOf checks that v is one of allowed.
func (c *checker) oneOf(key, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.fail(key, v, "must be one of %s", strings.Join(allowed, ", "))
}

// oneOfSet checks that v is one of allowed, a value set owned by the
// package that uses the key (models, predictor/ort, postprocess).
func oneOfSet[T ~string](c *checker, key string, v T, allowed []T) {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	c.oneOf(key, string(v), names...)
}

// atLeast checks v >= lo.
func atLeast[T int | int64](c *checker, key string, v, lo T) {
	if v < lo {
		c.fail(key, v, "must be >= %d", lo)
	}
}

// between checks lo <= v <= hi.
func between[T int | int64](c *checker, key string, v, lo, hi T) {
	if v < lo || v > hi {
		c.fail(key, v, "must be between %d and %d", lo, hi)
	}
}

// nonNegativeDuration checks d >= 0.
func (c *checker) nonNegativeDuration(key string, d time.Duration) {
	if d < 0 {
		c.fail(key, d, "must be >= 0")
	}
}

// openUnit checks 0 < v < 1 (NaN fails).
func (c *checker) openUnit(key string, v float64) {
	if !(v > 0 && v < 1) {
		c.fail(key, v, "must be in (0, 1)")
	}
}

// positive checks v > 0 and finite.
func (c *checker) positive(key string, v float64) {
	if !(v > 0) || math.IsInf(v, 1) {
		c.fail(key, v, "must be > 0")
	}
}

// nonNegative checks v >= 0 and finite.
func (c *checker) nonNegative(key string, v float64) {
	if !(v >= 0) || math.IsInf(v, 1) {
		c.fail(key, v, "must be >= 0")
	}
}

// notEmpty checks v != "".
func (c *checker) notEmpty(key, v string) {
	if v == "" {
		c.fail(key, v, "must not be empty")
	}
}
