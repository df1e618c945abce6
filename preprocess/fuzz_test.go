package preprocess

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode and, when they decode, to the
// whole preprocessing with each resampler: nothing may panic, and every
// output must be finite.
// It is seeded with every image in testdata/ and testdata/cases/ (libvips
// decodes them; a crash in C would end the process, so this is also a
// check of the binding's error paths). Inputs are limited to a
// megapixel so that the fuzzer does not spend its time on allocation.
//
//	go test ./preprocess -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil {
		f.Fatal(err)
	}
	cases, err := filepath.Glob(filepath.Join("testdata", "cases", "*.*"))
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, cases...)
	for _, name := range files {
		switch filepath.Ext(name) {
		case ".jpg", ".png", ".gif", ".webp", ".bmp", ".tiff", ".heic", ".avif":
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	p, err := New(Default(16), Limits{MaxPixels: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	nfntSpec := Default(16)
	nfntSpec.Resampler = ResamplerNfnt
	pn, err := New(nfntSpec, Limits{MaxPixels: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := p.Decode(data)
		if err != nil {
			return
		}
		if img.valid() != nil {
			t.Fatalf("Decode returned an invalid image: %dx%d with %d bytes", img.Width, img.Height, len(img.Pix))
		}
		for _, p := range []*Preprocessor{p, pn} {
			out := make([]float32, p.InputLen())
			if err := p.Into(out, img); err != nil {
				t.Fatal(err)
			}
			for i, v := range out {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s: value %d is %v", p.Spec().Resampler, i, v)
				}
			}
		}
	})
}
