package nn

import (
	"fmt"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/tensor"
)

// plan turns the graph's layer list into executable layers, fusing
// BatchNorm→ReLU and BatchNorm→Add→ReLU, and allocates every buffer.
func (n *Net) plan() error {
	g := n.graph
	s := g.Spec.InputSize
	mb := n.cfg.MaxBatch
	vals := map[string]*value{}
	newValue := func(name string, c, h, w int, nchw bool) *value {
		v := &value{name: name, c: c, h: h, w: w, nchw: nchw}
		v.data = make([]float32, mb*v.per())
		vals[name] = v
		n.values = append(n.values, v)
		return v
	}
	n.input = newValue(g.Input, 3, s, s, true)

	consumers := map[string][]int{}
	for i, l := range g.Layers {
		for _, in := range l.Inputs {
			consumers[in] = append(consumers[in], i)
		}
	}
	// only returns the single consumer of value name, if it has exactly one.
	only := func(name string) (models.Layer, bool) {
		c := consumers[name]
		if len(c) != 1 {
			return models.Layer{}, false
		}
		return g.Layers[c[0]], true
	}
	get := func(l models.Layer, i int) (*value, error) {
		if i >= len(l.Inputs) {
			return nil, fmt.Errorf("layer %s: missing input %d", l.Name, i)
		}
		v, ok := vals[l.Inputs[i]]
		if !ok {
			return nil, fmt.Errorf("layer %s: input %q is not computed before it", l.Name, l.Inputs[i])
		}
		return v, nil
	}
	param := func(l models.Layer, suffix string) (*tensor.Param, error) {
		p, ok := n.byName[l.Name+"."+suffix]
		if !ok {
			return nil, fmt.Errorf("layer %s: missing parameter %s", l.Name, l.Name+"."+suffix)
		}
		return p, nil
	}

	skip := map[string]bool{}             // graph layers folded into an earlier fused layer
	deferred := map[string]models.Layer{} // Add layer name → the BatchNorm fused into it
	var scratch, partial, flipped int
	for _, l := range g.Layers {
		if skip[l.Name] {
			continue
		}
		if l.Op == models.OpBatchNorm {
			// BatchNorm → Add(first input) → ReLU runs at the Add.
			if c, ok := only(l.Output); ok && c.Op == models.OpAdd && len(c.Inputs) == 2 && c.Inputs[0] == l.Output {
				if r, ok := only(c.Output); ok && r.Op == models.OpReLU {
					deferred[c.Name] = l
					continue
				}
			}
		}
		var bnLayer *models.Layer
		if bl, ok := deferred[l.Name]; ok {
			bnLayer = &bl
		}
		switch {
		case bnLayer != nil: // fused BatchNorm + Add + ReLU at the Add
			x, err := get(*bnLayer, 0)
			if err != nil {
				return err
			}
			res, err := get(l, 1)
			if err != nil {
				return err
			}
			r, _ := only(l.Output)
			skip[r.Name] = true
			if res.per() != x.per() || res.h != x.h {
				return fmt.Errorf("layer %s: adding %v to %v", l.Name, shapeOf(res), shapeOf(x))
			}
			y := newValue(r.Output, x.c, x.h, x.w, false)
			b, err := n.newBatchNorm(*bnLayer, x, y, res, true, param)
			if err != nil {
				return err
			}
			n.layers = append(n.layers, b)
		case l.Op == models.OpConv:
			x, err := get(l, 0)
			if err != nil {
				return err
			}
			if x.h == 0 || x.c != l.InC {
				return fmt.Errorf("layer %s: conv with %d input channels on %v", l.Name, l.InC, shapeOf(x))
			}
			ho := (x.h+2*l.Pad-l.Kernel)/l.Stride + 1
			wo := (x.w+2*l.Pad-l.Kernel)/l.Stride + 1
			if ho < 1 || wo < 1 {
				return fmt.Errorf("layer %s: input %v too small for kernel %d", l.Name, shapeOf(x), l.Kernel)
			}
			y := newValue(l.Output, l.OutC, ho, wo, false)
			c, err := n.newConv(l, x, y, param)
			if err != nil {
				return err
			}
			scratch = max(scratch, c.scratchLen())
			flipped = max(flipped, c.flipLen())
			partial = max(partial, len(c.w.Value))
			n.layers = append(n.layers, c)
		case l.Op == models.OpBatchNorm:
			x, err := get(l, 0)
			if err != nil {
				return err
			}
			relu := false
			out := l.Output
			if c, ok := only(l.Output); ok && c.Op == models.OpReLU {
				relu = true
				out = c.Output
				skip[c.Name] = true
			}
			y := newValue(out, x.c, x.h, x.w, false)
			b, err := n.newBatchNorm(l, x, y, nil, relu, param)
			if err != nil {
				return err
			}
			n.layers = append(n.layers, b)
		case l.Op == models.OpReLU:
			x, err := get(l, 0)
			if err != nil {
				return err
			}
			y := newValue(l.Output, x.c, x.h, x.w, false)
			n.layers = append(n.layers, n.newElementwise(l.Name, opReLU, x, nil, y, 0))
		case l.Op == models.OpAdd:
			a, err := get(l, 0)
			if err != nil {
				return err
			}
			b, err := get(l, 1)
			if err != nil {
				return err
			}
			if a.per() != b.per() || a.h != b.h {
				return fmt.Errorf("layer %s: adding %v to %v", l.Name, shapeOf(b), shapeOf(a))
			}
			op, out := opAdd, l.Output
			if r, ok := only(l.Output); ok && r.Op == models.OpReLU {
				op, out = opAddReLU, r.Output
				skip[r.Name] = true
			}
			y := newValue(out, a.c, a.h, a.w, false)
			n.layers = append(n.layers, n.newElementwise(l.Name, op, a, b, y, 0))
		case l.Op == models.OpDropout:
			x, err := get(l, 0)
			if err != nil {
				return err
			}
			y := newValue(l.Output, x.c, x.h, x.w, false)
			n.layers = append(n.layers, n.newElementwise(l.Name, opDropout, x, nil, y, l.P))
		case l.Op == models.OpMaxPool:
			x, err := get(l, 0)
			if err != nil {
				return err
			}
			if x.h == 0 || x.nchw {
				return fmt.Errorf("layer %s: max pool on %v", l.Name, shapeOf(x))
			}
			ho := (x.h+2*l.Pad-l.Kernel)/l.Stride + 1
			wo := (x.w+2*l.Pad-l.Kernel)/l.Stride + 1
			if ho < 1 || wo < 1 || l.Pad*2 > l.Kernel {
				return fmt.Errorf("layer %s: max pool kernel %d pad %d on %v", l.Name, l.Kernel, l.Pad, shapeOf(x))
			}
			y := newValue(l.Output, x.c, ho, wo, false)
			n.layers = append(n.layers, n.newMaxPool(l, x, y))
		case l.Op == models.OpAvgPool || l.Op == models.OpConcatPool:
			x, err := get(l, 0)
			if err != nil {
				return err
			}
			if x.h == 0 || x.nchw {
				return fmt.Errorf("layer %s: global pool on %v", l.Name, shapeOf(x))
			}
			c := x.c
			if l.Op == models.OpConcatPool {
				c *= 2
			}
			y := newValue(l.Output, c, 0, 0, false)
			n.layers = append(n.layers, n.newGlobalPool(l.Op == models.OpConcatPool, x, y))
		case l.Op == models.OpLinear:
			x, err := get(l, 0)
			if err != nil {
				return err
			}
			if x.h != 0 || x.c != l.InC {
				return fmt.Errorf("layer %s: linear with %d inputs on %v", l.Name, l.InC, shapeOf(x))
			}
			y := newValue(l.Output, l.OutC, 0, 0, false)
			lin, err := n.newLinear(l, x, y, param)
			if err != nil {
				return err
			}
			n.layers = append(n.layers, lin)
		default:
			return fmt.Errorf("layer %s: unsupported op %q", l.Name, l.Op)
		}
	}
	out, ok := vals[g.Output]
	if !ok {
		return fmt.Errorf("output %q is never computed", g.Output)
	}
	if out.h != 0 {
		return fmt.Errorf("output %q is %v, want flat [N,C]", g.Output, shapeOf(out))
	}
	n.output = out
	for _, v := range n.values {
		if v != n.input {
			v.grad = make([]float32, len(v.data))
		}
	}
	for _, l := range n.layers {
		if b, ok := l.(*batchNorm); ok {
			n.bns = append(n.bns, b)
		}
	}
	n.scratch = make([][]float32, n.threads)
	for w := range n.threads {
		n.scratch[w] = make([]float32, scratch)
	}
	if n.cfg.Precision == blas.BF16 {
		n.flipped16 = make([]uint16, flipped)
		n.scratch16 = make([][]uint16, n.threads)
		for w := range n.threads {
			n.scratch16[w] = make([]uint16, scratch)
		}
	}
	n.flipped = make([]float32, flipped)
	n.partial = make([][]float32, n.lanes)
	for l := 1; l < n.lanes; l++ {
		n.partial[l] = make([]float32, partial)
	}
	return nil
}

// paramFunc looks up a layer's parameter by suffix ("weight", "bias", …).
type paramFunc func(l models.Layer, suffix string) (*tensor.Param, error)

func shapeOf(v *value) string {
	switch {
	case v.nchw:
		return fmt.Sprintf("[N,%d,%d,%d]", v.c, v.h, v.w)
	case v.h == 0:
		return fmt.Sprintf("[N,%d]", v.c)
	default:
		return fmt.Sprintf("[%d,N,%d,%d]", v.c, v.h, v.w)
	}
}
