package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/postprocess"
	"github.com/tagnet/tagnet/preprocess"
)

func infoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info [flags] [MODEL]",
		Short: "Print a model's labels, preprocessing, training summary and thresholds",
		Long: `Print what a model file says about itself (labels, preprocessing, training
summary, threshold sweep) and the per-class thresholds the predictor would use
with the configured strategy and overrides. It does not load ONNX Runtime.
A model without a sweep is described too (exit 0): its sweep strategies
(f1, accuracy, precision>=P, recall>=R) are unavailable, fixed:T and
overrides apply.

MODEL defaults to model.path.`,
		Example: `  tagnet-predict info model.onnx
  tagnet-predict info --strategy 'precision>=0.9' model.onnx
  tagnet-predict info --json model.onnx`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			path := cfg.Model.Path
			if len(args) == 1 {
				path = args[0]
			}
			if path == "" {
				return usage(errors.New("info: give a model file, or set model.path"))
			}
			th := thresholds(cfg)
			in, err := predictor.Describe(path, th)
			var thErr error
			if errors.Is(err, postprocess.ErrNoSweep) {
				// info describes; it does not fail on a model without a
				// sweep: describe it and say what is unavailable.
				thErr = err
				th.Strategy = postprocess.Strategy{Kind: postprocess.KindFixed, Value: 0.5}
				in, err = predictor.Describe(path, th)
			}
			if err != nil {
				return usage(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				doc := struct {
					*predictor.Info
					Unavailable string `json:"thresholds_unavailable,omitempty"`
				}{Info: in}
				if thErr != nil {
					in.Thresholds = nil
					doc.Unavailable = noSweep(thErr)
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(doc); err != nil {
					return failed(fmt.Errorf("writing info: %w", err))
				}
				return nil
			}
			if err := printInfo(out, in, thErr); err != nil {
				return failed(fmt.Errorf("writing info: %w", err))
			}
			return nil
		},
	}
	addConfigFlags(cmd, []string{"model", "thresholds"})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the description as JSON")
	return cmd
}

// noSweep says that sweep strategies are unavailable, and why.
func noSweep(err error) string {
	return fmt.Sprintf("the model has no threshold sweep, so sweep strategies (f1, accuracy, precision>=P, recall>=R) are unavailable; use fixed:T or per-class overrides (%v)", err)
}

// printInfo writes the human-readable description. thErr, when set, says
// why no thresholds can be chosen; in.Thresholds is then not shown.
func printInfo(w io.Writer, in *predictor.Info, thErr error) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	s := in.Spec
	row("model", in.Path)
	row("version", in.Version+" (sha256 "+in.SHA256+")")
	if in.Adopted {
		row("architecture", fmt.Sprintf("%s (adopted from elsewhere), input %d×%d, %d classes, output %s",
			s.Arch, s.InputSize, s.InputSize, s.NumClasses, in.OutputKind))
	} else {
		row("architecture", fmt.Sprintf("%s, stem %s, head %s, width %g, input %d×%d, %d classes",
			s.Arch, s.Stem, s.Head, s.Width, s.InputSize, s.InputSize, s.NumClasses))
	}
	if in.FixedBatch > 0 {
		row("batch", fmt.Sprintf("fixed at %d (batches are split and padded to it)", in.FixedBatch))
	}
	row("labels", strings.Join(in.Labels, ", "))
	row("preprocessing", describePreprocess(in.Preprocess))
	if t := in.Training; t != nil {
		parts := []string{fmt.Sprintf("%s, %d epochs", t.Arch, t.Epochs)}
		if t.Schedule != "" {
			parts = append(parts, "schedule "+string(t.Schedule))
		}
		if t.Dataset != "" {
			parts = append(parts, fmt.Sprintf("data %s (%d train, %d valid items)", t.Dataset, t.Train, t.Valid))
		}
		if t.Seed != 0 {
			parts = append(parts, fmt.Sprintf("seed %d", t.Seed))
		}
		if t.Finished != "" {
			parts = append(parts, "finished "+t.Finished)
		}
		row("training", strings.Join(parts, ", "))
		if len(t.Metrics) > 0 {
			var ms []string
			for _, k := range slices.Sorted(maps.Keys(t.Metrics)) {
				ms = append(ms, fmt.Sprintf("%s %.4g", k, t.Metrics[k]))
			}
			row("validation", strings.Join(ms, ", "))
		}
	} else {
		row("training", "none recorded (a random-initialised model?)")
	}
	if in.Sweep == nil {
		row("sweep", "none (only fixed:T thresholds and overrides apply)")
	} else {
		row("sweep", fmt.Sprintf("%d classes on %d validation items", len(in.Sweep), in.SweepItems))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if thErr != nil {
		fmt.Fprintf(w, "thresholds: %s\n", noSweep(thErr))
	} else {
		fmt.Fprintf(w, "thresholds (strategy %s; a class is present when its probability is above its threshold)\n", in.Strategy)
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "label\tthreshold\tsource\tprecision\trecall\tf1\tsupport\tbest f1\tat\tnote")
	for i, label := range in.Labels {
		cols := []string{label, "-", "-", "-", "-", "-", "-", "-", "-", ""}
		if thErr == nil {
			c := in.Thresholds[i]
			cols[1], cols[2] = fmtFloat(c.Threshold), c.Source
			cols[3], cols[4], cols[5] = fmtPtr(c.Precision), fmtPtr(c.Recall), fmtPtr(c.F1)
		}
		if in.Sweep != nil {
			sw := in.Sweep[i]
			cols[6], cols[7], cols[8], cols[9] = strconv.Itoa(sw.Support), fmtFloat(sw.BestF1), fmtFloat(sw.BestF1Threshold), sw.OneSided
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if thErr == nil {
		for _, warn := range in.Warnings {
			fmt.Fprintln(w, "warning:", warn)
		}
	}
	return nil
}

// describePreprocess renders a preprocessing spec on one line.
func describePreprocess(p preprocess.Spec) string {
	var resize string
	switch p.ResizeMode {
	case preprocess.ResizeSquish:
		resize = fmt.Sprintf("squish to %d×%d", p.ResizeWidth, p.ResizeHeight)
	case preprocess.ResizeShorterSide:
		resize = fmt.Sprintf("shorter side to %d", p.ResizeShorter)
	default:
		resize = string(p.ResizeMode)
	}
	exif := "ignored"
	if p.EXIFOrientation {
		exif = "applied"
	}
	colour := "ICC profiles converted to sRGB"
	if p.Colour != preprocess.ColourSRGB {
		colour = "ICC profiles ignored (as-is)"
	}
	return fmt.Sprintf("%s, centre crop %d×%d, %s, mean %v, std %v, %s planes, EXIF orientation %s, %s",
		resize, p.Width, p.Height, p.Interpolation, p.Mean, p.Std, p.ChannelOrder, exif, colour)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func fmtPtr(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmtFloat(*v)
}
