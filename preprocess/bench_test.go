package preprocess

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/nfnt/resize"
)

// benchPhoto reads a full-size photograph that scripts/setup.sh installs
// (kite.jpg, 1352×900, 4:2:0), skipping when it is absent.
func benchPhoto(b *testing.B) []byte {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("..", ".native", "photos", "kite.jpg"))
	if err != nil {
		b.Skipf("%v (run scripts/setup.sh)", err)
	}
	return data
}

// BenchmarkDecode measures decoding a 1.2-megapixel JPEG to RGB through
// libvips at full size and shrunk on load for tagnet's 224-pixel input
// (Pillow's draft rule: 1/4 here), beside Go's image/jpeg, the decoder
// tagnet used before libvips, on the same bytes.
//
//	go test ./preprocess -run '^$' -bench 'Decode$' -benchmem
func BenchmarkDecode(b *testing.B) {
	data := benchPhoto(b)
	pre, err := New(Default(224), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		opt  DecodeOptions
	}{
		{"vips-full", DecodeOptions{EXIFOrientation: true, Colour: ColourSRGB}},
		{"vips-draft224", pre.DecodeOptions()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(data, bc.opt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
	b.Run("go-image-jpeg", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
	})
}

// BenchmarkInto measures resize, crop and normalisation of a decoded
// 1352×900 photo: tagnet's 128-pixel default, torchvision's 224 geometry,
// and the trainer's region path, with each resampler. nfnt/resize spreads
// each resize over GOMAXPROCS goroutines and the Pillow resampler uses one,
// so compare them at -cpu 1 for the work per image and at the default for
// the latency of a single image on an idle machine.
//
//	go test ./preprocess -run '^$' -bench 'Into' -benchmem -cpu 1,2
func BenchmarkInto(b *testing.B) {
	img, err := Decode(benchPhoto(b), DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	bicubic := func(s Spec) Spec { s.Interpolation = Bicubic; return s }
	for _, bc := range []struct {
		name   string
		spec   Spec
		region bool
	}{
		{"default-128", Default(128), false},
		{"torchvision-224", Torchvision(224, 256), false},
		{"bicubic-224", bicubic(Torchvision(224, 256)), false},
		{"region-128", Default(128), true},
	} {
		for _, rs := range []Resampler{ResamplerPillow, ResamplerNfnt} {
			b.Run(bc.name+"/"+string(rs), func(b *testing.B) {
				s := bc.spec
				s.Resampler = rs
				p, err := New(s, Limits{})
				if err != nil {
					b.Fatal(err)
				}
				out := make([]float32, p.InputLen())
				r := image.Rect(100, 50, 900, 850)
				b.ReportAllocs()
				for b.Loop() {
					if bc.region {
						err = p.RegionInto(out, img, r)
					} else {
						err = p.Into(out, img)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
			})
		}
	}
}

// rgbView presents an RGB as an image.Image without copying, the
// alternative to the *image.RGBA copy that nfntResample makes.
type rgbView struct{ m *RGB }

func (v rgbView) ColorModel() color.Model { return color.RGBAModel }
func (v rgbView) Bounds() image.Rectangle { return image.Rect(0, 0, v.m.Width, v.m.Height) }
func (v rgbView) At(x, y int) color.Color {
	p := v.m.Pix[3*(y*v.m.Width+x):]
	return color.RGBA{p[0], p[1], p[2], 0xff}
}

// BenchmarkNfntInput measures the two ways of handing a decoded 1352×900
// photo to nfnt/resize for tagnet's default 128 (a 152×152 resize): copying
// it into an *image.RGBA, for which nfnt/resize has an 8-bit fast path (what
// nfntResample does), or wrapping it as an image.Image without copying,
// which nfnt/resize reads through At with 16-bit precision.
//
//	go test ./preprocess -run '^$' -bench 'NfntInput' -benchmem -cpu 1
func BenchmarkNfntInput(b *testing.B) {
	img, err := Decode(benchPhoto(b), DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("rgba-copy", func(b *testing.B) {
		b.ReportAllocs()
		pix := make([]uint8, 4*img.Width*img.Height)
		for b.Loop() {
			in := toRGBA(pix, img, image.Rect(0, 0, img.Width, img.Height), false)
			resize.Resize(152, 152, in, resize.Bilinear)
		}
	})
	b.Run("view", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resize.Resize(152, 152, rgbView{img}, resize.Bilinear)
		}
	})
}
