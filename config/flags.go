package config

import (
	"fmt"
	"reflect"
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
func AddTrainFlags(fs *pflag.FlagSet) { addFlags(fs, trainSchema(), DefaultTrain()) }

// AddPredictFlags registers on fs one flag per key of [Predict] (except
// thresholds.overrides, which a file or TAGNET_THRESHOLDS_OVERRIDES sets), named [FlagName](key)
// (--model.path, --server.queue-size, …), with the default as its default.
// Pass fs to [LoadPredict] after parsing it; only flags that were set
// override the file and the environment.
func AddPredictFlags(fs *pflag.FlagSet) { addFlags(fs, predictSchema(), DefaultPredict()) }

func addFlags(fs *pflag.FlagSet, s *schema, defaults any) {
	root := reflect.ValueOf(defaults).Elem()
	for i := range s.fields {
		f := &s.fields[i]
		if f.kind() == kindMap {
			continue
		}
		name := FlagName(f.key)
		usage := f.help
		fv := root.FieldByIndex(f.index)
		switch def := defaultValue(fv).(type) {
		case string:
			fs.String(name, def, usage)
		case bool:
			fs.Bool(name, def, usage)
		case int:
			fs.Int(name, def, usage)
		case int64:
			fs.Int64(name, def, usage)
		case float64:
			fs.Float64(name, def, usage)
		case time.Duration:
			fs.Duration(name, def, usage)
		case []string:
			fs.StringSlice(name, def, usage+" (comma-separated)")
		default:
			// Every field type of Train and Predict is listed above; a new
			// one must be added there.
			panic(fmt.Sprintf("config: no flag type for %s (%T)", f.key, def))
		}
	}
}

// BindFlag makes the already registered flag named flagName set key, as an
// alternative to the flag AddTrainFlags or AddPredictFlags registered, such
// as a short --shard for predict.shard. When both are set, the one bound
// here wins.
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
	return fs.SetAnnotation(flagName, flagKeyAnnotation, []string{key})
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
