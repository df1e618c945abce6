package preprocess

import (
	"image"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustNew(t testing.TB, s Spec) *Preprocessor {
	t.Helper()
	p, err := New(s, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t testing.TB, p *Preprocessor, m *RGB) []float32 {
	t.Helper()
	out := make([]float32, p.InputLen())
	if err := p.Into(out, m); err != nil {
		t.Fatal(err)
	}
	return out
}

// resamplers lists every Resampler, for tests that run on each.
var resamplers = []Resampler{ResamplerPillow, ResamplerNfnt}

// TestNormalisation checks (v/255 − mean)/std per channel against the raw
// resized values, and that BGR reverses the planes, with each resampler.
func TestNormalisation(t *testing.T) {
	for _, r := range resamplers {
		t.Run(string(r), func(t *testing.T) { testNormalisation(t, r) })
	}
}

func testNormalisation(t *testing.T, r Resampler) {
	img := decodeTestdata(t, "dog.jpg", DecodeOptions{})
	s := Default(64)
	s.Resampler = r
	s.Mean = [3]float32{0.1, 0.5, 0.9}
	s.Std = [3]float32{0.2, 0.3, 0.05}
	norm := run(t, mustNew(t, s), img)
	rawOut := run(t, mustNew(t, raw(s)), img)
	n := 64 * 64
	for c := range 3 {
		for i := range n {
			want := (float64(rawOut[c*n+i])/255 - float64(s.Mean[c])) / float64(s.Std[c])
			if d := math.Abs(float64(norm[c*n+i]) - want); d > 1e-4 {
				t.Fatalf("channel %d value %d: got %v, want %v", c, i, norm[c*n+i], want)
			}
		}
	}
	s.ChannelOrder = OrderBGR
	bgr := run(t, mustNew(t, s), img)
	for c := range 3 {
		if !slices.Equal(bgr[(2-c)*n:(3-c)*n], norm[c*n:(c+1)*n]) {
			t.Errorf("BGR plane %d is not RGB plane %d", 2-c, c)
		}
	}
}

// constant returns a w×h image of one colour.
func constant(w, h int, c [3]uint8) *RGB {
	m := NewRGB(w, h)
	for i := 0; i < len(m.Pix); i += 3 {
		copy(m.Pix[i:], c[:])
	}
	return m
}

// TestConstantImage resizes single-colour images of random sizes, from 1×1
// to strongly up- and downsampled, with every filter, geometry, pass order
// and resampler: the taps of every output must sum to one, so every output
// value is the normalised colour.
func TestConstantImage(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	sizes := [][2]int{{1, 1}, {1, 500}, {700, 2}, {3, 3}}
	for range 20 {
		sizes = append(sizes, [2]int{1 + rng.IntN(400), 1 + rng.IntN(400)})
	}
	colour := [3]uint8{200, 17, 96}
	for _, sz := range sizes {
		img := constant(sz[0], sz[1], colour)
		for _, s := range []Spec{Default(24), Torchvision(24, 30), func() Spec { s := Default(20); s.Interpolation = Bicubic; return s }()} {
			for _, order := range []int{orderAuto, orderHorizontalFirst, orderVerticalFirst} {
				for _, rs := range resamplers {
					s.Resampler = rs
					p := mustNew(t, s)
					p.order = order
					out := run(t, p, img)
					if sz[0] > 1 && sz[1] > 1 {
						r := image.Rect(sz[0]/3, sz[1]/3, sz[0], sz[1])
						if err := p.RegionInto(out[:], img, r); err != nil {
							t.Fatal(err)
						}
					}
					n := s.Width * s.Height
					for c := range 3 {
						want := (float64(colour[c])/255 - float64(s.Mean[c])) / float64(s.Std[c])
						for i, v := range out[c*n : (c+1)*n] {
							if math.Abs(float64(v)-want) > 1e-4 {
								t.Fatalf("%dx%d %s %s %s order %d: channel %d value %d is %v, want %v",
									sz[0], sz[1], s.Resampler, s.ResizeMode, s.Interpolation, order, c, i, v, want)
							}
						}
					}
				}
			}
		}
	}
}

// transpose returns m mirrored about its main diagonal.
func transpose(m *RGB) *RGB {
	t := NewRGB(m.Height, m.Width)
	for y := range m.Height {
		for x := range m.Width {
			copy(t.Pix[3*(x*t.Width+y):3*(x*t.Width+y)+3], m.Pix[3*(y*m.Width+x):])
		}
	}
	return t
}

// TestTranspose checks that both geometries treat the axes alike: the
// output of the transposed photo is the transposed output (which also
// exercises portrait inputs of the shorter-side arithmetic). The nfnt
// resampler rounds to 8 bits between its passes, so its outputs are exact
// transposes only when the passes swap too: it filters the photo rows first
// and the transposed photo columns first, which also checks that its
// transposed path reads the window back correctly.
func TestTranspose(t *testing.T) {
	img := decodeTestdata(t, "jpeg-420-odd.jpg", DecodeOptions{}) // 201x151
	for _, s := range []Spec{raw(Default(96)), raw(Torchvision(96, 112))} {
		p := mustNew(t, s)
		checkTransposed(t, s, run(t, p, img), run(t, p, transpose(img)))
		s.Resampler = ResamplerNfnt
		pn, pnT := mustNew(t, s), mustNew(t, s)
		pn.order, pnT.order = orderHorizontalFirst, orderVerticalFirst
		checkTransposed(t, s, run(t, pn, img), run(t, pnT, transpose(img)))
	}
}

// checkTransposed checks that the [3][n][n] outputs a and b are transposes
// of each other.
func checkTransposed(t *testing.T, s Spec, a, b []float32) {
	t.Helper()
	n := s.Width
	for c := range 3 {
		for y := range n {
			for x := range n {
				va, vb := a[c*n*n+y*n+x], b[c*n*n+x*n+y]
				if math.Abs(float64(va-vb)) > 1e-3 {
					t.Fatalf("%s %s: channel %d (%d,%d): %v vs transposed %v", s.Resampler, s.ResizeMode, c, x, y, va, vb)
				}
			}
		}
	}
}

// TestExtremeAspect preprocesses a 1-pixel-wide, 300,000-pixel-tall strip
// with each resampler. Filtering rows first would keep every source row of
// the crop (≈ 250,000 × 128 × 3 floats, 380 MB; 180 MB of RGBA for nfnt);
// the pass order switch must keep the allocation near the source size.
func TestExtremeAspect(t *testing.T) {
	for _, r := range resamplers {
		t.Run(string(r), func(t *testing.T) { testExtremeAspect(t, r) })
	}
}

func testExtremeAspect(t *testing.T, r Resampler) {
	img := constant(1, 300_000, [3]uint8{10, 20, 30})
	s := raw(Default(128))
	s.Resampler = r
	p := mustNew(t, s)
	out := make([]float32, p.InputLen())
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := p.Into(out, img); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("allocated %d MB", got>>20)
	}
	for i, v := range out {
		if want := float32(10 * (1 + i/(128*128))); math.Abs(float64(v-want)) > 1e-3 {
			t.Fatalf("value %d is %v, want %v", i, v, want)
		}
	}
}

// TestInvalidInput checks the errors for bad images and regions, and the
// panic for a destination of the wrong size (a programmer error), with each
// resampler.
func TestInvalidInput(t *testing.T) {
	for _, r := range resamplers {
		t.Run(string(r), func(t *testing.T) { testInvalidInput(t, r) })
	}
}

func testInvalidInput(t *testing.T, rs Resampler) {
	s := Default(16)
	s.Resampler = rs
	p := mustNew(t, s)
	out := make([]float32, p.InputLen())
	for name, m := range map[string]*RGB{
		"nil":      nil,
		"empty":    {},
		"short":    {Width: 4, Height: 4, Pix: make([]uint8, 47)},
		"negative": {Width: -1, Height: 4},
	} {
		if err := p.Into(out, m); err == nil {
			t.Errorf("%s image accepted", name)
		}
	}
	img := constant(40, 30, [3]uint8{1, 2, 3})
	for _, r := range []image.Rectangle{
		image.Rect(0, 0, 0, 10), image.Rect(-1, 0, 10, 10), image.Rect(30, 20, 41, 30), image.Rect(5, 5, 5, 5),
	} {
		if err := p.RegionInto(out, img, r); err == nil || !strings.Contains(err.Error(), "outside") {
			t.Errorf("region %v: got %v", r, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a short destination did not panic")
		}
	}()
	p.Into(out[:len(out)-1], img)
}

// TestFileBytesAndBatch checks the convenience paths against the explicit
// ones, filling a two-image batch buffer, and that file errors name the file.
func TestFileBytesAndBatch(t *testing.T) {
	p := mustNew(t, Default(32))
	n := p.InputLen()
	batch := make([]float32, 2*n)
	path := filepath.Join("testdata", "dog.jpg")
	if err := p.File(batch[:n], path); err != nil {
		t.Fatal(err)
	}
	if err := p.Bytes(batch[n:], readTestdata(t, "jpeg-444.jpg")); err != nil {
		t.Fatal(err)
	}
	img, err := p.DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(batch[:n], run(t, p, img)) {
		t.Error("File differs from DecodeFile + Into")
	}
	if !slices.Equal(batch[n:], run(t, p, decodeTestdata(t, "jpeg-444.jpg", p.DecodeOptions()))) {
		t.Error("Bytes differs from Decode + Into")
	}
	bad := filepath.Join(t.TempDir(), "notes.jpg")
	if err := p.File(batch[:n], bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("missing file: got %v, want an error naming %s", err, bad)
	}
	if err := p.Bytes(batch[:n], []byte("not an image")); err == nil {
		t.Error("text accepted as an image")
	}
}

// TestConcurrentUse runs one Preprocessor from several goroutines; each
// must get the sequential result (run with -race to check for sharing),
// with each resampler (nfnt's shares a buffer pool).
func TestConcurrentUse(t *testing.T) {
	for _, r := range resamplers {
		t.Run(string(r), func(t *testing.T) { testConcurrentUse(t, r) })
	}
}

func testConcurrentUse(t *testing.T, r Resampler) {
	s := Default(48)
	s.Resampler = r
	p := mustNew(t, s)
	names := []string{"dog.jpg", "jpeg-422-odd.jpg", "format.webp", "format-alpha.png"}
	want := make([][]float32, len(names))
	imgs := make([]*RGB, len(names))
	for i, n := range names {
		imgs[i] = decodeTestdata(t, n, DecodeOptions{})
		want[i] = run(t, p, imgs[i])
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(names))
	for g := range 4 {
		wg.Go(func() {
			for k := range len(names) {
				i := (g + k) % len(names)
				out := make([]float32, p.InputLen())
				if err := p.Into(out, imgs[i]); err != nil || !slices.Equal(out, want[i]) {
					errs <- names[i]
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for n := range errs {
		t.Errorf("%s: concurrent result differs", n)
	}
}
