package main

import (
	"context"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/serve"
)

// runServer serves p over HTTP as cfg.Server says (serveOptions) until
// ctx is done, draining in-flight requests (bounded by
// server.shutdown_timeout).
func runServer(ctx context.Context, cfg *config.Predict, p *predictor.Predictor, logger *zap.Logger) error {
	opt, err := serveOptions(cfg, logger)
	if err != nil {
		return err
	}
	return serve.Run(ctx, p, opt)
}

func serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve the model over HTTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if err := cfg.RequireModel(cmd.Flags()); err != nil {
				return usage(err)
			}
			logger, err := newLogger(cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer func() { _ = logger.Sync() }()
			rt, p, err := openPredictor(cfg, servePredictorOptions(cfg), logger)
			if err != nil {
				return err
			}
			defer closePredictor(rt, p, logger)
			if err := runServer(cmd.Context(), cfg, p, logger); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	addConfigFlags(cmd, []string{"model", "runtime", "thresholds", "server"})
	return cmd
}
