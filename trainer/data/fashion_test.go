package data

import (
	"bytes"
	"compress/gzip"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// needFashion skips the test when Debian's Fashion-MNIST files are absent.
func needFashion(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(DefaultFashionMNISTDir, "train-images-idx3-ubyte.gz")); err != nil {
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist): %v", err)
	}
}

// idx builds an IDX file: magic, big-endian dimensions, data.
func idx(typ, ndims byte, dims []uint32, data []byte) []byte {
	b := []byte{0, 0, typ, ndims}
	for _, d := range dims {
		b = append(b, byte(d>>24), byte(d>>16), byte(d>>8), byte(d))
	}
	return append(b, data...)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func TestReadIDX(t *testing.T) {
	dir := t.TempDir()
	pix := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	good := idx(0x08, 3, []uint32{2, 2, 3}, pix)
	for name, content := range map[string][]byte{"plain": good, "gzip": gz(good)} {
		p := filepath.Join(dir, name)
		writeFile(t, p, string(content))
		dims, data, err := ReadIDX(p, 3)
		if err != nil || !slices.Equal(dims, []int{2, 2, 3}) || !bytes.Equal(data, pix) {
			t.Errorf("%s: %v %v %v", name, dims, data, err)
		}
	}
	for name, c := range map[string]struct {
		content []byte
		msg     string
	}{
		"magic":     {append([]byte{1}, good[1:]...), "not an IDX file"},
		"type":      {idx(0x0D, 3, []uint32{2, 2, 3}, pix), "data type 0x0d"},
		"dims":      {idx(0x08, 1, []uint32{12}, pix), "1 dimensions, want 3"},
		"zero":      {idx(0x08, 3, []uint32{2, 0, 3}, nil), "dimension 1 is zero"},
		"truncated": {idx(0x08, 3, []uint32{2, 2, 3}, pix[:10]), "data truncated: 10 of 12 bytes"},
		"trailing":  {idx(0x08, 3, []uint32{2, 2, 3}, append(slices.Clone(pix), 0)), "trailing data"},
		"header":    {good[:6], "reading dimension 0"},
		"huge":      {idx(0x08, 3, []uint32{1 << 20, 1 << 20, 1}, nil), "exceed"},
		"bad gzip":  {gz(good)[:20], "unexpected EOF"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		writeFile(t, p, string(c.content))
		if _, _, err := ReadIDX(p, 3); err == nil || !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", name, err, c.msg)
		}
	}
}

func TestLoadIDXSplitMismatch(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "x-images-idx3-ubyte"), string(idx(8, 3, []uint32{2, 1, 1}, []byte{0, 0})))
	writeFile(t, filepath.Join(dir, "x-labels-idx1-ubyte.gz"), string(gz(idx(8, 1, []uint32{3}, []byte{0, 1, 2}))))
	if _, err := LoadIDXSplit(dir, "x"); err == nil || !strings.Contains(err.Error(), "holds 2 images but") {
		t.Errorf("error %v", err)
	}
}

func TestFashionMNISTMissing(t *testing.T) {
	_, err := FashionMNIST(t.TempDir(), FashionMNISTOptions{Dir: t.TempDir(), Train: 1, Valid: 1})
	if err == nil || !strings.Contains(err.Error(), "apt-get install dataset-fashion-mnist") || !strings.Contains(err.Error(), "train-images-idx3-ubyte.gz") {
		t.Errorf("error %v", err)
	}
}

func TestLoadIDXSplitReal(t *testing.T) {
	needFashion(t)
	train, err := LoadIDXSplit(DefaultFashionMNISTDir, "train")
	if err != nil {
		t.Fatal(err)
	}
	test, err := LoadIDXSplit(DefaultFashionMNISTDir, "t10k")
	if err != nil {
		t.Fatal(err)
	}
	// The published split sizes and the first labels of each split.
	if train.N != 60000 || train.Rows != 28 || train.Cols != 28 || !slices.Equal(train.Labels[:10], []uint8{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}) {
		t.Errorf("train: %d of %dx%d, labels %v", train.N, train.Rows, train.Cols, train.Labels[:10])
	}
	if test.N != 10000 || !slices.Equal(test.Labels[:10], []uint8{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}) {
		t.Errorf("test: %d, labels %v", test.N, test.Labels[:10])
	}
}

func TestBlendItem(t *testing.T) {
	cv := newCanvas(3)
	for i := 0; i < len(cv.pix); i += 3 {
		copy(cv.pix[i:], []float64{10, 20, 30})
	}
	// A 2×1 item at (1, 2): pixel 255 takes the colour, pixel 51 (alpha
	// 0.2) mixes 0.8·(10,20,30) + 0.2·(200,100,150) = (48, 36, 54).
	blendItem(cv, []uint8{255, 51}, 2, 1, 1, 2, [3]float64{200, 100, 150})
	at := func(x, y int) []float64 { o := 3 * (y*3 + x); return cv.pix[o : o+3] }
	for _, c := range []struct {
		x, y int
		want []float64
	}{{1, 2, []float64{200, 100, 150}}, {2, 2, []float64{48, 36, 54}}, {0, 2, []float64{10, 20, 30}}, {1, 1, []float64{10, 20, 30}}} {
		got := at(c.x, c.y)
		for k := range 3 {
			if d := got[k] - c.want[k]; d > 1e-9 || d < -1e-9 {
				t.Errorf("(%d,%d) = %v, want %v", c.x, c.y, got, c.want)
				break
			}
		}
	}
}

func TestComposeFashion(t *testing.T) {
	// One all-white item of class 3 filling a 28×28 canvas: every pixel is
	// the tint, each channel in [127.5, 255].
	white := &IDXSplit{N: 1, Rows: 28, Cols: 28, Pixels: bytes.Repeat([]byte{255}, 784), Labels: []uint8{3}}
	img, classes := composeFashion(rand.New(rand.NewPCG(1, 1)), white, 28, 1, 1)
	if !slices.Equal(classes, []int{3}) {
		t.Errorf("classes %v", classes)
	}
	for i := 0; i < len(img.Pix); i += 4 {
		if img.Pix[i] < 127 || img.Pix[i+1] < 127 || img.Pix[i+2] < 127 || img.Pix[i] != img.Pix[0] {
			t.Fatalf("pixel %d = %v, want one tint with channels ≥ 127.5", i/4, img.Pix[i:i+3])
		}
	}
	// Black items leave the dark background: channels below 64, one
	// colour; 2 to 3 items all of class 7 give the label set {7}.
	black := &IDXSplit{N: 2, Rows: 28, Cols: 28, Pixels: make([]byte, 2*784), Labels: []uint8{7, 7}}
	img, classes = composeFashion(rand.New(rand.NewPCG(2, 2)), black, 40, 2, 3)
	if !slices.Equal(classes, []int{7}) {
		t.Errorf("classes %v", classes)
	}
	for i := 0; i < len(img.Pix); i += 4 {
		if img.Pix[i] >= 64 || img.Pix[i+1] >= 64 || img.Pix[i+2] >= 64 || !bytes.Equal(img.Pix[i:i+3], img.Pix[:3]) {
			t.Fatalf("pixel %d = %v, want the dark background", i/4, img.Pix[i:i+3])
		}
	}
}

func TestFashionMNIST(t *testing.T) {
	needFashion(t)
	gen := func(seed uint64) (CSVOptions, map[string][]byte) {
		dir := t.TempDir()
		o, err := FashionMNIST(dir, FashionMNISTOptions{Train: 16, Valid: 8, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return o, readTree(t, dir)
	}
	o, a := gen(3)
	_, b := gen(3)
	if len(a) != 25 {
		t.Fatalf("%d files, want 24 images and the CSV", len(a))
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s differs between runs with the same seed", name)
		}
	}
	ds, err := LoadCSV(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 16 || len(ds.Valid) != 8 || !slices.Equal(ds.Labels, FashionMNISTClasses()) || ds.Report.Skipped != 0 {
		t.Fatalf("%d train, %d valid, labels %v, report %+v", len(ds.Train), len(ds.Valid), ds.Labels, ds.Report)
	}
	for _, it := range append(ds.Train, ds.Valid...) {
		n := 0
		for _, v := range it.Target {
			n += int(v)
		}
		if n < 1 || n > 4 {
			t.Errorf("%s has %d classes, want 1..4", it.Path, n)
		}
	}
	for _, o := range []FashionMNISTOptions{{Size: 27}, {MinItems: 3, MaxItems: 2}, {Quality: 200}} {
		if _, err := FashionMNIST(t.TempDir(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
