// Package plot draws the trainer's diagnostic charts as PNG files: the
// validation threshold sweep, the training curves and the learning-rate
// finder. It sits at the end of the training workflow and only reads what
// the loop and the metrics package produced.
package plot

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"

	gp "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tagnet/tagnet/models"
)

// Default image sizes in pixels.
const (
	DefaultWidth  = 1000
	DefaultHeight = 650
)

// Option changes how a chart is drawn.
type Option func(*config)

type config struct {
	width, height int
	title         string
}

// Size sets the image size in pixels (at least 200×150).
func Size(width, height int) Option {
	return func(c *config) { c.width, c.height = width, height }
}

// Title replaces the chart's title.
func Title(t string) Option {
	return func(c *config) { c.title = t }
}

func newConfig(title string, opts []Option) (config, error) {
	c := config{width: DefaultWidth, height: DefaultHeight, title: title}
	for _, o := range opts {
		o(&c)
	}
	if c.width < 200 || c.height < 150 || c.width > 10000 || c.height > 10000 {
		return c, fmt.Errorf("image size %dx%d is outside 200x150..10000x10000", c.width, c.height)
	}
	return c, nil
}

// palette holds distinguishable line colours (Tableau's 10); lines beyond
// ten reuse them with dashes.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255},
}

var dashes = [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)}}

// styleLine gives line i its colour and dash pattern.
func styleLine(l *plotter.Line, i int) {
	l.Color = palette[i%len(palette)]
	l.Dashes = dashes[(i/len(palette))%len(dashes)]
	l.Width = vg.Points(1.5)
}

// finiteXYs returns the points with finite coordinates.
func finiteXYs(xs, ys []float64) plotter.XYs {
	pts := make(plotter.XYs, 0, len(xs))
	for i, x := range xs {
		y := ys[i]
		if !math.IsNaN(x) && !math.IsInf(x, 0) && !math.IsNaN(y) && !math.IsInf(y, 0) {
			pts = append(pts, plotter.XY{X: x, Y: y})
		}
	}
	return pts
}

// addLine adds a styled line through pts to p and legend l (when not nil).
func addLine(p *gp.Plot, l *gp.Legend, name string, pts plotter.XYs, style func(*plotter.Line)) error {
	if len(pts) == 0 {
		return nil
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return fmt.Errorf("plotting %s: %w", name, err)
	}
	style(line)
	p.Add(line)
	if l != nil {
		l.Add(name, line)
	} else {
		p.Legend.Add(name, line)
	}
	return nil
}

// panel is a plot with an optional legend drawn to its right.
type panel struct {
	p      *gp.Plot
	legend *gp.Legend // nil: the plot's own legend inside it
}

// render draws the panels stacked vertically onto one w×h image, the
// title on top, and writes it to path as PNG.
func render(path string, c config, panels ...panel) error {
	img := image.NewRGBA(image.Rect(0, 0, c.width, c.height))
	cv := vgimg.NewWith(vgimg.UseImage(img))
	dc := draw.New(cv)
	pad := vg.Points(8)
	dc = draw.Crop(dc, pad, -pad, pad, -pad)
	if c.title != "" {
		sty := gp.New().Title.TextStyle
		sty.Font.Size = vg.Points(14)
		h := sty.Rectangle(c.title).Size().Y
		dc.FillText(sty, vg.Point{X: dc.Center().X, Y: dc.Max.Y + sty.FontExtents().Descent}, c.title)
		dc.Max.Y -= h + pad
	}
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: pad}
	for i, pn := range panels {
		tc := tiles.At(dc, 0, i)
		if pn.legend != nil {
			r := pn.legend.Rectangle(tc)
			w := r.Max.X - r.Min.X + pad
			lc := draw.Crop(tc, tc.Size().X-w, 0, 0, 0)
			pn.legend.Draw(lc)
			tc = draw.Crop(tc, 0, -w-pad, 0, 0)
		}
		pn.p.Draw(tc)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing chart: %w", err)
	}
	_, err = vgimg.PngCanvas{Canvas: cv}.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing chart %s: %w", path, err)
	}
	return nil
}

// SweepPNG draws a threshold sweep to path: each class's F1 against the
// threshold (one coloured line per class, legend on the right), the macro
// F1 (their mean, dashed black) and the global accuracy_multi (thick
// black).
func SweepPNG(path string, s *models.Sweep, opts ...Option) error {
	if s == nil || len(s.Thresholds) == 0 {
		return errors.New("plotting sweep: empty sweep")
	}
	labels := make([]string, len(s.Classes))
	for i, c := range s.Classes {
		labels[i] = c.Label
	}
	if err := s.Validate(labels); err != nil {
		return fmt.Errorf("plotting sweep: %w", err)
	}
	c, err := newConfig(fmt.Sprintf("Threshold sweep on %d validation items", s.Items), opts)
	if err != nil {
		return fmt.Errorf("plotting sweep: %w", err)
	}
	p := gp.New()
	p.X.Label.Text = "threshold"
	p.Y.Label.Text = "F1 / accuracy"
	p.X.Min, p.X.Max = 0, 1
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	leg := gp.NewLegend()
	leg.Top = true
	macro := make([]float64, len(s.Thresholds))
	for i, cl := range s.Classes {
		for g, f := range cl.F1 {
			macro[g] += f / float64(len(s.Classes))
		}
		if err := addLine(p, &leg, cl.Label, finiteXYs(s.Thresholds, cl.F1), func(l *plotter.Line) { styleLine(l, i) }); err != nil {
			return fmt.Errorf("plotting sweep: %w", err)
		}
	}
	black := color.RGBA{A: 255}
	if err := addLine(p, &leg, "macro F1", finiteXYs(s.Thresholds, macro), func(l *plotter.Line) {
		l.Color, l.Width, l.Dashes = black, vg.Points(2.5), []vg.Length{vg.Points(6), vg.Points(4)}
	}); err != nil {
		return fmt.Errorf("plotting sweep: %w", err)
	}
	if err := addLine(p, &leg, "accuracy_multi", finiteXYs(s.Thresholds, s.AccuracyMulti), func(l *plotter.Line) {
		l.Color, l.Width = black, vg.Points(3)
	}); err != nil {
		return fmt.Errorf("plotting sweep: %w", err)
	}
	return render(path, c, panel{p: p, legend: &leg})
}

// History is what the training loop records for [TrainingCurvesPNG].
type History struct {
	// TrainLoss holds the training loss, one value per step or per epoch.
	TrainLoss []float64
	// StepsPerEpoch places TrainLoss on the epoch axis: value i (from 0)
	// is drawn at epoch (i+1)/StepsPerEpoch. Zero means one value per
	// epoch, drawn at epoch i+1.
	StepsPerEpoch int
	// ValidLoss holds the validation loss after each epoch; value i is
	// drawn at epoch i+1.
	ValidLoss []float64
	// Metrics holds validation metrics by name, one value per epoch like
	// ValidLoss. Names are drawn in sorted order.
	Metrics map[string][]float64
}

// TrainingCurvesPNG draws h to path: the training and validation loss
// against the epoch on top and, when h has metrics, the validation
// metrics below. Non-finite values are left out.
func TrainingCurvesPNG(path string, h History, opts ...Option) error {
	if len(h.TrainLoss) == 0 && len(h.ValidLoss) == 0 && len(h.Metrics) == 0 {
		return errors.New("plotting training curves: empty history")
	}
	if h.StepsPerEpoch < 0 {
		return fmt.Errorf("plotting training curves: steps per epoch %d is negative", h.StepsPerEpoch)
	}
	c, err := newConfig("Training", opts)
	if err != nil {
		return fmt.Errorf("plotting training curves: %w", err)
	}
	epochs := func(n int, per int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(i + 1)
			if per > 0 {
				xs[i] = float64(i+1) / float64(per)
			}
		}
		return xs
	}
	loss := gp.New()
	loss.Y.Label.Text = "loss"
	loss.X.Label.Text = "epoch"
	loss.X.Min = 0
	loss.X.Tick.Marker = gp.TickerFunc(epochTicks)
	loss.Add(plotter.NewGrid())
	loss.Legend.Top = true
	if err := addLine(loss, nil, "train", finiteXYs(epochs(len(h.TrainLoss), h.StepsPerEpoch), h.TrainLoss), func(l *plotter.Line) { styleLine(l, 0); l.Width = vg.Points(1) }); err != nil {
		return fmt.Errorf("plotting training curves: %w", err)
	}
	if err := addLine(loss, nil, "valid", finiteXYs(epochs(len(h.ValidLoss), 0), h.ValidLoss), func(l *plotter.Line) { styleLine(l, 1); l.Width = vg.Points(2.5) }); err != nil {
		return fmt.Errorf("plotting training curves: %w", err)
	}
	if len(h.ValidLoss) > 0 {
		pts, err := plotter.NewScatter(finiteXYs(epochs(len(h.ValidLoss), 0), h.ValidLoss))
		if err == nil {
			pts.Color = palette[1]
			loss.Add(pts)
		}
	}
	panels := []panel{{p: loss}}
	if len(h.Metrics) > 0 {
		m := gp.New()
		m.Y.Label.Text = "validation metric"
		m.X.Label.Text = "epoch"
		m.X.Min = loss.X.Min
		m.X.Tick.Marker = gp.TickerFunc(epochTicks)
		m.Add(plotter.NewGrid())
		m.Legend.Top = false
		names := make([]string, 0, len(h.Metrics))
		for k := range h.Metrics {
			names = append(names, k)
		}
		slices.Sort(names)
		for i, k := range names {
			v := h.Metrics[k]
			pts := finiteXYs(epochs(len(v), 0), v)
			if err := addLine(m, nil, k, pts, func(l *plotter.Line) { styleLine(l, i+2) }); err != nil {
				return fmt.Errorf("plotting training curves: %w", err)
			}
			if len(pts) > 0 {
				sc, err := plotter.NewScatter(pts)
				if err == nil {
					sc.Color = palette[(i+2)%len(palette)]
					m.Add(sc)
				}
			}
		}
		// Share the epoch axis between the panels.
		hi := math.Max(loss.X.Max, m.X.Max)
		loss.X.Max, m.X.Max = hi, hi
		panels = append(panels, panel{p: m})
	}
	return render(path, c, panels...)
}

// LRFindPNG draws a learning-rate finder run to path: the (smoothed) loss
// against the learning rate on a log scale, with each suggestion marked at
// its learning rate and named in the legend with its value. lrs must be
// positive and as many as losses; non-finite losses are left out.
func LRFindPNG(path string, lrs, losses []float64, suggestions map[string]float64, opts ...Option) error {
	if len(lrs) != len(losses) {
		return fmt.Errorf("plotting lr finder: %d learning rates and %d losses", len(lrs), len(losses))
	}
	if len(lrs) < 2 {
		return fmt.Errorf("plotting lr finder: %d points, need at least 2", len(lrs))
	}
	for i, lr := range lrs {
		if !(lr > 0) || math.IsInf(lr, 0) {
			return fmt.Errorf("plotting lr finder: learning rate %d is %v, not positive and finite", i, lr)
		}
	}
	c, err := newConfig("Learning-rate finder", opts)
	if err != nil {
		return fmt.Errorf("plotting lr finder: %w", err)
	}
	pts := finiteXYs(lrs, losses)
	if len(pts) == 0 {
		return errors.New("plotting lr finder: no finite loss")
	}
	p := gp.New()
	p.X.Label.Text = "learning rate (log scale)"
	p.Y.Label.Text = "loss"
	p.X.Scale = gp.LogScale{}
	p.X.Tick.Marker = gp.TickerFunc(logTicks)
	p.Add(plotter.NewGrid())
	leg := gp.NewLegend()
	leg.Top = true
	if err := addLine(p, &leg, "loss", pts, func(l *plotter.Line) { styleLine(l, 0); l.Width = vg.Points(2) }); err != nil {
		return fmt.Errorf("plotting lr finder: %w", err)
	}
	names := make([]string, 0, len(suggestions))
	for k := range suggestions {
		names = append(names, k)
	}
	slices.Sort(names)
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}
	for i, k := range names {
		lr := suggestions[k]
		if !(lr > 0) || math.IsInf(lr, 0) {
			continue
		}
		sc, err := plotter.NewScatter(plotter.XYs{{X: lr, Y: lossAt(pts, lr)}})
		if err != nil {
			return fmt.Errorf("plotting lr finder: %w", err)
		}
		sc.Color = palette[(i+1)%len(palette)]
		sc.Shape = shapes[i%len(shapes)]
		sc.Radius = vg.Points(6)
		p.Add(sc)
		leg.Add(k+": "+strconv.FormatFloat(lr, 'e', 2, 64), sc)
	}
	return render(path, c, panel{p: p, legend: &leg})
}

// lossAt interpolates the loss curve at lr, linearly in log(lr), holding
// the end values outside the curve's range.
func lossAt(pts plotter.XYs, lr float64) float64 {
	best := 0
	for i, pt := range pts {
		if math.Abs(math.Log(pt.X/lr)) < math.Abs(math.Log(pts[best].X/lr)) {
			best = i
		}
	}
	j := best + 1
	if pts[best].X > lr {
		j = best - 1
	}
	if j < 0 || j >= len(pts) || pts[j].X == pts[best].X {
		return pts[best].Y
	}
	a, b := pts[best], pts[j]
	t := math.Log(lr/a.X) / math.Log(b.X/a.X)
	if t < 0 || t > 1 {
		return a.Y
	}
	return a.Y + t*(b.Y-a.Y)
}

// logTicks marks each power of ten in [lo, hi], labelled "1e-05", with
// unlabelled minor ticks at its multiples 2 to 9.
func logTicks(lo, hi float64) []gp.Tick {
	var ticks []gp.Tick
	for k := int(math.Floor(math.Log10(lo))); k <= int(math.Ceil(math.Log10(hi))); k++ {
		base := math.Pow10(k)
		for m := 1; m < 10; m++ {
			v := base * float64(m)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := gp.Tick{Value: v}
			if m == 1 {
				t.Label = strconv.FormatFloat(base, 'g', -1, 64)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// epochTicks labels whole epochs, at most about ten of them.
func epochTicks(lo, hi float64) []gp.Tick {
	step := max(1, math.Ceil((hi-lo)/10))
	var ticks []gp.Tick
	for e := math.Ceil(lo/step) * step; e <= hi; e += step {
		ticks = append(ticks, gp.Tick{Value: e, Label: strconv.FormatFloat(e, 'f', -1, 64)})
	}
	return ticks
}
