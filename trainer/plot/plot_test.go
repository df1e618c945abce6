package plot

import (
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/models"
)

// checkPNG fails unless path holds a PNG of w×h pixels that is not blank.
func checkPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), w, h)
	}
	// Something besides the white background must be drawn.
	dark := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r+g+bl < 3*0x8000 {
				dark++
			}
		}
	}
	if dark < w*h/1000 {
		t.Errorf("%s has only %d dark pixels: nothing drawn?", path, dark)
	}
}

// testSweep builds a plausible sweep of c classes by hand: class k's F1
// peaks at threshold 0.2+0.05k.
func testSweep(c int) *models.Sweep {
	grid := models.Grid(0.05, 0.95, 29)
	s := &models.Sweep{Thresholds: grid, Items: 500, AccuracyMulti: make([]float64, len(grid))}
	for k := range c {
		cs := models.ClassSweep{Label: fmt.Sprintf("class%02d", k), Support: 10 + k}
		for g, th := range grid {
			peak := 0.2 + 0.05*float64(k)
			f1 := 0.9 - 1.5*(th-peak)*(th-peak)
			cs.Precision = append(cs.Precision, math.Min(1, 0.5+th/2))
			cs.Recall = append(cs.Recall, 1-th*th)
			cs.F1 = append(cs.F1, math.Max(f1, 0))
			cs.Accuracy = append(cs.Accuracy, 0.9+0.05*th)
			s.AccuracyMulti[g] = 0.9 + 0.05*th
		}
		s.Classes = append(s.Classes, cs)
	}
	return s
}

func TestSweepPNG(t *testing.T) {
	for _, c := range []int{1, 6, 20} {
		path := filepath.Join(t.TempDir(), "sweep.png")
		if err := SweepPNG(path, testSweep(c), Size(640, 400)); err != nil {
			t.Fatal(err)
		}
		checkPNG(t, path, 640, 400)
	}
	// Default size.
	path := filepath.Join(t.TempDir(), "sweep.png")
	if err := SweepPNG(path, testSweep(3)); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, DefaultWidth, DefaultHeight)
}

func TestSweepPNGErrors(t *testing.T) {
	dir := t.TempDir()
	bad := testSweep(2)
	bad.Classes[1].F1 = bad.Classes[1].F1[:3]
	for name, s := range map[string]*models.Sweep{"nil": nil, "empty": {}, "short f1": bad} {
		if err := SweepPNG(filepath.Join(dir, "x.png"), s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := SweepPNG(filepath.Join(dir, "x.png"), testSweep(2), Size(10, 10)); err == nil {
		t.Error("tiny size: no error")
	}
	if err := SweepPNG(filepath.Join(dir, "no", "such", "dir.png"), testSweep(2)); err == nil {
		t.Error("unwritable path: no error")
	}
}

func TestTrainingCurvesPNG(t *testing.T) {
	const epochs, steps = 5, 40
	h := History{StepsPerEpoch: steps, Metrics: map[string][]float64{}}
	for i := range epochs * steps {
		h.TrainLoss = append(h.TrainLoss, 0.7*math.Exp(-float64(i)/60)+0.05+0.02*math.Sin(float64(i)))
	}
	h.TrainLoss[7] = math.NaN() // a diverged step is left out, not an error
	for e := range epochs {
		h.ValidLoss = append(h.ValidLoss, 0.5*math.Exp(-float64(e)/2)+0.08)
		h.Metrics["f1_macro"] = append(h.Metrics["f1_macro"], 1-0.5*math.Exp(-float64(e)))
		h.Metrics["map"] = append(h.Metrics["map"], 1-0.4*math.Exp(-float64(e)))
	}
	path := filepath.Join(t.TempDir(), "curves.png")
	if err := TrainingCurvesPNG(path, h, Size(800, 700)); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 800, 700)
	if dir := os.Getenv("TAGNET_PLOT_DIR"); dir != "" {
		_ = TrainingCurvesPNG(filepath.Join(dir, "curves.png"), h)
	}

	// Loss only, one value per epoch.
	path = filepath.Join(t.TempDir(), "loss.png")
	if err := TrainingCurvesPNG(path, History{TrainLoss: []float64{1, 0.5, 0.3}, ValidLoss: []float64{0.9, 0.6, 0.5}}, Size(400, 300)); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 400, 300)

	if err := TrainingCurvesPNG(filepath.Join(t.TempDir(), "x.png"), History{}); err == nil {
		t.Error("empty history: no error")
	}
}

func TestLRFindPNG(t *testing.T) {
	var lrs, losses []float64
	for i := range 100 {
		lr := 1e-7 * math.Pow(1e8, float64(i)/100)
		lrs = append(lrs, lr)
		x := math.Log10(lr)
		losses = append(losses, 0.7-0.4/(1+math.Exp(-(x+4)*2))+0.05*math.Exp(x+1.5))
	}
	losses[99] = math.Inf(1)
	sugg := map[string]float64{"valley": 2e-3, "minimum/10": 3e-3, "steepest": 1e-4}
	path := filepath.Join(t.TempDir(), "lr.png")
	if err := LRFindPNG(path, lrs, losses, sugg, Size(700, 450)); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path, 700, 450)
	if os.Getenv("TAGNET_PLOT_DIR") != "" {
		// Keep samples to look at: TAGNET_PLOT_DIR=/tmp/plots go test ./trainer/plot
		dir := os.Getenv("TAGNET_PLOT_DIR")
		_ = LRFindPNG(filepath.Join(dir, "lr.png"), lrs, losses, sugg)
		_ = SweepPNG(filepath.Join(dir, "sweep.png"), testSweep(20))
	}

	dir := t.TempDir()
	for name, c := range map[string]struct{ lrs, losses []float64 }{
		"length":   {lrs[:3], losses[:2]},
		"one":      {lrs[:1], losses[:1]},
		"zero lr":  {[]float64{0, 1}, []float64{1, 2}},
		"all nan":  {[]float64{1, 2}, []float64{math.NaN(), math.NaN()}},
		"negative": {[]float64{-1, 1}, []float64{1, 2}},
	} {
		err := LRFindPNG(filepath.Join(dir, "x.png"), c.lrs, c.losses, nil)
		if err == nil || !strings.Contains(err.Error(), "lr finder") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestLossAt(t *testing.T) {
	pts := []struct{ x, y float64 }{{1e-3, 4}, {1e-2, 2}, {1e-1, 8}}
	p := finiteXYs([]float64{pts[0].x, pts[1].x, pts[2].x}, []float64{pts[0].y, pts[1].y, pts[2].y})
	// √10·1e-3 lies halfway between 1e-3 and 1e-2 in log scale: (4+2)/2.
	if got := lossAt(p, math.Sqrt(10)*1e-3); math.Abs(got-3) > 1e-12 {
		t.Errorf("halfway: %v, want 3", got)
	}
	if got := lossAt(p, 1e-2); got != 2 {
		t.Errorf("at a point: %v, want 2", got)
	}
	if got := lossAt(p, 1); got != 8 {
		t.Errorf("beyond the end: %v, want 8", got)
	}
	if got := lossAt(p, 1e-5); got != 4 {
		t.Errorf("before the start: %v, want 4", got)
	}
}

func ExampleSweepPNG() {
	dir, err := os.MkdirTemp("", "tagnet-plot")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	grid := []float64{0.25, 0.5, 0.75}
	s := &models.Sweep{
		Thresholds:    grid,
		Items:         4,
		AccuracyMulti: []float64{0.75, 0.875, 0.75},
		Classes: []models.ClassSweep{
			{Label: "cat", Support: 2, Precision: []float64{0.67, 1, 1}, Recall: []float64{1, 1, 0.5}, F1: []float64{0.8, 1, 0.67}, Accuracy: []float64{0.75, 1, 0.75}},
			{Label: "dog", Support: 1, Precision: []float64{0.5, 0.5, 1}, Recall: []float64{1, 1, 0}, F1: []float64{0.67, 0.67, 0}, Accuracy: []float64{0.75, 0.75, 0.75}},
		},
	}
	path := filepath.Join(dir, "sweep.png")
	if err := SweepPNG(path, s, Size(600, 400)); err != nil {
		fmt.Println(err)
		return
	}
	f, _ := os.Open(path)
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	fmt.Println(cfg.Width, cfg.Height, err)
	// Output: 600 400 <nil>
}
