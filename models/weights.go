package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Tensor is a dense float32 array in row-major order.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor returns a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: slices.Clone(shape), Data: make([]float32, numel(shape))}
}

// Weights maps parameter names ([Param.Name]) to their values.
type Weights map[string]*Tensor

// Check reports whether w holds exactly the parameters of g with the right
// shapes.
func (w Weights) Check(g *Graph) error {
	for _, p := range g.Params {
		t, ok := w[p.Name]
		if !ok {
			return fmt.Errorf("weights: missing parameter %s %v", p.Name, p.Shape)
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return fmt.Errorf("weights: parameter %s has shape %v, want %v", p.Name, t.Shape, p.Shape)
		}
		if len(t.Data) != p.Size() {
			return fmt.Errorf("weights: parameter %s has %d values, want %d", p.Name, len(t.Data), p.Size())
		}
	}
	if len(w) != len(g.Params) {
		for name := range w {
			if _, ok := g.Param(name); !ok {
				return fmt.Errorf("weights: unexpected parameter %s", name)
			}
		}
	}
	return nil
}

// InitOptions tunes [Init].
type InitOptions struct {
	// Seed seeds the generator; the same seed gives the same weights.
	Seed uint64
	// ZeroInitResidual sets the scale of the last BatchNorm of every
	// residual branch to zero, so each block starts as the identity
	// (torchvision's zero_init_residual).
	ZeroInitResidual bool
}

// Init returns freshly initialised weights for g:
//   - convolutions: Kaiming normal, fan_out, ReLU gain (std √(2/(out·k²))),
//     as torchvision's ResNet;
//   - body BatchNorm: weight 1, bias 0, running mean 0, running variance 1;
//   - the linear head's fc: PyTorch's nn.Linear default, U(±1/√in) for
//     weight and bias;
//   - the fastai head: linears Kaiming normal fan_in (std √(2/in)),
//     BatchNorm weight 1 and bias 1e-3, as fastai's vision_learner.
func Init(g *Graph, opt InitOptions) Weights {
	rng := rand.New(rand.NewPCG(opt.Seed, 0x7a676e6574)) // "tagnet"
	w := make(Weights, len(g.Params))
	lastBN := map[string]bool{}
	if opt.ZeroInitResidual {
		for _, l := range g.Layers {
			if l.Op == OpAdd {
				// The residual branch is the Add's first input; its last
				// layer is a BatchNorm.
				lastBN[l.Inputs[0]] = true
			}
		}
	}
	fastaiHead := g.Spec.Head == HeadFastai
	for _, p := range g.Params {
		t := NewTensor(p.Shape...)
		switch p.Kind {
		case ConvWeight:
			fanOut := p.Shape[0] * p.Shape[2] * p.Shape[3]
			fillNormal(rng, t.Data, math.Sqrt(2/float64(fanOut)))
		case LinearWeight:
			fanIn := p.Shape[1]
			if fastaiHead {
				fillNormal(rng, t.Data, math.Sqrt(2/float64(fanIn)))
			} else {
				fillUniform(rng, t.Data, 1/math.Sqrt(float64(fanIn)))
			}
		case Bias:
			fanIn := 0
			for _, q := range g.Params {
				if q.Layer == p.Layer && (q.Kind == LinearWeight || q.Kind == ConvWeight) {
					fanIn = numel(q.Shape[1:])
				}
			}
			fillUniform(rng, t.Data, 1/math.Sqrt(float64(max(fanIn, 1))))
		case BNWeight:
			v := float32(1)
			if lastBN[p.Layer] {
				v = 0
			}
			fill(t.Data, v)
		case BNBias:
			if p.Group == 2 && fastaiHead {
				fill(t.Data, 1e-3)
			}
		case BNRunningVar:
			fill(t.Data, 1)
		}
		w[p.Name] = t
	}
	return w
}

func fill(d []float32, v float32) {
	for i := range d {
		d[i] = v
	}
}

func fillNormal(rng *rand.Rand, d []float32, std float64) {
	for i := range d {
		d[i] = float32(rng.NormFloat64() * std)
	}
}

func fillUniform(rng *rand.Rand, d []float32, bound float64) {
	for i := range d {
		d[i] = float32((2*rng.Float64() - 1) * bound)
	}
}
