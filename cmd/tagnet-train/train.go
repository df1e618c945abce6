package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/data"
	"github.com/tagnet/tagnet/trainer/learn"
	"github.com/tagnet/tagnet/trainer/metrics"
	"github.com/tagnet/tagnet/trainer/plot"
)

func (a *app) trainCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "train [--config train.yaml] [flags]",
		Short: "Train a model and export it as ONNX with its labels, preprocessing and threshold sweep",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.train(cmd.Context(), a.cfg, cmd.OutOrStdout())
		},
	}
	addConfigFlags(cmd.Flags(), "data", "model", "train", "sweep", "output")
	return cmd
}

func (a *app) train(ctx context.Context, cfg *config.Train, out io.Writer) error {
	log := a.log.With(zap.String("component", "train"))
	ds, g, w, err := prepare(ctx, cfg, a.flags, a.stderr, log)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Output.Dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	table := newEpochTable(out)
	bar := newBar(a.stderr)
	hooks := learn.Hooks{OnBatch: bar.batch, OnEpoch: func(st learn.EpochStats) { bar.done(); table.row(st) }}
	l, ppSpec, err := newLearner(cfg, ds, g, w, hooks, log)
	if err != nil {
		return err
	}
	defer l.Close()
	plan := planFor(cfg)
	log.Info("training", zap.String("arch", g.Spec.Arch), zap.Int("parameters", g.NumParams()), zap.Int("epochs", plan.Epochs()),
		zap.Int("train", len(ds.Train)), zap.Int("valid", len(ds.Valid)), zap.Int("threads", l.Net().Threads()))
	start := time.Now()
	if err := l.Fit(ctx, plan, cfg.Output.Resume); err != nil {
		bar.done()
		if errors.Is(err, learn.ErrInterrupted) {
			fmt.Fprintf(a.stderr, "interrupted: the last completed epoch is saved in %s; continue with --resume\n", cfg.Output.Dir)
			return cli.Code(cli.ExitInterrupted)
		}
		return err
	}
	early, bestEpoch := l.EarlyStopped()
	if early {
		// fastai's SaveModelCallback: export the epoch with the lowest
		// validation loss, not the last one.
		if err := l.LoadBest(); err != nil {
			return fmt.Errorf("early stopping: %w", err)
		}
		log.Info("exporting the best epoch", zap.Int("epoch", bestEpoch+1))
	}
	ev, err := l.EvaluateExported(ctx) // the exported model's numerics: fp32
	if err != nil {
		return err
	}
	grid := models.Grid(cfg.Sweep.Start, cfg.Sweep.Stop, cfg.Sweep.Steps)
	sweep := l.Sweep(ev, grid)
	for j := range sweep.Classes {
		sweep.Classes[j].TrainSupport = &ds.TrainCounts[j]
	}
	bad := badItems(ds, l.History())
	md := models.Metadata{
		Labels:     ds.Labels,
		LabelDelim: labelDelim(cfg),
		Preprocess: mustJSON(ppSpec),
		Training: &models.Training{
			Arch: g.Spec.Arch, Epochs: len(l.History()), Schedule: cfg.Train.Schedule, Dataset: cfg.Data.CSV,
			Train: len(ds.Train), Valid: len(ds.Valid), Seed: uint64(cfg.Train.Seed),
			Finished: time.Now().UTC().Format(time.RFC3339), Metrics: ev.Metrics(),
			BadItems: len(bad), BadItemList: bad, Precision: models.Precision(l.Precision()),
		},
		Sweep: sweep,
	}
	if early {
		md.Training.EarlyStopped, md.Training.BestEpoch = true, bestEpoch+1
	}
	m := &models.Model{Graph: g, Weights: l.Weights(), Metadata: md}
	modelPath := cfg.ModelPath()
	if err := m.WriteFile(modelPath, models.WriteOptions{ProducerVersion: version}); err != nil {
		return err
	}
	sweepCSV := filepath.Join(cfg.Output.Dir, "sweep.csv")
	if err := writeSweepCSV(sweepCSV, sweep); err != nil {
		return err
	}
	if cfg.Output.Plots {
		if err := writePlots(cfg.Output.Dir, l.History(), sweep); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\ntrained %d epochs in %s\n", len(l.History()), time.Since(start).Round(time.Second))
	if early {
		fmt.Fprintf(out, "early stopping: the model has the weights of epoch %d (lowest validation loss %.4f, from best.ckpt), not of the last epoch\n",
			bestEpoch+1, l.History()[bestEpoch].ValidLoss)
	}
	if len(bad) > 0 {
		fmt.Fprintf(out, "%d bad item(s) left out (data.on_bad_item=skip; also in the model's training summary):\n", len(bad))
		for _, b := range bad {
			fmt.Fprintf(out, "  %s\n", b)
		}
	}
	fmt.Fprintf(out, "macro F1 with per-class thresholds from the sweep: %.4f (at 0.5: %.4f)\n", sweep.BestF1Macro(), ev.F1Macro)
	fmt.Fprintf(out, "model: %s\nsweep: %s\nmetrics log: %s\n", modelPath, sweepCSV, filepath.Join(cfg.Output.Dir, "metrics.jsonl"))
	if cfg.Output.Plots {
		fmt.Fprintf(out, "plots: %s, %s\n", filepath.Join(cfg.Output.Dir, "training.png"), filepath.Join(cfg.Output.Dir, "sweep.png"))
	}
	fmt.Fprintf(out, "final validation: %s\n", joinMetrics(ev.Metrics()))
	return nil
}

// badItems names the items left out of training: at load, then each item
// that failed during an epoch, once.
func badItems(ds *data.Dataset, hist []learn.EpochStats) []string {
	var out []string
	for _, p := range ds.Report.Problems {
		out = append(out, p.String())
	}
	seen := map[string]bool{}
	for _, st := range hist {
		for _, it := range st.SkippedItems {
			if !seen[it] {
				seen[it] = true
				out = append(out, it)
			}
		}
	}
	return out
}

// labelDelim is the label delimiter the model stores: the training CSV's.
func labelDelim(cfg *config.Train) string {
	if cfg.Data.LabelDelim == "" {
		return " "
	}
	return cfg.Data.LabelDelim
}

func writeSweepCSV(path string, s *models.Sweep) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing sweep: %w", err)
	}
	if err := metrics.WriteSweepCSV(f, s); err != nil {
		f.Close()
		return fmt.Errorf("writing sweep %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing sweep %s: %w", path, err)
	}
	return nil
}

func writePlots(dir string, hist []learn.EpochStats, s *models.Sweep) error {
	h := plot.History{Metrics: map[string][]float64{}}
	for _, st := range hist {
		h.TrainLoss = append(h.TrainLoss, st.TrainLoss)
		h.ValidLoss = append(h.ValidLoss, st.ValidLoss)
		h.Metrics[models.MetricAccuracyMulti] = append(h.Metrics[models.MetricAccuracyMulti], st.AccuracyMulti)
		h.Metrics[models.MetricF1Macro] = append(h.Metrics[models.MetricF1Macro], st.F1Macro)
		h.Metrics[models.MetricMAP] = append(h.Metrics[models.MetricMAP], st.MAP)
	}
	if err := plot.TrainingCurvesPNG(filepath.Join(dir, "training.png"), h); err != nil {
		return fmt.Errorf("plotting training curves: %w", err)
	}
	if err := plot.SweepPNG(filepath.Join(dir, "sweep.png"), s); err != nil {
		return fmt.Errorf("plotting sweep: %w", err)
	}
	return nil
}

// epochTable prints fastai's per-epoch table.
type epochTable struct {
	w       io.Writer
	printed bool
}

func newEpochTable(w io.Writer) *epochTable { return &epochTable{w: w} }

func (t *epochTable) row(st learn.EpochStats) {
	if !t.printed {
		fmt.Fprintf(t.w, "%-5s %-9s %10s %10s %14s %9s %10s %8s %8s %8s\n",
			"epoch", "phase", models.MetricTrainLoss, models.MetricValidLoss, models.MetricAccuracyMulti,
			models.MetricF1Macro, models.MetricF1Samples, models.MetricMAP, "img/s", "time")
		t.printed = true
	}
	d := time.Duration(st.Seconds * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(t.w, "%-5d %-9s %10.4f %10.4f %14.4f %9.4f %10.4f %8.4f %8.1f %8s\n",
		st.Epoch, st.Phase, st.TrainLoss, st.ValidLoss, st.AccuracyMulti, st.F1Macro, st.F1Samples, st.MAP, st.ImagesPerSec, d)
}

// bar is a per-epoch progress bar on a terminal (stderr); elsewhere it
// does nothing.
type bar struct {
	w  io.Writer // a terminal, or nil
	pb *progressbar.ProgressBar
}

// newBar draws on w when it is a terminal.
func newBar(w io.Writer) *bar {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &bar{w: f}
	}
	return &bar{}
}

func (b *bar) batch(bi learn.BatchInfo) {
	if b.w == nil {
		return
	}
	if b.pb == nil {
		b.pb = progressbar.NewOptions(bi.Batches, progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", bi.Epoch+1, bi.Epochs)),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	_ = b.pb.Set(bi.Batch)
	b.pb.Describe(fmt.Sprintf("epoch %d/%d loss %.4f %.0f img/s", bi.Epoch+1, bi.Epochs, bi.Loss, float64(bi.Images)/bi.Elapsed.Seconds()))
}

func (b *bar) done() {
	if b.pb != nil {
		_ = b.pb.Finish()
		b.pb = nil
	}
}
