package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/trainer/data"
)

func (a *app) dataCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "data", Short: "Write built-in data sets in fastai's multi-label CSV layout"}
	cmd.AddCommand(a.synthCmd(), a.fashionCmd())
	return cmd
}

// generatorCmd is a data subcommand that writes a data set into -o DIR:
// flags registers its options, write writes it.
func (a *app) generatorCmd(use, short string, flags func(*pflag.FlagSet), write func(dir string) (data.CSVOptions, error)) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   use + " -o DIR",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usage(fmt.Errorf("--output is required"))
			}
			t0 := time.Now()
			csv, err := write(out)
			if err != nil {
				return err
			}
			a.log.Info("wrote data set", zap.String("kind", use), zap.String("csv", csv.CSVPath), zap.Duration("took", time.Since(t0)))
			fmt.Fprintf(cmd.OutOrStdout(), "data: %s\nlabels: %s\n", out, csv.CSVPath)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "folder to write")
	flags(cmd.Flags())
	return cmd
}

func (a *app) synthCmd() *cobra.Command {
	var opt data.SynthOptions
	return a.generatorCmd("synth",
		"Write the seeded synthetic demo set (coloured shapes on textured backgrounds); needs nothing installed",
		func(f *pflag.FlagSet) {
			f.IntVar(&opt.Train, "train", data.DefaultSynthTrain, "training images (0 for none)")
			f.IntVar(&opt.Valid, "valid", data.DefaultSynthValid, "validation images (0 for none)")
			f.IntVar(&opt.Size, "image-size", data.DefaultSynthSize, "image side in pixels (not the model's input size, which is --size of init and train)")
			f.IntVar(&opt.Classes, "classes", data.DefaultSynthClasses, "classes, 1 to 8")
			f.IntVar(&opt.MaxObjects, "max-objects", data.DefaultSynthMaxObjects, "most objects per image")
			f.Uint64Var(&opt.Seed, "seed", 1, "seed (same seed, same bytes)")
			f.StringVar(&opt.Format, "format", data.FormatJPEG, "image format: jpeg or png")
		},
		func(dir string) (data.CSVOptions, error) {
			opt.Train, opt.Valid = noneIfZero(opt.Train), noneIfZero(opt.Valid)
			return data.Synth(dir, opt)
		})
}

func (a *app) fashionCmd() *cobra.Command {
	var opt data.FashionMNISTOptions
	return a.generatorCmd("fashion-mnist",
		"Compose the multi-label Fashion-MNIST benchmark from Debian's dataset-fashion-mnist",
		func(f *pflag.FlagSet) {
			f.StringVar(&opt.Dir, "idx", data.DefaultFashionMNISTDir, "folder of the IDX files")
			f.IntVar(&opt.Train, "train", data.DefaultFashionTrain, "training canvases from the train split (0 for none)")
			f.IntVar(&opt.Valid, "valid", data.DefaultFashionValid, "validation canvases from the test split (0 for none)")
			f.IntVar(&opt.Size, "image-size", data.DefaultFashionSize, "canvas side in pixels (not the model's input size, which is --size of init and train)")
			f.IntVar(&opt.MinItems, "min-items", 1, "fewest items per canvas")
			f.IntVar(&opt.MaxItems, "max-items", 4, "most items per canvas")
			f.Uint64Var(&opt.Seed, "seed", 1, "seed (same seed, same bytes)")
		},
		func(dir string) (data.CSVOptions, error) {
			opt.Train, opt.Valid = noneIfZero(opt.Train), noneIfZero(opt.Valid)
			return data.FashionMNIST(dir, opt)
		})
}

// noneIfZero maps the command line's 0 ("none") to the options' negative
// count (their zero means the default).
func noneIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
