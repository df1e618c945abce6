package data

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
)

// Defaults of [SynthOptions].
const (
	DefaultSynthTrain      = 2000
	DefaultSynthValid      = 500
	DefaultSynthSize       = 64
	DefaultSynthClasses    = 6
	DefaultSynthMaxObjects = 3
)

// synthShape is one class of the synthetic data: a shape in a colour.
type synthShape struct {
	name   string
	colour [3]float64
	// inside reports whether the point (u, v) of the object's unit square
	// [−1,1]², y pointing down, belongs to the shape.
	inside func(u, v float64) bool
}

// synthShapes lists the classes [Synth] can draw, each a distinct shape
// and a distinct saturated colour.
var synthShapes = []synthShape{
	{"circle", [3]float64{225, 35, 35}, func(u, v float64) bool { return u*u+v*v <= 0.95*0.95 }},
	{"square", [3]float64{35, 185, 55}, func(u, v float64) bool { return math.Abs(u) <= 0.78 && math.Abs(v) <= 0.78 }},
	{"triangle", [3]float64{40, 80, 235}, func(u, v float64) bool { return v <= 0.75 && math.Abs(u) <= 0.95*(v+0.95)/1.7 }},
	{"cross", [3]float64{245, 220, 30}, func(u, v float64) bool {
		au, av := math.Abs(u), math.Abs(v)
		return (au <= 0.28 && av <= 0.95) || (av <= 0.28 && au <= 0.95)
	}},
	{"ring", [3]float64{215, 45, 215}, func(u, v float64) bool { r := u*u + v*v; return r <= 0.95*0.95 && r >= 0.55*0.55 }},
	{"star", [3]float64{250, 135, 15}, insideStar},
	{"bar", [3]float64{30, 215, 225}, func(u, v float64) bool { return math.Abs(u) <= 0.95 && math.Abs(v) <= 0.25 }},
	{"diamond", [3]float64{245, 245, 245}, func(u, v float64) bool { return math.Abs(u)+math.Abs(v) <= 0.95 }},
}

// starPolygon is a five-pointed star, point up, outer radius 1, inner 0.42.
var starPolygon = func() [][2]float64 {
	p := make([][2]float64, 10)
	for i := range p {
		r := 1.0
		if i%2 == 1 {
			r = 0.42
		}
		a := -math.Pi/2 + float64(i)*math.Pi/5
		p[i] = [2]float64{r * math.Cos(a), r * math.Sin(a)}
	}
	return p
}()

// insideStar is the even-odd point-in-polygon test on starPolygon.
func insideStar(u, v float64) bool {
	in := false
	p := starPolygon
	for i, j := 0, len(p)-1; i < len(p); j, i = i, i+1 {
		if (p[i][1] > v) != (p[j][1] > v) &&
			u < (p[j][0]-p[i][0])*(v-p[i][1])/(p[j][1]-p[i][1])+p[i][0] {
			in = !in
		}
	}
	return in
}

// SynthClasses returns the names of the first n classes [Synth] draws
// (n at most 8), in output order.
func SynthClasses(n int) []string {
	n = min(max(n, 0), len(synthShapes))
	out := make([]string, n)
	for i := range out {
		out[i] = synthShapes[i].name
	}
	return out
}

// SynthOptions configure [Synth]. Zero values mean the defaults.
type SynthOptions struct {
	// Train and Valid are the numbers of training and validation images.
	// Zero means DefaultSynthTrain and DefaultSynthValid; negative means
	// none.
	Train, Valid int
	// Size is the side of the square images in pixels, at least 16. Zero
	// means DefaultSynthSize.
	Size int
	// Classes is the number of classes, 1 to 8: circle (red), square
	// (green), triangle (blue), cross (yellow), ring (magenta), star
	// (orange), bar (cyan), diamond (white). Zero means DefaultSynthClasses.
	Classes int
	// MaxObjects is the largest number of objects in an image; each image
	// holds a uniform number from 0 to MaxObjects of distinct classes, at
	// most Classes. Zero means DefaultSynthMaxObjects.
	MaxObjects int
	// Seed determines the images: the same options give the same bytes.
	Seed uint64
	// Format is FormatJPEG or FormatPNG. Empty means FormatJPEG.
	Format string
	// Quality is the JPEG quality, 1 to 100. Zero means 90.
	Quality int
}

// Synth writes a seeded synthetic multi-label data set into dir: images of
// coloured shapes (each class a distinct shape in a distinct colour, 1/4 to
// 0.45 of the image side, randomly placed and slightly rotated, overlapping
// little) on textured backgrounds (gradients, stripes, blotches in muted
// colours) with pixel noise, and a labels CSV with an is_valid column, in
// fastai's layout. It returns the options that load it with [LoadCSV], with
// the vocabulary fixed to the classes. The demo needs nothing installed and
// is easy enough for a small ResNet to learn in minutes.
func Synth(dir string, opt SynthOptions) (CSVOptions, error) {
	opt = opt.withDefaults()
	if opt.Size < 16 || opt.Size > 4096 {
		return CSVOptions{}, fmt.Errorf("synthetic data: size %d is outside 16..4096", opt.Size)
	}
	if opt.Classes < 1 || opt.Classes > len(synthShapes) {
		return CSVOptions{}, fmt.Errorf("synthetic data: %d classes, want 1..%d", opt.Classes, len(synthShapes))
	}
	if opt.MaxObjects < 0 {
		return CSVOptions{}, fmt.Errorf("synthetic data: max objects %d is negative", opt.MaxObjects)
	}
	g := &generator{
		dir:     dir,
		classes: SynthClasses(opt.Classes),
		nTrain:  opt.Train,
		nValid:  opt.Valid,
		seed:    opt.Seed,
		stream:  streamSynth,
		format:  opt.Format,
		quality: opt.Quality,
		draw: func(rng *rand.Rand, _ bool) (*image.RGBA, []int) {
			return drawSynth(rng, opt.Size, opt.Classes, min(opt.MaxObjects, opt.Classes))
		},
	}
	o, err := g.write()
	if err != nil {
		return CSVOptions{}, fmt.Errorf("synthetic data: %w", err)
	}
	return o, nil
}

func (o SynthOptions) withDefaults() SynthOptions {
	if o.Train == 0 {
		o.Train = DefaultSynthTrain
	}
	if o.Valid == 0 {
		o.Valid = DefaultSynthValid
	}
	o.Train, o.Valid = max(o.Train, 0), max(o.Valid, 0)
	if o.Size == 0 {
		o.Size = DefaultSynthSize
	}
	if o.Classes == 0 {
		o.Classes = DefaultSynthClasses
	}
	if o.MaxObjects == 0 {
		o.MaxObjects = DefaultSynthMaxObjects
	}
	return o
}

// drawSynth draws one synthetic image and returns it with its classes in
// increasing order.
func drawSynth(rng *rand.Rand, size, classes, maxObjects int) (*image.RGBA, []int) {
	cv := newCanvas(size)
	synthBackground(cv, rng)

	k := rng.IntN(maxObjects + 1)
	want := rng.Perm(classes)[:k]
	var placed []image.Rectangle
	var present []int
	for _, c := range want {
		r, rect, ok := placeObject(rng, size, placed)
		if !ok {
			continue // no room left: the class is neither drawn nor labelled
		}
		placed = append(placed, rect)
		present = append(present, c)
		drawShape(cv, rng, synthShapes[c], r, rect)
	}
	for i := range cv.pix {
		cv.pix[i] += (2*rng.Float64() - 1) * 12
	}
	slices.Sort(present)
	return cv.rgba(), present
}

// placeObject picks an object's radius and bounding box inside the image,
// overlapping each placed box by at most a fifth of the smaller box.
func placeObject(rng *rand.Rand, size int, placed []image.Rectangle) (float64, image.Rectangle, bool) {
	s := float64(size)
	for range 30 {
		r := s * (0.25 + 0.2*rng.Float64()) / 2
		cx := r + rng.Float64()*(s-2*r)
		cy := r + rng.Float64()*(s-2*r)
		rect := image.Rect(int(math.Floor(cx-r)), int(math.Floor(cy-r)), int(math.Ceil(cx+r)), int(math.Ceil(cy+r)))
		ok := true
		for _, p := range placed {
			in := rect.Intersect(p)
			small := min(area(rect), area(p))
			if area(in)*5 > small {
				ok = false
				break
			}
		}
		if ok {
			return r, rect, true
		}
	}
	return 0, image.Rectangle{}, false
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// drawShape draws shape sh of radius r centred in rect, rotated by up to
// 20°, with 4×4 supersampled coverage and a jittered colour.
func drawShape(cv *canvas, rng *rand.Rand, sh synthShape, r float64, rect image.Rectangle) {
	cx := float64(rect.Min.X+rect.Max.X) / 2
	cy := float64(rect.Min.Y+rect.Max.Y) / 2
	phi := (2*rng.Float64() - 1) * math.Pi / 9
	cos, sin := math.Cos(phi), math.Sin(phi)
	var col [3]float64
	for k := range 3 {
		col[k] = min(max(sh.colour[k]+(2*rng.Float64()-1)*20, 0), 255)
	}
	pad := int(math.Ceil(r * 0.5))
	x0, y0 := max(rect.Min.X-pad, 0), max(rect.Min.Y-pad, 0)
	x1, y1 := min(rect.Max.X+pad, cv.size), min(rect.Max.Y+pad, cv.size)
	const sub = 4
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			n := 0
			for sy := range sub {
				for sx := range sub {
					dx := (float64(x) + (float64(sx)+0.5)/sub - cx) / r
					dy := (float64(y) + (float64(sy)+0.5)/sub - cy) / r
					if sh.inside(dx*cos+dy*sin, -dx*sin+dy*cos) {
						n++
					}
				}
			}
			if n > 0 {
				cv.blend(x, y, col, float64(n)/(sub*sub))
			}
		}
	}
}

// mutedColour draws a dull colour: a grey level from 40 to 150 with each
// channel moved by up to 25, far from the objects' saturated colours.
func mutedColour(rng *rand.Rand) [3]float64 {
	g := 40 + 110*rng.Float64()
	var c [3]float64
	for k := range c {
		c[k] = g + (2*rng.Float64()-1)*25
	}
	return c
}

// synthBackground fills cv with a gradient, stripes or blotches between two
// muted colours.
func synthBackground(cv *canvas, rng *rand.Rand) {
	c1, c2 := mutedColour(rng), mutedColour(rng)
	s := float64(cv.size)
	theta := rng.Float64() * 2 * math.Pi
	cos, sin := math.Cos(theta), math.Sin(theta)
	var t func(x, y float64) float64
	switch rng.IntN(3) {
	case 0: // linear gradient
		t = func(x, y float64) float64 {
			return min(max(((x-s/2)*cos+(y-s/2)*sin)/s+0.5, 0), 1)
		}
	case 1: // soft stripes
		period := s * (0.12 + 0.2*rng.Float64())
		t = func(x, y float64) float64 {
			return 0.5 + 0.5*math.Sin(2*math.Pi*(x*cos+y*sin)/period)
		}
	default: // blotches: bilinear value noise on a coarse grid
		g := 3 + rng.IntN(5)
		nodes := make([]float64, (g+1)*(g+1))
		for i := range nodes {
			nodes[i] = rng.Float64()
		}
		t = func(x, y float64) float64 {
			fx, fy := x/s*float64(g), y/s*float64(g)
			ix, iy := min(int(fx), g-1), min(int(fy), g-1)
			ax, ay := fx-float64(ix), fy-float64(iy)
			at := func(i, j int) float64 { return nodes[j*(g+1)+i] }
			top := (1-ax)*at(ix, iy) + ax*at(ix+1, iy)
			bot := (1-ax)*at(ix, iy+1) + ax*at(ix+1, iy+1)
			return (1-ay)*top + ay*bot
		}
	}
	for y := range cv.size {
		for x := range cv.size {
			w := t(float64(x)+0.5, float64(y)+0.5)
			o := 3 * (y*cv.size + x)
			for k := range 3 {
				cv.pix[o+k] = (1-w)*c1[k] + w*c2[k]
			}
		}
	}
}
