package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/batch"
)

func predictCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "predict [flags] DIR...",
		Short: "Label every image under directories into a CSV or JSON-lines file",
		Long: `Label every image under the given directories (walked recursively, in sorted
order) and write one row per file: .csv output has a header row and one
probability column per class, .jsonl one JSON object per line, and - or no
output JSON lines on standard output. Files that cannot be read or decoded
get a row with their error, and the run goes on.

The file column is the path as walked: the directory as given joined with
the path below it. --resume skips files already in the output, failed ones
included (after cutting off a torn last line left by a crash); resume with
the same directory arguments. --shard i/n (or auto/n with
$JOB_COMPLETION_INDEX) predicts one deterministic part of the files, chosen
by a hash of their path relative to the directory given, so every machine
splits the same way. A run that has a row for every file of its shard
leaves FILE.done.json beside the output; merge combines the shards' files.`,
		Example: `  tagnet-predict predict --model model.onnx -o results.csv photos/
  tagnet-predict predict --model model.onnx --shard 3/8 -o part3.jsonl /data
  tagnet-predict predict --config deploy.yaml --resume photos/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPredict(cmd, args)
		},
	}
	addConfigFlags(cmd, []string{"model", "runtime", "thresholds", "predict"},
		alias{name: "output", short: "o", key: "predict.output", usage: "results file: .csv, .jsonl, or - for standard output (predict.output)"},
		alias{name: "resume", key: "predict.resume", usage: "skip files already in the output (predict.resume)"},
		alias{name: "shard", key: "predict.shard", usage: "predict shard i/n of the files, or auto/n from $JOB_COMPLETION_INDEX (predict.shard)"},
		alias{name: "follow-symlinks", key: "predict.follow_symlinks", usage: "follow symbolic links (predict.follow_symlinks)"},
		alias{name: "batch-size", key: "predict.batch_size", usage: "images per inference call (predict.batch_size)"},
		alias{name: "workers", key: "predict.workers", usage: "image-decoding goroutines, 0 = one per CPU (predict.workers)"},
	)
	return cmd
}

func runPredict(cmd *cobra.Command, dirs []string) error {
	cfg, err := loadConfig(cmd)
	if err != nil {
		return err
	}
	if err := cfg.RequireModel(cmd.Flags()); err != nil {
		return usage(err)
	}
	if len(dirs) == 0 {
		return usage(errors.New("predict: give at least one directory or image file to predict"))
	}
	stderr := cmd.ErrOrStderr()
	logger, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()

	pc := cfg.Predict
	var warmup int
	if cfg.Runtime.Warmup {
		warmup = pc.BatchSize
	}
	rt, p, err := openPredictor(cfg, predictor.Options{Warmup: warmup, MaxBatch: pc.BatchSize, MaxPixels: pc.MaxPixels}, logger)
	if err != nil {
		return err
	}
	defer closePredictor(rt, p, logger)

	bar := newProgress(stderr)
	sum, err := batch.Predict(cmd.Context(), p, batch.Config{
		Roots: dirs,
		Walk: batch.WalkOptions{
			Extensions:     pc.Extensions,
			FollowSymlinks: pc.FollowSymlinks,
		},
		Output: batch.OutputOptions{
			Path:   pc.Output,
			Resume: pc.Resume,
			Stdout: cmd.OutOrStdout(),
		},
		ShardIndex: pc.Shard.Index,
		ShardCount: pc.Shard.Count,
		Run: batch.Options{
			BatchSize:  pc.BatchSize,
			Workers:    pc.Workers,
			OnProgress: bar.update,
			Logger:     logger,
		},
	})
	bar.finish()
	if errors.Is(err, batch.ErrConfig) {
		return usage(err)
	}

	rate := 0.0
	if s := sum.Elapsed.Seconds(); s > 0 {
		rate = float64(sum.OK+sum.Failed) / s
	}
	logger.Info("prediction finished",
		zap.Int("ok", sum.OK), zap.Int("failed", sum.Failed), zap.Int("skipped", sum.Skipped),
		zap.Int("files", sum.Files), zap.Duration("elapsed", sum.Elapsed), zap.Float64("images_per_second", rate),
		zap.Error(err))
	fmt.Fprintf(stderr, "predicted %d of %d files: %d ok, %d failed", sum.OK+sum.Failed, sum.Files, sum.OK, sum.Failed)
	if sum.Skipped > 0 {
		fmt.Fprintf(stderr, " (%d already in the output skipped)", sum.Skipped)
	}
	fmt.Fprintf(stderr, " in %s (%.1f images/s)\n", sum.Elapsed.Round(time.Millisecond), rate)

	switch {
	case err != nil && cmd.Context().Err() != nil:
		return failed(fmt.Errorf("interrupted; run again with --resume to finish: %w", err))
	case err != nil:
		return failed(err)
	case sum.Failed > 0:
		return cli.Code(cli.ExitFailed)
	}
	return nil
}

// progress draws a progress bar on a terminal and nothing elsewhere.
type progress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
	on  bool
}

// newProgress returns a progress bar on w when w is a terminal.
func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, on: ok && term.IsTerminal(int(f.Fd()))}
}

// update is a batch.Options.OnProgress callback.
func (p *progress) update(pr batch.Progress) {
	if !p.on {
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(pr.Total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription("predicting"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("img"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	_ = p.bar.Set(pr.OK + pr.Failed)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
