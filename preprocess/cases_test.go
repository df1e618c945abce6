package preprocess

import (
	"path/filepath"
	"testing"
)

// TestDecodeCases decodes the inputs of ../shared/cases/decode (kept in
// testdata/cases), each a kind of file a public bug report showed tagnet
// getting wrong, and compares it with its reference: the picture it was
// made from, or Pillow's decoding of it (the *-pillow.png files, written by
// testdata/gen_golden.py).
func TestDecodeCases(t *testing.T) {
	srgb := DecodeOptions{EXIFOrientation: true, Colour: ColourSRGB}
	for _, tc := range []struct {
		file, ref       string
		opt             DecodeOptions
		maxAbs, meanAbs float64
	}{
		// VP8 is limited-range YCbCr: black 0, white 255, red (200,29,30).
		{"patches-q100.webp", "patches-q100-webp-pillow.png", srgb, 0, 0},
		// The 48×48 first frame at (8,8) on its 64×64 screen.
		{"gif-first-frame-48-in-64.gif", "gif-first-frame-48-in-64-gif-pillow.png", srgb, 0, 0},
		// Four-component JPEG without Adobe's APP14 marker: plain CMYK.
		{"cmyk-no-app14.jpg", "rgb-ref.png", srgb, 4, 0.6},
		{"cmyk-no-app14.jpg", "cmyk-no-app14-jpg-pillow.png", srgb, 0, 0},
		// Arithmetic coding is lossless against the Huffman original.
		{"arithmetic.jpg", "baseline.jpg", srgb, 0, 0},
		{"bmp8-rle.bmp", "bmp8-rle-bmp-pillow.png", srgb, 0, 0},
		// Orientation 6 in a PNG eXIf chunk.
		{"png-exif6.png", "upright.png", srgb, 0, 0},
		// Adobe RGB (1998) values with their profile, converted to sRGB.
		{"AdobeRGB1998-tagged.jpg", "AdobeRGB1998-tagged-jpg-pillow-srgb.png", srgb, 2, 0.1},
		{"AdobeRGB1998-tagged.jpg", "srgb.png", srgb, 32, 2.5},
	} {
		t.Run(tc.file+"~"+tc.ref, func(t *testing.T) {
			got := decodeTestdata(t, filepath.Join("cases", tc.file), tc.opt)
			want := decodeTestdata(t, filepath.Join("cases", tc.ref), DecodeOptions{})
			if got.Width != want.Width || got.Height != want.Height {
				t.Fatalf("decoded %dx%d, reference %dx%d", got.Width, got.Height, want.Width, want.Height)
			}
			maxAbs, meanAbs := diff(t, planes(got), planes(want))
			t.Logf("%dx%d: max |got − reference| = %v, mean = %.4f", got.Width, got.Height, maxAbs, meanAbs)
			if maxAbs > tc.maxAbs || meanAbs > tc.meanAbs {
				t.Errorf("differs from %s: max %v (want ≤ %v), mean %.4f (want ≤ %v)", tc.ref, maxAbs, tc.maxAbs, meanAbs, tc.meanAbs)
			}
		})
	}
}

// TestDecodeHEIF decodes the HEIC (HEVC) and AVIF (AV1) files, which
// Pillow 9.4 cannot read, against the lossless picture heif-enc encoded
// them from at quality 95 (testdata/gen_golden.py).
func TestDecodeHEIF(t *testing.T) {
	want := decodeTestdata(t, "dog.png", DecodeOptions{})
	for _, name := range []string{"format.heic", "format.avif"} {
		got := decodeTestdata(t, name, DecodeOptions{EXIFOrientation: true, Colour: ColourSRGB})
		if got.Width != want.Width || got.Height != want.Height {
			t.Fatalf("%s: decoded %dx%d, source %dx%d", name, got.Width, got.Height, want.Width, want.Height)
		}
		maxAbs, meanAbs := diff(t, planes(got), planes(want))
		t.Logf("%s: max |got − source| = %v, mean = %.4f", name, maxAbs, meanAbs)
		if meanAbs > 2 {
			t.Errorf("%s differs from its source by %.3f levels on average, want ≤ 2", name, meanAbs)
		}
	}
}

// TestDecodeDamaged checks that damaged files — a JPEG cut at 60 %, one cut
// right after its scan header, a PNG cut at 50 % (../shared/cases/training),
// and each decode-case file cut in half — are errors, never an image
// whose missing part is painted grey.
func TestDecodeDamaged(t *testing.T) {
	files := []string{"trunc-train-60pct.jpg", "header-only.jpg", "trunc-train-50pct.png"}
	for _, name := range files {
		if m, err := Decode(readTestdata(t, filepath.Join("cases", name)), DecodeOptions{}); err == nil {
			t.Errorf("%s decoded to a %dx%d image, want an error", name, m.Width, m.Height)
		}
	}
	for _, name := range []string{"baseline.jpg", "arithmetic.jpg", "patches.png", "patches-q100.webp",
		"bmp8-rle.bmp", "cmyk-no-app14.jpg", "../format.heic", "../format.avif", "../format.tiff",
		"../jpeg-progressive.jpg", "../format-interlaced.png"} {
		data := readTestdata(t, filepath.Join("cases", name))
		if m, err := Decode(data[:len(data)/2], DecodeOptions{}); err == nil {
			t.Errorf("the first half of %s decoded to a %dx%d image, want an error", name, m.Width, m.Height)
		}
	}
}

// TestDraftFollowsOrientation checks shrink-on-load on a JPEG stored on its
// side: the need is stated for the upright image and applied to the stored
// axes, so the decoded image is upright and still covers the target.
func TestDraftFollowsOrientation(t *testing.T) {
	data := readTestdata(t, "orient-6.jpg")
	full := decodeTestdata(t, "orient-6.jpg", DecodeOptions{EXIFOrientation: true})
	var asked [2]int
	opt := DecodeOptions{EXIFOrientation: true, Draft: func(w, h int) (int, int) {
		asked = [2]int{w, h}
		return w / 2, h / 2
	}}
	m, err := Decode(data, opt)
	if err != nil {
		t.Fatal(err)
	}
	if asked != [2]int{full.Width, full.Height} {
		t.Errorf("Draft was asked about %v, want the upright size %dx%d", asked, full.Width, full.Height)
	}
	if m.Width != (full.Width+1)/2 || m.Height != (full.Height+1)/2 {
		t.Errorf("decoded %dx%d, want half of the upright %dx%d", m.Width, m.Height, full.Width, full.Height)
	}
}

// TestDraftScale pins Pillow's rule (JpegImageFile.draft) on the sizes a
// 4032×3024 phone photograph meets.
func TestDraftScale(t *testing.T) {
	for _, tc := range []struct{ w, h, nw, nh, want int }{
		{4032, 3024, 256, 256, 8},  // 15 and 11 times the need: 8
		{4032, 3024, 341, 256, 8},  // torchvision Resize(256): 11, 11
		{4032, 3024, 1008, 756, 4}, // exactly 4
		{4032, 3024, 1009, 756, 2}, // just under 4 in width
		{4032, 3024, 2017, 1512, 1},
		{200, 150, 152, 152, 1}, // smaller than the need
		{4032, 3024, 0, 0, 1},
	} {
		if got := DraftScale(tc.w, tc.h, tc.nw, tc.nh); got != tc.want {
			t.Errorf("DraftScale(%d, %d, %d, %d) = %d, want %d", tc.w, tc.h, tc.nw, tc.nh, got, tc.want)
		}
	}
}

// TestCropDecodeOptions checks the training-time rule: the shorter side of
// the decoded image stays at least size/√minScale, so the smallest random
// crop still covers the input size.
func TestCropDecodeOptions(t *testing.T) {
	p, err := New(Default(32), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	data := readTestdata(t, "draft.jpg") // 768×576
	for _, tc := range []struct {
		minScale float64
		wantW    int // 768/s for the largest s keeping 576/s ≥ ceil(32/√minScale)
	}{
		{1, 96},     // need 32: 576/8 = 72 ≥ 32
		{0.35, 96},  // need 55: 72 ≥ 55
		{0.08, 192}, // need 114: 72 < 114, 144 ≥ 114
	} {
		m, err := Decode(data, p.CropDecodeOptions(tc.minScale))
		if err != nil {
			t.Fatal(err)
		}
		if m.Width != tc.wantW {
			t.Errorf("min scale %v: decoded %dx%d, want width %d", tc.minScale, m.Width, m.Height, tc.wantW)
		}
	}
}
