package blas

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamStep holds the native Adam update to its pure-Go twin bit for
// bit, with and without weight decay, over lengths around the vector
// widths, and the twin to float64 arithmetic.
func TestAdamStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, n := range bnLengths {
		for _, decay := range []float32{1, 0.999} {
			k := &AdamConsts{M1: 0.9, C1: 0.1, M2: 0.99, C2: 0.01, Eps: 1e-5, Decay: decay, Step: 1e-3 / (1 - 0.9*0.9), Inv2: 1 / (1 - 0.99*0.99)}
			v, g := bnSlice(rng, n, false), bnSlice(rng, n, false)
			avg, sq := bnSlice(rng, n, false), bnSlice(rng, n, true)
			v2, avg2, sq2 := append([]float32(nil), v...), append([]float32(nil), avg...), append([]float32(nil), sq...)
			v0, avg0, sq0 := append([]float32(nil), v...), append([]float32(nil), avg...), append([]float32(nil), sq...)
			AdamStep(v, g, avg, sq, k)
			refAdamStep(v2, g, avg2, sq2, k)
			same(t, "v", v, v2)
			same(t, "avg", avg, avg2)
			same(t, "sq", sq, sq2)
			for i := range v0 {
				p := float64(v0[i]) * float64(decay)
				m := 0.9*float64(avg0[i]) + 0.1*float64(g[i])
				q := 0.99*float64(sq0[i]) + 0.01*float64(g[i])*float64(g[i])
				p -= float64(k.Step) * m / (math.Sqrt(q*k.Inv2) + 1e-5)
				if math.Abs(float64(v2[i])-p) > 1e-6*(1+math.Abs(p)) {
					t.Fatalf("n %d: refAdamStep v[%d] = %g, want %g", n, i, v2[i], p)
				}
			}
		}
	}
}

// BenchmarkAdamStep runs the Adam update over 1 Mi values, native and
// pure-Go twin.
//
//	go test ./trainer/blas -run '^$' -bench AdamStep -count 5
func BenchmarkAdamStep(b *testing.B) {
	const n = 1 << 20
	rng := rand.New(rand.NewPCG(17, 18))
	v, g, avg, sq := bnSlice(rng, n, false), bnSlice(rng, n, false), bnSlice(rng, n, false), bnSlice(rng, n, true)
	k := &AdamConsts{M1: 0.9, C1: 0.1, M2: 0.99, C2: 0.01, Eps: 1e-5, Decay: 0.9999, Step: 1e-3, Inv2: 1.5}
	for _, f := range []struct {
		name string
		fn   func(v, g, avg, sq []float32, k *AdamConsts)
	}{{"native", AdamStep}, {"go", refAdamStep}} {
		b.Run(f.name, func(b *testing.B) {
			b.SetBytes(7 * 4 * n)
			for b.Loop() {
				f.fn(v, g, avg, sq, k)
			}
		})
	}
}
