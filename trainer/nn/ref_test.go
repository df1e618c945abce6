package nn

import (
	"fmt"
	"math"

	"github.com/tagnet/tagnet/models"
)

// This file is the float64 reference implementation of every layer: plain
// loops over NCHW tensors, written for obviousness, not speed. The tests
// check the fast float32 kernels against it, and differentiate it by
// central finite differences to check the backward passes.

// rt is a float64 NCHW tensor; flat [N,F] values have h = w = 1.
type rt struct {
	n, c, h, w int
	d          []float64
}

func newRT(n, c, h, w int) rt { return rt{n, c, h, w, make([]float64, n*c*h*w)} }

func (t rt) at(n, c, h, w int) float64 { return t.d[((n*t.c+c)*t.h+h)*t.w+w] }

func (t rt) idx(n, c, h, w int) int { return ((n*t.c+c)*t.h+h)*t.w + w }

func refConv(x rt, wt, b []float64, cout, k, s, p int) rt {
	ho, wo := (x.h+2*p-k)/s+1, (x.w+2*p-k)/s+1
	y := newRT(x.n, cout, ho, wo)
	for n := 0; n < x.n; n++ {
		for co := 0; co < cout; co++ {
			out := y.d[y.idx(n, co, 0, 0):][:ho*wo]
			if b != nil {
				for i := range out {
					out[i] = b[co]
				}
			}
			// Scatter form: every kernel tap adds its weight times the
			// shifted input plane to the output plane.
			for ci := 0; ci < x.c; ci++ {
				in := x.d[x.idx(n, ci, 0, 0):][:x.h*x.w]
				for kh := 0; kh < k; kh++ {
					for kw := 0; kw < k; kw++ {
						wv := wt[((co*x.c+ci)*k+kh)*k+kw]
						for oh := 0; oh < ho; oh++ {
							ih := oh*s - p + kh
							if ih < 0 || ih >= x.h {
								continue
							}
							for ow := 0; ow < wo; ow++ {
								iw := ow*s - p + kw
								if iw >= 0 && iw < x.w {
									out[oh*wo+ow] += wv * in[ih*x.w+iw]
								}
							}
						}
					}
				}
			}
		}
	}
	return y
}

func refBN(x rt, gamma, beta, rm, rv []float64, eps float64, train bool) rt {
	y := newRT(x.n, x.c, x.h, x.w)
	m := float64(x.n * x.h * x.w)
	for c := 0; c < x.c; c++ {
		var mean, variance float64
		if !train {
			mean, variance = rm[c], rv[c]
		} else {
			for n := 0; n < x.n; n++ {
				for i := 0; i < x.h*x.w; i++ {
					mean += x.d[(n*x.c+c)*x.h*x.w+i]
				}
			}
			mean /= m
			for n := 0; n < x.n; n++ {
				for i := 0; i < x.h*x.w; i++ {
					d := x.d[(n*x.c+c)*x.h*x.w+i] - mean
					variance += d * d
				}
			}
			variance /= m
		}
		for n := 0; n < x.n; n++ {
			for i := 0; i < x.h*x.w; i++ {
				j := (n*x.c+c)*x.h*x.w + i
				y.d[j] = (x.d[j]-mean)/math.Sqrt(variance+eps)*gamma[c] + beta[c]
			}
		}
	}
	return y
}

func refReLU(x rt) rt {
	y := newRT(x.n, x.c, x.h, x.w)
	for i, v := range x.d {
		y.d[i] = max(0, v)
	}
	return y
}

func refAdd(a, b rt) rt {
	y := newRT(a.n, a.c, a.h, a.w)
	for i := range a.d {
		y.d[i] = a.d[i] + b.d[i]
	}
	return y
}

func refMul(a rt, m []float64) rt {
	y := newRT(a.n, a.c, a.h, a.w)
	for i := range a.d {
		y.d[i] = a.d[i] * m[i]
	}
	return y
}

func refMaxPool(x rt, k, s, p int) rt {
	ho, wo := (x.h+2*p-k)/s+1, (x.w+2*p-k)/s+1
	y := newRT(x.n, x.c, ho, wo)
	for n := 0; n < x.n; n++ {
		for c := 0; c < x.c; c++ {
			for oh := 0; oh < ho; oh++ {
				for ow := 0; ow < wo; ow++ {
					best := math.Inf(-1)
					for kh := 0; kh < k; kh++ {
						for kw := 0; kw < k; kw++ {
							ih, iw := oh*s-p+kh, ow*s-p+kw
							if ih >= 0 && ih < x.h && iw >= 0 && iw < x.w {
								best = max(best, x.at(n, c, ih, iw))
							}
						}
					}
					y.d[y.idx(n, c, oh, ow)] = best
				}
			}
		}
	}
	return y
}

// refGlobalPool returns [N,C] averages, or [N,2C] maxima then averages.
func refGlobalPool(x rt, concat bool) rt {
	outC := x.c
	if concat {
		outC *= 2
	}
	y := newRT(x.n, outC, 1, 1)
	hw := x.h * x.w
	for n := 0; n < x.n; n++ {
		for c := 0; c < x.c; c++ {
			plane := x.d[(n*x.c+c)*hw : (n*x.c+c+1)*hw]
			var s float64
			best := math.Inf(-1)
			for _, v := range plane {
				s += v
				best = max(best, v)
			}
			if concat {
				y.d[n*outC+c] = best
				y.d[n*outC+x.c+c] = s / float64(hw)
			} else {
				y.d[n*outC+c] = s / float64(hw)
			}
		}
	}
	return y
}

func refLinear(x rt, wt, b []float64, out int) rt {
	in := x.c * x.h * x.w
	y := newRT(x.n, out, 1, 1)
	for n := 0; n < x.n; n++ {
		for o := 0; o < out; o++ {
			var s float64
			if b != nil {
				s = b[o]
			}
			for i := 0; i < in; i++ {
				s += x.d[n*in+i] * wt[o*in+i]
			}
			y.d[n*out+o] = s
		}
	}
	return y
}

// refGraph interprets g in float64. masks holds the dropout masks of a
// training pass by layer name (as the fast network drew them).
func refGraph(g *models.Graph, w map[string][]float64, x rt, train bool, masks map[string][]float64) rt {
	vals := map[string]rt{g.Input: x}
	for _, l := range g.Layers {
		in := vals[l.Inputs[0]]
		var y rt
		switch l.Op {
		case models.OpConv:
			y = refConv(in, w[l.Name+".weight"], w[l.Name+".bias"], l.OutC, l.Kernel, l.Stride, l.Pad)
		case models.OpBatchNorm:
			p := l.Name + "."
			y = refBN(in, w[p+"weight"], w[p+"bias"], w[p+"running_mean"], w[p+"running_var"], l.Eps, train)
		case models.OpReLU:
			y = refReLU(in)
		case models.OpMaxPool:
			y = refMaxPool(in, l.Kernel, l.Stride, l.Pad)
		case models.OpAdd:
			y = refAdd(in, vals[l.Inputs[1]])
		case models.OpAvgPool, models.OpConcatPool:
			y = refGlobalPool(in, l.Op == models.OpConcatPool)
		case models.OpLinear:
			y = refLinear(in, w[l.Name+".weight"], w[l.Name+".bias"], l.OutC)
		case models.OpDropout:
			y = in
			if train && masks[l.Name] != nil {
				y = refMul(in, masks[l.Name])
			}
		default:
			panic(fmt.Sprintf("refGraph: op %s", l.Op))
		}
		vals[l.Output] = y
	}
	return vals[g.Output]
}

// refBCE is the float64 mean binary cross-entropy with logits.
func refBCE(logits, targets []float64) float64 {
	var s float64
	for i, x := range logits {
		s += max(x, 0) - x*targets[i] + math.Log1p(math.Exp(-math.Abs(x)))
	}
	return s / float64(len(logits))
}
