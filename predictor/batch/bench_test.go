package batch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/predictortest"
)

// discard is a Sink that keeps nothing.
type discard struct{}

func (discard) Write([]Row) error { return nil }

// benchSetup writes a 128-pixel model and n 320×240 JPEG files and opens
// the predictor with threads ONNX Runtime threads.
func benchSetup(b *testing.B, n, threads int) (*predictor.Predictor, []File) {
	b.Helper()
	dir := b.TempDir()
	path, err := predictortest.Write(dir, predictortest.Options{InputSize: 128})
	if err != nil {
		b.Fatal(err)
	}
	p, err := predictor.New(testRuntime, path, predictor.Options{Session: ort.SessionOptions{IntraOpThreads: threads}, Warmup: 16})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	var files []File
	for i := range n {
		data, err := predictortest.Image(i, 320, 240, true)
		if err != nil {
			b.Fatal(err)
		}
		f := filepath.Join(dir, fmt.Sprintf("%04d.jpg", i))
		if err := os.WriteFile(f, data, 0o644); err != nil {
			b.Fatal(err)
		}
		files = append(files, File{Path: f, Rel: filepath.Base(f)})
	}
	return p, files
}

// BenchmarkForwardOnly is the rate the session alone sustains at batch 16:
// the ceiling of BenchmarkRun.
//
//	go test -run '^$' -bench 'ForwardOnly|Run' -benchtime 3x ./predictor/batch/
func BenchmarkForwardOnly(b *testing.B) {
	p, _ := benchSetup(b, 0, 1)
	const batch = 16
	in := make([]float32, batch*p.InputLen())
	logits := make([]float32, batch*p.NumClasses())
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for range 256 / batch {
			if err := p.ForwardInto(in, batch, logits); err != nil {
				b.Fatal(err)
			}
			n += batch
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkRun is the whole pipeline (read, decode, resize, forward,
// postprocess) over 256 JPEG files at batch 16, one ONNX Runtime thread
// and one decode worker per CPU.
//
//	go test -run '^$' -bench 'ForwardOnly|Run' -benchtime 3x ./predictor/batch/
func BenchmarkRun(b *testing.B) {
	p, files := benchSetup(b, 256, 1)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		sum, err := Run(context.Background(), p, files, discard{}, Options{BatchSize: 16})
		if err != nil || sum.Failed > 0 {
			b.Fatal(err, sum)
		}
		n += sum.OK
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "images/s")
}
