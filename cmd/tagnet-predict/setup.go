package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/cmd/internal/clilog"
	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/postprocess"
)

// alias is a short flag for a configuration key, such as --model for
// model.path.
type alias struct {
	name, short, key, usage string
	kind                    string // "string", "bool" or "int"
}

// commonAliases are the short flags every subcommand has.
var commonAliases = []alias{
	{name: "model", key: "model.path", usage: "model file (model.path)", kind: "string"},
	{name: "log-format", key: "log.format", usage: "log format: console or json (log.format)", kind: "string"},
	{name: "log-level", key: "log.level", usage: "log level: debug, info, warn or error (log.level)", kind: "string"},
	{name: "strategy", key: "thresholds.strategy", usage: "threshold strategy: f1, accuracy, precision>=P, recall>=R or fixed:T (thresholds.strategy)", kind: "string"},
}

// addConfigFlags registers --config, every configuration key as a flag
// (--section.key) and the given short aliases on cmd.
func addConfigFlags(cmd *cobra.Command, aliases ...alias) *string {
	fs := cmd.Flags()
	path := fs.String("config", "", "YAML configuration file (see config/examples/deploy.yaml)")
	config.AddPredictFlags(fs)
	for _, a := range append(commonAliases, aliases...) {
		switch a.kind {
		case "bool":
			fs.BoolP(a.name, a.short, false, a.usage)
		case "int":
			fs.IntP(a.name, a.short, 0, a.usage)
		default:
			fs.StringP(a.name, a.short, "", a.usage)
		}
		if err := config.BindFlag(fs, a.name, a.key); err != nil {
			// The alias table is fixed at compile time: a wrong key is a
			// programmer error caught by every test of the command.
			panic(err)
		}
	}
	return path
}

// loadConfig loads the configuration from the file, environment and flags.
func loadConfig(path string, fs *pflag.FlagSet) (*config.Predict, error) {
	cfg, err := config.LoadPredict(path, fs)
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
		Strategy:  postprocess.Strategy{Kind: cfg.Thresholds.Strategy.Kind, Value: cfg.Thresholds.Strategy.Value},
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
