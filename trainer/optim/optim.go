// Package optim holds tagnet's optimisers and learning-rate schedules, with
// fastai's semantics (see docs/fastai-recipe.md): Adam with decoupled weight
// decay, SGD with momentum, the one-cycle schedule, fine_tune's
// discriminative learning rates, and the learning-rate finder's
// exponential sweep.
//
// In tagnet's flow it sits beside trainer/nn: each training step, after
// the network's backward pass, the loop asks a [Schedule] for the step's
// [Hypers] and calls [Optimizer.Step], which updates the [tensor.Param]
// views in place. The package depends only on the parameter type, not on
// the network.
package optim

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"

	"github.com/tagnet/tagnet/trainer/blas"
	"github.com/tagnet/tagnet/trainer/tensor"
)

// Hypers are the hyper-parameters of one optimiser step.
type Hypers struct {
	// LRs is the learning rate of each parameter group, indexed by
	// [tensor.Param].Group.
	LRs []float64
	// Mom is the momentum: Adam's β1 (fastai schedules it), or SGD's
	// momentum.
	Mom float64
}

// Optimizer updates parameters from their gradients.
//
// Step skips parameters that do not train (buffers, frozen parameters);
// Reset clears the state (moments and step counts), as fastai does at every
// freeze and unfreeze; the binary form of the state is for checkpoints.
type Optimizer interface {
	Step(h Hypers) error
	Reset()
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// ErrState is wrapped by UnmarshalBinary errors: the data is not optimiser
// state for these parameters.
var ErrState = errors.New("optim: state does not match")

// slot is the state of one trainable parameter.
type slot struct {
	p    *tensor.Param
	step int64
	avg  []float32 // first moment (Adam) or momentum buffer (SGD)
	sq   []float32 // second moment (Adam only)
}

// base holds what Adam and SGD share: the parameters and their state.
type base struct {
	kind  byte
	slots []slot
}

func newBase(kind byte, params []*tensor.Param, second bool) base {
	b := base{kind: kind}
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		s := slot{p: p, avg: make([]float32, len(p.Value))}
		if second {
			s.sq = make([]float32, len(p.Value))
		}
		b.slots = append(b.slots, s)
	}
	return b
}

func (b *base) check(h Hypers) error {
	for _, s := range b.slots {
		if s.p.Group < 0 || s.p.Group >= len(h.LRs) {
			return fmt.Errorf("optim: parameter %s is in group %d, but %d learning rates are given", s.p.Name, s.p.Group, len(h.LRs))
		}
	}
	if !(h.Mom >= 0 && h.Mom < 1) {
		return fmt.Errorf("optim: momentum %g is out of [0, 1)", h.Mom)
	}
	return nil
}

// Reset clears the moments and step counts.
func (b *base) Reset() {
	for i := range b.slots {
		s := &b.slots[i]
		s.step = 0
		clear(s.avg)
		clear(s.sq)
	}
}

const (
	stateMagic   = "tagnetop"
	stateVersion = 1
)

// MarshalBinary encodes the state: a header, then per trainable parameter
// its name, size, step count and moments (little-endian float32).
func (b *base) MarshalBinary() ([]byte, error) {
	var buf bytes.Buffer
	le := binary.LittleEndian
	buf.WriteString(stateMagic)
	buf.Write(le.AppendUint32(nil, stateVersion))
	buf.WriteByte(b.kind)
	buf.Write(le.AppendUint32(nil, uint32(len(b.slots))))
	for _, s := range b.slots {
		buf.Write(le.AppendUint32(nil, uint32(len(s.p.Name))))
		buf.WriteString(s.p.Name)
		buf.Write(le.AppendUint64(nil, uint64(len(s.avg))))
		buf.Write(le.AppendUint64(nil, uint64(s.step)))
		for _, m := range [][]float32{s.avg, s.sq} {
			if m == nil {
				continue
			}
			out := make([]byte, 4*len(m))
			for i, v := range m {
				le.PutUint32(out[4*i:], math.Float32bits(v))
			}
			buf.Write(out)
		}
	}
	return buf.Bytes(), nil
}

// UnmarshalBinary restores state written by MarshalBinary for the same
// optimiser kind and parameters; on error the state is left unchanged.
func (b *base) UnmarshalBinary(data []byte) error {
	r := bytes.NewReader(data)
	le := binary.LittleEndian
	var hdr struct {
		Magic   [8]byte
		Version uint32
		Kind    byte
		N       uint32
	}
	if err := binary.Read(r, le, &hdr); err != nil {
		return fmt.Errorf("%w: reading header: %w", ErrState, err)
	}
	if string(hdr.Magic[:]) != stateMagic || hdr.Version != stateVersion {
		return fmt.Errorf("%w: not tagnet optimiser state version %d", ErrState, stateVersion)
	}
	if hdr.Kind != b.kind {
		return fmt.Errorf("%w: state of optimiser kind %d, want %d", ErrState, hdr.Kind, b.kind)
	}
	if int(hdr.N) != len(b.slots) {
		return fmt.Errorf("%w: state for %d parameters, want %d", ErrState, hdr.N, len(b.slots))
	}
	type restored struct {
		step    int64
		avg, sq []float32
	}
	out := make([]restored, len(b.slots))
	for i, s := range b.slots {
		var nameLen uint32
		if err := binary.Read(r, le, &nameLen); err != nil {
			return fmt.Errorf("%w: parameter %d: %w", ErrState, i, err)
		}
		if int64(nameLen) > int64(r.Len()) {
			return fmt.Errorf("%w: parameter %d: truncated", ErrState, i)
		}
		name := make([]byte, nameLen)
		if _, err := io.ReadFull(r, name); err != nil {
			return fmt.Errorf("%w: parameter %d: %w", ErrState, i, err)
		}
		if string(name) != s.p.Name {
			return fmt.Errorf("%w: parameter %d is %q, want %q", ErrState, i, name, s.p.Name)
		}
		var size, step uint64
		if err := binary.Read(r, le, &size); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrState, name, err)
		}
		if err := binary.Read(r, le, &step); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrState, name, err)
		}
		if size != uint64(len(s.avg)) {
			return fmt.Errorf("%w: %s has %d values, want %d", ErrState, name, size, len(s.avg))
		}
		out[i].step = int64(step)
		read := func() ([]float32, error) {
			if int64(4*size) > int64(r.Len()) {
				return nil, io.ErrUnexpectedEOF
			}
			raw := make([]byte, 4*size)
			if _, err := io.ReadFull(r, raw); err != nil {
				return nil, err
			}
			m := make([]float32, size)
			for j := range m {
				m[j] = math.Float32frombits(le.Uint32(raw[4*j:]))
			}
			return m, nil
		}
		var err error
		if out[i].avg, err = read(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrState, name, err)
		}
		if s.sq != nil {
			if out[i].sq, err = read(); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrState, name, err)
			}
		}
	}
	if r.Len() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrState, r.Len())
	}
	for i := range b.slots {
		b.slots[i].step = out[i].step
		copy(b.slots[i].avg, out[i].avg)
		copy(b.slots[i].sq, out[i].sq)
	}
	return nil
}

// AdamConfig tunes [NewAdam]. fastai's defaults are Beta2 0.99, Eps 1e-5,
// WD 0.01 ([DefaultAdam]).
type AdamConfig struct {
	// Beta2 is the decay of the second-moment average; 0 means 0.99.
	Beta2 float64
	// Eps is added after the square root of the debiased second moment;
	// 0 means 1e-5.
	Eps float64
	// WD is the decoupled weight decay (p ← p·(1 − lr·WD) before the
	// step), applied to convolution and linear weights only (not to
	// BatchNorm parameters nor biases) unless WDBNBias. 0 means none.
	WD float64
	// WDBNBias decays BatchNorm parameters and biases too (fastai's
	// wd_bn_bias; PyTorch's AdamW applied to all parameters).
	WDBNBias bool
}

// DefaultAdam returns fastai's Adam settings: β2 0.99, eps 1e-5, weight
// decay 0.01.
func DefaultAdam() AdamConfig { return AdamConfig{Beta2: 0.99, Eps: 1e-5, WD: 0.01} }

// Adam is fastai's Adam with decoupled weight decay. β1 is [Hypers].Mom,
// set by the schedule at every step.
type Adam struct {
	base
	cfg  AdamConfig
	jobs []adamJob // reused by Step
}

// NewAdam returns an Adam optimiser over the trainable parameters among
// params (buffers are ignored); its state is allocated here.
func NewAdam(params []*tensor.Param, cfg AdamConfig) *Adam {
	if cfg.Beta2 == 0 {
		cfg.Beta2 = 0.99
	}
	if cfg.Eps == 0 {
		cfg.Eps = 1e-5
	}
	return &Adam{base: newBase(1, params, true), cfg: cfg}
}

// Step applies one Adam update to every parameter that trains:
//
//	p ← p·(1 − lr·wd)                       (weights only)
//	avg ← β1·avg + (1−β1)·g
//	sq ← β2·sq + (1−β2)·g²
//	p ← p − lr/(1−β1^t) · avg / (√(sq/(1−β2^t)) + eps)
//
// with t the parameter's step count (from 1) and β1 = h.Mom.
//
// Steps over more than 2·65536 values are split over up to GOMAXPROCS
// goroutines by element; every element's update is independent, so the
// result is bit-identical to a serial step.
func (a *Adam) Step(h Hypers) error {
	if err := a.check(h); err != nil {
		return err
	}
	b1, b2 := h.Mom, a.cfg.Beta2
	jobs := a.jobs[:0]
	total := 0
	for i := range a.slots {
		s := &a.slots[i]
		if !s.p.Trains() {
			continue
		}
		lr := h.LRs[s.p.Group]
		j := adamJob{s: s, decay: 1}
		if a.cfg.WD != 0 && (a.cfg.WDBNBias || s.p.Kind.Decays()) {
			j.decay = float32(1 - lr*a.cfg.WD)
		}
		s.step++
		t := float64(s.step)
		j.step = float32(lr / (1 - math.Pow(b1, t)))
		j.inv2 = 1 / (1 - math.Pow(b2, t))
		jobs = append(jobs, j)
		total += len(s.p.Value)
	}
	a.jobs = jobs
	k := adamKernel{m1: float32(b1), c1: float32(1 - b1), m2: float32(b2), c2: float32(1 - b2), eps: float32(a.cfg.Eps)}
	// Every element's update is independent of the others, so splitting
	// the elements over goroutines gives bit-identical results.
	workers := min(runtime.GOMAXPROCS(0), max(1, total/adamGrain))
	if workers == 1 {
		k.run(jobs, 0, total)
		return nil
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Go(func() { k.run(jobs, total*w/workers, total*(w+1)/workers) })
	}
	k.run(jobs, 0, total/workers)
	wg.Wait()
	return nil
}

// adamGrain is the least number of parameter values per goroutine of
// [Adam.Step].
const adamGrain = 1 << 16

// adamJob is one parameter tensor's share of an Adam step.
type adamJob struct {
	s           *slot
	decay, step float32
	inv2        float64
}

type adamKernel struct{ m1, c1, m2, c2, eps float32 }

// run updates the elements [lo, hi) of the concatenation of the jobs'
// tensors with blas.AdamStep (native, vectorised).
func (k adamKernel) run(jobs []adamJob, lo, hi int) {
	off := 0
	for _, jb := range jobs {
		n := len(jb.s.p.Value)
		a, b := max(lo, off)-off, min(hi, off+n)-off
		off += n
		if a >= b {
			continue
		}
		c := blas.AdamConsts{M1: k.m1, C1: k.c1, M2: k.m2, C2: k.c2, Eps: k.eps, Decay: jb.decay, Step: jb.step, Inv2: jb.inv2}
		blas.AdamStep(jb.s.p.Value[a:b], jb.s.p.Grad[a:b], jb.s.avg[a:b], jb.s.sq[a:b], &c)
	}
}

// SGDConfig tunes [NewSGD].
type SGDConfig struct {
	// WD is the decoupled weight decay (p ← p·(1 − lr·WD) before the
	// step), applied to convolution and linear weights only unless
	// WDBNBias. 0 means none.
	WD float64
	// WDBNBias decays BatchNorm parameters and biases too.
	WDBNBias bool
}

// SGD is fastai's SGD: with momentum μ = [Hypers].Mom > 0 it keeps
// avg ← μ·avg + g (no dampening) and steps p ← p − lr·avg; with μ = 0 it
// steps p ← p − lr·g.
type SGD struct {
	base
	cfg SGDConfig
}

// NewSGD returns an SGD optimiser over the trainable parameters among
// params.
func NewSGD(params []*tensor.Param, cfg SGDConfig) *SGD {
	return &SGD{base: newBase(2, params, false), cfg: cfg}
}

// Step applies one SGD update to every parameter that trains.
func (o *SGD) Step(h Hypers) error {
	if err := o.check(h); err != nil {
		return err
	}
	mom := float32(h.Mom)
	for i := range o.slots {
		s := &o.slots[i]
		if !s.p.Trains() {
			continue
		}
		lr := h.LRs[s.p.Group]
		v, g := s.p.Value, s.p.Grad[:len(s.p.Value)]
		if o.cfg.WD != 0 && (o.cfg.WDBNBias || s.p.Kind.Decays()) {
			decay := float32(1 - lr*o.cfg.WD)
			for j := range v {
				v[j] *= decay
			}
		}
		s.step++
		flr := float32(lr)
		if mom == 0 {
			for j := range v {
				v[j] -= flr * g[j]
			}
			continue
		}
		avg := s.avg[:len(v)]
		for j := range v {
			avg[j] = mom*avg[j] + g[j]
			v[j] -= flr * avg[j]
		}
	}
	return nil
}

var (
	_ Optimizer = (*Adam)(nil)
	_ Optimizer = (*SGD)(nil)
)
