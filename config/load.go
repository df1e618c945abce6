package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// LoadTrain loads the configuration of tagnet-train: defaults, then the
// YAML file at path (none when path is ""), then TAGNET_* environment
// variables, then the flags of fs that were set (fs may be nil). It returns
// every problem found, joined; see the package documentation.
func LoadTrain(path string, fs *pflag.FlagSet) (*Train, error) {
	cfg := DefaultTrain()
	o, err := load(path, fs, cfg, trainSchema(), predictSchema())
	if err != nil {
		return nil, err
	}
	if err := o.decorate(cfg.Validate()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// LoadPredict loads the configuration of tagnet-predict: defaults, then the
// YAML file at path (none when path is ""), then TAGNET_* environment
// variables, then the flags of fs that were set (fs may be nil). A shard
// written "auto/n" is resolved from $JOB_COMPLETION_INDEX. It returns every
// problem found, joined; see the package documentation.
func LoadPredict(path string, fs *pflag.FlagSet) (*Predict, error) {
	cfg := DefaultPredict()
	o, err := load(path, fs, cfg, predictSchema(), trainSchema())
	if err != nil {
		return nil, err
	}
	if cfg.Predict.Shard.Auto {
		sh, err := cfg.Predict.Shard.Resolve()
		if err != nil {
			return nil, o.decorate(&KeyError{Key: "predict.shard", Value: formatValue(cfg.Predict.Shard.String()), Reason: err.Error()})
		}
		cfg.Predict.Shard = sh
	}
	if err := o.decorate(cfg.Validate()); err != nil {
		return nil, err
	}
	return cfg, nil
}

// origin remembers where each key's value came from, to name it in errors
// and to resolve relative paths.
type origin struct {
	file  string                 // config file as given, "" for none
	lines map[string]int         // keys present in the file → line
	flags map[string]*pflag.Flag // keys → the flag bound to them
}

// of returns the source of key's value, its line in the file, and whether
// it came from the file. The order mirrors viper's: set flag, environment,
// file, default.
func (o *origin) of(key string) (source string, line int, fromFile bool) {
	if fl := o.flags[key]; fl != nil && fl.Changed {
		return "flag --" + fl.Name, 0, false
	}
	if v := os.Getenv(EnvName(key)); v != "" {
		return "env " + EnvName(key), 0, false
	}
	if line, ok := o.lines[key]; ok {
		return o.file, line, true
	}
	return "", 0, false
}

// decorate fills in the source of each KeyError in err that has none: the
// flag, variable or file line that set the key, else the config file.
// Errors that still have no source are prefixed with "config: ".
func (o *origin) decorate(err error) error {
	errs := splitErrors(err)
	for i, e := range errs {
		var ke *KeyError
		if !errors.As(e, &ke) || ke.Source != "" {
			continue
		}
		key := ke.Key
		base, _, _ := strings.Cut(key, "[")
		if _, ok := o.lines[key]; !ok || os.Getenv(EnvName(base)) != "" {
			// runtime.providers[1] comes from runtime.providers, and
			// thresholds.overrides["cat"] from its variable when set.
			key = base
		}
		ke.Source, ke.Line, _ = o.of(key)
		if ke.Source == "" {
			ke.Source = o.file
		}
		if ke.Source == "" {
			errs[i] = fmt.Errorf("config: %w", ke)
		}
	}
	return errors.Join(errs...)
}

// load layers defaults (already in cfg), the file, the environment and the
// flags into cfg, a pointer to a struct described by s; other is the other
// binary's schema, used to explain unknown sections.
func load(path string, fs *pflag.FlagSet, cfg any, s, other *schema) (*origin, error) {
	root := reflect.ValueOf(cfg).Elem()
	o := &origin{file: path, lines: map[string]int{}, flags: map[string]*pflag.Flag{}}
	v := viper.New()
	v.SetConfigType("yaml")
	for i := range s.fields {
		f := &s.fields[i]
		if f.kind() == kindMap {
			continue
		}
		v.SetDefault(f.key, defaultValue(root.FieldByIndex(f.index)))
		if err := v.BindEnv(f.key, EnvName(f.key)); err != nil {
			return nil, fmt.Errorf("config: binding %s: %w", EnvName(f.key), err)
		}
	}

	if errs := checkEnv(os.Environ(), s, other); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var maps map[string]map[string]float64
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("parsing YAML file %s: %w", path, err)
		}
		fc := newFileCheck(path, other)
		if err := fc.document(&doc, s); err != nil {
			return nil, err
		}
		if len(fc.errs) > 0 {
			return nil, errors.Join(fc.errs...)
		}
		o.lines, maps = fc.lines, fc.maps
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("parsing YAML file %s: %w", path, err)
		}
	}

	envm, errs := envMaps(s)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for k, m := range envm { // the environment overrides the file
		if maps == nil {
			maps = map[string]map[string]float64{}
		}
		maps[k] = m
	}

	if fs != nil {
		if err := bindFlags(v, fs, s, o); err != nil {
			return nil, err
		}
	}

	for i := range s.fields {
		f := &s.fields[i]
		dst := root.FieldByIndex(f.index)
		if f.kind() == kindMap {
			if m, ok := maps[f.key]; ok {
				dst.Set(reflect.ValueOf(m))
			}
			continue
		}
		val := v.Get(f.key)
		if val == nil {
			continue
		}
		source, line, fromFile := o.of(f.key)
		if err := setValue(dst, val); err != nil {
			errs = append(errs, &KeyError{Source: source, Line: line, Key: f.key, Value: formatValue(val), Reason: err.Error()})
			continue
		}
		if f.path && fromFile {
			if p := dst.String(); p != "" && !filepath.IsAbs(p) && (!f.name || IsWeightsFile(p)) {
				dst.SetString(filepath.Join(filepath.Dir(path), p))
			}
		}
	}
	if len(errs) > 0 {
		return nil, o.decorate(errors.Join(errs...))
	}
	return o, nil
}

// defaultValue returns a field's value in the form viper and pflag take:
// text types as their text, lists copied.
func defaultValue(fv reflect.Value) any {
	if m, ok := fv.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return ""
		}
		return string(b)
	}
	if l, ok := fv.Interface().([]string); ok {
		return slices.Clone(l)
	}
	// Leaves typed by the package that owns their values (ort.Provider,
	// ort.Policy…) are strings underneath.
	switch {
	case fv.Kind() == reflect.String:
		return fv.String()
	case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.String:
		l := make([]string, fv.Len())
		for i := range l {
			l[i] = fv.Index(i).String()
		}
		return l
	}
	return fv.Interface()
}
