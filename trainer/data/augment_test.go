package data

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tagnet/tagnet/preprocess"
)

// constSource returns the same value forever, so that rand.Float64 is a
// known number: v<<11>>11 / 2^53.
type constSource uint64

func (s constSource) Uint64() uint64 { return uint64(s) }

func TestRandomResizedCropFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// 1000×10: even the smallest area, 0.35·10000 at ratio 4/3, needs
	// a height of √(3500·3/4) = 51 > 10, so all ten tries fail. Fallback:
	// w/h = 100 > 4/3, so the crop is 10 high and int(10·4/3) = 13 wide,
	// centred: x = (1000−13)/2 = 493.
	if got, want := RandomResizedCrop(1000, 10, 0.35, rng), image.Rect(493, 0, 506, 10); got != want {
		t.Errorf("wide: %v, want %v", got, want)
	}
	// 10×1000: 10 wide, int(10/(3/4)) = 13 high, y = 493.
	if got, want := RandomResizedCrop(10, 1000, 0.35, rng), image.Rect(0, 493, 10, 506); got != want {
		t.Errorf("tall: %v, want %v", got, want)
	}
}

func TestRandomResizedCropDraw(t *testing.T) {
	// Float64 = 2^52/2^53 = 0.5 for every draw: area (0.35 + 0.5·0.65) =
	// 0.675 of 100·100 = 6750, ratio exp(0) = 1, so the sides are
	// round(√6750) = round(82.16) = 82.
	r := RandomResizedCrop(100, 100, 0.35, rand.New(constSource(1<<52)))
	if r.Dx() != 82 || r.Dy() != 82 || !r.In(image.Rect(0, 0, 100, 100)) {
		t.Errorf("crop %v, want 82×82 inside the image", r)
	}
	// A 1×1 image always gives itself.
	if r := RandomResizedCrop(1, 1, 0.35, rand.New(rand.NewPCG(3, 4))); r != image.Rect(0, 0, 1, 1) {
		t.Errorf("1×1: %v", r)
	}
}

func TestRandomResizedCropProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const w, h, minScale = 200, 120, 0.35
	var minArea, maxArea = 1.0, 0.0
	xs := map[int]bool{}
	for range 3000 {
		r := RandomResizedCrop(w, h, minScale, rng)
		if !r.In(image.Rect(0, 0, w, h)) || r.Empty() {
			t.Fatalf("crop %v outside the %dx%d image", r, w, h)
		}
		a := float64(r.Dx()*r.Dy()) / (w * h)
		ratio := float64(r.Dx()) / float64(r.Dy())
		// Rounding each side moves the area and ratio a little: at most
		// half a pixel per side.
		if a < minScale*0.97 || a > 1 || ratio < 0.75*0.97 || ratio > 4.0/3*1.03 {
			t.Fatalf("crop %v: area fraction %.3f, ratio %.3f", r, a, ratio)
		}
		minArea, maxArea = math.Min(minArea, a), math.Max(maxArea, a)
		xs[r.Min.X] = true
	}
	// The largest crop with ratio ≤ 4/3 is 160×120, 0.8 of the image.
	if minArea > 0.4 || maxArea < 0.75 || maxArea > 0.8 || len(xs) < 50 {
		t.Errorf("crops do not cover the range: area %.3f..%.3f, %d x positions", minArea, maxArea, len(xs))
	}
}

// testImage writes a gradient JPEG and decodes it as the loader would.
func testImage(t *testing.T, pre *preprocess.Preprocessor, w, h int) (string, *preprocess.RGB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img.jpg")
	writeImage(t, path, gradient(w, h))
	img, err := pre.DecodeFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, img
}

func newPre(t *testing.T, spec preprocess.Spec) *preprocess.Preprocessor {
	t.Helper()
	pre, err := preprocess.New(spec, preprocess.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return pre
}

func TestAugmenterNoneIsThePredictorPath(t *testing.T) {
	pre := newPre(t, preprocess.Default(24))
	path, img := testImage(t, pre, 50, 37)
	// What the predictor computes: the preprocess package on the file.
	want := make([]float32, pre.InputLen())
	if err := pre.File(want, path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []AugmentMode{AugmentNone, AugmentCropFlip} {
		a, err := NewAugmenter(pre, AugmentOptions{Mode: mode, Brightness: 0.2})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, pre.InputLen())
		if err := a.Valid(got, img); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: Valid differs from preprocess (%v)", mode, err)
		}
		if mode == AugmentNone {
			if err := a.Train(got, img, rand.New(rand.NewPCG(1, 1))); err != nil || !slices.Equal(got, want) {
				t.Errorf("none: Train differs from preprocess (%v)", err)
			}
		}
	}
}

func TestAugmenterCrop(t *testing.T) {
	pre := newPre(t, preprocess.Default(16))
	_, img := testImage(t, pre, 40, 30)
	a, err := NewAugmenter(pre, AugmentOptions{Mode: AugmentCrop, MinScale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, pre.InputLen())
	want := make([]float32, pre.InputLen())
	distinct := 0
	var prev []float32
	for i := range 5 {
		if err := a.Train(got, img, ItemRand(9, 0, i)); err != nil {
			t.Fatal(err)
		}
		// The same draw, done by hand: the crop, then the preprocess
		// package's region resize and normalisation.
		r := RandomResizedCrop(img.Width, img.Height, 0.5, ItemRand(9, 0, i))
		if err := pre.RegionInto(want, img, r); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("item %d: crop output differs from RegionInto(%v)", i, r)
		}
		if prev != nil && !slices.Equal(prev, got) {
			distinct++
		}
		prev = slices.Clone(got)
	}
	if distinct == 0 {
		t.Error("different items got the same crop")
	}
}

// mirror flips each row of [3][h][w] planes.
func mirror(v []float32, w, h int) []float32 {
	out := make([]float32, len(v))
	for r := range 3 * h {
		for x := range w {
			out[r*w+x] = v[r*w+w-1-x]
		}
	}
	return out
}

func TestAugmenterFlip(t *testing.T) {
	pre := newPre(t, preprocess.Default(12))
	_, img := testImage(t, pre, 30, 30)
	// MinScale 1 on a square image always crops the whole image.
	a, err := NewAugmenter(pre, AugmentOptions{Mode: AugmentCropFlip, MinScale: 1})
	if err != nil {
		t.Fatal(err)
	}
	whole := make([]float32, pre.InputLen())
	if err := pre.RegionInto(whole, img, image.Rect(0, 0, 30, 30)); err != nil {
		t.Fatal(err)
	}
	flipped := mirror(whole, 12, 12)
	got := make([]float32, pre.InputLen())
	plain, flips := 0, 0
	for i := range 40 {
		if err := a.Train(got, img, ItemRand(1, 2, i)); err != nil {
			t.Fatal(err)
		}
		switch {
		case slices.Equal(got, whole):
			plain++
		case slices.Equal(got, flipped):
			flips++
		default:
			t.Fatalf("item %d is neither the image nor its mirror", i)
		}
	}
	// p = 0.5: 40 draws all on one side has probability 2·2^−40.
	if plain == 0 || flips == 0 {
		t.Errorf("%d plain and %d flipped of 40", plain, flips)
	}
}

func TestAugmenterLight(t *testing.T) {
	spec := preprocess.Default(4)
	spec.Mean = [3]float32{0.5, 0.25, 0.75}
	spec.Std = [3]float32{0.25, 0.5, 0.25}
	spec.ChannelOrder = preprocess.OrderBGR
	a, err := NewAugmenter(newPre(t, spec), AugmentOptions{Mode: AugmentCrop, Brightness: 0.1, Contrast: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	// BGR: plane 0 is blue, normalised by mean 0.75 and std 0.25.
	if a.mean != [3]float32{0.75, 0.25, 0.5} || a.std != [3]float32{0.25, 0.5, 0.25} {
		t.Fatalf("plane mean %v std %v", a.mean, a.std)
	}
	// One value per plane (plane size 1). Shift 0.1, scale 2:
	//   plane 0: x 0 → v 0.75 → (0.25·2 + 0.5 + 0.1) = 1.1 → 1 → (1−0.75)/0.25 = 1
	//   plane 1: x 0.5 → v 0.5 → 0.6 → (0.6−0.25)/0.5 = 0.7
	//   plane 2: x −2 → v 0 → (−0.5·2 + 0.6) = −0.4 → 0 → (0−0.5)/0.25 = −2
	dst := []float32{0, 0.5, -2}
	a.light(dst, 1, 0.1, 2)
	want := []float32{1, 0.7, -2}
	for i := range want {
		if math.Abs(float64(dst[i]-want[i])) > 1e-6 {
			t.Errorf("plane %d: %v, want %v", i, dst[i], want[i])
		}
	}
}

func TestAugmentOptions(t *testing.T) {
	for _, s := range []string{"none", "crop", "CROP+flip", " crop "} {
		if _, err := ParseAugmentMode(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseAugmentMode("rotate"); err == nil {
		t.Error("rotate accepted")
	}
	pre := newPre(t, preprocess.Default(8))
	for _, o := range []AugmentOptions{{Mode: "zoom"}, {MinScale: 1.5}, {MinScale: -0.1}, {Brightness: -1}, {Contrast: math.NaN()}} {
		if _, err := NewAugmenter(pre, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	a, err := NewAugmenter(pre, AugmentOptions{})
	if err != nil || a.Options().Mode != AugmentNone || a.Options().MinScale != DefaultMinScale {
		t.Errorf("defaults: %+v, %v", a.Options(), err)
	}
	if _, err := NewAugmenter(nil, AugmentOptions{}); err == nil {
		t.Error("nil preprocessor accepted")
	}
}

func ExampleRandomResizedCrop() {
	// A 1000×10 strip admits no crop of at least 35% of its area with an
	// aspect ratio in [3/4, 4/3]; the fallback is the centred 13×10 box.
	rng := rand.New(rand.NewPCG(1, 2))
	fmt.Println(RandomResizedCrop(1000, 10, 0.35, rng))
	// Output: (493,0)-(506,10)
}

func ExampleAugmenter() {
	pre, err := preprocess.New(preprocess.Default(32), preprocess.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	aug, err := NewAugmenter(pre, AugmentOptions{Mode: AugmentCropFlip})
	if err != nil {
		fmt.Println(err)
		return
	}
	img := preprocess.FromImage(gradient(64, 48))
	// The same (seed, epoch, item) gives the same augmentation.
	a, b := make([]float32, pre.InputLen()), make([]float32, pre.InputLen())
	_ = aug.Train(a, img, ItemRand(1, 0, 7))
	_ = aug.Train(b, img, ItemRand(1, 0, 7))
	// Validation is the predictor's preprocessing.
	v, p := make([]float32, pre.InputLen()), make([]float32, pre.InputLen())
	_ = aug.Valid(v, img)
	_ = pre.Into(p, img)
	fmt.Println(len(a), slices.Equal(a, b), slices.Equal(v, p))
	// Output: 3072 true true
}
