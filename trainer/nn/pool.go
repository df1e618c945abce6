package nn

import (
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
)

// maxPool is 2-D max pooling with padding that never wins (PyTorch pads
// with −∞). It keeps the index of each window's maximum for the backward
// pass.
type maxPool struct {
	net          *Net
	x, y         *value
	g            geom
	bg           blas.Geom // g for trainer/blas
	arg          []int32   // per output: index of the max within its input plane
	dxAdd        bool
	cnt          counter
	fwdFn, bwdFn func(int)
}

func (n *Net) newMaxPool(l models.Layer, x, y *value) *maxPool {
	p := &maxPool{net: n, x: x, y: y,
		g:   geom{cin: x.c, h: x.h, w: x.w, k: l.Kernel, s: l.Stride, p: l.Pad, ho: y.h, wo: y.w},
		arg: make([]int32, n.cfg.MaxBatch*y.per())}
	p.bg = p.g.blas()
	p.fwdFn, p.bwdFn = p.forwardWorker, p.backwardWorker
	return p
}

func (p *maxPool) forward(bool) {
	p.cnt.reset()
	p.net.pool.run(p.fwdFn)
}

func (p *maxPool) backward() {
	p.dxAdd = p.x.claimGrad()
	p.cnt.reset()
	p.net.pool.run(p.bwdFn)
}

// forwardWorker pools whole (channel, image) planes taken dynamically.
func (p *maxPool) forwardWorker(int) {
	planes := p.x.c * p.net.n
	for {
		lo, hi, ok := p.cnt.take(16, planes)
		if !ok {
			return
		}
		blas.MaxPool(p.y.data, p.arg, p.x.data, &p.bg, lo, hi)
	}
}

func (p *maxPool) backwardWorker(int) {
	g := &p.g
	planes := p.x.c * p.net.n
	in, out := g.h*g.w, g.ho*g.wo
	for {
		lo, hi, ok := p.cnt.take(16, planes)
		if !ok {
			return
		}
		for pl := lo; pl < hi; pl++ {
			dx := p.x.grad[pl*in : (pl+1)*in]
			if !p.dxAdd {
				clear(dx)
			}
			dy := p.y.grad[pl*out : (pl+1)*out]
			for i, a := range p.arg[pl*out : (pl+1)*out] {
				dx[a] += dy[i]
			}
		}
	}
}

// globalPool reduces each [C,N,H,W] plane to one value: the average
// (GlobalAveragePool, [N,C]) or fastai's concat pool ([N,2C]: the max of
// every channel, then the average).
type globalPool struct {
	net          *Net
	x, y         *value
	concat       bool
	arg          []int32 // concat: per (image, channel), index of the max
	dxAdd        bool
	cnt          counter
	fwdFn, bwdFn func(int)
}

func (n *Net) newGlobalPool(concat bool, x, y *value) *globalPool {
	p := &globalPool{net: n, x: x, y: y, concat: concat}
	if concat {
		p.arg = make([]int32, n.cfg.MaxBatch*x.c)
	}
	p.fwdFn, p.bwdFn = p.forwardWorker, p.backwardWorker
	return p
}

func (p *globalPool) forward(bool) {
	p.cnt.reset()
	p.net.pool.run(p.fwdFn)
}

func (p *globalPool) backward() {
	p.dxAdd = p.x.claimGrad()
	p.cnt.reset()
	p.net.pool.run(p.bwdFn)
}

func (p *globalPool) forwardWorker(int) {
	n, c, hw := p.net.n, p.x.c, p.x.hw()
	outC := p.y.c
	for {
		lo, hi, ok := p.cnt.take(8, c)
		if !ok {
			return
		}
		for ch := lo; ch < hi; ch++ {
			for i := 0; i < n; i++ {
				plane := p.x.data[(ch*n+i)*hw : (ch*n+i+1)*hw]
				var s float64
				best, bi := plane[0], 0
				for j, v := range plane {
					s += float64(v)
					if v > best {
						best, bi = v, j
					}
				}
				avg := float32(s / float64(hw))
				if p.concat {
					p.y.data[i*outC+ch] = best
					p.y.data[i*outC+c+ch] = avg
					p.arg[i*c+ch] = int32(bi)
				} else {
					p.y.data[i*outC+ch] = avg
				}
			}
		}
	}
}

func (p *globalPool) backwardWorker(int) {
	n, c, hw := p.net.n, p.x.c, p.x.hw()
	outC := p.y.c
	for {
		lo, hi, ok := p.cnt.take(8, c)
		if !ok {
			return
		}
		for ch := lo; ch < hi; ch++ {
			for i := 0; i < n; i++ {
				plane := p.x.grad[(ch*n+i)*hw : (ch*n+i+1)*hw]
				var avg float32
				if p.concat {
					avg = p.y.grad[i*outC+c+ch] / float32(hw)
				} else {
					avg = p.y.grad[i*outC+ch] / float32(hw)
				}
				if p.dxAdd {
					for j := range plane {
						plane[j] += avg
					}
				} else {
					for j := range plane {
						plane[j] = avg
					}
				}
				if p.concat {
					plane[p.arg[i*c+ch]] += p.y.grad[i*outC+ch]
				}
			}
		}
	}
}
