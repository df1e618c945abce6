package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package
// installs the IDX files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Defaults of [FashionMNISTOptions].
const (
	DefaultFashionTrain = 8000
	DefaultFashionValid = 2000
	DefaultFashionSize  = 64
)

// fashionClasses are the Fashion-MNIST classes in label order, with
// CSV-safe names.
var fashionClasses = []string{"tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"}

// FashionMNISTClasses returns the ten Fashion-MNIST class names, in label
// order: tshirt (T-shirt/top), trouser, pullover, dress, coat, sandal,
// shirt, sneaker, bag, boot (ankle boot).
func FashionMNISTClasses() []string { return slices.Clone(fashionClasses) }

// FashionMNISTOptions configure [FashionMNIST]. Zero values mean the
// defaults.
type FashionMNISTOptions struct {
	// Dir holds train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
	// t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (plain or
	// gzip). Empty means DefaultFashionMNISTDir.
	Dir string
	// Train and Valid are the numbers of canvases composed from the
	// training and the test split. Zero means DefaultFashionTrain and
	// DefaultFashionValid; negative means none.
	Train, Valid int
	// Size is the canvas side in pixels, at least 28. Zero means
	// DefaultFashionSize.
	Size int
	// MinItems and MaxItems bound the uniform number of Fashion-MNIST
	// images per canvas. Zero means 1 and 4.
	MinItems, MaxItems int
	// Seed determines the canvases: the same options give the same bytes.
	Seed uint64
	// Quality is the JPEG quality, 1 to 100. Zero means 90.
	Quality int
}

func (o FashionMNISTOptions) withDefaults() FashionMNISTOptions {
	if o.Dir == "" {
		o.Dir = DefaultFashionMNISTDir
	}
	if o.Train == 0 {
		o.Train = DefaultFashionTrain
	}
	if o.Valid == 0 {
		o.Valid = DefaultFashionValid
	}
	o.Train, o.Valid = max(o.Train, 0), max(o.Valid, 0)
	if o.Size == 0 {
		o.Size = DefaultFashionSize
	}
	if o.MinItems == 0 {
		o.MinItems = 1
	}
	if o.MaxItems == 0 {
		o.MaxItems = 4
	}
	return o
}

// FashionMNIST writes tagnet's standard real benchmark into dir: Size×Size
// RGB canvases on a dark random background (each channel uniform in
// 0..63), each holding MinItems to MaxItems (uniform) Fashion-MNIST images
// at uniformly random positions inside the canvas (overlap allowed). Each
// 28×28 item is blended by its own intensity (alpha = pixel/255) in a random
// colour whose channels are uniform in [0.5, 1] of full scale. A canvas's
// labels are the classes of its items. Training canvases take their items
// from the original training split, validation canvases from the test
// split. It writes JPEG files and a labels CSV with an is_valid column, and
// returns the options that load them with [LoadCSV].
//
// The IDX files come from Debian's dataset-fashion-mnist package; when they
// are missing the error says how to install them.
func FashionMNIST(dir string, opt FashionMNISTOptions) (CSVOptions, error) {
	opt = opt.withDefaults()
	if opt.Size < 28 || opt.Size > 4096 {
		return CSVOptions{}, fmt.Errorf("fashion-mnist: canvas size %d is outside 28..4096", opt.Size)
	}
	if opt.MinItems < 1 || opt.MaxItems < opt.MinItems {
		return CSVOptions{}, fmt.Errorf("fashion-mnist: item range %d..%d is empty or below 1", opt.MinItems, opt.MaxItems)
	}
	if opt.Quality < 0 || opt.Quality > 100 {
		return CSVOptions{}, fmt.Errorf("fashion-mnist: JPEG quality %d is outside 1..100", opt.Quality)
	}
	train, err := LoadIDXSplit(opt.Dir, "train")
	if err != nil {
		return CSVOptions{}, err
	}
	test, err := LoadIDXSplit(opt.Dir, "t10k")
	if err != nil {
		return CSVOptions{}, err
	}
	for _, s := range []*IDXSplit{train, test} {
		if s.Rows != 28 || s.Cols != 28 {
			return CSVOptions{}, fmt.Errorf("fashion-mnist: images are %dx%d, want 28x28", s.Cols, s.Rows)
		}
		if i := slices.IndexFunc(s.Labels, func(l uint8) bool { return int(l) >= len(fashionClasses) }); i >= 0 {
			return CSVOptions{}, fmt.Errorf("fashion-mnist: label %d of image %d is not a class 0..9", s.Labels[i], i)
		}
	}
	g := &generator{
		dir:     dir,
		classes: FashionMNISTClasses(),
		nTrain:  opt.Train,
		nValid:  opt.Valid,
		seed:    opt.Seed,
		stream:  streamFashion,
		format:  FormatJPEG,
		quality: opt.Quality,
		draw: func(rng *rand.Rand, valid bool) (*image.RGBA, []int) {
			src := train
			if valid {
				src = test
			}
			return composeFashion(rng, src, opt.Size, opt.MinItems, opt.MaxItems)
		},
	}
	o, err := g.write()
	if err != nil {
		return CSVOptions{}, fmt.Errorf("fashion-mnist: %w", err)
	}
	return o, nil
}

// composeFashion draws one canvas.
func composeFashion(rng *rand.Rand, src *IDXSplit, size, minItems, maxItems int) (*image.RGBA, []int) {
	cv := newCanvas(size)
	var bg [3]float64
	for k := range bg {
		bg[k] = float64(rng.IntN(64))
	}
	for i := 0; i < len(cv.pix); i += 3 {
		copy(cv.pix[i:i+3], bg[:])
	}
	k := minItems + rng.IntN(maxItems-minItems+1)
	var classes []int
	for range k {
		idx := rng.IntN(src.N)
		x0, y0 := rng.IntN(size-src.Cols+1), rng.IntN(size-src.Rows+1)
		var tint [3]float64
		for c := range tint {
			tint[c] = 255 * (0.5 + 0.5*rng.Float64())
		}
		blendItem(cv, src.Image(idx), src.Cols, src.Rows, x0, y0, tint)
		if c := int(src.Labels[idx]); !slices.Contains(classes, c) {
			classes = append(classes, c)
		}
	}
	slices.Sort(classes)
	return cv.rgba(), classes
}

// blendItem blends a grey w×h item into cv at (x0, y0): each pixel p mixes
// colour into the canvas with alpha p/255.
func blendItem(cv *canvas, pix []uint8, w, h, x0, y0 int, colour [3]float64) {
	for y := range h {
		for x := range w {
			if a := float64(pix[y*w+x]) / 255; a > 0 {
				cv.blend(x0+x, y0+y, colour, a)
			}
		}
	}
}

// IDXSplit is one split of an MNIST-style data set read from IDX files:
// N grey images of Rows×Cols bytes and their labels.
type IDXSplit struct {
	// N is the number of images, each Rows×Cols bytes.
	N, Rows, Cols int
	// Pixels holds the images one after the other, row by row.
	Pixels []uint8
	// Labels holds one label per image.
	Labels []uint8
}

// Image returns the pixels of image i.
func (s *IDXSplit) Image(i int) []uint8 {
	n := s.Rows * s.Cols
	return s.Pixels[i*n : (i+1)*n]
}

// LoadIDXSplit reads the split named name ("train" or "t10k") from dir:
// NAME-images-idx3-ubyte and NAME-labels-idx1-ubyte, each gzip-compressed
// (with a .gz suffix) or plain. It checks the magic numbers, the
// dimensions, the data length and that both files hold the same number of
// items. A missing file gives an error naming Debian's package.
func LoadIDXSplit(dir, name string) (*IDXSplit, error) {
	imgPath, err := findIDX(dir, name+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labPath, err := findIDX(dir, name+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	dims, pix, err := ReadIDX(imgPath, 3)
	if err != nil {
		return nil, err
	}
	ldims, labels, err := ReadIDX(labPath, 1)
	if err != nil {
		return nil, err
	}
	if dims[0] != ldims[0] {
		return nil, fmt.Errorf("fashion-mnist: %s holds %d images but %s %d labels", imgPath, dims[0], labPath, ldims[0])
	}
	return &IDXSplit{N: dims[0], Rows: dims[1], Cols: dims[2], Pixels: pix, Labels: labels}, nil
}

// findIDX returns the path of base (with .gz preferred) in dir.
func findIDX(dir, base string) (string, error) {
	for _, p := range []string{filepath.Join(dir, base+".gz"), filepath.Join(dir, base)} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("fashion-mnist: %s.gz not found in %s; install Debian's dataset-fashion-mnist package "+
		"(apt-get install dataset-fashion-mnist, or scripts/setup.sh --fashion-mnist)", base, dir)
}

// maxIDXBytes bounds the data an IDX file may declare.
const maxIDXBytes = 1 << 31

// ReadIDX reads an IDX file of unsigned bytes with wantDims dimensions,
// gzip-compressed or plain, and returns its dimensions and data. It checks
// the magic number (two zero bytes, type 0x08, the number of dimensions),
// that every dimension is positive, and that the data has exactly the
// declared length.
func ReadIDX(path string, wantDims int) (dims []int, data []uint8, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading IDX file: %w", err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("reading IDX file %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	dims, data, err = parseIDX(r, wantDims)
	if err != nil {
		return nil, nil, fmt.Errorf("reading IDX file %s: %w", path, err)
	}
	return dims, data, nil
}

func parseIDX(r io.Reader, wantDims int) ([]int, []uint8, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, nil, fmt.Errorf("reading magic number: %w", err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, nil, fmt.Errorf("bad magic number % x: not an IDX file", magic)
	}
	if magic[2] != 0x08 {
		return nil, nil, fmt.Errorf("data type 0x%02x, want 0x08 (unsigned byte)", magic[2])
	}
	if int(magic[3]) != wantDims {
		return nil, nil, fmt.Errorf("%d dimensions, want %d", magic[3], wantDims)
	}
	dims := make([]int, wantDims)
	total := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("reading dimension %d: %w", i, err)
		}
		if d == 0 {
			return nil, nil, fmt.Errorf("dimension %d is zero", i)
		}
		dims[i] = int(d)
		if total *= int(d); total > maxIDXBytes {
			return nil, nil, fmt.Errorf("dimensions %v exceed %d bytes", dims[:i+1], maxIDXBytes)
		}
	}
	data := make([]uint8, total)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, nil, fmt.Errorf("data truncated: %d of %d bytes: %w", n, total, err)
	}
	var extra [1]byte
	switch _, err := io.ReadFull(r, extra[:]); {
	case err == nil:
		return nil, nil, errors.New("trailing data after the declared dimensions")
	case err != io.EOF:
		return nil, nil, fmt.Errorf("reading the end of the file: %w", err)
	}
	return dims, data, nil
}
