package benchmarks

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/postprocess"
	"github.com/tagnet/tagnet/preprocess"
)

// Where scripts/setup.sh puts the real photographs, relative to this
// package's folder (the working directory of go test).
const predPhotosDir = "../.native/photos"

// Shape of the benchmark models: torchvision-sized ResNets, 20 classes.
const (
	predInputSize = 224
	predClasses   = 20
)

// The process's ONNX Runtime environment, created on first use so that a
// plain `go test ./benchmarks/` (no benchmarks) loads nothing.
var (
	predRTOnce sync.Once
	predRT     *ort.Runtime
	predRTErr  error
)

func predRuntime(b *testing.B) *ort.Runtime {
	b.Helper()
	predRTOnce.Do(func() { predRT, predRTErr = ort.Init(ort.InitOptions{}) })
	if predRTErr != nil {
		b.Fatalf("loading ONNX Runtime (run scripts/setup.sh): %v", predRTErr)
	}
	return predRT
}

// predThreads is the intra-op thread count of every session, ours and the
// peer's: $TAGNET_BENCH_THREADS, else the number of CPUs.
func predThreads(b *testing.B) int {
	if s := os.Getenv("TAGNET_BENCH_THREADS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("TAGNET_BENCH_THREADS=%q: want a positive number", s)
		}
		return n
	}
	return runtime.NumCPU()
}

// predProvider is the execution provider of every session:
// $TAGNET_BENCH_PROVIDER ("cpu" or "cuda"), default "cpu".
func predProvider() ort.Provider {
	if p := os.Getenv("TAGNET_BENCH_PROVIDER"); p != "" {
		return ort.Provider(p)
	}
	return ort.ProviderCPU
}

// predModels writes random-initialised models into a folder on first use
// and keeps one Predictor for each, closed when the benchmark that made
// the set ends.
type predModels struct {
	dir   string
	paths map[string]string
	ps    map[string]*predictor.Predictor
}

func newPredModels(b *testing.B) *predModels {
	m := &predModels{dir: b.TempDir(), paths: map[string]string{}, ps: map[string]*predictor.Predictor{}}
	b.Cleanup(func() {
		for arch, p := range m.ps {
			if err := p.Close(); err != nil {
				b.Errorf("closing the %s predictor: %v", arch, err)
			}
		}
	})
	return m
}

// path returns the model file of arch, writing it first if needed: a
// random-initialised arch (fastai head, as tagnet-train exports) at 224
// pixels with 20 classes and tagnet's default preprocessing, as
// `tagnet-train init --arch ARCH --classes 20 --size 224` writes it.
func (m *predModels) path(b *testing.B, arch string) string {
	b.Helper()
	if p, ok := m.paths[arch]; ok {
		return p
	}
	spec := models.Spec{Arch: arch, NumClasses: predClasses, InputSize: predInputSize, Head: models.HeadFastai}
	g, err := models.Build(spec)
	if err != nil {
		b.Fatal(err)
	}
	pp, err := json.Marshal(preprocess.Default(predInputSize))
	if err != nil {
		b.Fatal(err)
	}
	labels := make([]string, predClasses)
	for i := range labels {
		labels[i] = fmt.Sprintf("class%02d", i)
	}
	mod := &models.Model{
		Graph:    g,
		Weights:  models.Init(g, models.InitOptions{Seed: 1}),
		Metadata: models.Metadata{Labels: labels, Preprocess: pp},
	}
	path := filepath.Join(m.dir, arch+".onnx")
	if err := mod.WriteFile(path, models.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	m.paths[arch] = path
	return path
}

// get returns the Predictor of arch: batches up to 32, intra-op threads as
// predThreads says, on predProvider (skipping the benchmark when that is
// unavailable), thresholds fixed at 0.5, one warm-up image.
func (m *predModels) get(b *testing.B, arch string) *predictor.Predictor {
	b.Helper()
	if p, ok := m.ps[arch]; ok {
		return p
	}
	// A random-initialised model has no threshold sweep: fixed thresholds.
	st, err := postprocess.ParseStrategy("fixed:0.5")
	if err != nil {
		b.Fatal(err)
	}
	p, err := predictor.New(predRuntime(b), m.path(b, arch), predictor.Options{
		Session: ort.SessionOptions{
			IntraOpThreads: predThreads(b),
			Providers:      []ort.Provider{predProvider()},
			OnUnavailable:  ort.OnUnavailableFail,
		},
		Thresholds: predictor.Thresholds{Strategy: st},
		MaxBatch:   32,
		Warmup:     1,
	})
	if errors.Is(err, ort.ErrProviderUnavailable) {
		b.Skipf("TAGNET_BENCH_PROVIDER=%s is not available here: %v", predProvider(), err)
	}
	if err != nil {
		b.Fatal(err)
	}
	m.ps[arch] = p
	return p
}

// predPhotos reads the real photographs scripts/setup.sh installs, in name
// order.
func predPhotos(b *testing.B) (names []string, data [][]byte) {
	b.Helper()
	paths, err := filepath.Glob(filepath.Join(predPhotosDir, "*.jpg"))
	if err != nil || len(paths) == 0 {
		b.Fatalf("no photos in %s (run scripts/setup.sh): %v", predPhotosDir, err)
	}
	slices.Sort(paths)
	for _, p := range paths {
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		names = append(names, filepath.Base(p))
		data = append(data, d)
	}
	return names, data
}

// predInput returns n values like a normalised image batch (about
// [-2, 2]), the same for the same n.
func predInput(n int) []float32 {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// latencies are the durations of single calls.
type latencies []time.Duration

// quantile returns the q-quantile by the nearest-rank method.
func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// report adds the p50, p90 and p99 latencies in milliseconds, each unit
// prefixed by prefix.
func (l latencies) report(b *testing.B, prefix string) {
	b.ReportMetric(ms(l.quantile(0.50)), prefix+"p50-ms")
	b.ReportMetric(ms(l.quantile(0.90)), prefix+"p90-ms")
	b.ReportMetric(ms(l.quantile(0.99)), prefix+"p99-ms")
}
