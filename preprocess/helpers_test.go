package preprocess

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// raw is a spec whose output is the resized pixel value itself, 0..255, in
// RGB planes: mean 0 and std 1/255.
func raw(s Spec) Spec {
	s.Mean = [3]float32{}
	s.Std = [3]float32{1.0 / 255, 1.0 / 255, 1.0 / 255}
	s.ChannelOrder = OrderRGB
	return s
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func decodeTestdata(t testing.TB, name string, opt DecodeOptions) *RGB {
	t.Helper()
	m, err := Decode(readTestdata(t, name), opt)
	if err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
	return m
}

// planes lays an RGB image out as [3][H][W] float32 planes of 0..255 values.
func planes(m *RGB) []float32 {
	n := m.Width * m.Height
	out := make([]float32, 3*n)
	for i := range n {
		for c := range 3 {
			out[c*n+i] = float32(m.Pix[3*i+c])
		}
	}
	return out
}

// diff returns the largest and the mean absolute difference of a and b.
func diff(t testing.TB, a, b []float32) (maxAbs, meanAbs float64) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("comparing %d values with %d", len(a), len(b))
	}
	var sum float64
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		sum += d
		maxAbs = max(maxAbs, d)
	}
	return maxAbs, sum / float64(len(a))
}
