package nn

import (
	"fmt"
	"math"

	"github.com/tagnet/tagnet/models"
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

// stats returns the mean and biased variance of seg in float64, shifted
// by its first value against cancellation.
func stats(seg []float32) (mean, variance float64) {
	x0 := seg[0]
	var s0, s1, s2, s3, q0, q1, q2, q3 float64
	i := 0
	for ; i+4 <= len(seg); i += 4 {
		v := seg[i : i+4 : i+4]
		d0, d1, d2, d3 := float64(v[0]-x0), float64(v[1]-x0), float64(v[2]-x0), float64(v[3]-x0)
		s0 += d0
		s1 += d1
		s2 += d2
		s3 += d3
		q0 += d0 * d0
		q1 += d1 * d1
		q2 += d2 * d2
		q3 += d3 * d3
	}
	for ; i < len(seg); i++ {
		d := float64(seg[i] - x0)
		s0 += d
		q0 += d * d
	}
	m := float64(len(seg))
	s := (s0 + s1 + s2 + s3) / m
	q := (q0 + q1 + q2 + q3) / m
	return float64(x0) + s, max(0, q-s*s)
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
				mean, variance = stats(xs)
			}
			b.channelStats(c, mean, variance, m)
			a := float64(b.gamma.Value[c]) * b.invstd[c]
			sa, sb := float32(a), float32(float64(b.beta.Value[c])-b.mean[c]*a)
			ys := b.y.data[c*m : (c+1)*m]
			ys = ys[:len(xs)]
			switch {
			case b.res != nil:
				rs := b.res.data[c*m : (c+1)*m]
				rs = rs[:len(xs)]
				if b.relu {
					for i, v := range xs {
						ys[i] = max(0, v*sa+sb+rs[i])
					}
				} else {
					for i, v := range xs {
						ys[i] = v*sa + sb + rs[i]
					}
				}
			case b.relu:
				for i, v := range xs {
					ys[i] = max(0, v*sa+sb)
				}
			default:
				for i, v := range xs {
					ys[i] = v*sa + sb
				}
			}
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
			dys = dys[:len(xs)]
			ys := b.y.data[c*m : (c+1)*m]
			ys = ys[:len(xs)]
			dxs := b.x.grad[c*m : (c+1)*m]
			dxs = dxs[:len(xs)]
			var drs []float32
			if b.res != nil {
				drs = b.res.grad[c*m : (c+1)*m]
				drs = drs[:len(xs)]
			}
			mean32 := float32(b.mean[c])
			// g goes to gs: dx itself, or (accumulating) nowhere but the
			// sums, recomputed in the second pass.
			var gs []float32
			if !dxAdd {
				gs = dxs
			}
			sg, sgx := bnGradSums(xs, dys, ys, gs, drs, mean32, relu, resAdd)
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
			if !dxAdd {
				for i, x := range xs {
					dxs[i] = ka*dxs[i] + kb*(x-mean32) + kc
				}
				continue
			}
			for i, x := range xs {
				g := dys[i]
				if relu {
					g = reluMask(g, ys[i])
				}
				dxs[i] += ka*g + kb*(x-mean32) + kc
			}
		}
	}
}

// reluMask returns g where y > 0 and 0 where y == 0, for y a ReLU output
// (never negative), without a branch: the ReLU pattern is random, and a
// mispredicted branch per element costs more than the arithmetic.
func reluMask(g, y float32) float32 {
	yb := int32(math.Float32bits(y))
	mask := uint32(-yb >> 31) // all ones when y > 0
	return math.Float32frombits(math.Float32bits(g) & mask)
}

// bnGradSums returns Σg and Σg·(x − mean) over one channel, with g = dy
// masked by the ReLU output y when relu; it stores g into gs and into (or,
// with resAdd, onto) drs when those are not nil.
func bnGradSums(xs, dys, ys, gs, drs []float32, mean float32, relu, resAdd bool) (sg, sgx float64) {
	n := len(xs)
	dys, ys = dys[:n], ys[:n]
	const block = 256 // float32 partial sums over short blocks, float64 across
	for lo := 0; lo < n; lo += block {
		hi := min(n, lo+block)
		var s0, s1, t0, t1 float32
		i := lo
		for ; i+2 <= hi; i += 2 {
			g0, g1 := dys[i], dys[i+1]
			if relu {
				g0, g1 = reluMask(g0, ys[i]), reluMask(g1, ys[i+1])
			}
			if gs != nil {
				gs[i], gs[i+1] = g0, g1
			}
			if drs != nil {
				if resAdd {
					drs[i] += g0
					drs[i+1] += g1
				} else {
					drs[i], drs[i+1] = g0, g1
				}
			}
			s0 += g0
			s1 += g1
			t0 += g0 * (xs[i] - mean)
			t1 += g1 * (xs[i+1] - mean)
		}
		for ; i < hi; i++ {
			g := dys[i]
			if relu {
				g = reluMask(g, ys[i])
			}
			if gs != nil {
				gs[i] = g
			}
			if drs != nil {
				if resAdd {
					drs[i] += g
				} else {
					drs[i] = g
				}
			}
			s0 += g
			t0 += g * (xs[i] - mean)
		}
		sg += float64(s0) + float64(s1)
		sgx += float64(t0) + float64(t1)
	}
	return sg, sgx
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
