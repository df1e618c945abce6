package optim

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/tensor"
)

func param(name string, kind models.ParamKind, group int, vals ...float32) *tensor.Param {
	p := &tensor.Param{Param: models.Param{Name: name, Kind: kind, Group: group, Shape: []int{len(vals)}}, Value: vals}
	if kind.Trainable() {
		p.Grad = make([]float32, len(vals))
	}
	return p
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*(1+math.Abs(b)) }

// TestAdamHandComputed checks two Adam steps against values computed by
// hand (Python, float64) from fastai's update rule: decoupled decay on the
// weight only, β1 changing between steps, eps after the square root.
func TestAdamHandComputed(t *testing.T) {
	w := param("conv.weight", models.ConvWeight, 0, 1)
	bn := param("bn.weight", models.BNWeight, 1, 1)
	rm := param("bn.running_mean", models.BNRunningMean, 1, 7)
	frozen := param("frozen.weight", models.ConvWeight, 0, 3)
	frozen.Frozen = true
	opt := NewAdam([]*tensor.Param{w, bn, rm, frozen}, DefaultAdam())
	steps := []struct {
		g, lr, mom    float64
		wantW, wantBN float64
	}{
		{0.5, 0.1, 0.9, 0.8990019999600007, 0.9000019999600007},
		{-0.25, 0.05, 0.8, 0.9020713606049067, 0.9035208616048866},
	}
	for i, s := range steps {
		for _, p := range []*tensor.Param{w, bn, frozen} {
			p.Grad[0] = float32(s.g)
		}
		if err := opt.Step(Hypers{LRs: []float64{s.lr, s.lr}, Mom: s.mom}); err != nil {
			t.Fatal(err)
		}
		if !near(float64(w.Value[0]), s.wantW, 1e-6) || !near(float64(bn.Value[0]), s.wantBN, 1e-6) {
			t.Errorf("step %d: weight %.9f, bn %.9f; want %.9f, %.9f", i+1, w.Value[0], bn.Value[0], s.wantW, s.wantBN)
		}
	}
	if rm.Value[0] != 7 || frozen.Value[0] != 3 {
		t.Errorf("buffer %g or frozen parameter %g changed", rm.Value[0], frozen.Value[0])
	}
	if err := opt.Step(Hypers{LRs: []float64{0.1}, Mom: 0.9}); err == nil {
		t.Error("Step accepted fewer learning rates than groups")
	}
}

// TestAdamWDBNBias checks that WDBNBias decays BatchNorm parameters and
// biases like weights (PyTorch's AdamW over every parameter) and still
// leaves buffers alone: a BN weight with the weight's value and gradients
// follows the weight's hand-computed trajectory exactly.
func TestAdamWDBNBias(t *testing.T) {
	w := param("conv.weight", models.ConvWeight, 0, 1)
	bn := param("bn.weight", models.BNWeight, 1, 1)
	b := param("fc.bias", models.Bias, 1, 1)
	rm := param("bn.running_mean", models.BNRunningMean, 1, 7)
	cfg := DefaultAdam()
	cfg.WDBNBias = true
	opt := NewAdam([]*tensor.Param{w, bn, b, rm}, cfg)
	for i, s := range []struct{ g, lr, mom, want float64 }{
		{0.5, 0.1, 0.9, 0.8990019999600007},
		{-0.25, 0.05, 0.8, 0.9020713606049067},
	} {
		for _, p := range []*tensor.Param{w, bn, b} {
			p.Grad[0] = float32(s.g)
		}
		if err := opt.Step(Hypers{LRs: []float64{s.lr, s.lr}, Mom: s.mom}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*tensor.Param{w, bn, b} {
			if !near(float64(p.Value[0]), s.want, 1e-6) {
				t.Errorf("step %d: %s %.9f, want %.9f", i+1, p.Name, p.Value[0], s.want)
			}
		}
	}
	if rm.Value[0] != 7 {
		t.Errorf("running mean changed to %g", rm.Value[0])
	}
}

func TestSGDHandComputed(t *testing.T) {
	w := param("fc.weight", models.LinearWeight, 2, 1)
	opt := NewSGD([]*tensor.Param{w}, SGDConfig{WD: 0.01})
	for i, s := range []struct{ g, lr, want float64 }{{0.5, 0.1, 0.949}, {-0.25, 0.05, 0.9385255}} {
		w.Grad[0] = float32(s.g)
		if err := opt.Step(Hypers{LRs: []float64{0, 0, s.lr}, Mom: 0.9}); err != nil {
			t.Fatal(err)
		}
		if !near(float64(w.Value[0]), s.want, 1e-6) {
			t.Errorf("step %d: %.9f, want %.9f", i+1, w.Value[0], s.want)
		}
	}
}

// TestAdamStateRoundTrip saves the state mid-training, restores it into a
// fresh optimiser and requires the two to continue identically.
func TestAdamStateRoundTrip(t *testing.T) {
	mk := func() []*tensor.Param {
		return []*tensor.Param{param("a.weight", models.ConvWeight, 0, 1, 2, 3), param("b.bias", models.BNBias, 2, -1)}
	}
	pa := mk()
	a := NewAdam(pa, DefaultAdam())
	h := Hypers{LRs: []float64{0.01, 0.01, 0.1}, Mom: 0.9}
	for k := range 3 {
		for _, p := range pa {
			for i := range p.Grad {
				p.Grad[i] = float32(k+i) - 1.5
			}
		}
		if err := a.Step(h); err != nil {
			t.Fatal(err)
		}
	}
	state, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	pb := mk()
	for i := range pb {
		copy(pb[i].Value, pa[i].Value)
	}
	b := NewAdam(pb, DefaultAdam())
	if err := b.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	for _, ps := range [][]*tensor.Param{pa, pb} {
		for _, p := range ps {
			for i := range p.Grad {
				p.Grad[i] = 0.3
			}
		}
	}
	if err := a.Step(h); err != nil {
		t.Fatal(err)
	}
	if err := b.Step(h); err != nil {
		t.Fatal(err)
	}
	for i := range pa {
		if !slices.Equal(pa[i].Value, pb[i].Value) {
			t.Fatalf("%s: %v after restore, %v without", pa[i].Name, pb[i].Value, pa[i].Value)
		}
	}
	// State for other parameters, another optimiser, or garbage fails.
	other := NewAdam([]*tensor.Param{param("c.weight", models.ConvWeight, 0, 1, 2, 3), param("b.bias", models.BNBias, 2, -1)}, DefaultAdam())
	for name, err := range map[string]error{
		"other parameters": other.UnmarshalBinary(state),
		"sgd":              NewSGD(mk(), SGDConfig{}).UnmarshalBinary(state),
		"truncated":        b.UnmarshalBinary(state[:len(state)-3]),
		"garbage":          b.UnmarshalBinary([]byte("not optimiser state at all")),
	} {
		if !errors.Is(err, ErrState) {
			t.Errorf("%s: error %v, want ErrState", name, err)
		}
	}
}

func TestReset(t *testing.T) {
	p := param("w.weight", models.ConvWeight, 0, 1)
	opt := NewAdam([]*tensor.Param{p}, AdamConfig{})
	p.Grad[0] = 1
	h := Hypers{LRs: []float64{0.1}, Mom: 0.9}
	_ = opt.Step(h)
	p.Grad[0] = -1
	_ = opt.Step(h)
	opt.Reset()
	before := p.Value[0]
	p.Grad[0] = 1
	_ = opt.Step(h)
	// A first step moves by lr·g/(|g|+eps) whatever came before.
	if got, want := float64(before-p.Value[0]), 0.1/(1+1e-5); !near(got, want, 1e-6) {
		t.Errorf("first step after Reset moved %g, want %g", got, want)
	}
}

// TestAdamParallelIsExact: Adam splits large steps over goroutines; the
// result must be bit-identical to one goroutine's, over several tensors of
// which some straddle the split points, with weight decay on some.
func TestAdamParallelIsExact(t *testing.T) {
	mk := func() []*tensor.Param {
		var ps []*tensor.Param
		for i, n := range []int{3*adamGrain + 17, 5, adamGrain - 1, 2*adamGrain + 3} {
			kind := models.ConvWeight
			if i%2 == 1 {
				kind = models.BNWeight
			}
			vals := make([]float32, n)
			for j := range vals {
				vals[j] = float32(math.Sin(float64(j*(i+1)))) * 0.1
			}
			p := param("p"+string(rune('a'+i)), kind, i%3, vals...)
			for j := range p.Grad {
				p.Grad[j] = float32(math.Cos(float64(j+i))) * 0.01
			}
			ps = append(ps, p)
		}
		return ps
	}
	run := func(procs int) []*tensor.Param {
		prev := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(prev)
		ps := mk()
		a := NewAdam(ps, AdamConfig{WD: 0.01})
		for step := range 3 {
			if err := a.Step(Hypers{LRs: []float64{1e-3, 2e-3, 3e-3}, Mom: 0.9 - 0.01*float64(step)}); err != nil {
				t.Fatal(err)
			}
		}
		return ps
	}
	one, four := run(1), run(4)
	for i := range one {
		if !slices.Equal(one[i].Value, four[i].Value) {
			t.Fatalf("%s differs between 1 and 4 goroutines", one[i].Name)
		}
	}
	if slices.Equal(one[0].Value, mk()[0].Value) {
		t.Fatal("Adam did not change the parameters")
	}
}
