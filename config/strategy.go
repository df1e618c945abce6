package config

import (
	"errors"

	"github.com/tagnet/tagnet/predictor/postprocess"
)

// thresholds.strategy is a [postprocess.Strategy]: the predictor's own
// type, parsed by its UnmarshalText and checked by its Validate, so the
// configuration accepts exactly the strategies, the forms and the ranges
// the predictor does, with the same reasons. This file only adapts its
// errors to [KeyError].

// textReason returns the reason of an error from a text-typed leaf's
// UnmarshalText, for a KeyError that names the key and the value itself:
// a *postprocess.StrategyError gives its Reason, any other error itself.
func textReason(err error) error {
	var se *postprocess.StrategyError
	if errors.As(err, &se) {
		return errors.New(se.Reason)
	}
	return err
}

// validateStrategy checks a strategy set in code (parsed ones are always
// valid) with [postprocess.Strategy.Validate]; the zero value means f1.
func validateStrategy(c *checker, key string, st postprocess.Strategy) {
	if err := st.Validate(); err != nil {
		c.fail(key, st.String(), "%v", textReason(err))
	}
}
