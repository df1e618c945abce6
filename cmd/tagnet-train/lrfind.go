package main

import (
	"fmt"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/trainer/learn"
	"github.com/tagnet/tagnet/trainer/plot"
)

func (a *app) lrFindCmd() *cobra.Command {
	var opt learn.LRFindOptions
	cmd := &cobra.Command{
		Use:   "lr-find [--config train.yaml] [flags]",
		Short: "Find a learning rate (fastai's lr_find): plot the loss against a growing learning rate and suggest one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := a.cfg
			log := a.log.With(zap.String("component", "lr-find"))
			ds, g, w, err := prepare(cmd.Context(), cfg, cmd.Flags(), cmd.ErrOrStderr(), log)
			if err != nil {
				return err
			}
			noDir := *cfg
			noDir.Output.Dir = "" // lr_find writes no checkpoints
			l, _, err := newLearner(&noDir, ds, g, w, learn.Hooks{}, log)
			if err != nil {
				return err
			}
			defer l.Close()
			res, err := l.LRFind(cmd.Context(), opt)
			if err != nil {
				return err
			}
			path := filepath.Join(cfg.Output.Dir, "lr_find.png")
			if err := ensureDir(cfg.Output.Dir); err != nil {
				return err
			}
			if err := plot.LRFindPNG(path, res.LRs, res.Losses, res.Suggestions); err != nil {
				return fmt.Errorf("plotting: %w", err)
			}
			names := make([]string, 0, len(res.Suggestions))
			for k := range res.Suggestions {
				names = append(names, k)
			}
			sort.Strings(names)
			out := cmd.OutOrStdout()
			for _, k := range names {
				fmt.Fprintf(out, "%-9s %.3g\n", k, res.Suggestions[k])
			}
			fmt.Fprintf(out, "plot: %s (%d points)\n", path, len(res.LRs))
			return nil
		},
	}
	// What the learner reads, less the schedule (lr_find runs its own)
	// and what only a full run uses (early stopping, the metric threshold).
	addConfigFlags(cmd.Flags(), "data", "model", "train.batch_size", "train.threads", "train.seed", "train.wd",
		"train.wd_bn_bias", "train.aug", "train.min_scale", "train.precision", "output.dir")
	cmd.Flags().Float64Var(&opt.Start, "start-lr", 1e-7, "first learning rate")
	cmd.Flags().Float64Var(&opt.End, "end-lr", 10, "last learning rate")
	cmd.Flags().IntVar(&opt.NumIt, "num-it", 100, "steps")
	return cmd
}
