package predictor_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tagnet/tagnet/predictor"
)

// sortedPhotos returns the test photographs in name order.
func sortedPhotos(t *testing.T) ([]string, [][]byte) {
	t.Helper()
	ph := photos(t)
	names := make([]string, 0, len(ph))
	for n := range ph {
		names = append(names, n)
	}
	sort.Strings(names)
	images := make([][]byte, len(names))
	for i, n := range names {
		images[i] = ph[n]
	}
	return names, images
}

// Run over several batches at once (gathered, as the HTTP service runs
// several requests) gives each slot what PredictBytes gives its image, in
// forward passes of at most MaxBatch; bad, failed and never-filled slots
// keep their own errors and do not disturb the others.
func TestRunScattersSeveralBatches(t *testing.T) {
	p := open(t, modelPath, predictor.Options{MaxBatch: 3})
	names, photos := sortedPhotos(t)
	want, errs := p.PredictBytes(context.Background(), photos)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
	}

	// Batch a: photo 0, a corrupt image, photo 1, a slot failed by the
	// caller, a slot never filled. Batch b: the other photos, then
	// a truncated JPEG.
	a := p.NewBatch(5)
	a.Decode(0, photos[0])
	a.Decode(1, []byte("not an image"))
	a.Decode(2, photos[1])
	walkErr := errors.New("permission denied")
	a.Fail(3, walkErr)
	rest := append(slices.Clone(photos[2:]), photos[0][:len(photos[0])/2])
	b := p.NewBatch(len(rest))
	b.DecodeAll(rest)
	if a.Good() != 2 || b.Good() != len(rest)-1 {
		t.Fatalf("good slots %d and %d before Run", a.Good(), b.Good())
	}

	var mu sync.Mutex
	var before, after []int
	err := p.Run(context.Background(), predictor.RunOptions{
		BeforePass: func(n int) { mu.Lock(); before = append(before, n); mu.Unlock() },
		AfterPass: func(n int, took time.Duration) {
			mu.Lock()
			after = append(after, n)
			mu.Unlock()
		},
	}, a, b)
	if err != nil {
		t.Fatal(err)
	}
	good := 2 + len(rest) - 1
	var passes []int
	for n := good; n > 0; n -= 3 {
		passes = append(passes, min(n, 3))
	}
	if !slices.Equal(before, passes) || !slices.Equal(after, passes) {
		t.Errorf("passes %v / %v, want %v (MaxBatch 3)", before, after, passes)
	}

	same := func(what string, got predictor.Prediction, err error, want predictor.Prediction) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if !slices.Equal(got.Labels, want.Labels) || !close32(got.Probabilities, want.Probabilities) {
			t.Errorf("%s: %v %v, PredictBytes gave %v %v", what, got.Labels, got.Probabilities, want.Labels, want.Probabilities)
		}
	}
	got, err := a.Result(0)
	same(names[0], got, err, want[0])
	got, err = a.Result(2)
	same(names[1], got, err, want[1])
	for i := range len(rest) - 1 {
		got, err := b.Result(i)
		same(names[2+i], got, err, want[2+i])
	}
	if _, err := a.Result(1); !errors.Is(err, predictor.ErrImage) {
		t.Errorf("corrupt slot: %v, want ErrImage", err)
	}
	if _, err := a.Result(3); err != walkErr {
		t.Errorf("failed slot: %v, want the caller's error", err)
	}
	if _, err := a.Result(4); err == nil {
		t.Error("a slot never filled has no error")
	}
	if _, err := b.Result(len(rest) - 1); !errors.Is(err, predictor.ErrImage) {
		t.Errorf("truncated slot: %v, want ErrImage", err)
	}

	// A Batch is reused after Reset; a cancelled context fails every good
	// slot with its error, and a batch of another predictor is refused.
	a.Reset(2)
	a.DecodeAll(photos[:2])
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Run(ctx, predictor.RunOptions{}, a); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel: %v", err)
	}
	if _, err := a.Result(1); !errors.Is(err, context.Canceled) {
		t.Errorf("slot after cancel: %v", err)
	}
	q := open(t, modelPath, predictor.Options{})
	if err := q.Run(context.Background(), predictor.RunOptions{}, a); err == nil {
		t.Error("Run accepted another predictor's batch")
	}
}

func close32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > 1e-5 || d < -1e-5 {
			return false
		}
	}
	return true
}

// Decode images into the slots of a Batch — two photographs and a broken
// file — and Run them as one batch: each slot gets its prediction, or
// keeps its own error.
func ExampleBatch() {
	p, err := predictor.New(testRuntime, modelPath, predictor.Options{MaxBatch: 8})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	dog, err := os.ReadFile(filepath.Join(photosDir, "dog.jpg"))
	if err != nil {
		fmt.Println(err)
		return
	}
	b := p.NewBatch(3)
	b.Decode(0, dog)
	b.Decode(1, []byte("not an image"))
	b.DecodeFile(2, filepath.Join(photosDir, "eagle.jpg"))
	fmt.Println("decoded:", b.Good(), "of", b.Len())
	if err := p.Run(context.Background(), predictor.RunOptions{}, b); err != nil {
		fmt.Println(err)
		return
	}
	for i := range b.Len() {
		pred, err := b.Result(i)
		fmt.Println(i, len(pred.Probabilities), "probabilities; bad image:", errors.Is(err, predictor.ErrImage))
	}
	// Output:
	// decoded: 2 of 3
	// 0 3 probabilities; bad image: false
	// 1 0 probabilities; bad image: true
	// 2 3 probabilities; bad image: false
}
