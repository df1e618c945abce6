package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/internal/clilog"
	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
)

// alias is a short flag for a configuration key, such as --model for
// model.path; it is the spelling help shows (config.AddAlias).
type alias struct {
	name, short, key, usage string
}

// keyAliases are the short flags of keys several subcommands use; a
// subcommand has those of the keys it registers.
var keyAliases = []alias{
	{name: "model", key: "model.path", usage: "model file (model.path)"},
	{name: "strategy", key: "thresholds.strategy", usage: "threshold strategy: f1, accuracy, precision>=P, recall>=R or fixed:T (thresholds.strategy)"},
}

// addConfigFlags registers on cmd one flag per configuration key that
// selectors select (sections such as "runtime", or keys; see
// config.AddPredictFlagsFor), and the short aliases of those keys. --config
// and the log flags are the root's.
func addConfigFlags(cmd *cobra.Command, selectors []string, aliases ...alias) {
	fs := cmd.Flags()
	config.AddPredictFlagsFor(fs, selectors...)
	for _, a := range append(slices.Clone(keyAliases), aliases...) {
		if fs.Lookup(config.FlagName(a.key)) == nil {
			continue // a key this command does not use
		}
		if err := config.AddAlias(fs, a.name, a.short, a.key, a.usage); err != nil {
			// The alias table is fixed at compile time: a wrong key is a
			// programmer error caught by every test of the command.
			panic(err)
		}
	}
}

// loadConfig loads the configuration from the file (--config), the
// environment and cmd's flags.
func loadConfig(cmd *cobra.Command) (*config.Predict, error) {
	cfg, err := config.LoadPredict(cli.ConfigFile(cmd), cmd.Flags())
	if err != nil {
		return nil, usage(err)
	}
	return cfg, nil
}

// newLogger builds the logger of the log section, writing to w.
func newLogger(cfg *config.Predict, w io.Writer) (*zap.Logger, error) {
	l, err := clilog.New(cfg.Log.Format, cfg.Log.Level, w)
	if err != nil {
		return nil, usage(fmt.Errorf("log: %w", err))
	}
	return l, nil
}

// thresholds converts the thresholds section.
func thresholds(cfg *config.Predict) predictor.Thresholds {
	return predictor.Thresholds{
		Strategy:  cfg.Thresholds.Strategy,
		Overrides: cfg.Thresholds.Overrides,
	}
}

// sessionOptions converts the runtime section.
func sessionOptions(cfg *config.Predict) ort.SessionOptions {
	r := cfg.Runtime
	return ort.SessionOptions{
		IntraOpThreads:    r.IntraOpThreads,
		InterOpThreads:    r.InterOpThreads,
		GraphOptimization: r.GraphOptimization,
		Providers:         r.Providers,
		CUDA: ort.CUDAOptions{
			DeviceID:            r.CUDADeviceID,
			CudnnConvAlgoSearch: r.CUDNNConvAlgoSearch,
			MemLimit:            uint64(r.CUDAMemLimit),
		},
		OnUnavailable: r.OnUnavailable,
	}
}

// openPredictor loads ONNX Runtime and the model. Failures are set-up
// errors (exit 2). The caller closes the predictor, then the runtime.
func openPredictor(cfg *config.Predict, opts predictor.Options, logger *zap.Logger) (*ort.Runtime, *predictor.Predictor, error) {
	rt, err := ort.Init(ort.InitOptions{Library: cfg.Runtime.Library, Logger: logger})
	if err != nil {
		return nil, nil, usage(err)
	}
	opts.Session = sessionOptions(cfg)
	opts.Thresholds = thresholds(cfg)
	opts.Logger = logger
	p, err := predictor.New(rt, cfg.Model.Path, opts)
	if err != nil {
		if cerr := rt.Close(); cerr != nil {
			logger.Warn("closing onnx runtime", zap.Error(cerr))
		}
		return nil, nil, usage(err)
	}
	return rt, p, nil
}

// closePredictor closes p and rt, logging problems.
func closePredictor(rt *ort.Runtime, p *predictor.Predictor, logger *zap.Logger) {
	if err := p.Close(); err != nil {
		logger.Warn("closing predictor", zap.Error(err))
	}
	if err := rt.Close(); err != nil {
		logger.Warn("closing onnx runtime", zap.Error(err))
	}
}
