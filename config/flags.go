package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// flagKeyAnnotation is the pflag annotation, set by BindFlag, naming the
// key a flag sets.
const flagKeyAnnotation = "tagnet.config.key"

// AddTrainFlags registers on fs one flag per key of [Train], named
// [FlagName](key) (--data.dir, --train.batch-size, …), with the default as
// its default. Pass fs to [LoadTrain] after parsing it; only flags that were
// set override the file and the environment.
func AddTrainFlags(fs *pflag.FlagSet) { addFlags(fs, trainSchema(), DefaultTrain(), nil) }

// AddPredictFlags registers on fs one flag per key of [Predict] (except
// thresholds.overrides, which a file or TAGNET_THRESHOLDS_OVERRIDES sets), named [FlagName](key)
// (--model.path, --server.queue-size, …), with the default as its default.
// Pass fs to [LoadPredict] after parsing it; only flags that were set
// override the file and the environment.
func AddPredictFlags(fs *pflag.FlagSet) { addFlags(fs, predictSchema(), DefaultPredict(), nil) }

// AddTrainFlagsFor is [AddTrainFlags] for the keys a command uses only:
// each selector is a section ("data", "server.batching"), which selects
// every key below it, or a key ("train.batch_size"). A command registers
// what it reads, so that its help lists nothing else and a flag of another
// command is an unknown flag; its config file and the environment may
// still hold every key. A selector that selects nothing panics: the
// selectors are fixed when the program is written.
func AddTrainFlagsFor(fs *pflag.FlagSet, selectors ...string) {
	addFlags(fs, trainSchema(), DefaultTrain(), selectors)
}

// AddPredictFlagsFor is [AddPredictFlags] for the keys that selectors
// select; see [AddTrainFlagsFor].
func AddPredictFlagsFor(fs *pflag.FlagSet, selectors ...string) {
	addFlags(fs, predictSchema(), DefaultPredict(), selectors)
}

// selected reports whether key is one of selectors or below one of them.
func selected(key string, selectors []string) bool {
	for _, s := range selectors {
		if key == s || strings.HasPrefix(key, s+".") {
			return true
		}
	}
	return false
}

// addFlags registers the flags of the keys of s that selectors select (all
// when selectors is nil).
func addFlags(fs *pflag.FlagSet, s *schema, defaults any, selectors []string) {
	for _, sel := range selectors {
		if !slices.ContainsFunc(s.fields, func(f field) bool { return f.kind() != kindMap && selected(f.key, []string{sel}) }) {
			panic(fmt.Sprintf("config: %q selects no key of %s", sel, s.binary))
		}
	}
	root := reflect.ValueOf(defaults).Elem()
	for i := range s.fields {
		f := &s.fields[i]
		if f.kind() == kindMap || selectors != nil && !selected(f.key, selectors) {
			continue
		}
		addFlag(fs, FlagName(f.key), "", f.key, f.help, defaultValue(root.FieldByIndex(f.index)))
	}
}

// addFlag registers one flag of the type of def, with def as its default.
func addFlag(fs *pflag.FlagSet, name, shorthand, key, usage string, def any) {
	switch def := def.(type) {
	case string:
		fs.StringP(name, shorthand, def, usage)
	case bool:
		fs.BoolP(name, shorthand, def, usage)
	case int:
		fs.IntP(name, shorthand, def, usage)
	case int64:
		fs.Int64P(name, shorthand, def, usage)
	case float64:
		fs.Float64P(name, shorthand, def, usage)
	case time.Duration:
		fs.DurationP(name, shorthand, def, usage)
	case []string:
		fs.StringSliceP(name, shorthand, def, usage+" (comma-separated)")
	default:
		// Every field type of Train and Predict is listed above; a new
		// one must be added there.
		panic(fmt.Sprintf("config: no flag type for %s (%T)", key, def))
	}
}

// AddAlias registers the flag name (with a one-letter shorthand, or "")
// as the visible spelling of key: of the key's type and default, bound to
// the key as by [BindFlag], which hides the flag [FlagName](key) from help
// (it keeps working), so that help lists each key once. Use it for the
// short flags a command's users type: --model for model.path, -o for
// predict.output.
func AddAlias(fs *pflag.FlagSet, name, shorthand, key, usage string) error {
	s, def := trainSchema(), any(DefaultTrain())
	if s.byKey[key] == nil {
		s, def = predictSchema(), DefaultPredict()
	}
	f := s.byKey[key]
	if f == nil || f.kind() == kindMap {
		return fmt.Errorf("config: alias --%s: unknown key %q", name, key)
	}
	addFlag(fs, name, shorthand, key, usage, defaultValue(reflect.ValueOf(def).Elem().FieldByIndex(f.index)))
	return BindFlag(fs, name, key)
}

// VisibleFlag returns the spelling of the flag of fs that sets key and that
// help shows ("--model" for model.path where a command registered that
// alias); "--" + [FlagName](key) when fs is nil or shows none.
func VisibleFlag(fs *pflag.FlagSet, key string) string {
	name := ""
	if fs != nil {
		fs.VisitAll(func(fl *pflag.Flag) {
			if k, ok := FlagKey(fl); ok && k == key && !fl.Hidden && name == "" {
				name = fl.Name
			}
		})
	}
	if name == "" {
		name = FlagName(key)
	}
	return "--" + name
}

// FlagKey returns the key that fl sets: the key it was bound to by
// [BindFlag] or [AddAlias], or the key it is named after ([FlagName]);
// false when fl sets no key.
func FlagKey(fl *pflag.Flag) (string, bool) {
	if a := fl.Annotations[flagKeyAnnotation]; len(a) == 1 {
		return a[0], true
	}
	for _, s := range []*schema{trainSchema(), predictSchema()} {
		for i := range s.fields {
			if FlagName(s.fields[i].key) == fl.Name && s.fields[i].kind() != kindMap {
				return s.fields[i].key, true
			}
		}
	}
	return "", false
}

// BindFlag makes the already registered flag named flagName set key, as an
// alternative to the flag AddTrainFlags or AddPredictFlags registered, such
// as a short --shard for predict.shard. When both are set, the one bound
// here wins. The flag named [FlagName](key), when fs has it, is hidden from
// help and keeps working, so that help lists each key once.
func BindFlag(fs *pflag.FlagSet, flagName, key string) error {
	if fs.Lookup(flagName) == nil {
		return fmt.Errorf("config: binding flag --%s: no such flag", flagName)
	}
	f := trainSchema().byKey[key]
	if f == nil {
		f = predictSchema().byKey[key]
	}
	if f == nil || f.kind() == kindMap {
		return fmt.Errorf("config: binding flag --%s: unknown key %q", flagName, key)
	}
	if err := fs.SetAnnotation(flagName, flagKeyAnnotation, []string{key}); err != nil {
		return err
	}
	if canon := FlagName(key); canon != flagName && fs.Lookup(canon) != nil {
		return fs.MarkHidden(canon)
	}
	return nil
}

// bindFlags binds to viper, for each key of s, the flag that sets it: a
// set flag bound by BindFlag, else the flag named FlagName(key), else an
// unset flag bound by BindFlag.
func bindFlags(v interface {
	BindPFlag(string, *pflag.Flag) error
}, fs *pflag.FlagSet, s *schema, o *origin) error {
	bound := map[string][]*pflag.Flag{}
	fs.VisitAll(func(fl *pflag.Flag) {
		if a := fl.Annotations[flagKeyAnnotation]; len(a) == 1 {
			bound[a[0]] = append(bound[a[0]], fl)
		}
	})
	for i := range s.fields {
		f := &s.fields[i]
		if f.kind() == kindMap {
			continue
		}
		var chosen *pflag.Flag
		for _, fl := range bound[f.key] {
			if fl.Changed {
				chosen = fl
				break
			}
		}
		if chosen == nil {
			chosen = fs.Lookup(FlagName(f.key))
		}
		if chosen == nil && len(bound[f.key]) > 0 {
			chosen = bound[f.key][0]
		}
		if chosen == nil {
			continue
		}
		if err := v.BindPFlag(f.key, chosen); err != nil {
			return fmt.Errorf("config: binding flag --%s to %s: %w", chosen.Name, f.key, err)
		}
		o.flags[f.key] = chosen
	}
	return nil
}
