package preprocess

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeMatchesPillow decodes every format and layout and compares the
// pixels with Pillow's convert("RGB") of the same file. libvips and Pillow
// share libjpeg-turbo, libwebp and libpng, so every file must agree exactly
// (alpha dropped keeping the stored colour, grey replicated, palettes looked
// up, 16-bit samples reduced to their high byte). HEIC and AVIF, which
// Pillow 9.4 cannot read, are in TestDecodeHEIF.
func TestDecodeMatchesPillow(t *testing.T) {
	for _, tc := range []struct {
		file            string
		maxAbs, meanAbs float64
	}{
		{"format.webp", 0, 0},
		{"format-animated.webp", 0, 0},
		{"format-lossy-alpha.webp", 0, 0},
		{"format-interlaced.png", 0, 0},
		{"format-16bit.png", 0, 0},
		{"format-palette.png", 0, 0},
		{"format-cmyk-adobe.jpg", 0, 0},
		{"format.bmp", 0, 0},
		{"format.tiff", 0, 0},
		{"format.gif", 0, 0},
		{"format-gray.png", 0, 0},
		{"format-alpha.png", 0, 0},
		{"dog.jpg", 0, 0},
		{"jpeg-420-odd.jpg", 0, 0},
		{"jpeg-422-odd.jpg", 0, 0},
		{"jpeg-444.jpg", 0, 0},
		{"jpeg-progressive.jpg", 0, 0},
		{"jpeg-gray.jpg", 0, 0},
		{"jpeg-420-narrow.jpg", 0, 0},
		{"jpeg-420-small.jpg", 0, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got := decodeTestdata(t, tc.file, DecodeOptions{})
			want := decodeTestdata(t, strings.ReplaceAll(tc.file, ".", "-")+"-pillow.png", DecodeOptions{})
			if got.Width != want.Width || got.Height != want.Height {
				t.Fatalf("decoded %dx%d, Pillow %dx%d", got.Width, got.Height, want.Width, want.Height)
			}
			maxAbs, meanAbs := diff(t, planes(got), planes(want))
			t.Logf("%dx%d: max |Go − Pillow| = %v, mean = %.4f", got.Width, got.Height, maxAbs, meanAbs)
			if maxAbs > tc.maxAbs || meanAbs > tc.meanAbs {
				t.Errorf("differs from Pillow: max %v (want ≤ %v), mean %.4f (want ≤ %v)", maxAbs, tc.maxAbs, meanAbs, tc.meanAbs)
			}
		})
	}
}

// pngPromise returns a well-formed w×h 8-bit RGB PNG whose compressed
// data holds only its first rows: a header that promises far more pixels
// than the file carries, as a decompression bomb or a cut file does.
func pngPromise(t *testing.T, w, h uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		c := append([]byte(kind), data...)
		binary.Write(&buf, binary.BigEndian, uint32(len(data)))
		buf.Write(c)
		binary.Write(&buf, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // bit depth 8, colour type RGB
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 4*(3*int(w)+1))) // four rows, filter byte 0
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return buf.Bytes()
}

// TestDecodeRefusesFromHeader checks that the pixel limit is applied to the
// header alone: a 60000×60000 promise is refused with a *LimitError before
// anything is decoded, while a smaller promise that passes the limit fails
// in the decoder proper — an error, never an image padded with grey.
func TestDecodeRefusesFromHeader(t *testing.T) {
	_, err := Decode(pngPromise(t, 60000, 60000), DecodeOptions{})
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("got %v, want a *LimitError", err)
	}
	if le.What != "pixels" || le.Got != 60000*60000 || le.Limit != DefaultMaxPixels {
		t.Errorf("got %+v", *le)
	}
	m, err := Decode(pngPromise(t, 2000, 1500), DecodeOptions{})
	if err == nil || errors.As(err, &le) {
		t.Fatalf("a file with 4 of its 1500 rows: got %v (image %v), want a decoding error", err, m != nil)
	}
}

// TestDecodePixelLimit checks the limit's boundary on a real file.
func TestDecodePixelLimit(t *testing.T) {
	data := readTestdata(t, "dog.png") // 200x150
	if _, err := Decode(data, DecodeOptions{Limits: Limits{MaxPixels: 200 * 150}}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	_, err := Decode(data, DecodeOptions{Limits: Limits{MaxPixels: 200*150 - 1}})
	var le *LimitError
	if !errors.As(err, &le) || le.Got != 200*150 {
		t.Errorf("one pixel over the limit: got %v, want a *LimitError for 30000 pixels", err)
	}
}

// TestDecodeByteLimit checks MaxBytes on a reader and on a file.
func TestDecodeByteLimit(t *testing.T) {
	data := readTestdata(t, "dog.jpg")
	n := int64(len(data))
	if _, err := DecodeReader(bytes.NewReader(data), DecodeOptions{Limits: Limits{MaxBytes: n}}); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	_, err := DecodeReader(bytes.NewReader(data), DecodeOptions{Limits: Limits{MaxBytes: n - 1}})
	var le *LimitError
	if !errors.As(err, &le) || le.What != "bytes" || le.Limit != n-1 {
		t.Errorf("one byte over the limit: got %v, want a *LimitError on bytes", err)
	}
	path := filepath.Join("testdata", "dog.jpg")
	_, err = DecodeFile(path, DecodeOptions{Limits: Limits{MaxBytes: 100}})
	if !errors.As(err, &le) || !strings.Contains(err.Error(), path) {
		t.Errorf("file over the limit: got %v, want a *LimitError naming %s", err, path)
	}
}

// TestDecodeBadInput checks that unknown, truncated and missing input give
// errors, wrapping ErrFormat where the format is unknown.
func TestDecodeBadInput(t *testing.T) {
	if _, err := Decode([]byte("GIF? no, plain text"), DecodeOptions{}); !errors.Is(err, ErrFormat) {
		t.Errorf("text: got %v, want ErrFormat", err)
	}
	// Formats libvips could read but tagnet does not take: an SVG and a
	// PDF are refused before any loader runs.
	for name, data := range map[string]string{
		"svg": `<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>`,
		"pdf": "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
	} {
		if _, err := Decode([]byte(data), DecodeOptions{}); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: got %v, want ErrFormat", name, err)
		}
	}
	if _, err := Decode(nil, DecodeOptions{}); err == nil {
		t.Error("empty input decoded")
	}
	jpg := readTestdata(t, "dog.jpg")
	if _, err := Decode(jpg[:len(jpg)/2], DecodeOptions{}); err == nil {
		t.Error("truncated JPEG decoded")
	}
	missing := filepath.Join(t.TempDir(), "missing.jpg")
	if _, err := DecodeFile(missing, DecodeOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}
}

// TestFromImage covers the conversions that the Pillow files do not reach:
// 16-bit PNG (the generic path keeps the high byte, as Pillow does),
// premultiplied RGBA with partial alpha (the colour is recovered), and a
// sub-image whose bounds do not start at the origin.
func TestFromImage(t *testing.T) {
	t.Run("png16", func(t *testing.T) {
		src := image.NewNRGBA64(image.Rect(0, 0, 3, 2))
		for i := range 6 {
			v := uint16(i*9000 + 1234)
			src.SetNRGBA64(i%3, i/3, color.NRGBA64{R: v, G: v / 2, B: 65535 - v, A: 65535})
		}
		path := filepath.Join(t.TempDir(), "deep.png")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, src); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		m, err := DecodeFile(path, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			c := src.NRGBA64At(i%3, i/3)
			want := [3]uint8{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8)}
			if got := [3]uint8(m.Pix[3*i : 3*i+3]); got != want {
				t.Errorf("pixel %d: got %v, want %v", i, got, want)
			}
		}
	})
	t.Run("premultiplied", func(t *testing.T) {
		src := image.NewRGBA(image.Rect(0, 0, 2, 1))
		want := []color.NRGBA{{200, 100, 50, 128}, {10, 250, 90, 255}}
		for x, c := range want {
			src.Set(x, 0, c) // stored premultiplied
		}
		m := FromImage(src)
		for x, c := range want {
			got := m.Pix[3*x : 3*x+3]
			for k, v := range []uint8{c.R, c.G, c.B} {
				if d := int(got[k]) - int(v); d < -1 || d > 1 {
					t.Errorf("pixel %d channel %d: got %d, want %d±1", x, k, got[k], v)
				}
			}
		}
	})
	t.Run("subimage", func(t *testing.T) {
		g := image.NewGray(image.Rect(0, 0, 4, 4))
		for i := range g.Pix {
			g.Pix[i] = uint8(i * 10)
		}
		sub := g.SubImage(image.Rect(1, 2, 3, 4)).(*image.Gray)
		m := FromImage(sub)
		if m.Width != 2 || m.Height != 2 {
			t.Fatalf("got %dx%d, want 2x2", m.Width, m.Height)
		}
		for y := range 2 {
			for x := range 2 {
				want := g.GrayAt(1+x, 2+y).Y
				got := m.Pix[3*(y*2+x) : 3*(y*2+x)+3]
				if got[0] != want || got[1] != want || got[2] != want {
					t.Errorf("(%d,%d): got %v, want grey %d", x, y, got, want)
				}
			}
		}
	})
}
