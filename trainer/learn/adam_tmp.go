// Temporary: the optimiser used until trainer/optim's lands.
package learn

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/tagnet/tagnet/trainer/tensor"
)

// optimizerT is what the training loop needs of an optimiser.
type optimizerT interface {
	// Step updates every parameter that trains (tensor.Param.Trains) with
	// lr[p.Group] and momentum/β1 beta1.
	Step(lr [3]float64, beta1 float64)
	// Reset clears the state (fastai does at every freeze and unfreeze).
	Reset()
	// MarshalBinary and UnmarshalBinary save and restore the state, for
	// checkpoints.
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// adamConfig holds Adam's constants; zero values mean fastai's defaults.
type adamConfig struct {
	Beta2 float64 // 0.99
	Eps   float64 // 1e-5
	// WD is the decoupled weight decay (p ← p·(1 − lr·wd) before the
	// step), applied only to convolution and linear weights, not to
	// BatchNorm parameters nor biases (fastai's default). Zero means none.
	WD float64
}

// Adam is fastai's Adam: avg ← β1·avg + (1−β1)·g; sq ← β2·sq + (1−β2)·g²;
// p ← p − lr/(1−β1^t) · avg / (√(sq/(1−β2^t)) + eps), with t the step
// count of the parameter and decoupled weight decay first.
type adam struct {
	cfg    adamConfig
	params []*tensor.Param
	state  []adamState
}

type adamState struct {
	Step    int
	Avg, Sq []float32
}

// newAdam returns an Adam optimiser over params.
func newAdam(params []*tensor.Param, cfg adamConfig) *adam {
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.99
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-5
	}
	return &adam{cfg: cfg, params: params, state: make([]adamState, len(params))}
}

// Reset clears the moving averages and step counts.
func (a *adam) Reset() {
	for i := range a.state {
		a.state[i] = adamState{}
	}
}

// Step applies one update.
func (a *adam) Step(lr [3]float64, beta1 float64) {
	parallelDo(len(a.params), func(i int) {
		p := a.params[i]
		if !p.Trains() {
			return
		}
		s := &a.state[i]
		if s.Avg == nil {
			s.Avg = make([]float32, len(p.Value))
			s.Sq = make([]float32, len(p.Value))
		}
		s.Step++
		l := lr[p.Group]
		wd := 0.0
		if p.Kind.Decays() {
			wd = a.cfg.WD
		}
		adamUpdate(p.Value, p.Grad, s.Avg, s.Sq, l, wd, beta1, a.cfg.Beta2, a.cfg.Eps, s.Step)
	})
}

// adamUpdate is one Adam step of one tensor (float64 scalars, float32
// data).
func adamUpdate(v, g, avg, sq []float32, lr, wd, beta1, beta2, eps float64, t int) {
	decay := float32(1 - lr*wd)
	b1, b2 := float32(beta1), float32(beta2)
	c1, c2 := 1-b1, 1-b2
	stepSize := float32(lr / (1 - math.Pow(beta1, float64(t))))
	invDebias2 := float32(1 / (1 - math.Pow(beta2, float64(t))))
	e := float32(eps)
	for j := range v {
		gj := g[j]
		a := b1*avg[j] + c1*gj
		s := b2*sq[j] + c2*gj*gj
		avg[j], sq[j] = a, s
		v[j] = v[j]*decay - stepSize*a/(float32(math.Sqrt(float64(s*invDebias2)))+e)
	}
}

// MarshalBinary encodes the optimiser state.
func (a *adam) MarshalBinary() ([]byte, error) { return encodeState("adam", a.params, a.state) }

// UnmarshalBinary restores state saved by MarshalBinary for the same
// parameters.
func (a *adam) UnmarshalBinary(b []byte) error { return decodeState("adam", b, a.params, a.state) }

// SGD is stochastic gradient descent with momentum (PyTorch's form:
// buf ← μ·buf + g; p ← p − lr·buf) and optional decoupled weight decay.
type sgd struct {
	WD     float64
	params []*tensor.Param
	state  []adamState // only Avg (the momentum buffer) and Step are used
}

// newSGD returns an SGD optimiser over params.
func newSGD(params []*tensor.Param, wd float64) *sgd {
	return &sgd{WD: wd, params: params, state: make([]adamState, len(params))}
}

// Step applies one update with momentum mom.
func (o *sgd) Step(lr [3]float64, mom float64) {
	parallelDo(len(o.params), func(i int) {
		p := o.params[i]
		if !p.Trains() {
			return
		}
		s := &o.state[i]
		if s.Avg == nil {
			s.Avg = make([]float32, len(p.Value))
		}
		s.Step++
		l := float32(lr[p.Group])
		decay := float32(1)
		if p.Kind.Decays() {
			decay = float32(1 - lr[p.Group]*o.WD)
		}
		m := float32(mom)
		for j := range p.Value {
			b := p.Grad[j]
			if s.Step > 1 {
				b += m * s.Avg[j]
			}
			s.Avg[j] = b
			p.Value[j] = p.Value[j]*decay - l*b
		}
	})
}

// Reset clears the momentum buffers.
func (o *sgd) Reset() {
	for i := range o.state {
		o.state[i] = adamState{}
	}
}

// MarshalBinary encodes the momentum buffers.
func (o *sgd) MarshalBinary() ([]byte, error) { return encodeState("sgd", o.params, o.state) }

// UnmarshalBinary restores them.
func (o *sgd) UnmarshalBinary(b []byte) error { return decodeState("sgd", b, o.params, o.state) }

type savedState struct {
	Kind  string
	Names []string
	State []adamState
}

func encodeState(kind string, params []*tensor.Param, st []adamState) ([]byte, error) {
	s := savedState{Kind: kind, State: st}
	for _, p := range params {
		s.Names = append(s.Names, p.Name)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s); err != nil {
		return nil, fmt.Errorf("encoding %s state: %w", kind, err)
	}
	return buf.Bytes(), nil
}

func decodeState(kind string, b []byte, params []*tensor.Param, st []adamState) error {
	var s savedState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&s); err != nil {
		return fmt.Errorf("decoding optimiser state: %w", err)
	}
	if s.Kind != kind {
		return fmt.Errorf("optimiser state is %s, want %s", s.Kind, kind)
	}
	if len(s.Names) != len(params) || len(s.State) != len(params) {
		return fmt.Errorf("optimiser state has %d parameters, want %d", len(s.Names), len(params))
	}
	for i, p := range params {
		if s.Names[i] != p.Name {
			return fmt.Errorf("optimiser state parameter %d is %s, want %s", i, s.Names[i], p.Name)
		}
		if a := s.State[i].Avg; a != nil && len(a) != len(p.Value) {
			return fmt.Errorf("optimiser state of %s has %d values, want %d", p.Name, len(a), len(p.Value))
		}
	}
	copy(st, s.State)
	return nil
}

// parallel runs f(0..n-1) on all cores; each index is handled by exactly
// one goroutine, so results do not depend on scheduling.
func parallelDo(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	wg.Wait()
}
