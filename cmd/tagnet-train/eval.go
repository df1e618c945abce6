package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/preprocess"
	"github.com/tagnet/tagnet/trainer/data"
	"github.com/tagnet/tagnet/trainer/learn"
	"github.com/tagnet/tagnet/trainer/metrics"
	"github.com/tagnet/tagnet/trainer/nn"
	"github.com/tagnet/tagnet/trainer/plot"
)

// evalResult holds the validation outputs of an exported model through
// ONNX Runtime and, for comparison, through the training engine.
type evalResult struct {
	Labels          []string
	N               int
	ORTLogits       []float32
	EngineLogits    []float32
	Targets         []float32
	MaxAbsDiff      float64
	ORT, Engine     map[string]float64
	Threshold       float64
	ProbsORT        []float32
	ModelPath       string
	PreprocessSpec  preprocess.Spec
	ValidationItems int
}

// evaluatingCmd is a command that runs an exported model (--model, by
// default output.dir/output.model) over the validation split of the
// configured data and hands the result to then.
func (a *app) evaluatingCmd(use, short string, keys []string, then func(cmd *cobra.Command, cfg *config.Train, modelPath string, res *evalResult) error) *cobra.Command {
	var modelPath string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := a.cfg
			if modelPath == "" {
				modelPath = cfg.ModelPath()
			}
			res, err := a.evaluate(cmd.Context(), cfg, modelPath)
			if err != nil {
				return err
			}
			return then(cmd, cfg, modelPath, res)
		},
	}
	// The architecture and preprocessing are the model's: no model.*
	// keys, no training schedule.
	addConfigFlags(cmd.Flags(), keys...)
	cmd.Flags().StringVar(&modelPath, "model", "", "the model (default: output.dir/output.model)")
	return cmd
}

func (a *app) evalCmd() *cobra.Command {
	return a.evaluatingCmd("eval --model MODEL --data DIR [--csv CSV]",
		"Evaluate an exported model through ONNX Runtime on the validation split and compare with the training engine",
		append(slices.Clone(evalKeys), "train.threshold"),
		func(cmd *cobra.Command, _ *config.Train, _ string, res *evalResult) error {
			printEval(cmd.OutOrStdout(), res)
			if res.MaxAbsDiff > 1e-4 {
				return fmt.Errorf("ONNX Runtime and the training engine disagree: max |Δlogit| = %.3g > 1e-4", res.MaxAbsDiff)
			}
			return nil
		})
}

func (a *app) sweepCmd() *cobra.Command {
	return a.evaluatingCmd("sweep --model MODEL --data DIR [--csv CSV]",
		"Recompute the threshold sweep of an existing model on the validation split and store it in the model",
		append(slices.Clone(evalKeys), "sweep"),
		func(cmd *cobra.Command, cfg *config.Train, modelPath string, res *evalResult) error {
			m, err := models.Load(modelPath)
			if err != nil {
				return err
			}
			grid := models.Grid(cfg.Sweep.Start, cfg.Sweep.Stop, cfg.Sweep.Steps)
			old := m.Metadata.Sweep
			m.Metadata.Sweep = metrics.Sweep(res.ProbsORT, res.Targets, res.N, len(res.Labels), res.Labels, grid)
			if old != nil { // the training counts are the training run's; keep them
				for j := range m.Metadata.Sweep.Classes {
					m.Metadata.Sweep.Classes[j].TrainSupport = old.Classes[j].TrainSupport
				}
			}
			if err := m.WriteFile(modelPath, models.WriteOptions{ProducerVersion: version}); err != nil {
				return err
			}
			dir := filepath.Dir(modelPath)
			if err := writeSweepCSV(filepath.Join(dir, "sweep.csv"), m.Metadata.Sweep); err != nil {
				return err
			}
			if err := plot.SweepPNG(filepath.Join(dir, "sweep.png"), m.Metadata.Sweep); err != nil {
				return fmt.Errorf("plotting sweep: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sweep of %d thresholds on %d validation items stored in %s\nsweep: %s\n",
				len(grid), res.N, modelPath, filepath.Join(dir, "sweep.csv"))
			return nil
		})
}

// evaluate runs the validation split of cfg's data through the model at
// modelPath, in ONNX Runtime and in the training engine.
func (a *app) evaluate(ctx context.Context, cfg *config.Train, modelPath string) (*evalResult, error) {
	log := a.log.With(zap.String("component", "eval"))
	m, err := models.Load(modelPath)
	if err != nil {
		return nil, usage(err) // a model that cannot be loaded is the caller's to fix, as in tagnet-predict
	}
	var ppSpec preprocess.Spec
	if err := json.Unmarshal(m.Metadata.Preprocess, &ppSpec); err != nil {
		return nil, fmt.Errorf("model %s: preprocessing: %w", modelPath, err)
	}
	pre, err := preprocess.New(ppSpec, preprocess.Limits{})
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", modelPath, err)
	}
	ds, err := loadData(cfg, a.flags, m.Metadata.Labels, a.stderr, log)
	if err != nil {
		return nil, err
	}
	aug, err := data.NewAugmenter(pre, data.AugmentOptions{Mode: data.AugmentNone})
	if err != nil {
		return nil, err
	}
	batch := cfg.Train.BatchSize
	loader, err := data.NewLoader(ds.Valid, aug, data.LoaderOptions{BatchSize: batch, Workers: cfg.Data.Workers, Logger: log})
	if err != nil {
		return nil, err
	}
	defer loader.Close()
	// The environment lives as long as the process (ONNX Runtime allows
	// one per process, and a closed one cannot be reopened).
	rt, err := ort.Init(ort.InitOptions{Library: cfg.Runtime.Library, Logger: log})
	if err != nil {
		return nil, usage(err)
	}
	sess, err := ort.NewSession(rt, modelPath, ort.SessionOptions{IntraOpThreads: cfg.Train.Threads, Logger: log})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	net, err := nn.New(m.Graph, m.Weights, nn.Config{MaxBatch: batch, Threads: cfg.Train.Threads})
	if err != nil {
		return nil, err
	}
	defer net.Close()
	res := &evalResult{Labels: m.Metadata.Labels, Threshold: cfg.Train.Threshold, ModelPath: modelPath, PreprocessSpec: ppSpec}
	c := len(res.Labels)
	for b, err := range loader.Epoch(0) {
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if b.N == 0 {
			continue
		}
		in := b.Images[:b.N*pre.InputLen()]
		ol, err := sess.Run(in, b.N)
		if err != nil {
			return nil, err
		}
		el, err := net.Forward(in, b.N, false)
		if err != nil {
			return nil, err
		}
		for i := range ol {
			res.MaxAbsDiff = math.Max(res.MaxAbsDiff, math.Abs(float64(ol[i]-el[i])))
		}
		res.ORTLogits = append(res.ORTLogits, ol...)
		res.EngineLogits = append(res.EngineLogits, el...)
		res.Targets = append(res.Targets, b.Targets[:b.N*c]...)
		res.N += b.N
	}
	if res.N == 0 {
		return nil, fmt.Errorf("no validation items could be loaded")
	}
	res.ValidationItems = len(ds.Valid)
	res.ProbsORT = metrics.Sigmoid(res.ORTLogits)
	res.ORT = metricsOf(res.ORTLogits, res.Targets, res.N, c, res.Threshold)
	res.Engine = metricsOf(res.EngineLogits, res.Targets, res.N, c, res.Threshold)
	return res, nil
}

func metricsOf(logits, targets []float32, n, c int, thresh float64) map[string]float64 {
	return learn.Score(logits, targets, n, c, thresh).Metrics()
}

func printEval(w io.Writer, r *evalResult) {
	fmt.Fprintf(w, "model: %s\nvalidation items: %d\n", r.ModelPath, r.N)
	fmt.Fprintf(w, "ONNX Runtime:    %s\n", joinMetrics(r.ORT))
	fmt.Fprintf(w, "training engine: %s\n", joinMetrics(r.Engine))
	fmt.Fprintf(w, "max |logit(ONNX Runtime) − logit(engine)| = %.3g\n", r.MaxAbsDiff)
}
