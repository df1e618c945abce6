package blas

import (
	"fmt"
	"math"
)

// AdamConsts are the constants of one [AdamStep] call: M1 = β1 and
// C1 = 1 − β1, M2 = β2 and C2 = 1 − β2, Eps, Decay (1 − lr·wd, or 1 for
// none), Step = lr/(1 − β1ᵗ) and Inv2 = 1/(1 − β2ᵗ) (Kingma and Ba 2015,
// Algorithm 1, with decoupled weight decay as Loshchilov and Hutter 2019).
type AdamConsts struct {
	M1, C1, M2, C2, Eps, Decay, Step float32
	Inv2                             float64
}

// AdamStep applies one Adam update to the parameter values v with
// gradient g and moment estimates avg and sq (all of one length), element
// by element:
//
//	v ← v·Decay                      (when Decay != 1)
//	avg ← M1·avg + C1·g
//	sq ← M2·sq + (C2·g)·g
//	v ← v − Step·avg / (float32(√(sq·Inv2)) + Eps)   (the root in float64)
//
// In C (vectorised for the CPU it runs on); the pure-Go twin gives the
// same bits (TestAdamStep).
func AdamStep(v, g, avg, sq []float32, k *AdamConsts) {
	if len(g) != len(v) || len(avg) != len(v) || len(sq) != len(v) {
		panic(fmt.Sprintf("blas: AdamStep on %d values with %d, %d, %d", len(v), len(g), len(avg), len(sq)))
	}
	if len(v) == 0 {
		return
	}
	adamStep(v, g, avg, sq, k)
}

// refAdamStep is the pure-Go twin of the native AdamStep.
func refAdamStep(v, g, avg, sq []float32, k *AdamConsts) {
	g, avg, sq = g[:len(v)], avg[:len(v)], sq[:len(v)]
	if k.Decay != 1 {
		for j := range v {
			v[j] *= k.Decay
		}
	}
	for j := range v {
		gj := g[j]
		m := float32(k.M1*avg[j]) + float32(k.C1*gj)
		q := float32(k.M2*sq[j]) + float32(float32(k.C2*gj)*gj)
		avg[j], sq[j] = m, q
		v[j] -= float32(k.Step*m) / (float32(math.Sqrt(float64(q)*k.Inv2)) + k.Eps)
	}
}
