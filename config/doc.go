// Package config holds the typed configuration of tagnet's two binaries,
// tagnet-train ([Train]) and tagnet-predict ([Predict]), and loads it.
//
// It sits at the very start of the flow: cmd/ loads a configuration here,
// builds its logger from the log section, and hands the other sections to
// the trainer or the predictor, which never read files, the environment or
// flags themselves.
//
// Loading follows the prometheus pattern, in increasing order of precedence:
//
//  1. defaults ([DefaultTrain], [DefaultPredict]);
//  2. a YAML file, decoded strictly: an unknown or duplicated key, or a
//     value of the wrong shape, is an error naming the file, line and key;
//  3. environment variables TAGNET_<SECTION>_<KEY>, the dotted key upper-cased
//     with dots replaced by underscores (see [EnvName]), for example
//     TAGNET_SERVER_LISTEN or TAGNET_SERVER_BATCHING_MAX_BATCH. Every key
//     has one, maps included. Empty variables are ignored; lists are
//     written comma-separated; maps (thresholds.overrides) as a JSON object
//     of label → number, such as
//     TAGNET_THRESHOLDS_OVERRIDES='{"traffic light": 0.4}'. A TAGNET_…
//     variable that is no key of either binary and not one of the other
//     variables tagnet reads ([Environment]) is an error naming it, with
//     the closest known name;
//  4. command-line flags that were explicitly set, registered by
//     [AddTrainFlags] or [AddPredictFlags] (or, for the keys one command
//     uses, [AddTrainFlagsFor] and [AddPredictFlagsFor]) and named after the
//     key with underscores turned into dashes (see [FlagName]), for example
//     --server.queue-size; [BindFlag] binds further flags of the caller's
//     own, and [AddAlias] adds a short spelling that help shows instead.
//
// The layering is done by github.com/spf13/viper; this package adds the
// strict decoding, the typed conversion and the validation. Every problem
// found is reported (joined with [errors.Join]) as a [*KeyError] that names
// where the value came from, the full dotted key, the bad value and what is
// allowed:
//
//	config deploy.yaml:12: server.queue_size: -1 is invalid: must be >= 1
//
// Relative paths written in a config file resolve against that file's
// directory; relative paths from flags or the environment are left as given,
// that is relative to the working directory, except data.csv, which the
// trainer reads from data.dir as fastai's from_csv(path, csv_fname) does
// (see [Data]). Durations are Go duration
// strings such as "30s".
//
// Only cmd/ and this package import viper.
package config
