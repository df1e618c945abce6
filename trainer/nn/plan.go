package nn

import (
	"fmt"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/tensor"
)

// Planning a Net runs in three passes: fuse groups the graph's layers into
// steps (BatchNorm→ReLU, Add→ReLU, BatchNorm→Add→ReLU), one builder per
// operator turns each step into an executable layer and its output value,
// and allocate sizes every buffer for the largest batch.

// plan turns the graph's layer list into executable layers and allocates
// every buffer.
func (n *Net) plan() error {
	g := n.graph
	p := &planner{net: n, vals: map[string]*value{}}
	s := g.Spec.InputSize
	n.input = p.newValue(g.Input, 3, s, s, true)
	for _, st := range fuse(g) {
		build := builders[st.l.Op]
		if st.bn != nil {
			build = (*planner).bnAddReLU
		}
		if build == nil {
			return fmt.Errorf("layer %s: unsupported op %q", st.l.Name, st.l.Op)
		}
		l, err := build(p, st)
		if err != nil {
			return err
		}
		n.layers = append(n.layers, l)
	}
	out, ok := p.vals[g.Output]
	if !ok {
		return fmt.Errorf("output %q is never computed", g.Output)
	}
	if out.h != 0 {
		return fmt.Errorf("output %q is %v, want flat [N,C]", g.Output, shapeOf(out))
	}
	n.output = out
	n.allocate()
	return nil
}

// step is one executable layer before it is built: a graph layer with the
// layers fused into it.
type step struct {
	l    models.Layer  // the graph layer the step runs at
	bn   *models.Layer // with l an Add: the BatchNorm of its first input, applied here
	relu bool          // the ReLU that alone consumes l's output is applied here
	out  string        // the value the step writes: l.Output, or the fused ReLU's
}

// fuse is the fusion pass: it returns the graph's layers as steps, in graph
// order, folding a ReLU into the BatchNorm or Add that alone feeds it, and
// a BatchNorm whose only consumer is the first input of an Add followed by
// a ReLU into that Add (BatchNorm + Add + ReLU run as one pass at the Add).
func fuse(g *models.Graph) []step {
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
	// reluAfter returns the ReLU that alone consumes l's output.
	reluAfter := func(l models.Layer) (models.Layer, bool) {
		r, ok := only(l.Output)
		return r, ok && r.Op == models.OpReLU
	}
	skip := map[string]bool{}             // layers folded into an earlier step
	deferred := map[string]models.Layer{} // Add layer name → the BatchNorm fused into it
	var steps []step
	for _, l := range g.Layers {
		if skip[l.Name] {
			continue
		}
		st := step{l: l, out: l.Output}
		if bn, ok := deferred[l.Name]; ok {
			r, _ := reluAfter(l)
			st.bn, st.relu, st.out = &bn, true, r.Output
			skip[r.Name] = true
			steps = append(steps, st)
			continue
		}
		if l.Op == models.OpBatchNorm {
			if a, ok := only(l.Output); ok && a.Op == models.OpAdd && len(a.Inputs) == 2 && a.Inputs[0] == l.Output {
				if _, ok := reluAfter(a); ok {
					deferred[a.Name] = l
					continue
				}
			}
		}
		if l.Op == models.OpBatchNorm || l.Op == models.OpAdd {
			if r, ok := reluAfter(l); ok {
				st.relu, st.out = true, r.Output
				skip[r.Name] = true
			}
		}
		steps = append(steps, st)
	}
	return steps
}

// planner holds the values built so far while the builders run.
type planner struct {
	net  *Net
	vals map[string]*value
}

// builder turns one step into an executable layer, creating its output
// value.
type builder func(p *planner, s step) (layer, error)

// builders holds the builder of each operator (a BatchNorm fused into an
// Add is built by bnAddReLU).
var builders = map[models.Op]builder{
	models.OpConv:       (*planner).conv,
	models.OpBatchNorm:  (*planner).batchNorm,
	models.OpReLU:       (*planner).relu,
	models.OpAdd:        (*planner).add,
	models.OpDropout:    (*planner).dropout,
	models.OpMaxPool:    (*planner).maxPool,
	models.OpAvgPool:    (*planner).globalPool,
	models.OpConcatPool: (*planner).globalPool,
	models.OpLinear:     (*planner).linear,
}

// newValue records a value of c channels of h×w (h == 0: flat); its
// buffers are made by allocate.
func (p *planner) newValue(name string, c, h, w int, nchw bool) *value {
	v := &value{name: name, c: c, h: h, w: w, nchw: nchw}
	p.vals[name] = v
	p.net.values = append(p.net.values, v)
	return v
}

// input returns the i-th input value of layer l.
func (p *planner) input(l models.Layer, i int) (*value, error) {
	if i >= len(l.Inputs) {
		return nil, fmt.Errorf("layer %s: missing input %d", l.Name, i)
	}
	v, ok := p.vals[l.Inputs[i]]
	if !ok {
		return nil, fmt.Errorf("layer %s: input %q is not computed before it", l.Name, l.Inputs[i])
	}
	return v, nil
}

// param looks up a layer's parameter by suffix ("weight", "bias", …).
func (p *planner) param(l models.Layer, suffix string) (*tensor.Param, error) {
	t, ok := p.net.byName[l.Name+"."+suffix]
	if !ok {
		return nil, fmt.Errorf("layer %s: missing parameter %s", l.Name, l.Name+"."+suffix)
	}
	return t, nil
}

// sameShape checks that the two inputs of a residual add match.
func sameShape(l models.Layer, a, b *value) error {
	if a.per() != b.per() || a.h != b.h {
		return fmt.Errorf("layer %s: adding %v to %v", l.Name, shapeOf(b), shapeOf(a))
	}
	return nil
}

// outSize is the output length of a convolution or pooling window of
// kernel k, stride s and padding pad (both sides) over an axis of length
// in: ⌊(in + 2·pad − k)/s⌋ + 1 (PyTorch's Conv2d and MaxPool2d, dilation 1,
// floor mode). It is < 1 when the window does not fit.
func outSize(in, k, s, pad int) int {
	return (in+2*pad-k)/s + 1
}

func (p *planner) conv(s step) (layer, error) {
	l := s.l
	x, err := p.input(l, 0)
	if err != nil {
		return nil, err
	}
	if x.h == 0 || x.c != l.InC {
		return nil, fmt.Errorf("layer %s: conv with %d input channels on %v", l.Name, l.InC, shapeOf(x))
	}
	ho, wo := outSize(x.h, l.Kernel, l.Stride, l.Pad), outSize(x.w, l.Kernel, l.Stride, l.Pad)
	if ho < 1 || wo < 1 {
		return nil, fmt.Errorf("layer %s: input %v too small for kernel %d", l.Name, shapeOf(x), l.Kernel)
	}
	return p.net.newConv(l, x, p.newValue(s.out, l.OutC, ho, wo, false), p.param)
}

func (p *planner) batchNorm(s step) (layer, error) {
	x, err := p.input(s.l, 0)
	if err != nil {
		return nil, err
	}
	return p.net.newBatchNorm(s.l, x, p.newValue(s.out, x.c, x.h, x.w, false), nil, s.relu, p.param)
}

// bnAddReLU builds relu(bn(x) + res) at the Add s.l, x the BatchNorm's
// input and res the Add's second input.
func (p *planner) bnAddReLU(s step) (layer, error) {
	x, err := p.input(*s.bn, 0)
	if err != nil {
		return nil, err
	}
	res, err := p.input(s.l, 1)
	if err != nil {
		return nil, err
	}
	if err := sameShape(s.l, x, res); err != nil {
		return nil, err
	}
	return p.net.newBatchNorm(*s.bn, x, p.newValue(s.out, x.c, x.h, x.w, false), res, true, p.param)
}

func (p *planner) relu(s step) (layer, error) {
	x, err := p.input(s.l, 0)
	if err != nil {
		return nil, err
	}
	return p.net.newElementwise(s.l.Name, opReLU, x, nil, p.newValue(s.out, x.c, x.h, x.w, false), 0), nil
}

func (p *planner) add(s step) (layer, error) {
	a, err := p.input(s.l, 0)
	if err != nil {
		return nil, err
	}
	b, err := p.input(s.l, 1)
	if err != nil {
		return nil, err
	}
	if err := sameShape(s.l, a, b); err != nil {
		return nil, err
	}
	op := opAdd
	if s.relu {
		op = opAddReLU
	}
	return p.net.newElementwise(s.l.Name, op, a, b, p.newValue(s.out, a.c, a.h, a.w, false), 0), nil
}

func (p *planner) dropout(s step) (layer, error) {
	x, err := p.input(s.l, 0)
	if err != nil {
		return nil, err
	}
	return p.net.newElementwise(s.l.Name, opDropout, x, nil, p.newValue(s.out, x.c, x.h, x.w, false), s.l.P), nil
}

func (p *planner) maxPool(s step) (layer, error) {
	l := s.l
	x, err := p.input(l, 0)
	if err != nil {
		return nil, err
	}
	if x.h == 0 || x.nchw {
		return nil, fmt.Errorf("layer %s: max pool on %v", l.Name, shapeOf(x))
	}
	ho, wo := outSize(x.h, l.Kernel, l.Stride, l.Pad), outSize(x.w, l.Kernel, l.Stride, l.Pad)
	if ho < 1 || wo < 1 || l.Pad*2 > l.Kernel {
		return nil, fmt.Errorf("layer %s: max pool kernel %d pad %d on %v", l.Name, l.Kernel, l.Pad, shapeOf(x))
	}
	return p.net.newMaxPool(l, x, p.newValue(s.out, x.c, ho, wo, false)), nil
}

// globalPool builds a global average pool or fastai's concat pool.
func (p *planner) globalPool(s step) (layer, error) {
	x, err := p.input(s.l, 0)
	if err != nil {
		return nil, err
	}
	if x.h == 0 || x.nchw {
		return nil, fmt.Errorf("layer %s: global pool on %v", s.l.Name, shapeOf(x))
	}
	concat := s.l.Op == models.OpConcatPool
	c := x.c
	if concat {
		c *= 2
	}
	return p.net.newGlobalPool(concat, x, p.newValue(s.out, c, 0, 0, false)), nil
}

func (p *planner) linear(s step) (layer, error) {
	l := s.l
	x, err := p.input(l, 0)
	if err != nil {
		return nil, err
	}
	if x.h != 0 || x.c != l.InC {
		return nil, fmt.Errorf("layer %s: linear with %d inputs on %v", l.Name, l.InC, shapeOf(x))
	}
	return p.net.newLinear(l, x, p.newValue(s.out, l.OutC, 0, 0, false), p.param)
}

// allocate makes every buffer for cfg.MaxBatch images: each value's data
// and (but the input's) gradient, the per worker im2col scratch, the
// flipped kernel and the per lane weight-gradient partials, sized for the
// largest convolution.
func (n *Net) allocate() {
	mb := n.cfg.MaxBatch
	for _, v := range n.values {
		v.data = make([]float32, mb*v.per())
		if v != n.input {
			v.grad = make([]float32, len(v.data))
		}
	}
	var scratch, partial, flipped int
	for _, l := range n.layers {
		switch l := l.(type) {
		case *batchNorm:
			n.bns = append(n.bns, l)
		case *conv:
			scratch = max(scratch, l.scratchLen())
			flipped = max(flipped, l.flipLen())
			partial = max(partial, len(l.w.Value))
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
