package predictor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// errNotFilled is the error of a Batch slot that was never decoded nor
// failed: Run leaves it out.
var errNotFilled = errors.New("predictor: batch slot was never filled")

// Batch holds images on their way through the predictor's stages, one slot
// each: first the image's preprocessed input (a [3,H,W] slice of one
// [N,3,H,W] buffer), then its Prediction or its error. It is the one batch
// primitive of the predictor — decode into slots, Run (pack the images that
// decoded, forward, postprocess, scatter the predictions back to their
// slots) — used by PredictBytes, package batch and the HTTP service.
//
// Slots are filled with Decode, DecodeFile, DecodeAll or Fail, which may be
// called concurrently for distinct slots; Run and Reset must not run
// concurrently with anything else on the same Batch. A bad image fails
// alone: its slot keeps its error and the others run.
type Batch struct {
	p     *Predictor
	n     int
	input []float32 // cap × InputLen values
	logit []float32 // cap × C values, for a Batch run alone
	errs  []error
	preds []Prediction
}

// NewBatch returns an empty Batch of n slots (n ≥ 0), with room for n
// images; its input buffer is n·InputLen float32 values.
func (p *Predictor) NewBatch(n int) *Batch {
	n = max(n, 0)
	b := &Batch{p: p, input: make([]float32, n*p.InputLen()), logit: make([]float32, n*p.NumClasses())}
	b.Reset(n)
	return b
}

// Reset empties b and gives it n slots, keeping its buffers when they hold
// n images, growing them otherwise. Predictions returned before stay valid.
func (b *Batch) Reset(n int) {
	n = max(n, 0)
	if L, C := b.p.InputLen(), b.p.NumClasses(); n*L > len(b.input) {
		b.input, b.logit = make([]float32, n*L), make([]float32, n*C)
	}
	b.n = n
	b.errs = make([]error, n)
	b.preds = make([]Prediction, n)
	for i := range b.errs {
		b.errs[i] = errNotFilled
	}
}

// Len returns the number of slots.
func (b *Batch) Len() int { return b.n }

// slot returns slot i's input values.
func (b *Batch) slot(i int) []float32 {
	L := b.p.InputLen()
	return b.input[i*L : (i+1)*L : (i+1)*L]
}

// check reports an index outside the batch, a caller's bug.
func (b *Batch) check(i int) {
	if i < 0 || i >= b.n {
		panic(fmt.Sprintf("predictor: batch slot %d of %d", i, b.n))
	}
}

// Decode preprocesses the encoded image data into slot i, as
// Predictor.Preprocess does, and records its error (nil when it decoded).
func (b *Batch) Decode(i int, data []byte) {
	b.check(i)
	b.errs[i] = b.p.Preprocess(b.slot(i), data)
}

// DecodeFile preprocesses the image file at path into slot i, as
// Predictor.PreprocessFile does, and records its error.
func (b *Batch) DecodeFile(i int, path string) {
	b.check(i)
	b.errs[i] = b.p.PreprocessFile(b.slot(i), path)
}

// DecodeAll decodes images[i] into slot i for every slot, on up to
// GOMAXPROCS goroutines, and returns when all are done. images must hold
// Len images.
func (b *Batch) DecodeAll(images [][]byte) {
	if len(images) != b.n {
		panic(fmt.Sprintf("predictor: %d images for a batch of %d", len(images), b.n))
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(len(images), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				b.Decode(i, images[i])
			}
		})
	}
	for i := range images {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Fail records err (not nil) as slot i's error: the slot is not run.
func (b *Batch) Fail(i int, err error) {
	b.check(i)
	if err == nil {
		err = errNotFilled
	}
	b.errs[i] = err
}

// Err returns slot i's error: before Run, its decoding error; after Run,
// its decoding error or what stopped it from running (a forward failure,
// the context's error). Nil means the slot decoded (and, after Run, has
// its prediction).
func (b *Batch) Err(i int) error {
	b.check(i)
	return b.errs[i]
}

// Good returns the number of slots without an error.
func (b *Batch) Good() int {
	n := 0
	for _, err := range b.errs[:b.n] {
		if err == nil {
			n++
		}
	}
	return n
}

// Result returns slot i's prediction after Run, or its error.
func (b *Batch) Result(i int) (Prediction, error) {
	b.check(i)
	return b.preds[i], b.errs[i]
}

// RunOptions are the optional hooks of Run.
type RunOptions struct {
	// BeforePass, when set, is called before each forward pass with its
	// number of images.
	BeforePass func(images int)
	// AfterPass, when set, is called after each forward pass, successful
	// or not, with its number of images and its wall time.
	AfterPass func(images int, took time.Duration)
}

// Run sends the images of batches that decoded through the model as one
// batch: it packs them together in order (in place when there is one
// batch; gathered into a pooled buffer otherwise), runs them in forward
// passes of at most MaxBatch images, postprocesses the logits
// (Postprocess: the sigmoid and each class's threshold) and gives each
// slot its Prediction. Slots with an error are left out and keep it.
//
// Run consumes the batches' inputs: a Batch must be decoded again (or
// Reset) before it is run again. When ctx is done before a pass, or a pass
// fails, the slots not yet predicted get that error and Run returns it;
// predictions of earlier passes stay valid.
func (p *Predictor) Run(ctx context.Context, opt RunOptions, batches ...*Batch) error {
	type at struct {
		b *Batch
		i int
	}
	var good []at
	for _, b := range batches {
		if b.p != p {
			return errors.New("predictor: running a batch of another predictor")
		}
		for i, err := range b.errs[:b.n] {
			if err == nil {
				good = append(good, at{b, i})
			}
		}
	}
	n := len(good)
	if n == 0 {
		return nil
	}
	L, C := p.InputLen(), p.NumClasses()
	var input, logits []float32
	if len(batches) == 1 {
		// Pack the good slots to the front of the batch's own buffer.
		b := batches[0]
		for k, g := range good {
			if k != g.i {
				copy(b.input[k*L:(k+1)*L], b.slot(g.i))
			}
		}
		input, logits = b.input[:n*L], b.logit[:n*C]
	} else {
		bp := p.gather.Get().(*[]float32)
		defer p.gather.Put(bp)
		if cap(*bp) < n*L {
			*bp = make([]float32, n*L)
		}
		input = (*bp)[:n*L]
		for k, g := range good {
			copy(input[k*L:(k+1)*L], g.b.slot(g.i))
		}
		logits = make([]float32, n*C)
	}

	done := 0 // images predicted
	var err error
	for done < n {
		if err = ctx.Err(); err != nil {
			break
		}
		m := min(p.maxBatch, n-done)
		if opt.BeforePass != nil {
			opt.BeforePass(m)
		}
		start := time.Now()
		err = p.ForwardInto(input[done*L:(done+m)*L], m, logits[done*C:(done+m)*C])
		if opt.AfterPass != nil {
			opt.AfterPass(m, time.Since(start))
		}
		if err == nil {
			var preds []Prediction
			if preds, err = p.Postprocess(logits[done*C:(done+m)*C], m); err == nil {
				for k, pr := range preds {
					g := good[done+k]
					g.b.preds[g.i] = pr
				}
			}
		}
		if err != nil {
			break
		}
		done += m
	}
	for _, g := range good[done:] {
		g.b.errs[g.i] = err
	}
	return err
}
