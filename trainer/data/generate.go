package data

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Names of the files the generators write into their output folder.
const (
	GeneratedCSV    = "labels.csv" // the labels CSV
	GeneratedImages = "images"     // the image folder
)

// Image formats the generators write.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
)

// generator describes a generated data set: nTrain training and nValid
// validation images, image i drawn by draw with a generator seeded from
// (seed, stream, i).
type generator struct {
	dir            string
	classes        []string
	nTrain, nValid int
	seed, stream   uint64
	format         string
	quality        int
	// draw returns image i and the indices of the classes it shows.
	draw func(rng *rand.Rand, valid bool) (*image.RGBA, []int)
}

// write draws and encodes every image in parallel, writes the labels CSV
// and returns the options that load the result. The bytes written depend
// only on the generator's fields.
func (g *generator) write() (CSVOptions, error) {
	ext := ".jpg"
	switch g.format {
	case "", FormatJPEG:
		g.format = FormatJPEG
	case FormatPNG:
		ext = ".png"
	default:
		return CSVOptions{}, fmt.Errorf("unknown image format %q (want %q or %q)", g.format, FormatJPEG, FormatPNG)
	}
	if g.quality == 0 {
		g.quality = 90
	}
	if g.quality < 1 || g.quality > 100 {
		return CSVOptions{}, fmt.Errorf("JPEG quality %d is outside 1..100", g.quality)
	}
	if g.nTrain < 0 || g.nValid < 0 || g.nTrain+g.nValid == 0 {
		return CSVOptions{}, fmt.Errorf("counts %d train and %d valid must be non-negative, not both zero", g.nTrain, g.nValid)
	}
	imgDir := filepath.Join(g.dir, GeneratedImages)
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return CSVOptions{}, fmt.Errorf("creating image folder: %w", err)
	}
	n := g.nTrain + g.nValid
	width := len(fmt.Sprint(n - 1))
	width = max(width, 5)
	names := make([]string, n)
	labels := make([][]int, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var buf bytes.Buffer
			for i := range next {
				names[i] = fmt.Sprintf("%0*d%s", width, i, ext)
				img, cls := g.draw(newRand(g.seed, g.stream, uint64(i)), i >= g.nTrain)
				labels[i] = cls
				buf.Reset()
				var err error
				if g.format == FormatPNG {
					err = png.Encode(&buf, img)
				} else {
					err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: g.quality})
				}
				if err == nil {
					err = os.WriteFile(filepath.Join(imgDir, names[i]), buf.Bytes(), 0o644)
				}
				if err != nil {
					errs[i] = fmt.Errorf("writing image %s: %w", names[i], err)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return CSVOptions{}, err
	}

	csvPath := filepath.Join(g.dir, GeneratedCSV)
	f, err := os.Create(csvPath)
	if err != nil {
		return CSVOptions{}, fmt.Errorf("writing labels CSV: %w", err)
	}
	bw := bufio.NewWriter(f)
	w := csv.NewWriter(bw)
	_ = w.Write([]string{DefaultFnColumn, DefaultLabelColumn, DefaultValidColumn})
	for i := range n {
		var tags []string
		for _, c := range labels[i] {
			tags = append(tags, g.classes[c])
		}
		valid := "False"
		if i >= g.nTrain {
			valid = "True"
		}
		_ = w.Write([]string{names[i], strings.Join(tags, " "), valid})
	}
	w.Flush()
	err = errors.Join(w.Error(), bw.Flush(), f.Close())
	if err != nil {
		return CSVOptions{}, fmt.Errorf("writing labels CSV: %w", err)
	}
	return CSVOptions{
		CSVPath:  csvPath,
		ImageDir: g.dir,
		Prefix:   GeneratedImages,
		Labels:   append([]string(nil), g.classes...),
	}, nil
}

// canvas is a float RGB image being drawn, values on the 0..255 scale,
// interleaved row by row.
type canvas struct {
	size int
	pix  []float64
}

func newCanvas(size int) *canvas {
	return &canvas{size: size, pix: make([]float64, 3*size*size)}
}

// blend mixes colour c into pixel (x, y) with weight a.
func (cv *canvas) blend(x, y int, c [3]float64, a float64) {
	o := 3 * (y*cv.size + x)
	for k := range 3 {
		cv.pix[o+k] = (1-a)*cv.pix[o+k] + a*c[k]
	}
}

// rgba rounds the canvas to 8 bits, clamping.
func (cv *canvas) rgba() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, cv.size, cv.size))
	for i := range cv.size * cv.size {
		for k := range 3 {
			img.Pix[4*i+k] = uint8(math.Round(min(max(cv.pix[3*i+k], 0), 255)))
		}
		img.Pix[4*i+3] = 255
	}
	return img
}
