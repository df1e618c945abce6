package data

import (
	"errors"
	"fmt"
	"iter"
	"runtime"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/preprocess"
)

// DefaultBatchSize is the fastai book's batch size.
const DefaultBatchSize = 64

// ErrClosed is returned by a [Loader] used after Close.
var ErrClosed = errors.New("data loader is closed")

// LoaderOptions configure a [Loader].
type LoaderOptions struct {
	// BatchSize is the number of items per batch. Zero means
	// DefaultBatchSize.
	BatchSize int
	// Train makes the loader a training loader, as fastai's: items come in
	// a new seeded random order every epoch, the last incomplete batch is
	// dropped, and images go through [Augmenter.Train]. Otherwise items
	// come in order, every item is used, and images go through
	// [Augmenter.Valid].
	Train bool
	// Seed seeds the order and the augmentation.
	Seed uint64
	// Workers is the number of goroutines decoding and augmenting. Zero
	// means GOMAXPROCS.
	Workers int
	// Prefetch is the number of batches prepared ahead of the one being
	// consumed. Zero means 2.
	Prefetch int
	// Logger receives a warning for each item that fails to load. Nil
	// means no logging.
	Logger *zap.Logger
}

// Batch is one batch of inputs and targets. It is valid only until the
// loop body that received it returns: the loader reuses its buffers.
type Batch struct {
	// N is the number of items in the batch.
	N int
	// Height and Width are the input size; Classes the number of targets.
	Height, Width, Classes int
	// Images holds N×3×Height×Width normalised values (NCHW).
	Images []float32
	// Targets holds N×Classes multi-hot values.
	Targets []float32
	// Indices gives each item's index in the loader's item list.
	Indices []int
	// Failed lists the items of this batch that could not be loaded; they
	// are left out of Images, Targets and Indices.
	Failed []*ItemError

	images, targets []float32
	indices         []int
	errs            []error
}

// ItemError reports an item that could not be loaded.
type ItemError struct {
	Index int    // in the loader's item list
	Path  string // the image file
	Err   error  // why it failed
}

// Error describes the item and the failure.
func (e *ItemError) Error() string {
	return fmt.Sprintf("item %d (%s): %v", e.Index, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *ItemError) Unwrap() error { return e.Err }

// Loader decodes and augments items in worker goroutines ahead of the
// training step and yields them as batches. The batches of an epoch depend
// only on the items, the options and the epoch number, never on the number
// of workers or their scheduling. One epoch runs at a time. Close stops the
// workers.
type Loader struct {
	items    []Item
	aug      *Augmenter
	opt      LoaderOptions
	log      *zap.Logger
	inputLen int
	classes  int

	tasks   chan task
	pool    chan *Batch
	quit    chan struct{}
	once    sync.Once
	workers sync.WaitGroup
	busy    atomic.Bool
}

// task is one item to load into one slot of a batch.
type task struct {
	p     *pending
	slot  int
	item  int
	epoch int
}

// pending is a batch being filled.
type pending struct {
	b    *Batch
	left atomic.Int32
	done chan struct{}
	stop <-chan struct{}
}

func (p *pending) finish(n int32) {
	if p.left.Add(-n) == 0 {
		close(p.done)
	}
}

// NewLoader starts the workers of a loader over items, which must all have
// targets of the same length. Call Close when done with it.
func NewLoader(items []Item, aug *Augmenter, opt LoaderOptions) (*Loader, error) {
	if aug == nil {
		return nil, errors.New("data loader: no augmenter")
	}
	if opt.BatchSize == 0 {
		opt.BatchSize = DefaultBatchSize
	}
	if opt.Workers == 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.Prefetch == 0 {
		opt.Prefetch = 2
	}
	if opt.BatchSize < 0 || opt.Workers < 0 || opt.Prefetch < 0 {
		return nil, fmt.Errorf("data loader: batch size %d, workers %d and prefetch %d must be positive",
			opt.BatchSize, opt.Workers, opt.Prefetch)
	}
	classes := 0
	for i, it := range items {
		if i == 0 {
			classes = len(it.Target)
		} else if len(it.Target) != classes {
			return nil, fmt.Errorf("data loader: item %d has %d targets, item 0 has %d", i, len(it.Target), classes)
		}
	}
	l := &Loader{
		items:    items,
		aug:      aug,
		opt:      opt,
		log:      opt.Logger,
		inputLen: aug.pre.InputLen(),
		classes:  classes,
		tasks:    make(chan task, opt.BatchSize),
		pool:     make(chan *Batch, opt.Prefetch+1),
		quit:     make(chan struct{}),
	}
	if l.log == nil {
		l.log = zap.NewNop()
	}
	spec := aug.pre.Spec()
	for range opt.Prefetch + 1 {
		bs := opt.BatchSize
		l.pool <- &Batch{
			Height: spec.Height, Width: spec.Width, Classes: classes,
			images:  make([]float32, bs*l.inputLen),
			targets: make([]float32, bs*classes),
			indices: make([]int, bs),
			errs:    make([]error, bs),
		}
	}
	for range opt.Workers {
		l.workers.Go(l.work)
	}
	return l, nil
}

// Len returns the number of batches in an epoch.
func (l *Loader) Len() int {
	n, bs := len(l.items), l.opt.BatchSize
	if l.opt.Train {
		return n / bs
	}
	return (n + bs - 1) / bs
}

// Items returns the loader's items.
func (l *Loader) Items() []Item { return l.items }

// Close stops the workers and waits for them. An epoch still running ends
// with [ErrClosed]. Close is idempotent.
func (l *Loader) Close() error {
	l.once.Do(func() { close(l.quit) })
	l.workers.Wait()
	return nil
}

func (l *Loader) closed() bool {
	select {
	case <-l.quit:
		return true
	default:
		return false
	}
}

// Order returns the order in which epoch visits the items: a seeded
// permutation for a training loader, 0..n−1 otherwise. With drop-last, the
// items after the last full batch are not visited.
func (l *Loader) Order(epoch int) []int {
	if l.opt.Train {
		return newRand(l.opt.Seed, streamShuffle, uint64(epoch)).Perm(len(l.items))
	}
	order := make([]int, len(l.items))
	for i := range order {
		order[i] = i
	}
	return order
}

// Epoch returns an iterator over the batches of one epoch. Each batch is
// valid until the loop body returns. Items that fail to load are left out
// of their batch and listed in its Failed field (and logged); the epoch goes
// on. The iterator yields a non-nil error, and stops, only when the loader
// is closed or another epoch is running. Breaking out of the loop stops the
// epoch cleanly.
func (l *Loader) Epoch(epoch int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		if l.closed() {
			yield(nil, ErrClosed)
			return
		}
		if !l.busy.CompareAndSwap(false, true) {
			yield(nil, errors.New("data loader: another epoch is running"))
			return
		}
		defer l.busy.Store(false)

		order := l.Order(epoch)
		stop := make(chan struct{})
		halt := sync.OnceFunc(func() { close(stop) })
		defer halt()
		ready := make(chan *pending, l.opt.Prefetch)
		go l.feed(epoch, order, ready, stop)

		stopped := false
		for p := range ready {
			select {
			case <-p.done:
			case <-l.quit:
				if !stopped {
					yield(nil, ErrClosed)
				}
				return
			}
			if stopped {
				l.pool <- p.b
				continue
			}
			l.compact(p.b)
			ok := yield(p.b, nil)
			l.pool <- p.b
			if !ok {
				// Drain what the feeder already started, then end.
				stopped = true
				halt()
			}
		}
	}
}

// feed hands out the epoch's batches in order, queueing their items for the
// workers, until the epoch ends, stop is closed or the loader is closed.
func (l *Loader) feed(epoch int, order []int, ready chan<- *pending, stop <-chan struct{}) {
	defer close(ready)
	bs := l.opt.BatchSize
	for k := range l.Len() {
		idx := order[k*bs : min((k+1)*bs, len(order))]
		var b *Batch
		select {
		case b = <-l.pool:
		case <-stop:
			return
		case <-l.quit:
			return
		}
		n := len(idx)
		b.N = n
		b.Failed = b.Failed[:0]
		b.Indices = b.indices[:n]
		copy(b.Indices, idx)
		for s, i := range idx {
			copy(b.targets[s*l.classes:(s+1)*l.classes], l.items[i].Target)
			b.errs[s] = nil
		}
		p := &pending{b: b, done: make(chan struct{}), stop: stop}
		p.left.Store(int32(n) + 1) // +1: the feeder's own hold until all are queued
		select {
		case ready <- p:
		case <-stop:
			l.pool <- b
			return
		case <-l.quit:
			return
		}
		queued := 0
	queue:
		for s, i := range idx {
			select {
			case l.tasks <- task{p: p, slot: s, item: i, epoch: epoch}:
				queued++
			case <-stop:
				break queue
			case <-l.quit:
				break queue
			}
		}
		p.finish(int32(n-queued) + 1)
		if queued < n {
			return
		}
	}
}

// work loads queued items until the loader is closed.
func (l *Loader) work() {
	for {
		select {
		case t := <-l.tasks:
			l.load(t)
			t.p.finish(1)
		case <-l.quit:
			return
		}
	}
}

// load decodes and transforms one item into its batch slot, skipping the
// work when its epoch has been stopped.
func (l *Loader) load(t task) {
	select {
	case <-t.p.stop:
		return
	default:
	}
	b := t.p.b
	dst := b.images[t.slot*l.inputLen : (t.slot+1)*l.inputLen]
	img, err := preprocess.DecodeFile(l.items[t.item].Path, l.aug.DecodeOptions(l.opt.Train))
	if err == nil {
		if l.opt.Train {
			err = l.aug.Train(dst, img, ItemRand(l.opt.Seed, t.epoch, t.item))
		} else {
			err = l.aug.Valid(dst, img)
		}
	}
	b.errs[t.slot] = err
}

// compact moves the loaded items of b to the front, drops the failed ones
// and sets its public slices.
func (l *Loader) compact(b *Batch) {
	n, L, C := 0, l.inputLen, l.classes
	for s := range b.N {
		if err := b.errs[s]; err != nil {
			ie := &ItemError{Index: b.indices[s], Path: l.items[b.indices[s]].Path, Err: err}
			b.Failed = append(b.Failed, ie)
			l.log.Warn("skipping item that failed to load", zap.Int("item", ie.Index), zap.String("path", ie.Path), zap.Error(err))
			continue
		}
		if n != s {
			copy(b.images[n*L:(n+1)*L], b.images[s*L:(s+1)*L])
			copy(b.targets[n*C:(n+1)*C], b.targets[s*C:(s+1)*C])
			b.indices[n] = b.indices[s]
		}
		n++
	}
	b.N = n
	b.Images = b.images[:n*L]
	b.Targets = b.targets[:n*C]
	b.Indices = b.indices[:n]
}
