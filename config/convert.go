package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// textSetter is implemented by config's own text-typed leaves (Shard): it
// parses s and returns an error giving only the reason. Leaves typed by
// another package implement encoding.TextUnmarshaler instead.
type textSetter interface {
	setText(s string) error
}

// setValue stores val, as found by viper (a YAML value, an environment
// string or a flag's value), into dst. The error gives only the reason, such
// as "must be an integer"; the caller adds the key and the source.
func setValue(dst reflect.Value, val any) error {
	if ts, ok := dst.Addr().Interface().(textSetter); ok {
		s, ok := val.(string)
		if !ok {
			return errors.New("must be a string")
		}
		return ts.setText(s)
	}
	if tu, ok := dst.Addr().Interface().(encoding.TextUnmarshaler); ok {
		// A leaf typed by the package that owns it (thresholds.strategy:
		// postprocess.Strategy): its own parser decides.
		s, ok := val.(string)
		if !ok {
			return errors.New("must be a string")
		}
		return textReason(tu.UnmarshalText([]byte(s)))
	}
	if dst.Type() == durationType {
		d, err := toDuration(val)
		if err != nil {
			return err
		}
		dst.SetInt(int64(d))
		return nil
	}
	switch dst.Kind() {
	case reflect.String:
		s, ok := val.(string)
		if !ok {
			return errors.New("must be a string (quote it in YAML)")
		}
		dst.SetString(s)
	case reflect.Bool:
		b, err := toBool(val)
		if err != nil {
			return err
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := toInt(val)
		if err != nil {
			return err
		}
		if dst.OverflowInt(n) {
			return errors.New("is out of range")
		}
		dst.SetInt(n)
	case reflect.Float64:
		f, err := toFloat(val)
		if err != nil {
			return err
		}
		dst.SetFloat(f)
	case reflect.Slice:
		l, err := toStrings(val)
		if err != nil {
			return err
		}
		// The element type may be a named string type (ort.Provider).
		v := reflect.MakeSlice(dst.Type(), len(l), len(l))
		for i, s := range l {
			v.Index(i).SetString(s)
		}
		dst.Set(v)
	default:
		return fmt.Errorf("has unsupported type %s", dst.Type())
	}
	return nil
}

func toBool(val any) (bool, error) {
	switch x := val.(type) {
	case bool:
		return x, nil
	case string:
		if b, err := strconv.ParseBool(strings.TrimSpace(x)); err == nil {
			return b, nil
		}
	}
	return false, errors.New("must be true or false")
}

func toInt(val any) (int64, error) {
	errInt := errors.New("must be an integer")
	switch x := val.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, errors.New("is out of range")
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) {
			return 0, errInt
		}
		if x < math.MinInt64 || x >= math.MaxInt64 {
			return 0, errors.New("is out of range")
		}
		return int64(x), nil
	case string:
		// Base 10, with optional digit-group underscores: 50_000_000.
		s := strings.ReplaceAll(strings.TrimSpace(x), "_", "")
		n, err := strconv.ParseInt(s, 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return 0, errors.New("is out of range")
		}
		if err != nil {
			return 0, errInt
		}
		return n, nil
	}
	return 0, errInt
}

func toFloat(val any) (float64, error) {
	switch x := val.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return f, nil
		}
	}
	return 0, errors.New("must be a number")
}

// toDuration accepts a Go duration string ("30s", "5ms"), a time.Duration
// (from a flag), or a bare 0.
func toDuration(val any) (time.Duration, error) {
	errDur := errors.New(`must be a duration such as "30s" or "5ms"`)
	switch x := val.(type) {
	case time.Duration:
		return x, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			return 0, errDur
		}
		return d, nil
	case int, int64, uint64, float64:
		if f, err := toFloat(x); err == nil && f == 0 {
			return 0, nil
		}
		return 0, errors.New(`must be a duration with a unit, such as "30s"`)
	}
	return 0, errDur
}

// toStrings accepts a list of strings (YAML, flags) or a comma-separated
// string (environment, YAML shorthand); blanks around items are trimmed and
// empty items dropped.
func toStrings(val any) ([]string, error) {
	errList := errors.New("must be a list of strings")
	switch x := val.(type) {
	case []string:
		return trimItems(x), nil
	case []any:
		out := make([]string, 0, len(x))
		for _, v := range x {
			s, ok := v.(string)
			if !ok {
				return nil, errList
			}
			out = append(out, s)
		}
		return trimItems(out), nil
	case string:
		return trimItems(strings.Split(x, ",")), nil
	}
	return nil, errList
}

func trimItems(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
