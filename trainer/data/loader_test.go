package data

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tagnet/tagnet/preprocess"
)

// loaderSet writes a small synthetic data set and returns it with an
// augmenter for 24-pixel inputs.
func loaderSet(t *testing.T, train, valid int) (*Dataset, *Augmenter) {
	t.Helper()
	o, err := Synth(t.TempDir(), SynthOptions{Train: train, Valid: valid, Size: 32, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := LoadCSV(o)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAugmenter(newPre(t, preprocess.Default(24)), AugmentOptions{Mode: AugmentCropFlip, Brightness: 0.1, Contrast: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	return ds, a
}

// snapshot is a copy of a batch that outlives the loop body.
type snapshot struct {
	images, targets []float32
	indices         []int
	failed          int
}

func collect(t *testing.T, l *Loader, epoch int) []snapshot {
	t.Helper()
	var out []snapshot
	for b, err := range l.Epoch(epoch) {
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Images) != b.N*3*b.Height*b.Width || len(b.Targets) != b.N*b.Classes || len(b.Indices) != b.N {
			t.Fatalf("batch of %d has %d image values, %d targets, %d indices", b.N, len(b.Images), len(b.Targets), len(b.Indices))
		}
		out = append(out, snapshot{slices.Clone(b.Images), slices.Clone(b.Targets), slices.Clone(b.Indices), len(b.Failed)})
	}
	return out
}

func TestLoaderTrainReproducible(t *testing.T) {
	ds, a := loaderSet(t, 22, 0)
	run := func(workers, prefetch int) [][]snapshot {
		l, err := NewLoader(ds.Train, a, LoaderOptions{BatchSize: 5, Train: true, Seed: 11, Workers: workers, Prefetch: prefetch})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if l.Len() != 4 { // 22/5, the last 2 items dropped
			t.Fatalf("Len %d, want 4", l.Len())
		}
		return [][]snapshot{collect(t, l, 0), collect(t, l, 1)}
	}
	one := run(1, 1)
	three := run(3, 2)
	for e := range 2 {
		if len(one[e]) != 4 || len(three[e]) != 4 {
			t.Fatalf("epoch %d: %d and %d batches, want 4", e, len(one[e]), len(three[e]))
		}
		seen := map[int]bool{}
		for k := range 4 {
			x, y := one[e][k], three[e][k]
			if !slices.Equal(x.images, y.images) || !slices.Equal(x.targets, y.targets) || !slices.Equal(x.indices, y.indices) {
				t.Errorf("epoch %d batch %d differs between 1 and 3 workers", e, k)
			}
			if len(x.indices) != 5 {
				t.Errorf("epoch %d batch %d has %d items", e, k, len(x.indices))
			}
			for s, i := range x.indices {
				if seen[i] {
					t.Errorf("item %d twice in epoch %d", i, e)
				}
				seen[i] = true
				if !slices.Equal(x.targets[s*6:(s+1)*6], ds.Train[i].Target) {
					t.Errorf("epoch %d batch %d slot %d: targets of another item", e, k, s)
				}
			}
		}
	}
	if slices.Equal(one[0][0].indices, one[1][0].indices) {
		t.Error("epochs 0 and 1 start with the same items: no reshuffle")
	}
}

func TestLoaderValid(t *testing.T) {
	ds, a := loaderSet(t, 2, 9)
	l, err := NewLoader(ds.Valid, a, LoaderOptions{BatchSize: 4, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Len() != 3 {
		t.Fatalf("Len %d, want 3 (9 items in 4+4+1)", l.Len())
	}
	got := collect(t, l, 5)
	if len(got) != 3 || len(got[2].indices) != 1 {
		t.Fatalf("%d batches", len(got))
	}
	pre := a.Preprocessor()
	want := make([]float32, pre.InputLen())
	next := 0
	for _, b := range got {
		for s, i := range b.indices {
			if i != next {
				t.Fatalf("item %d in position %d: validation must be in order", i, next)
			}
			next++
			// Exactly the predictor's preprocessing of the file.
			if err := pre.File(want, ds.Valid[i].Path); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.images[s*len(want):(s+1)*len(want)], want) {
				t.Errorf("item %d differs from preprocess.File", i)
			}
		}
	}
}

func TestLoaderBadItem(t *testing.T) {
	ds, a := loaderSet(t, 8, 0)
	// The image passed the header check at load time, then broke.
	writeFile(t, ds.Train[5].Path, "\xff\xd8\xff truncated")
	core, logs := observer.New(zapcore.WarnLevel)
	l, err := NewLoader(ds.Train, a, LoaderOptions{BatchSize: 4, Train: true, Seed: 1, Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	total, failed := 0, 0
	for b, err := range l.Epoch(0) {
		if err != nil {
			t.Fatal(err)
		}
		total += b.N
		for _, f := range b.Failed {
			failed++
			if f.Index != 5 || f.Path != ds.Train[5].Path || f.Err == nil || slices.Contains(b.Indices, 5) {
				t.Errorf("failure %+v in batch %v", f, b.Indices)
			}
			if b.N != 3 {
				t.Errorf("batch with a failed item has %d items, want 3", b.N)
			}
		}
		for s, i := range b.Indices {
			if !slices.Equal(b.Targets[s*6:(s+1)*6], ds.Train[i].Target) {
				t.Errorf("slot %d after compaction holds the targets of another item", s)
			}
		}
	}
	if total != 7 || failed != 1 {
		t.Errorf("%d items loaded and %d failed, want 7 and 1", total, failed)
	}
	if logs.Len() != 1 || logs.All()[0].ContextMap()["item"] != int64(5) {
		t.Errorf("logged %v", logs.All())
	}
}

func TestLoaderBreakAndClose(t *testing.T) {
	ds, a := loaderSet(t, 30, 0)
	before := runtime.NumGoroutine()
	l, err := NewLoader(ds.Train, a, LoaderOptions{BatchSize: 3, Train: true, Workers: 3, Prefetch: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Stop after one batch, then run a whole epoch: nothing is stuck.
	for _, err := range l.Epoch(0) {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	batches := map[*Batch]bool{}
	for b, err := range l.Epoch(1) {
		if err != nil {
			t.Fatal(err)
		}
		batches[b] = true
		// A second epoch cannot start while this one runs.
		for _, err := range l.Epoch(2) {
			if err == nil {
				t.Error("a second epoch started")
			}
			break
		}
	}
	// 10 batches through Prefetch+1 = 3 reused buffers.
	if len(batches) > 3 {
		t.Errorf("%d distinct batch buffers, want at most 3", len(batches))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	for _, err := range l.Epoch(3) {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

func TestLoaderCloseDuringEpoch(t *testing.T) {
	ds, a := loaderSet(t, 40, 0)
	l, err := NewLoader(ds.Train, a, LoaderOptions{BatchSize: 2, Train: true, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	var last error
	for _, err := range l.Epoch(0) {
		if err != nil {
			last = err
			break
		}
		if n++; n == 2 {
			go l.Close()
		}
	}
	// Either the epoch saw the close, or it had all batches ready first.
	if last != nil && !errors.Is(last, ErrClosed) {
		t.Errorf("error %v", last)
	}
	l.Close()
}

func TestLoaderOptions(t *testing.T) {
	_, a := loaderSet(t, 2, 1)
	if _, err := NewLoader(nil, nil, LoaderOptions{}); err == nil {
		t.Error("nil augmenter accepted")
	}
	if _, err := NewLoader(nil, a, LoaderOptions{BatchSize: -1}); err == nil {
		t.Error("negative batch size accepted")
	}
	bad := []Item{{Target: []float32{1}}, {Target: []float32{1, 0}}}
	if _, err := NewLoader(bad, a, LoaderOptions{}); err == nil {
		t.Error("ragged targets accepted")
	}
	l, err := NewLoader(nil, a, LoaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Len() != 0 {
		t.Errorf("empty loader has %d batches", l.Len())
	}
	for range l.Epoch(0) {
		t.Error("empty loader yielded a batch")
	}
}

func ExampleLoader() {
	dir, err := os.MkdirTemp("", "tagnet-loader")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	o, err := Synth(dir, SynthOptions{Train: 10, Valid: 3, Size: 32, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	ds, err := LoadCSV(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	pre, err := preprocess.New(preprocess.Default(24), preprocess.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	aug, err := NewAugmenter(pre, AugmentOptions{Mode: AugmentCropFlip})
	if err != nil {
		fmt.Println(err)
		return
	}
	train, err := NewLoader(ds.Train, aug, LoaderOptions{BatchSize: 4, Train: true, Seed: 42})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer train.Close()
	for b, err := range train.Epoch(0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(b.N, "images of", len(b.Images)/b.N, "values,", len(b.Targets)/b.N, "targets each")
	}
	// Output:
	// 4 images of 1728 values, 6 targets each
	// 4 images of 1728 values, 6 targets each
}
