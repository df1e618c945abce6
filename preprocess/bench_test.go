package preprocess

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
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

// BenchmarkDecode measures decoding a 1.2-megapixel JPEG to RGB.
//
//	go test ./preprocess -run '^$' -bench 'Decode$' -benchmem
func BenchmarkDecode(b *testing.B) {
	data := benchPhoto(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data, DecodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkYCbCr pairs the libjpeg-compatible conversion (fancy chroma
// upsampling) with Go's nearest-chroma conversion on the same decoded
// planes, so the cost of matching libjpeg is visible in one run.
//
//	go test ./preprocess -run '^$' -bench 'YCbCr' -benchmem
func BenchmarkYCbCr(b *testing.B) {
	img, err := jpeg.Decode(bytes.NewReader(benchPhoto(b)))
	if err != nil {
		b.Fatal(err)
	}
	src := img.(*image.YCbCr)
	pix := make([]uint8, 3*src.Rect.Dx()*src.Rect.Dy())
	b.Run("libjpeg", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fromYCbCr(pix, src)
		}
	})
	b.Run("nearest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fromYCbCrNearest(pix, src)
		}
	})
}

// BenchmarkInto measures resize, crop and normalisation of a decoded
// 1352×900 photo: tagnet's 128-pixel default, torchvision's 224 geometry,
// and the trainer's region path.
//
//	go test ./preprocess -run '^$' -bench 'Into' -benchmem
func BenchmarkInto(b *testing.B) {
	img, err := Decode(benchPhoto(b), DecodeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		spec   Spec
		region bool
	}{
		{"default-128", Default(128), false},
		{"torchvision-224", Torchvision(224, 256), false},
		{"bicubic-224", func() Spec { s := Torchvision(224, 256); s.Interpolation = Bicubic; return s }(), false},
		{"region-128", Default(128), true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := New(bc.spec, Limits{})
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
