package nn

import "fmt"

type elemOp int

const (
	opReLU elemOp = iota
	opAdd
	opAddReLU
	opDropout
)

// elementwise is a ReLU, a residual Add (optionally fused with the ReLU that
// follows it) or a dropout, on any value layout.
type elementwise struct {
	net          *Net
	name         string
	op           elemOp
	a, b, y      *value // b only for the adds
	p            float32
	mask         []float32 // dropout: 0 or 1/(1−p) per element of the last training forward
	train        bool
	aAdd, bAdd   bool
	fwdFn, bwdFn func(int)
}

func (n *Net) newElementwise(name string, op elemOp, a, b, y *value, p float64) *elementwise {
	e := &elementwise{net: n, name: name, op: op, a: a, b: b, y: y, p: float32(p)}
	if op == opDropout {
		e.mask = make([]float32, n.cfg.MaxBatch*y.per())
	}
	e.fwdFn, e.bwdFn = e.forwardWorker, e.backwardWorker
	return e
}

func (e *elementwise) size() int { return e.net.n * e.y.per() }

func (e *elementwise) forward(train bool) {
	e.train = train
	if e.op == opDropout && train && e.p > 0 {
		// Masks come from one generator, in order, so they do not depend
		// on the thread count.
		scale := 1 / (1 - e.p)
		for i := range e.mask[:e.size()] {
			if e.net.rng.Float32() < e.p {
				e.mask[i] = 0
			} else {
				e.mask[i] = scale
			}
		}
	}
	e.net.pool.run(e.fwdFn)
}

func (e *elementwise) backward() {
	if e.a.grad != nil {
		e.aAdd = e.a.claimGrad()
	}
	if e.b != nil && e.b.grad != nil {
		e.bAdd = e.b.claimGrad()
	}
	e.net.pool.run(e.bwdFn)
}

func (e *elementwise) forwardWorker(w int) {
	lo, hi := span(e.size(), e.net.threads, w)
	a, y := e.a.data[lo:hi], e.y.data[lo:hi]
	switch e.op {
	case opReLU:
		for i, v := range a {
			y[i] = max(0, v)
		}
	case opAdd, opAddReLU:
		b := e.b.data[lo:hi]
		b = b[:len(a)]
		if e.op == opAdd {
			for i, v := range a {
				y[i] = v + b[i]
			}
		} else {
			for i, v := range a {
				y[i] = max(0, v+b[i])
			}
		}
	case opDropout:
		if !e.train || e.p == 0 {
			copy(y, a)
			return
		}
		m := e.mask[lo:hi]
		m = m[:len(a)]
		for i, v := range a {
			y[i] = v * m[i]
		}
	default:
		panic(fmt.Sprintf("nn: unknown elementwise op %d", e.op))
	}
}

func (e *elementwise) backwardWorker(w int) {
	lo, hi := span(e.size(), e.net.threads, w)
	dy, y := e.y.grad[lo:hi], e.y.data[lo:hi]
	y = y[:len(dy)]
	var da, db []float32
	if e.a.grad != nil {
		da = e.a.grad[lo:hi]
	}
	if e.b != nil && e.b.grad != nil {
		db = e.b.grad[lo:hi]
	}
	for i, d := range dy {
		switch e.op {
		case opReLU, opAddReLU:
			if y[i] <= 0 {
				d = 0
			}
		case opDropout:
			if e.p > 0 {
				d *= e.mask[lo+i]
			}
		}
		if da != nil {
			if e.aAdd {
				da[i] += d
			} else {
				da[i] = d
			}
		}
		if db != nil {
			if e.bAdd {
				db[i] += d
			} else {
				db[i] = d
			}
		}
	}
}
