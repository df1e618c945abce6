package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/tensor"
)

// harness runs single layers outside a graph: a Net with just a pool, a
// batch size, scratch buffers and hand-made values.
type harness struct {
	t      *testing.T
	net    *Net
	rng    *rand.Rand
	params map[string]*tensor.Param
	// Tolerances of check: forward max error relative to 1 + max |y|, and
	// norm-wise relative gradient error.
	fwdTol, gradTol float64
}

func newHarness(t *testing.T, threads, batch int, seed uint64) *harness {
	return newHarnessPrec(t, blas.FP32, threads, batch, seed)
}

// newHarnessPrec is newHarness with the products in precision p; it skips
// the test where p is bf16 and the CPU has no native bf16. BF16 rounds
// every product operand to 8 significant bits (relative error 2⁻⁹), so its
// tolerances are the "relative ~1e-2".
func newHarnessPrec(t *testing.T, p blas.Precision, threads, batch int, seed uint64) *harness {
	gemm, err := gemmFor(p)
	if err != nil {
		t.Skip(err)
	}
	n := &Net{cfg: Config{MaxBatch: batch, Precision: p}, gemm: gemm, threads: threads, lanes: max(minLanes, threads), pool: newPool(threads), n: batch,
		rng: rand.New(rand.NewPCG(seed, 99))}
	t.Cleanup(n.pool.close)
	n.scratch = make([][]float32, threads)
	n.partial = make([][]float32, n.lanes)
	h := &harness{t: t, net: n, rng: rand.New(rand.NewPCG(seed, 1)), params: map[string]*tensor.Param{}, fwdTol: 1e-5, gradTol: gradTol}
	if p == blas.BF16 {
		h.fwdTol, h.gradTol = 1e-2, 1e-2
	}
	return h
}

func (h *harness) randn(s []float32, scale float64) {
	for i := range s {
		s[i] = float32(h.rng.NormFloat64() * scale)
	}
}

// value makes a value with random data and a zero gradient.
func (h *harness) value(c, hh, w int, nchw bool) *value {
	v := &value{c: c, h: hh, w: w, nchw: nchw}
	v.data = make([]float32, h.net.cfg.MaxBatch*v.per())
	v.grad = make([]float32, len(v.data))
	h.randn(v.data, 1)
	h.net.values = append(h.net.values, v)
	return v
}

func (h *harness) param(layer, suffix string, kind models.ParamKind, scale, offset float64, shape ...int) {
	p := &tensor.Param{Param: models.Param{Name: layer + "." + suffix, Layer: layer, Kind: kind, Shape: shape}}
	p.Value = make([]float32, p.Size())
	h.randn(p.Value, scale)
	for i := range p.Value {
		p.Value[i] += float32(offset)
	}
	if kind.Trainable() {
		p.Grad = make([]float32, p.Size())
	}
	h.params[p.Name] = p
}

func (h *harness) paramFunc(l models.Layer, suffix string) (*tensor.Param, error) {
	p, ok := h.params[l.Name+"."+suffix]
	if !ok {
		return nil, fmt.Errorf("no %s.%s", l.Name, suffix)
	}
	return p, nil
}

// grow makes sure the per-worker scratch buffers hold s values and the
// weight-sized buffers p values.
func (h *harness) grow(s, p int) {
	for w := range h.net.threads {
		if len(h.net.scratch[w]) < s {
			h.net.scratch[w] = make([]float32, s)
		}
	}
	if h.net.cfg.Precision == blas.BF16 {
		h.net.flipped16 = make([]uint16, max(p, len(h.net.flipped)))
		h.net.scratch16 = make([][]uint16, h.net.threads)
		for w := range h.net.threads {
			h.net.scratch16[w] = make([]uint16, len(h.net.scratch[w]))
		}
	}
	for l := 1; l < h.net.lanes; l++ {
		if len(h.net.partial[l]) < p {
			h.net.partial[l] = make([]float32, p)
		}
	}
	if len(h.net.flipped) < p {
		h.net.flipped = make([]float32, p)
	}
}

// layout converts a value's data between the engine layout and NCHW rt.
func toRT(v *value, d []float64, n int) rt {
	if v.h == 0 {
		return rt{n, v.c, 1, 1, d}
	}
	if v.nchw {
		return rt{n, v.c, v.h, v.w, d}
	}
	f := make([]float32, len(d))
	for i := range d {
		f[i] = float32(d[i])
	}
	_ = f
	out := make([]float64, len(d))
	hw := v.h * v.w
	for ci := 0; ci < v.c; ci++ {
		for ni := 0; ni < n; ni++ {
			for i := 0; i < hw; i++ {
				out[(ni*v.c+ci)*hw+i] = d[(ci*n+ni)*hw+i]
			}
		}
	}
	return rt{n, v.c, v.h, v.w, out}
}

// fromRT converts an NCHW rt to v's layout.
func fromRT(v *value, t rt) []float64 {
	if v.h == 0 || v.nchw {
		return t.d
	}
	out := make([]float64, len(t.d))
	hw := v.h * v.w
	for ci := 0; ci < v.c; ci++ {
		for ni := 0; ni < t.n; ni++ {
			for i := 0; i < hw; i++ {
				out[(ci*t.n+ni)*hw+i] = t.d[(ni*v.c+ci)*hw+i]
			}
		}
	}
	return out
}

func f64(s []float32) []float64 {
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

// gradCheck compares analytic (from the engine) with central differences
// of loss over theta at the given indices (all when idx is nil), and
// returns the norm-wise relative error ‖a − fd‖/‖fd‖.
func gradCheck(theta []float64, analytic []float32, loss func() float64, idx []int) (relErr float64, worst string) {
	if idx == nil {
		idx = make([]int, len(theta))
		for i := range idx {
			idx[i] = i
		}
	}
	var num, den, worstD float64
	for _, i := range idx {
		old := theta[i]
		step := fdStep * max(1, math.Abs(old))
		theta[i] = old + step
		lp := loss()
		theta[i] = old - step
		lm := loss()
		theta[i] = old
		fd := (lp - lm) / (2 * step)
		d := float64(analytic[i]) - fd
		num += d * d
		den += fd * fd
		if math.Abs(d) > worstD {
			worstD = math.Abs(d)
			worst = fmt.Sprintf("[%d] analytic %.8g, numeric %.8g", i, analytic[i], fd)
		}
	}
	if den == 0 {
		return math.Sqrt(num), worst
	}
	return math.Sqrt(num / den), worst
}

// layerCheck runs a layer forward (training) and backward with a random
// upstream gradient, and checks the output against ref and every gradient
// against central differences of Σ r·ref.
type layerCheck struct {
	name       string
	l          layer
	ins        []*value
	y          *value
	params     []string
	accumulate bool // inputs start with a gradient that must be added to
	ref        func(ins []rt, ps map[string][]float64) rt
}

const gradTol = 1e-3

// fdStep is the relative step of the central differences (float64).
const fdStep = 1e-6

func (h *harness) check(c layerCheck) {
	t := h.t
	t.Helper()
	n := h.net.n
	for _, v := range h.net.values {
		v.gradSet = false
	}
	base := map[*value][]float32{}
	for _, v := range c.ins {
		if c.accumulate && v.grad != nil {
			g := make([]float32, len(v.grad))
			h.randn(g, 1)
			copy(v.grad, g)
			base[v] = g
			v.gradSet = true
		}
	}
	c.l.forward(true)
	r := make([]float32, n*c.y.per())
	h.randn(r, 1)
	copy(c.y.grad, r)
	c.y.gradSet = true
	c.l.backward()

	// The reference reads float64 copies of the inputs and parameters; the
	// finite differences perturb those copies.
	ins := make([][]float64, len(c.ins))
	for i, v := range c.ins {
		ins[i] = f64(v.data[:n*v.per()])
	}
	ps := map[string][]float64{}
	for _, name := range c.params {
		ps[name] = f64(h.params[name].Value)
	}
	eval := func() []float64 {
		rts := make([]rt, len(ins))
		for i, v := range c.ins {
			rts[i] = toRT(v, ins[i], n)
		}
		return fromRT(c.y, c.ref(rts, ps))
	}
	rr := f64(r)
	loss := func() float64 {
		var s float64
		for i, v := range eval() {
			s += rr[i] * v
		}
		return s
	}
	want := eval()
	var maxErr, maxRef float64
	for i, v := range want {
		maxErr = max(maxErr, math.Abs(float64(c.y.data[i])-v))
		maxRef = max(maxRef, math.Abs(v))
	}
	if maxErr > h.fwdTol*(1+maxRef) {
		t.Errorf("%s: forward max error %g (max |y| %g)", c.name, maxErr, maxRef)
	}
	sample := func(size int) []int {
		if size <= 300 {
			return nil
		}
		idx := make([]int, 300)
		for i := range idx {
			idx[i] = h.rng.IntN(size)
		}
		return idx
	}
	report := fmt.Sprintf("%s: forward err %.2g", c.name, maxErr)
	for i, v := range c.ins {
		if v.grad == nil || v.nchw {
			continue
		}
		got := make([]float32, n*v.per())
		for j := range got {
			got[j] = v.grad[j]
			if b := base[v]; b != nil {
				got[j] -= b[j]
			}
		}
		e, worst := gradCheck(ins[i], got, loss, sample(len(got)))
		report += fmt.Sprintf(", d(in%d) %.2g", i, e)
		if !(e < h.gradTol) {
			t.Errorf("%s: input %d gradient relative error %g (worst %s)", c.name, i, e, worst)
		}
	}
	for _, name := range c.params {
		p := h.params[name]
		if p.Grad == nil {
			continue
		}
		e, worst := gradCheck(ps[name], p.Grad, loss, sample(len(p.Grad)))
		report += fmt.Sprintf(", d(%s) %.2g", name, e)
		if !(e < h.gradTol) {
			t.Errorf("%s: %s gradient relative error %g (worst %s)", c.name, name, e, worst)
		}
	}
	t.Log(report)
}

func TestConvLayer(t *testing.T) { testConvLayer(t, blas.FP32, []int{1, 2, 3}) }

// TestConvLayerBF16 checks every convolution case with bf16 products
// against the float64 reference within bf16 tolerance.
func TestConvLayerBF16(t *testing.T) { testConvLayer(t, blas.BF16, []int{2}) }

func testConvLayer(t *testing.T, prec blas.Precision, threadCounts []int) {
	cases := []struct {
		name                    string
		cin, cout, hw, k, s, p  int
		nchw, bias, acc, group1 bool
	}{
		{"stem7x7s2", 3, 4, 13, 7, 2, 3, true, false, false, false},
		{"3x3s1", 3, 5, 6, 3, 1, 1, false, true, true, false},
		{"3x3s1_chunks", 4, 3, 5, 3, 1, 1, false, false, false, true},
		{"3x3s1_pad0_acc", 3, 4, 7, 3, 1, 0, false, false, true, true},
		{"5x5s1_wider_chunks", 2, 7, 6, 5, 1, 2, false, false, false, true},
		{"3x3s1_pad2", 3, 2, 4, 3, 1, 2, false, false, false, false},
		{"3x3s2", 4, 6, 7, 3, 2, 1, false, false, false, false},
		{"1x1s1_direct", 5, 3, 4, 1, 1, 0, false, false, false, false},
		{"1x1s1_direct_acc", 5, 3, 4, 1, 1, 0, false, true, true, true},
		{"1x1s2_downsample", 4, 8, 7, 1, 2, 0, false, false, true, false},
	}
	for _, threads := range threadCounts {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/threads%d", tc.name, threads), func(t *testing.T) {
				h := newHarnessPrec(t, prec, threads, 3, uint64(threads*100+tc.k))
				x := h.value(tc.cin, tc.hw, tc.hw, tc.nchw)
				if tc.nchw {
					x.grad = nil
				}
				ho := (tc.hw+2*tc.p-tc.k)/tc.s + 1
				y := h.value(tc.cout, ho, ho, false)
				l := models.Layer{Name: "c", Op: models.OpConv, InC: tc.cin, OutC: tc.cout, Kernel: tc.k, Stride: tc.s, Pad: tc.p, Bias: tc.bias}
				h.param("c", "weight", models.ConvWeight, 0.5, 0, tc.cout, tc.cin, tc.k, tc.k)
				params := []string{"c.weight"}
				if tc.bias {
					h.param("c", "bias", models.Bias, 0.5, 0, tc.cout)
					params = append(params, "c.bias")
				}
				c, err := h.net.newConv(l, x, y, h.paramFunc)
				if err != nil {
					t.Fatal(err)
				}
				if tc.group1 {
					c.group = 1
				}
				h.grow(c.scratchLen(), len(c.w.Value))
				h.check(layerCheck{name: tc.name, l: c, ins: []*value{x}, y: y, params: params, accumulate: tc.acc,
					ref: func(in []rt, ps map[string][]float64) rt {
						return refConv(in[0], ps["c.weight"], ps["c.bias"], tc.cout, tc.k, tc.s, tc.p)
					}})
			})
		}
	}
}

func TestBatchNormLayer(t *testing.T) {
	cases := []struct {
		name           string
		flat, relu     bool
		res, acc, eval bool
	}{
		{"bn2d", false, false, false, false, false},
		{"bn2d_relu", false, true, false, false, false},
		{"bn2d_add_relu", false, true, true, false, false},
		{"bn2d_add_relu_acc", false, true, true, true, false},
		{"bn1d", true, false, false, false, false},
		{"bn1d_relu_acc", true, true, false, true, false},
	}
	for _, tc := range cases {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads%d", tc.name, threads), func(t *testing.T) {
				h := newHarness(t, threads, 4, 7)
				const c = 5
				hw := 3
				if tc.flat {
					hw = 0
				}
				x := h.value(c, hw, hw, false)
				for i := range x.data {
					x.data[i] = x.data[i]*2 + 3 // mean far from zero
				}
				y := h.value(c, hw, hw, false)
				ins := []*value{x}
				var res *value
				if tc.res {
					res = h.value(c, hw, hw, false)
					ins = append(ins, res)
				}
				l := models.Layer{Name: "b", Op: models.OpBatchNorm, InC: c, OutC: c, Eps: 1e-5, Momentum: 0.1}
				h.param("b", "weight", models.BNWeight, 0.5, 1, c)
				h.param("b", "bias", models.BNBias, 0.5, 0, c)
				h.param("b", "running_mean", models.BNRunningMean, 0.5, 0, c)
				h.param("b", "running_var", models.BNRunningVar, 0.1, 1, c)
				rm0 := f64(h.params["b.running_mean"].Value)
				rv0 := f64(h.params["b.running_var"].Value)
				b, err := h.net.newBatchNorm(l, x, y, res, tc.relu, h.paramFunc)
				if err != nil {
					t.Fatal(err)
				}
				h.check(layerCheck{name: tc.name, l: b, ins: ins, y: y, params: []string{"b.weight", "b.bias"}, accumulate: tc.acc,
					ref: func(in []rt, ps map[string][]float64) rt {
						out := refBN(in[0], ps["b.weight"], ps["b.bias"], nil, nil, 1e-5, true)
						if tc.res {
							out = refAdd(out, in[1])
						}
						if tc.relu {
							out = refReLU(out)
						}
						return out
					}})
				// Running statistics: momentum 0.1, unbiased variance.
				xr := toRT(x, f64(x.data[:4*x.per()]), 4)
				m := float64(4 * max(1, hw*hw))
				for ch := 0; ch < c; ch++ {
					var s, q float64
					for n := 0; n < 4; n++ {
						for i := 0; i < max(1, hw*hw); i++ {
							s += xr.d[(n*c+ch)*max(1, hw*hw)+i]
						}
					}
					mean := s / m
					for n := 0; n < 4; n++ {
						for i := 0; i < max(1, hw*hw); i++ {
							d := xr.d[(n*c+ch)*max(1, hw*hw)+i] - mean
							q += d * d
						}
					}
					wantM := 0.9*rm0[ch] + 0.1*mean
					wantV := 0.9*rv0[ch] + 0.1*q/(m-1)
					gotM, gotV := float64(h.params["b.running_mean"].Value[ch]), float64(h.params["b.running_var"].Value[ch])
					if math.Abs(gotM-wantM) > 1e-5*(1+math.Abs(wantM)) || math.Abs(gotV-wantV) > 1e-5*(1+wantV) {
						t.Errorf("channel %d: running mean/var %g/%g, want %g/%g", ch, gotM, gotV, wantM, wantV)
					}
				}
				// Evaluation mode uses the running statistics.
				b.forward(false)
				want := refBN(xr, f64(h.params["b.weight"].Value), f64(h.params["b.bias"].Value),
					f64(h.params["b.running_mean"].Value), f64(h.params["b.running_var"].Value), 1e-5, false)
				if tc.res {
					want = refAdd(want, toRT(res, f64(res.data[:4*res.per()]), 4))
				}
				if tc.relu {
					want = refReLU(want)
				}
				for i, v := range fromRT(y, want) {
					if math.Abs(float64(y.data[i])-v) > 1e-5*(1+math.Abs(v)) {
						t.Fatalf("eval forward [%d] = %g, want %g", i, y.data[i], v)
					}
				}
			})
		}
	}
}

func TestPoolLayers(t *testing.T) {
	for _, threads := range []int{1, 2} {
		for _, hw := range []int{7, 8} {
			t.Run(fmt.Sprintf("maxpool%d/threads%d", hw, threads), func(t *testing.T) {
				h := newHarness(t, threads, 3, uint64(hw))
				x := h.value(4, hw, hw, false)
				ho := (hw+2-3)/2 + 1
				y := h.value(4, ho, ho, false)
				p := h.net.newMaxPool(models.Layer{Kernel: 3, Stride: 2, Pad: 1}, x, y)
				h.check(layerCheck{name: "maxpool", l: p, ins: []*value{x}, y: y, accumulate: hw == 8,
					ref: func(in []rt, _ map[string][]float64) rt { return refMaxPool(in[0], 3, 2, 1) }})
			})
		}
		for _, concat := range []bool{false, true} {
			t.Run(fmt.Sprintf("globalpool_concat%v/threads%d", concat, threads), func(t *testing.T) {
				h := newHarness(t, threads, 3, 5)
				x := h.value(6, 3, 3, false)
				c := 6
				if concat {
					c = 12
				}
				y := h.value(c, 0, 0, false)
				p := h.net.newGlobalPool(concat, x, y)
				h.check(layerCheck{name: "globalpool", l: p, ins: []*value{x}, y: y, accumulate: concat,
					ref: func(in []rt, _ map[string][]float64) rt { return refGlobalPool(in[0], concat) }})
			})
		}
	}
}

func TestLinearLayer(t *testing.T) { testLinearLayer(t, blas.FP32) }

// TestLinearLayerBF16 checks the linear layer with bf16 products against
// the float64 reference within bf16 tolerance.
func TestLinearLayerBF16(t *testing.T) { testLinearLayer(t, blas.BF16) }

func testLinearLayer(t *testing.T, prec blas.Precision) {
	for _, bias := range []bool{false, true} {
		t.Run(fmt.Sprintf("bias%v", bias), func(t *testing.T) {
			h := newHarnessPrec(t, prec, 2, 4, 3)
			x := h.value(7, 0, 0, false)
			y := h.value(5, 0, 0, false)
			h.param("fc", "weight", models.LinearWeight, 0.5, 0, 5, 7)
			params := []string{"fc.weight"}
			if bias {
				h.param("fc", "bias", models.Bias, 0.5, 0, 5)
				params = append(params, "fc.bias")
			}
			l, err := h.net.newLinear(models.Layer{Name: "fc", InC: 7, OutC: 5, Bias: bias}, x, y, h.paramFunc)
			if err != nil {
				t.Fatal(err)
			}
			h.check(layerCheck{name: "linear", l: l, ins: []*value{x}, y: y, params: params, accumulate: bias,
				ref: func(in []rt, ps map[string][]float64) rt { return refLinear(in[0], ps["fc.weight"], ps["fc.bias"], 5) }})
		})
	}
}

func TestElementwiseLayers(t *testing.T) {
	for _, threads := range []int{1, 2} {
		for _, op := range []elemOp{opReLU, opAdd, opAddReLU, opDropout} {
			t.Run(fmt.Sprintf("op%d/threads%d", op, threads), func(t *testing.T) {
				h := newHarness(t, threads, 3, uint64(op))
				a := h.value(4, 2, 3, false)
				y := h.value(4, 2, 3, false)
				ins := []*value{a}
				var b *value
				if op == opAdd || op == opAddReLU {
					b = h.value(4, 2, 3, false)
					ins = append(ins, b)
				}
				e := h.net.newElementwise("e", op, a, b, y, 0.5)
				// Elementwise ops do not care about layout; the reference
				// sees the engine layout as if it were NCHW.
				h.check(layerCheck{name: "elementwise", l: e, ins: ins, y: y, accumulate: op == opAdd,
					ref: func(in []rt, _ map[string][]float64) rt {
						switch op {
						case opReLU:
							return refReLU(in[0])
						case opAdd:
							return refAdd(in[0], in[1])
						case opAddReLU:
							return refReLU(refAdd(in[0], in[1]))
						default:
							m := toRT(y, f64(e.mask[:3*y.per()]), 3)
							return refMul(in[0], m.d)
						}
					}})
				if op == opDropout {
					zeros := 0
					for _, m := range e.mask[:3*y.per()] {
						if m == 0 {
							zeros++
						} else if m != 2 {
							t.Fatalf("dropout mask value %g, want 0 or 2", m)
						}
					}
					if zeros == 0 || zeros == 3*y.per() {
						t.Fatalf("dropout p=0.5 zeroed %d of %d", zeros, 3*y.per())
					}
				}
			})
		}
	}
}

func TestBCEWithLogits(t *testing.T) {
	logits := []float32{-30, -2, -0.5, 0, 0.5, 3, 40, 1}
	targets := []float32{0, 1, 0, 1, 1, 0, 1, 0.3}
	grad := make([]float32, len(logits))
	got := BCEWithLogits(logits, targets, grad)
	var want float64
	for i, x := range logits {
		p := 1 / (1 + math.Exp(-float64(x)))
		y := float64(targets[i])
		// Direct form, safe here because p stays away from 0 and 1 except
		// at ±30/40, where the stable form must agree to rounding.
		l := -(y*math.Log(max(p, 1e-300)) + (1-y)*math.Log(max(1-p, 1e-300)))
		if x == 40 {
			l = math.Exp(-40) // log(1+e^-40), y = 1
		}
		if x == -30 {
			l = math.Log1p(math.Exp(-30))
		}
		want += l
		if g := (p - y) / float64(len(logits)); math.Abs(float64(grad[i])-g) > 1e-7 {
			t.Errorf("grad[%d] = %g, want %g", i, grad[i], g)
		}
	}
	want /= float64(len(logits))
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("loss %g, want %g", got, want)
	}
	if math.IsInf(BCEWithLogits([]float32{1e30}, []float32{0}, nil), 0) {
		t.Error("loss overflows on a huge logit")
	}
}
