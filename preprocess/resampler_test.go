package preprocess

import (
	"fmt"
	"image"
	"image/color"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nfnt/resize"
)

// conformanceInputs returns the source images of the resampler conformance
// test: every original image in testdata (not the files Pillow derived from
// them) and, when scripts/setup.sh has installed them, the full-size
// photographs in .native/photos. It says so in the log when those are
// missing, and leaves them out in -short mode.
func conformanceInputs(t *testing.T) map[string]*RGB {
	t.Helper()
	inputs := map[string]*RGB{}
	names, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		base := filepath.Base(name)
		switch {
		case strings.Contains(base, "-pillow."), strings.HasPrefix(base, "golden-"), base == "orient-upright.png":
			continue
		}
		switch filepath.Ext(base) {
		case ".jpg", ".png", ".gif", ".webp", ".bmp", ".tiff":
			inputs[base] = decodeTestdata(t, base, DecodeOptions{})
		}
	}
	if testing.Short() {
		t.Log("-short: comparing on testdata only")
		return inputs
	}
	photos, err := filepath.Glob(filepath.Join("..", ".native", "photos", "*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(photos) == 0 {
		t.Log("no photographs in ../.native/photos (run scripts/setup.sh): comparing on testdata only")
	}
	for _, path := range photos {
		m, err := DecodeFile(path, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		inputs["photos/"+filepath.Base(path)] = m
	}
	return inputs
}

// conformanceCase is one geometry of the conformance test: a spec applied
// with Into, or to a region chosen from the source size with RegionInto.
type conformanceCase struct {
	name   string
	spec   Spec
	region func(w, h int) image.Rectangle
}

func conformanceCases() []conformanceCase {
	bicubic := func(s Spec) Spec { s.Interpolation = Bicubic; return s }
	squish := func(w, h, rw, rh int) Spec {
		s := Default(w)
		s.Height, s.ResizeWidth, s.ResizeHeight = h, rw, rh
		return s
	}
	// Most of the image, so mostly downscaled to 64×64.
	large := func(w, h int) image.Rectangle { return image.Rect(w/8, h/6, w-w/8, h-h/6) }
	// At most 32×24 pixels at the centre, upscaled to 64×64 (3× and more).
	small := func(w, h int) image.Rectangle {
		cw, ch := min(w, 32), min(h, 24)
		return image.Rect((w-cw)/2, (h-ch)/2, (w-cw)/2+cw, (h-ch)/2+ch)
	}
	return []conformanceCase{
		{name: "squish-bilinear-128", spec: Default(128)},
		{name: "squish-bicubic-96x64", spec: bicubic(squish(96, 64, 112, 80))},
		// Wider than every input, shorter than most: x up, y down.
		{name: "squish-mixed-bilinear", spec: squish(96, 96, 1400, 96)},
		{name: "shorter-bilinear-224", spec: Torchvision(224, 256)},
		{name: "shorter-bicubic-80", spec: bicubic(Torchvision(80, 96))},
		{name: "shorter-upscale-bicubic", spec: bicubic(Torchvision(160, 168))},
		{name: "region-bilinear", spec: Default(64), region: large},
		{name: "region-bicubic", spec: bicubic(Default(64)), region: large},
		{name: "region-upscale-bilinear", spec: Default(64), region: small},
		{name: "region-upscale-bicubic", spec: bicubic(Default(64)), region: small},
	}
}

// agreement summarises nfnt − pillow over one output, in 0..255 levels.
// The border is the outer borderWidth pixels of the window, where the
// resamplers' edge handling differs when downscaling; the interior is the
// rest.
type agreement struct {
	mean, bias       float64 // mean |difference| and mean difference
	interior, border float64 // largest |difference| in each part
	worstAt          string  // where the largest interior difference is
}

const borderWidth = 2

// compare compares nfnt's output got with pillow's want, both [3][h][w].
func compare(got, want []float32, w, h int) agreement {
	var g agreement
	var sum, signed float64
	for c := range 3 {
		for y := range h {
			for x := range w {
				i := (c*h+y)*w + x
				d := float64(got[i]) - float64(want[i])
				signed += d
				d = math.Abs(d)
				sum += d
				if x < borderWidth || y < borderWidth || x >= w-borderWidth || y >= h-borderWidth {
					g.border = max(g.border, d)
				} else if d > g.interior {
					g.interior = d
					g.worstAt = fmt.Sprintf("(%d,%d) channel %d: pillow %.0f, nfnt %.0f", x, y, c, want[i], got[i])
				}
			}
		}
	}
	n := float64(len(got))
	g.mean, g.bias = sum/n, signed/n
	return g
}

func (g agreement) String() string {
	return fmt.Sprintf("mean %.3f bias %+.3f max interior %4.1f border %4.1f", g.mean, g.bias, g.interior, g.border)
}

// Bounds of TestResamplersAgree, in 0..255 levels, each just above the
// worst case measured over the inputs of conformanceInputs (testdata and the
// six photographs) and both of nfnt's pass orders:
//
//   - mean |nfnt − pillow| ≤ 1.2 (measured 1.12). Nearly all of it is a
//     bias: nfnt truncates instead of rounding after each of its two 8-bit
//     passes, so its outputs are 0.8 to 1.1 levels darker on textured
//     images (less on flat ones).
//   - interior maximum ≤ 2.5 for bilinear (measured 2.3): the bias plus
//     nfnt's 8-bit weights. For bicubic ≤ 4 (measured 3.7) when nfnt filters
//     rows first, as Pillow does, and ≤ 7 (measured 6.4) when it filters
//     columns first: the first pass overshoots at strong edges and both
//     clamp it to 0..255 before the second, so the order matters there (as
//     in resampleJob.run).
//   - border maximum ≤ 13 (measured 12.1): where the taps run off the image
//     when downscaling, nfnt repeats the edge pixel and Pillow drops the
//     taps and renormalises, which differs near strong edges in the outer
//     pixels.
const (
	agreeMean           = 1.2
	agreeBilinearInside = 2.5
	agreeBicubicInside  = 4
	agreeBicubicColumns = 7
	agreeBorder         = 13
)

// TestResamplersAgree is the conformance test of the two resamplers: for
// every input and geometry of conformanceCases, nfnt's output must agree
// with the Pillow-exact one within the bounds above. Each resampler is
// checked against its reference elsewhere (TestGoldenPillow for pillow);
// this pins how far apart they are. nfnt runs in both pass orders on the
// testdata images and in its automatic order on the photographs.
func TestResamplersAgree(t *testing.T) {
	inputs := conformanceInputs(t)
	names := slices.Sorted(maps.Keys(inputs))
	for _, c := range conformanceCases() {
		var worst agreement
		for _, name := range names {
			img := inputs[name]
			ps, ns := raw(c.spec), raw(c.spec)
			ps.Resampler, ns.Resampler = ResamplerPillow, ResamplerNfnt
			pp, np := mustNew(t, ps), mustNew(t, ns)
			want := make([]float32, pp.InputLen())
			got := make([]float32, np.InputLen())
			var r image.Rectangle
			if c.region != nil {
				r = c.region(img.Width, img.Height)
			}
			into := func(p *Preprocessor, dst []float32) {
				t.Helper()
				var err error
				if c.region != nil {
					err = p.RegionInto(dst, img, r)
				} else {
					err = p.Into(dst, img)
				}
				if err != nil {
					t.Fatalf("%s %s: %v", c.name, name, err)
				}
			}
			into(pp, want)
			orders := []int{orderHorizontalFirst, orderVerticalFirst}
			if strings.HasPrefix(name, "photos/") {
				orders = []int{orderAuto}
			}
			for _, order := range orders {
				np.order = order
				into(np, got)
				inside := agreeBilinearInside
				if c.spec.Interpolation == Bicubic {
					inside = agreeBicubicInside
					if order == orderVerticalFirst {
						inside = agreeBicubicColumns
					}
				}
				g := compare(got, want, c.spec.Width, c.spec.Height)
				if g.mean > agreeMean || g.interior > inside || g.border > agreeBorder {
					t.Errorf("%s %s (%dx%d) order %d: %v, worst inside at %s; want mean ≤ %v, interior ≤ %v, border ≤ %v",
						c.name, name, img.Width, img.Height, order, g, g.worstAt, agreeMean, inside, agreeBorder)
				}
				worst.mean = max(worst.mean, g.mean)
				worst.bias = min(worst.bias, g.bias)
				worst.interior = max(worst.interior, g.interior)
				worst.border = max(worst.border, g.border)
			}
		}
		t.Logf("%-24s worst over %d inputs: %v", c.name, len(names), worst)
	}
}

// TestNfntMatchesLibrary checks that the nfnt resampler is nfnt/resize and
// nothing else: its output equals the window of resize.Resize applied to an
// *image.RGBA built independently of the package's conversion (a SubImage
// of it for a region), for both filters, both geometries, a region, and a
// spec whose resize leaves the size unchanged (where nfnt/resize returns its
// input).
func TestNfntMatchesLibrary(t *testing.T) {
	img := decodeTestdata(t, "jpeg-420-odd.jpg", DecodeOptions{}) // 201x151
	full := image.NewRGBA(image.Rect(0, 0, img.Width, img.Height))
	for y := range img.Height {
		for x := range img.Width {
			p := img.Pix[3*(y*img.Width+x):]
			full.Set(x, y, color.RGBA{p[0], p[1], p[2], 0xff})
		}
	}
	bicubic := func(s Spec) Spec { s.Interpolation = Bicubic; return s }
	identity := Default(64)
	identity.ResizeWidth, identity.ResizeHeight = img.Width, img.Height
	region := image.Rect(30, 20, 170, 110)
	for _, tc := range []struct {
		name   string
		spec   Spec
		region bool
	}{
		{"squish-bilinear", Default(96), false},
		{"shorter-bicubic", bicubic(Torchvision(80, 120)), false},
		{"squish-nonsquare-upscale", func() Spec {
			s := Default(300)
			s.Height, s.ResizeWidth, s.ResizeHeight = 100, 320, 110
			return s
		}(), false},
		{"same-size", identity, false},
		{"region-bicubic", bicubic(Default(48)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := raw(tc.spec)
			s.Resampler = ResamplerNfnt
			p := mustNew(t, s)
			got := make([]float32, p.InputLen())
			var src image.Image = full
			rw, rh := s.resizedSize(img.Width, img.Height)
			winX, winY := (rw-s.Width)/2, (rh-s.Height)/2
			if tc.region {
				if err := p.RegionInto(got, img, region); err != nil {
					t.Fatal(err)
				}
				src = full.SubImage(region)
				rw, rh, winX, winY = s.Width, s.Height, 0, 0
			} else if err := p.Into(got, img); err != nil {
				t.Fatal(err)
			}
			res := resize.Resize(uint(rw), uint(rh), src, nfntFilter(s.Interpolation))
			b := res.Bounds()
			n := s.Width * s.Height
			for y := range s.Height {
				for x := range s.Width {
					r, g, bl, _ := res.At(b.Min.X+winX+x, b.Min.Y+winY+y).RGBA()
					for c, v := range []uint32{r >> 8, g >> 8, bl >> 8} {
						if gv := got[c*n+y*s.Width+x]; math.Abs(float64(gv)-float64(v)) > 1e-3 {
							t.Fatalf("(%d,%d) channel %d: %v, nfnt/resize gives %d", x, y, c, gv, v)
						}
					}
				}
			}
		})
	}
}

// TestNfntScaleLimit checks that the nfnt resampler refuses a shrink beyond
// maxNfntScale, where nfnt/resize's sums would overflow, with an error
// rather than garbage, and that the Pillow resampler takes the same image.
func TestNfntScaleLimit(t *testing.T) {
	img := constant(2, 24*maxNfntScale+1, [3]uint8{1, 2, 3}) // Default(16) squishes to 24×24
	for _, r := range resamplers {
		s := Default(16)
		s.Resampler = r
		p := mustNew(t, s)
		err := p.Into(make([]float32, p.InputLen()), img)
		if r == ResamplerNfnt {
			if err == nil || !strings.Contains(err.Error(), "limit") {
				t.Errorf("nfnt: got %v, want an error about its limit", err)
			}
		} else if err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
}
