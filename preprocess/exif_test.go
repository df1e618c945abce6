package preprocess

import (
	"fmt"
	"testing"
)

// TestEXIFOrientation decodes the eight orientation files that
// gen_golden.py wrote (each stores the same upright picture transformed so
// that its tag turns it back, checked there with Pillow's exif_transpose)
// and compares them with the upright picture. Without orientation the
// stored, transformed pixels must come back instead.
func TestEXIFOrientation(t *testing.T) {
	upright := decodeTestdata(t, "orient-upright.png", DecodeOptions{})
	for o := 1; o <= 8; o++ {
		t.Run(fmt.Sprint(o), func(t *testing.T) {
			name := fmt.Sprintf("orient-%d.jpg", o)
			if got := jpegOrientation(readTestdata(t, name)); got != o {
				t.Fatalf("read orientation %d, want %d", got, o)
			}
			m := decodeTestdata(t, name, DecodeOptions{EXIFOrientation: true})
			if m.Width != upright.Width || m.Height != upright.Height {
				t.Fatalf("oriented image is %dx%d, want %dx%d", m.Width, m.Height, upright.Width, upright.Height)
			}
			maxAbs, _ := diff(t, planes(m), planes(upright))
			if maxAbs > 12 { // JPEG at quality 95 around the quadrant edges
				t.Errorf("oriented image differs from the upright one by up to %v", maxAbs)
			}

			stored := decodeTestdata(t, name, DecodeOptions{})
			if o == 1 {
				return
			}
			if o >= 5 {
				if stored.Width != upright.Height || stored.Height != upright.Width {
					t.Errorf("stored image is %dx%d, want the transposed size", stored.Width, stored.Height)
				}
				return
			}
			if _, meanAbs := diff(t, planes(stored), planes(upright)); meanAbs < 50 {
				t.Errorf("without orientation the image is still upright (mean difference %.1f)", meanAbs)
			}
		})
	}
}

// TestEXIFOnlyWhenAsked checks that the spec's switch reaches decoding.
func TestEXIFOnlyWhenAsked(t *testing.T) {
	data := readTestdata(t, "orient-6.jpg") // stored 32x64, upright 64x32
	for _, on := range []bool{true, false} {
		s := Default(16)
		s.EXIFOrientation = on
		p, err := New(s, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if wide := m.Width > m.Height; wide != on {
			t.Errorf("exif_orientation %v: decoded %dx%d", on, m.Width, m.Height)
		}
	}
}

// TestEXIFMalformed feeds every prefix of a tagged file, and the file with
// each byte of its EXIF segment corrupted, to the orientation reader: it
// must never panic and must answer either the true orientation or 1.
func TestEXIFMalformed(t *testing.T) {
	data := readTestdata(t, "orient-6.jpg")
	for n := range min(len(data), 200) {
		if o := jpegOrientation(data[:n]); o != 1 && o != 6 {
			t.Errorf("prefix of %d bytes: orientation %d", n, o)
		}
	}
	buf := make([]byte, len(data))
	for i := 2; i < min(len(data), 120); i++ {
		for _, v := range []byte{0x00, 0xFF, 0x7F} {
			copy(buf, data)
			buf[i] = v
			if o := jpegOrientation(buf); o < 1 || o > 8 {
				t.Errorf("byte %d set to %#x: orientation %d", i, v, o)
			}
		}
	}
}
