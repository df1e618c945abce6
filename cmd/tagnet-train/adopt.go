package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/postprocess"
	"github.com/tagnet/tagnet/preprocess"
	"github.com/tagnet/tagnet/trainer/data"
	"github.com/tagnet/tagnet/trainer/metrics"
)

// adoptOptions are the flags of `tagnet-train adopt` that are not
// configuration keys: what describes the adopted model.
type adoptOptions struct {
	out, labels  string
	size         int
	resize       string
	mean, std    string
	channelOrder string
	exif         bool
	outputKind   string
}

// adoptKeys are the configuration keys adopt reads: the labelled data of
// the sweep (every row is used, so no split keys), ONNX Runtime's
// threads and location, and the sweep's grid.
var adoptKeys = []string{"data.dir", "data.csv", "data.folder", "data.fn_col", "data.label_col", "data.label_delim",
	"data.csv_delim", "data.on_bad_item", "train.threads", "runtime", "sweep"}

func (a *app) adoptCmd() *cobra.Command {
	var o adoptOptions
	def := preprocess.Default(224)
	cmd := &cobra.Command{
		Use:   "adopt MODEL.onnx --labels FILE -o OUT.onnx [--data DIR --csv FILE]",
		Short: "Turn a multi-label classifier trained elsewhere (torchvision, fastai) into a tagnet model: labels, preprocessing and a threshold sweep added to the same graph",
		Long: `adopt adds tagnet's metadata to an ONNX classifier exported elsewhere (one float
image input [N,3,H,W], one [N,C] output of logits or probabilities): the labels
(--labels, one per line in output order), the preprocessing (--size, --resize,
--mean, --std, --channel-order, --exif-orientation) and what the output holds.
The graph is left as it is. With labelled data (--data DIR [--csv FILE], fastai's
CSV layout as train reads it; every row is used, so give images the model was
not trained on) it
runs them through ONNX Runtime and stores the threshold sweep, so tagnet-predict
chooses per-class thresholds; without data the model has no sweep and only the
fixed:T strategy applies. A fixed batch axis (batch-1 exports) is reported and
handled by tagnet-predict.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.adopt(cmd.Context(), a.cfg, args[0], o, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.out, "output", "o", "", "the tagnet model to write (required)")
	fs.StringVar(&o.labels, "labels", "", "file of class names, one per line, in output order (required)")
	fs.IntVar(&o.size, "size", 0, "input size in pixels (default: the model's input height, which must equal its width)")
	fs.StringVar(&o.resize, "resize", "crop", "image to square: crop (fastai: squish larger, centre-crop), squish (whole image) or torchvision (shorter side to size/0.875, centre-crop)")
	fs.StringVar(&o.mean, "mean", joinFloats(def.Mean), "per-channel mean, RGB, for values in [0,1]")
	fs.StringVar(&o.std, "std", joinFloats(def.Std), "per-channel std, RGB, for values in [0,1] (0,0,0 with --mean … means nothing; use 0.00392 for 0..255 input)")
	fs.StringVar(&o.channelOrder, "channel-order", string(def.ChannelOrder), "order of the input planes: rgb or bgr")
	fs.BoolVar(&o.exif, "exif-orientation", def.EXIFOrientation, "turn JPEGs upright by their EXIF orientation tag")
	fs.StringVar(&o.outputKind, "output-kind", "auto", "what the output holds: logits, probabilities, or auto (probabilities when a Sigmoid or Softmax makes it)")
	addConfigFlags(fs, adoptKeys...)
	return cmd
}

func joinFloats(v [3]float32) string {
	return fmt.Sprintf("%g,%g,%g", v[0], v[1], v[2])
}

func parseTriple(flag, s string) ([3]float32, error) {
	var out [3]float32
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return out, usage(fmt.Errorf("--%s %q: want three comma-separated numbers (R,G,B)", flag, s))
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return out, usage(fmt.Errorf("--%s %q: %w", flag, s, err))
		}
		out[i] = float32(v)
	}
	return out, nil
}

// readLabels reads one label per line; blank lines and surrounding spaces
// are ignored.
func readLabels(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usage(fmt.Errorf("--labels: %w", err))
	}
	defer f.Close()
	var labels []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			labels = append(labels, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading labels %s: %w", path, err)
	}
	if len(labels) == 0 {
		return nil, usage(fmt.Errorf("--labels %s: no labels", path))
	}
	return labels, nil
}

// adoptedIO checks that the graph is an image classifier tagnet can serve
// and describes its input and output.
func adoptedIO(f *models.File, src string, classes int, kind string) (*models.IO, int, error) {
	ins, outs := f.Inputs(), f.Outputs()
	if len(ins) != 1 {
		return nil, 0, fmt.Errorf("adopting %s: %d inputs; want one image input [N,3,H,W]", src, len(ins))
	}
	in := ins[0]
	if !in.Float || len(in.Dims) != 4 || in.Dims[1] != 3 || in.Dims[2] <= 0 || in.Dims[3] <= 0 {
		return nil, 0, fmt.Errorf("adopting %s: input %q is %v (float32 %v); want float32 [N,3,H,W] with H and W fixed", src, in.Name, in.Dims, in.Float)
	}
	if in.Dims[2] != in.Dims[3] {
		return nil, 0, fmt.Errorf("adopting %s: input %q is %d×%d; tagnet serves square inputs", src, in.Name, in.Dims[2], in.Dims[3])
	}
	if len(outs) != 1 {
		return nil, 0, fmt.Errorf("adopting %s: %d outputs; want one [N,C] output of logits or probabilities", src, len(outs))
	}
	out := outs[0]
	if !out.Float || len(out.Dims) != 2 || out.Dims[1] <= 0 {
		return nil, 0, fmt.Errorf("adopting %s: output %q is %v; want float32 [N,C] with C fixed", src, out.Name, out.Dims)
	}
	if int(out.Dims[1]) != classes {
		return nil, 0, fmt.Errorf("adopting %s: output %q has %d classes, --labels names %d", src, out.Name, out.Dims[1], classes)
	}
	switch kind {
	case "auto":
		kind = models.OutputLogits
		for _, n := range f.Proto.Graph.Node {
			for _, o := range n.Output {
				if o == out.Name && (n.GetOpType() == "Sigmoid" || n.GetOpType() == "Softmax") {
					kind = models.OutputProbabilities
				}
			}
		}
	case models.OutputLogits, models.OutputProbabilities:
	default:
		return nil, 0, usage(fmt.Errorf("--output-kind %q: want logits, probabilities or auto", kind))
	}
	io := &models.IO{Input: in.Name, Output: out.Name, OutputKind: kind, Adopted: true, Source: filepath.Base(src)}
	if in.Dims[0] > 0 {
		io.Batch = int(in.Dims[0])
	}
	return io, int(in.Dims[2]), nil
}

func (a *app) adopt(ctx context.Context, cfg *config.Train, src string, o adoptOptions, w io.Writer) error {
	log := a.log.With(zap.String("component", "adopt"))
	if o.out == "" {
		return usage(fmt.Errorf("-o/--output is required"))
	}
	if o.labels == "" {
		return usage(fmt.Errorf("--labels is required (one class name per line, in output order)"))
	}
	if cfg.Data.CSV != "" && cfg.Data.Dir == "" {
		return usage(fmt.Errorf("--csv needs --data, the folder of its images"))
	}
	labels, err := readLabels(o.labels)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return usage(fmt.Errorf("adopting: %w", err))
	}
	f, err := models.ParseONNX(b)
	if err != nil {
		return fmt.Errorf("adopting %s: %w", src, err)
	}
	if old, err := f.Metadata(); err == nil && old != nil {
		log.Warn("the model already has tagnet metadata; it is replaced", zap.String("model", src))
	}
	modelIO, inputSize, err := adoptedIO(f, src, len(labels), o.outputKind)
	if err != nil {
		return err
	}
	size := o.size
	if size == 0 {
		size = inputSize
	}
	if size != inputSize {
		return usage(fmt.Errorf("--size %d: the model's input is %d×%d", size, inputSize, inputSize))
	}
	spec, err := adoptPreprocessing(size, o)
	if err != nil {
		return err
	}
	arch := models.ArchExternal
	if s, err := models.InferSpec(f); err == nil {
		arch = s.Arch
	}
	md := &models.Metadata{
		Spec:       models.Spec{Arch: arch, NumClasses: len(labels), InputSize: size},
		Labels:     labels,
		Preprocess: mustJSON(spec),
		IO:         modelIO,
	}
	out, err := f.EncodeWithMetadata(md)
	if err != nil {
		return fmt.Errorf("adopting %s: %w", src, err)
	}
	if err := ensureDir(filepath.Dir(o.out)); err != nil {
		return err
	}
	// With data, the sweep runs the model through ONNX Runtime before the
	// model has its sweep: it runs from a file beside the output, so that a
	// failed sweep leaves no model behind.
	written := o.out
	if cfg.Data.Dir != "" {
		written = o.out + ".adopting"
		defer os.Remove(written)
	}
	if err := models.WriteFileAtomic(written, out, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", written, err)
	}
	fmt.Fprintf(w, "adopted %s as %s\narchitecture: %s, %d classes, input %q %d×%d, output %q (%s)\n",
		src, o.out, arch, len(labels), modelIO.Input, size, size, modelIO.Output, modelIO.OutputKind)
	if modelIO.Batch > 0 {
		fmt.Fprintf(w, "batch: fixed at %d (tagnet-predict splits and pads batches to it)\n", modelIO.Batch)
	} else {
		fmt.Fprintln(w, "batch: dynamic")
	}
	if cfg.Data.Dir == "" {
		fmt.Fprintln(w, "no sweep (no --data): tagnet-predict needs --strategy fixed:T (for example fixed:0.5) for this model")
		return nil
	}
	sweep, n, err := a.adoptSweep(ctx, cfg, written, labels, w, log)
	if err != nil {
		return err
	}
	md.Sweep = sweep
	if out, err = f.EncodeWithMetadata(md); err != nil {
		return fmt.Errorf("adopting %s: %w", src, err)
	}
	if err := models.WriteFileAtomic(o.out, out, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", o.out, err)
	}
	fmt.Fprintf(w, "sweep of %d thresholds on %d items through ONNX Runtime stored; macro F1 with per-class thresholds %.4f\n",
		len(sweep.Thresholds), n, sweep.BestF1Macro())
	return nil
}

// adoptPreprocessing is the preprocessing the flags describe.
func adoptPreprocessing(size int, o adoptOptions) (preprocess.Spec, error) {
	var spec preprocess.Spec
	switch o.resize {
	case string(models.ResizeCrop):
		spec = preprocess.Default(size)
	case string(models.ResizeSquish):
		spec = preprocess.Default(size)
		spec.ResizeWidth, spec.ResizeHeight = size, size
	case "torchvision":
		spec = preprocess.Torchvision(size, int(float64(size)/0.875+0.5))
	default:
		return spec, usage(fmt.Errorf("--resize %q: want %s, %s or torchvision", o.resize, models.ResizeCrop, models.ResizeSquish))
	}
	var err error
	if spec.Mean, err = parseTriple("mean", o.mean); err != nil {
		return spec, err
	}
	if spec.Std, err = parseTriple("std", o.std); err != nil {
		return spec, err
	}
	spec.ChannelOrder = preprocess.ChannelOrder(o.channelOrder)
	spec.EXIFOrientation = o.exif
	if err := spec.Validate(); err != nil {
		return spec, usage(fmt.Errorf("preprocessing: %w", err))
	}
	return spec, nil
}

// adoptSweep runs every labelled item through the adopted model in ONNX
// Runtime (the predictor's batch primitive, with the stored
// preprocessing) and computes the threshold sweep. An image that does not
// decode is a bad item: under data.on_bad_item=skip it is named on w and
// left out of the sweep; under fail every bad item is listed and no sweep
// is made.
func (a *app) adoptSweep(ctx context.Context, cfg *config.Train, model string, labels []string, w io.Writer, log *zap.Logger) (*models.Sweep, int, error) {
	dc := *cfg
	dc.Data.ValidCol, dc.Data.ValidPct = "", 0.5 // every row is used below; the split does not matter
	ds, err := loadData(&dc, a.flags, labels, a.stderr, log)
	if err != nil {
		return nil, 0, err
	}
	items := append(append([]data.Item(nil), ds.Train...), ds.Valid...)
	rt, err := ort.Init(ort.InitOptions{Library: cfg.Runtime.Library, Logger: log})
	if err != nil {
		return nil, 0, err
	}
	fixed, err := postprocess.ParseStrategy("fixed:0.5") // no sweep yet
	if err != nil {
		return nil, 0, err
	}
	p, err := predictor.New(rt, model, predictor.Options{
		Session: ort.SessionOptions{IntraOpThreads: cfg.Train.Threads}, Thresholds: predictor.Thresholds{Strategy: fixed}, Logger: log,
	})
	if err != nil {
		return nil, 0, err
	}
	defer p.Close()
	const batch = 16
	C := len(labels)
	b := p.NewBatch(batch)
	var probs, targets []float32
	var bad []string
	for start := 0; start < len(items); start += batch {
		chunk := items[start:min(start+batch, len(items))]
		b.Reset(len(chunk))
		var wg sync.WaitGroup
		for i, it := range chunk {
			wg.Go(func() { b.DecodeFile(i, it.Path) })
		}
		wg.Wait()
		if err := p.Run(ctx, predictor.RunOptions{}, b); err != nil {
			return nil, 0, err
		}
		for i, it := range chunk {
			pred, err := b.Result(i)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s (line %d): %v", it.Path, it.Line, err))
				continue
			}
			probs = append(probs, pred.Probabilities...)
			targets = append(targets, it.Target...)
		}
	}
	if len(bad) > 0 {
		if cfg.Data.OnBadItem == data.Fail {
			return nil, 0, fmt.Errorf("%d bad item(s) (data.on_bad_item=fail):\n  %s", len(bad), strings.Join(bad, "\n  "))
		}
		for _, s := range bad {
			fmt.Fprintf(w, "skipped: %s\n", s)
		}
		fmt.Fprintf(w, "skipped %d bad item(s) (data.on_bad_item=skip)\n", len(bad))
	}
	n := len(targets) / max(C, 1)
	if len(probs) != len(targets) {
		return nil, 0, fmt.Errorf("sweep: %d probabilities for %d items of %d classes", len(probs), n, C)
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("sweep: none of the %d items decoded", len(items))
	}
	grid := models.Grid(cfg.Sweep.Start, cfg.Sweep.Stop, cfg.Sweep.Steps)
	return metrics.Sweep(probs, targets, n, C, labels, grid), n, nil
}
