package preprocess

import (
	"encoding/json"
	"image"
	"strings"
	"testing"
)

// goldenCase is one entry of testdata/golden.json, written by
// testdata/gen_golden.py from what Pillow computes.
type goldenCase struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	Region []int  `json:"region"`
	Spec   Spec   `json:"spec"`
	// Draft cases decode the JPEG source shrunk on load, as Pillow's
	// Image.draft("RGB", size) does before the resize.
	Draft bool `json:"draft"`
}

// TestGoldenPillow checks resizing and cropping against Pillow's output for
// the same source pixels: squish and shorter-side geometry, bilinear and
// bicubic, downsampling and upsampling, square and non-square, whole images
// and regions, with the rows-first and (bilinear) the columns-first pass order.
// Pillow rounds to 8 bits after each pass, so up to about one
// level of difference is expected; anything larger is a real disagreement.
// The JPEG cases run the whole path from the encoded file; the draft cases
// decode it at the DCT scale Pillow's draft() picks for the resize target
// (1/2, 1/4 and 1/8 here) through libjpeg-turbo, as Pillow does.
func TestGoldenPillow(t *testing.T) {
	var cases []goldenCase
	if err := json.Unmarshal(readTestdata(t, "golden.json"), &cases); err != nil {
		t.Fatalf("parsing golden.json: %v", err)
	}
	if len(cases) == 0 {
		t.Fatal("golden.json lists no cases")
	}
	for _, c := range cases {
		orders := []struct {
			name  string
			order int
		}{{"rows-first", orderHorizontalFirst}, {"columns-first", orderVerticalFirst}}
		if c.Spec.Interpolation == Bicubic {
			orders = orders[:1] // see resampleJob.run: only rows-first is Pillow's clamping
		}
		for _, order := range orders {
			t.Run(c.Name+"/"+order.name, func(t *testing.T) {
				p, err := New(raw(c.Spec), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				p.order = order.order
				opt := DecodeOptions{}
				if c.Draft {
					opt = p.DecodeOptions()
				}
				src := decodeTestdata(t, c.Source, opt)
				got := make([]float32, p.InputLen())
				if c.Region != nil {
					r := image.Rect(c.Region[0], c.Region[1], c.Region[2], c.Region[3])
					err = p.RegionInto(got, src, r)
				} else {
					err = p.Into(got, src)
				}
				if err != nil {
					t.Fatal(err)
				}
				want := decodeTestdata(t, c.Name+".png", DecodeOptions{})
				if want.Width != c.Spec.Width || want.Height != c.Spec.Height {
					t.Fatalf("golden is %dx%d, spec %dx%d", want.Width, want.Height, c.Spec.Width, c.Spec.Height)
				}
				maxAbs, meanAbs := diff(t, got, planes(want))
				t.Logf("max |Go − Pillow| = %.3f, mean = %.4f (0..255 scale)", maxAbs, meanAbs)
				maxTol, meanTol := 1.25, 0.3
				if strings.HasSuffix(c.Source, ".jpg") {
					maxTol, meanTol = 3, 0.35
				}
				if maxAbs > maxTol || meanAbs > meanTol {
					t.Errorf("differs from Pillow: max %.3f (want ≤ %v), mean %.4f (want ≤ %v)", maxAbs, maxTol, meanAbs, meanTol)
				}
			})
		}
	}
}
