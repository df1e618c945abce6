package nn

import (
	"sync"
	"sync/atomic"
)

// pool runs one function on every worker at once: worker 0 is the calling
// goroutine, workers 1..n-1 are long-lived goroutines waiting on a channel.
// Dispatching a pre-bound func value allocates nothing, so the steady-state
// training step stays allocation-free.
type pool struct {
	n    int
	jobs []chan func(int)
	wg   sync.WaitGroup
	once sync.Once
}

func newPool(n int) *pool {
	p := &pool{n: n}
	for w := 1; w < n; w++ {
		ch := make(chan func(int))
		p.jobs = append(p.jobs, ch)
		go func() {
			for fn := range ch {
				fn(w)
				p.wg.Done()
			}
		}()
	}
	return p
}

// run calls fn(w) for every worker w in [0, n) concurrently and returns when
// all have returned.
func (p *pool) run(fn func(w int)) {
	if p.n == 1 {
		fn(0)
		return
	}
	p.wg.Add(p.n - 1)
	for _, ch := range p.jobs {
		ch <- fn
	}
	fn(0)
	p.wg.Wait()
}

// close stops the helper goroutines; the pool must not be used afterwards.
func (p *pool) close() {
	p.once.Do(func() {
		for _, ch := range p.jobs {
			close(ch)
		}
	})
}

// span returns the w-th of parts contiguous, nearly equal ranges of [0, total).
func span(total, parts, w int) (lo, hi int) {
	return total * w / parts, total * (w + 1) / parts
}

// counter hands out chunks of [0, total) to workers in any order (dynamic
// scheduling). Kernels that use it write disjoint outputs per chunk, so the
// result does not depend on which worker took which chunk.
type counter struct{ next atomic.Int64 }

func (c *counter) reset() { c.next.Store(0) }

// take returns the next chunk of at most grain items, or ok == false when
// [0, total) is exhausted.
func (c *counter) take(grain, total int) (lo, hi int, ok bool) {
	i := int(c.next.Add(1)) - 1
	lo = i * grain
	if lo >= total {
		return 0, 0, false
	}
	return lo, min(total, lo+grain), true
}
