package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
)

func (a *app) initCmd() *cobra.Command {
	var (
		spec   models.Spec
		labels []string
		seed   uint64
		out    string
		probs  bool
		stem   string
		head   string
	)
	cmd := &cobra.Command{
		Use:   "init -o MODEL",
		Short: "Write a random-initialised model (for tests, benchmarks and smoke runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec.Stem, spec.Head = models.Stem(stem), models.Head(head)
			if out == "" {
				return usage(fmt.Errorf("--output is required"))
			}
			if len(labels) > 0 {
				if cmd.Flags().Changed("classes") && spec.NumClasses != len(labels) {
					return usage(fmt.Errorf("--classes %d disagrees with %d --labels", spec.NumClasses, len(labels)))
				}
				spec.NumClasses = len(labels)
			} else {
				for i := range spec.NumClasses {
					labels = append(labels, fmt.Sprintf("class%02d", i))
				}
			}
			g, err := models.Build(spec)
			if err != nil {
				return usage(err)
			}
			pp, err := json.Marshal(preprocess.Default(spec.InputSize))
			if err != nil {
				return fmt.Errorf("encoding preprocessing: %w", err)
			}
			m := &models.Model{
				Graph:    g,
				Weights:  models.Init(g, models.InitOptions{Seed: seed}),
				Metadata: models.Metadata{Labels: labels, Preprocess: pp},
			}
			if err := m.WriteFile(out, models.WriteOptions{Probabilities: probs}); err != nil {
				return err
			}
			a.log.Info("wrote random-initialised model", zap.String("path", out), zap.String("arch", spec.Arch),
				zap.Int("classes", spec.NumClasses), zap.Int("size", spec.InputSize), zap.Int("parameters", g.NumParams()))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Arch, "arch", "resnet18", "architecture: "+strings.Join(models.Archs(), ", "))
	f.IntVar(&spec.NumClasses, "classes", 20, "number of classes (labels class00, class01, …)")
	f.StringSliceVar(&labels, "labels", nil, "label names, comma-separated (sets the number of classes)")
	f.IntVar(&spec.InputSize, "size", 224, "square input size in pixels")
	f.StringVar(&stem, "stem", string(models.StemImageNet), "stem: imagenet (7×7/2 + max-pool) or small (3×3/1, for 32–96 px)")
	f.StringVar(&head, "head", string(models.HeadFastai), "head: fastai (concat pool + 2 linears) or linear")
	f.Float64Var(&spec.Width, "width", 1, "channel width multiplier")
	f.Uint64Var(&seed, "seed", 1, "random seed")
	f.StringVarP(&out, "output", "o", "", "model file to write")
	f.BoolVar(&probs, "probabilities", false, "add a probabilities output (sigmoid of the logits)")
	return cmd
}
