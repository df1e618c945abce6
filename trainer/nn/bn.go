package nn

import (
	"fmt"
	"math"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/tensor"
)

// batchNorm is BatchNorm over the channels of a [C,N,H,W] feature map or the
// features of a flat [N,F] value, optionally fused with a residual Add
// (y = bn(x) + res) and a ReLU.
//
// Training mode normalises with the biased batch variance and updates the
// running estimates with momentum, using the unbiased variance, as PyTorch.
type batchNorm struct {
	net           *Net
	name          string
	x, y, res     *value
	relu          bool
	gamma, beta   *tensor.Param
	rmean, rvar   *tensor.Param
	eps, momentum float64
	mean, invstd  []float64 // per channel, of the last forward
	train         bool
	dxAdd, resAdd bool
	cnt           counter
	fwdFn, bwdFn  func(int)
	grain         int
}

func (n *Net) newBatchNorm(l models.Layer, x, y, res *value, relu bool, param paramFunc) (*batchNorm, error) {
	b := &batchNorm{net: n, name: l.Name, x: x, y: y, res: res, relu: relu, eps: l.Eps, momentum: l.Momentum}
	var err error
	for _, p := range []struct {
		dst    **tensor.Param
		suffix string
	}{{&b.gamma, "weight"}, {&b.beta, "bias"}, {&b.rmean, "running_mean"}, {&b.rvar, "running_var"}} {
		if *p.dst, err = param(l, p.suffix); err != nil {
			return nil, err
		}
		if len((*p.dst).Value) != x.c {
			return nil, fmt.Errorf("layer %s: %s has %d values for %d channels", l.Name, p.suffix, len((*p.dst).Value), x.c)
		}
	}
	if res != nil && x.h == 0 {
		return nil, fmt.Errorf("layer %s: residual add on a flat value", l.Name)
	}
	b.mean = make([]float64, x.c)
	b.invstd = make([]float64, x.c)
	b.grain = max(1, x.c/(8*n.threads))
	b.fwdFn, b.bwdFn = b.forwardWorker, b.backwardWorker
	return b, nil
}

func (b *batchNorm) forward(train bool) {
	b.train = train
	b.cnt.reset()
	if b.x.h == 0 {
		b.forwardFlat()
		return
	}
	b.net.pool.run(b.fwdFn)
}

func (b *batchNorm) backward() {
	if !b.train {
		panic("nn: batchnorm backward after an evaluation forward")
	}
	b.dxAdd = b.x.claimGrad()
	if b.res != nil {
		b.resAdd = b.res.claimGrad()
	}
	b.cnt.reset()
	if b.x.h == 0 {
		b.backwardFlat()
		return
	}
	b.net.pool.run(b.bwdFn)
}

// channelStats sets mean[c] and invstd[c] from the batch (training, also
// updating the running estimates) or from the running estimates.
func (b *batchNorm) channelStats(c int, mean, variance float64, count int) {
	if b.train {
		rm, rv := &b.rmean.Value[c], &b.rvar.Value[c]
		unbiased := variance * float64(count) / float64(count-1)
		*rm = float32((1-b.momentum)*float64(*rm) + b.momentum*mean)
		*rv = float32((1-b.momentum)*float64(*rv) + b.momentum*unbiased)
	} else {
		mean, variance = float64(b.rmean.Value[c]), float64(b.rvar.Value[c])
	}
	b.mean[c] = mean
	b.invstd[c] = 1 / math.Sqrt(variance+b.eps)
}

func (b *batchNorm) forwardWorker(int) {
	m := b.net.n * b.x.hw()
	for {
		lo, hi, ok := b.cnt.take(b.grain, b.x.c)
		if !ok {
			return
		}
		for c := lo; c < hi; c++ {
			xs := b.x.data[c*m : (c+1)*m]
			var mean, variance float64
			if b.train {
				mean, variance = blas.BNStats(xs)
			}
			b.channelStats(c, mean, variance, m)
			a := float64(b.gamma.Value[c]) * b.invstd[c]
			sa, sb := float32(a), float32(float64(b.beta.Value[c])-b.mean[c]*a)
			var rs []float32
			if b.res != nil {
				rs = b.res.data[c*m : (c+1)*m]
			}
			blas.BNApply(b.y.data[c*m:(c+1)*m], xs, rs, sa, sb, b.relu)
		}
	}
}

// backwardWorker computes, per channel, g = dy·[y > 0] (with the ReLU),
// Σg and Σg·x̂ (the bias and scale gradients), the residual's gradient g
// and dx = γ/σ·(g − Σg/M − x̂·Σg·x̂/M). The first pass stores g in dx
// (when dx is not accumulated), so the second pass reads two streams.
func (b *batchNorm) backwardWorker(int) {
	m := b.net.n * b.x.hw()
	relu, dxAdd, resAdd := b.relu, b.dxAdd, b.resAdd
	for {
		lo, hi, ok := b.cnt.take(b.grain, b.x.c)
		if !ok {
			return
		}
		for c := lo; c < hi; c++ {
			xs := b.x.data[c*m : (c+1)*m]
			dys := b.y.grad[c*m : (c+1)*m]
			ys := b.y.data[c*m : (c+1)*m]
			dxs := b.x.grad[c*m : (c+1)*m]
			var drs []float32
			if b.res != nil {
				drs = b.res.grad[c*m : (c+1)*m]
			}
			mean32 := float32(b.mean[c])
			// g goes to gs: dx itself, or (accumulating) nowhere but the
			// sums, recomputed in the second pass.
			var gs []float32
			if !dxAdd {
				gs = dxs
			}
			sg, sgx := blas.BNGradSums(xs, dys, ys, gs, drs, mean32, relu, resAdd)
			invstd := b.invstd[c]
			sgx *= invstd // Σ g·x̂
			if !b.gamma.Frozen {
				b.gamma.Grad[c] = float32(sgx)
			}
			if !b.beta.Frozen {
				b.beta.Grad[c] = float32(sg)
			}
			k := float64(b.gamma.Value[c]) * invstd
			fm := float64(m)
			ka := float32(k)                      // × g
			kb := float32(-k * sgx * invstd / fm) // × (x − mean)
			kc := float32(-k * sg / fm)           // constant
			blas.BNGradInput(dxs, xs, dys, ys, mean32, ka, kb, kc, relu, dxAdd)
		}
	}
}

// forwardFlat is BatchNorm1d on [N,F] (the head; small, one goroutine).
func (b *batchNorm) forwardFlat() {
	n, f := b.net.n, b.x.c
	for c := 0; c < f; c++ {
		var mean, variance float64
		if b.train {
			var s, q float64
			x0 := b.x.data[c]
			for i := 0; i < n; i++ {
				d := float64(b.x.data[i*f+c] - x0)
				s += d
				q += d * d
			}
			s /= float64(n)
			mean, variance = float64(x0)+s, max(0, q/float64(n)-s*s)
		}
		b.channelStats(c, mean, variance, n)
		a := float64(b.gamma.Value[c]) * b.invstd[c]
		sa, sb := float32(a), float32(float64(b.beta.Value[c])-b.mean[c]*a)
		for i := 0; i < n; i++ {
			v := b.x.data[i*f+c]*sa + sb
			if b.relu {
				v = max(0, v)
			}
			b.y.data[i*f+c] = v
		}
	}
}

func (b *batchNorm) backwardFlat() {
	n, f := b.net.n, b.x.c
	for c := 0; c < f; c++ {
		mean32 := float32(b.mean[c])
		var sg, sgx float64
		for i := 0; i < n; i++ {
			g := b.y.grad[i*f+c]
			if b.relu && b.y.data[i*f+c] <= 0 {
				g = 0
			}
			sg += float64(g)
			sgx += float64(g * (b.x.data[i*f+c] - mean32))
		}
		invstd := b.invstd[c]
		sgx *= invstd
		if !b.gamma.Frozen {
			b.gamma.Grad[c] = float32(sgx)
		}
		if !b.beta.Frozen {
			b.beta.Grad[c] = float32(sg)
		}
		k := float64(b.gamma.Value[c]) * invstd
		ka, kb, kc := float32(k), float32(-k*sgx*invstd/float64(n)), float32(-k*sg/float64(n))
		for i := 0; i < n; i++ {
			g := b.y.grad[i*f+c]
			if b.relu && b.y.data[i*f+c] <= 0 {
				g = 0
			}
			d := ka*g + kb*(b.x.data[i*f+c]-mean32) + kc
			if b.dxAdd {
				b.x.grad[i*f+c] += d
			} else {
				b.x.grad[i*f+c] = d
			}
		}
	}
}
