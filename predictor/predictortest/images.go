package predictortest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
)

// PNGHeader returns a well-formed PNG whose header claims a w×h RGB image
// while its compressed data holds only one row: a decoder that reads the
// header first sees the size without decoding anything, and one that
// decodes it fails on the missing rows.
func PNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		c := append([]byte(kind), data...)
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.Write(c)
		_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write(make([]byte, 1+3*min(int(w), 1<<16))) // one row (or its start)
	_ = zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

// PPM returns a valid 2×2 binary netpbm image, a format tagnet does not
// decode.
func PPM() []byte {
	return append([]byte("P6\n2 2\n255\n"), bytes.Repeat([]byte{200, 100, 50}, 4)...)
}

// Image returns a w×h image, distinct for each seed, encoded as JPEG when
// asJPEG is set and as PNG otherwise.
func Image(seed, w, h int, asJPEG bool) ([]byte, error) {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{
				R: uint8(seed*37 + x*5),
				G: uint8(seed*91 + y*7),
				B: uint8(seed*13 + (x^y)*3),
				A: 255,
			})
		}
	}
	var b bytes.Buffer
	var err error
	if asJPEG {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 85})
	} else {
		err = png.Encode(&b, img)
	}
	return b.Bytes(), err
}

// Inputs describes the directory WriteInputs makes: every file the
// predictor should list, by path relative to the directory, and whether it
// is a good image.
type Inputs map[string]bool

// InputExtensions are the extensions a run over WriteInputs's directory
// should use: the default ones and .ppm, so that the netpbm file is listed
// and fails as an unsupported format.
var InputExtensions = []string{".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".ppm"}

// WriteInputs fills dir with the real photographs of photosDir, an
// upper-case copy of one in a subdirectory, and one bad file of each kind:
// empty, truncated JPEG, text named .jpg, a PNG header claiming
// 10000×10000 pixels, and a netpbm image; plus a .txt file the extension
// filter must skip.
func WriteInputs(dir, photosDir string) (Inputs, error) {
	photos, err := filepath.Glob(filepath.Join(photosDir, "*.jpg"))
	if err != nil {
		return nil, err
	}
	if len(photos) < 6 {
		return nil, fmt.Errorf("want the six photos in %s (run scripts/setup.sh), found %d", photosDir, len(photos))
	}
	in := Inputs{}
	var dog []byte
	for _, p := range photos {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if filepath.Base(p) == "dog.jpg" {
			dog = b
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
			return nil, err
		}
		in[filepath.Base(p)] = true
	}
	if dog == nil {
		return nil, fmt.Errorf("no dog.jpg in %s", photosDir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		return nil, err
	}
	files := map[string][]byte{
		"sub/DOG.JPG":   dog,
		"empty.jpg":     {},
		"truncated.jpg": dog[:len(dog)/3],
		"notes.jpg":     []byte("these are notes, not a photograph\n"),
		"huge.png":      PNGHeader(10000, 10000),
		"netpbm.ppm":    PPM(),
		"readme.txt":    []byte("not listed\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), b, 0o644); err != nil {
			return nil, err
		}
		if name != "readme.txt" {
			in[name] = name == "sub/DOG.JPG"
		}
	}
	return in, nil
}
