package blas

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bnLengths cover empty tails, one lane group, block edges and several
// blocks.
var bnLengths = []int{1, 2, 15, 16, 17, 255, 256, 257, 1000, 4099}

// bnSlice returns n values from rng: normal with an offset (so the shift
// by x[0] matters), or non-negative ReLU outputs with zeros.
func bnSlice(rng *rand.Rand, n int, relu bool) []float32 {
	s := make([]float32, n)
	for i := range s {
		v := float32(rng.NormFloat64()*2 + 3)
		if relu {
			v = max(0, float32(rng.NormFloat64()))
		}
		s[i] = v
	}
	return s
}

func same(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s[%d] = %g, want %g (bit for bit)", what, i, got[i], want[i])
		}
	}
}

// TestBatchNormKernels holds the native BatchNorm kernels to their pure-Go
// twins bit for bit, over lengths and every option, and the twins to
// float64 arithmetic.
func TestBatchNormKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, n := range bnLengths {
		x := bnSlice(rng, n, false)
		m, v := BNStats(x)
		rm, rv := refBNStats(x)
		if m != rm || v != rv {
			t.Fatalf("n %d: BNStats = %v, %v; twin %v, %v", n, m, v, rm, rv)
		}
		var sm, sq float64
		for _, e := range x {
			sm += float64(e)
		}
		sm /= float64(n)
		for _, e := range x {
			sq += (float64(e) - sm) * (float64(e) - sm)
		}
		if math.Abs(m-sm) > 1e-12*math.Abs(sm) || math.Abs(v-sq/float64(n)) > 1e-10*(sq/float64(n))+1e-15 {
			t.Fatalf("n %d: BNStats = %v, %v; float64 two-pass %v, %v", n, m, v, sm, sq/float64(n))
		}

		res := bnSlice(rng, n, false)
		for _, relu := range []bool{false, true} {
			for _, r := range [][]float32{nil, res} {
				got, want := make([]float32, n), make([]float32, n)
				BNApply(got, x, r, 0.7, -2.1, relu)
				refBNApply(want, x, r, 0.7, -2.1, relu)
				same(t, "BNApply", got, want)
				for i := range want {
					w := float64(x[i])*0.7 - 2.1
					if r != nil {
						w += float64(r[i])
					}
					if relu {
						w = max(0, w)
					}
					if math.Abs(float64(want[i])-w) > 1e-5*(1+math.Abs(w)) {
						t.Fatalf("n %d: refBNApply[%d] = %g, want %g", n, i, want[i], w)
					}
				}
			}
		}

		dy, y := bnSlice(rng, n, false), bnSlice(rng, n, true)
		mean := float32(m)
		for _, relu := range []bool{false, true} {
			for _, withGS := range []bool{false, true} {
				for _, withRes := range []bool{false, true} {
					for _, resAdd := range []bool{false, true} {
						var gs, gs2, dr, dr2 []float32
						if withGS {
							gs, gs2 = make([]float32, n), make([]float32, n)
						}
						if withRes {
							dr, dr2 = bnSlice(rng, n, false), nil
							dr2 = append(dr2, dr...)
						}
						sg, sgx := BNGradSums(x, dy, y, gs, dr, mean, relu, resAdd)
						rsg, rsgx := refBNGradSums(x, dy, y, gs2, dr2, mean, relu, resAdd)
						if sg != rsg || sgx != rsgx {
							t.Fatalf("n %d relu %v gs %v res %v add %v: BNGradSums = %v, %v; twin %v, %v", n, relu, withGS, withRes, resAdd, sg, sgx, rsg, rsgx)
						}
						same(t, "gs", gs, gs2)
						same(t, "dres", dr, dr2)
						var fsg, fsgx float64
						for i := range x {
							g := float64(dy[i])
							if relu && y[i] == 0 {
								g = 0
							}
							fsg += g
							fsgx += g * float64(x[i]-mean)
						}
						if math.Abs(rsg-fsg) > 1e-4*math.Sqrt(float64(n)) || math.Abs(rsgx-fsgx) > 1e-4*math.Sqrt(float64(n))*(1+math.Abs(fsgx)) {
							t.Fatalf("n %d: refBNGradSums = %v, %v; float64 %v, %v", n, rsg, rsgx, fsg, fsgx)
						}
					}
				}
				for _, add := range []bool{false, true} {
					dx := bnSlice(rng, n, false)
					dx2 := append([]float32(nil), dx...)
					BNGradInput(dx, x, dy, y, mean, 0.9, -0.3, 0.05, relu, add)
					refBNGradInput(dx2, x, dy, y, mean, 0.9, -0.3, 0.05, relu, add)
					same(t, "BNGradInput", dx, dx2)
				}
			}
		}
	}
}

// BenchmarkBatchNorm runs each BatchNorm kernel, native and pure-Go twin,
// over one channel of ResNet-18's layer1 at 128 px, batch 64 (64·32·32
// values), in GB/s of values read and written.
//
//	go test ./trainer/blas -run '^$' -bench BatchNorm -count 5
func BenchmarkBatchNorm(b *testing.B) {
	const n = 64 * 32 * 32
	rng := rand.New(rand.NewPCG(13, 14))
	x, dy, y, res := bnSlice(rng, n, false), bnSlice(rng, n, false), bnSlice(rng, n, true), bnSlice(rng, n, false)
	out, dx := make([]float32, n), make([]float32, n)
	type kernels struct {
		stats func([]float32) (float64, float64)
		apply func(y, x, res []float32, a, b float32, relu bool)
		sums  func(x, dy, y, gs, dres []float32, mean float32, relu, resAdd bool) (float64, float64)
		input func(dx, x, dy, y []float32, mean, ka, kb, kc float32, relu, add bool)
	}
	for _, k := range []struct {
		name string
		k    kernels
	}{
		{"native", kernels{BNStats, BNApply, BNGradSums, BNGradInput}},
		{"go", kernels{refBNStats, refBNApply, refBNGradSums, refBNGradInput}},
	} {
		b.Run("stats/"+k.name, func(b *testing.B) {
			b.SetBytes(4 * n)
			for b.Loop() {
				k.k.stats(x)
			}
		})
		b.Run("apply-add-relu/"+k.name, func(b *testing.B) {
			b.SetBytes(3 * 4 * n)
			for b.Loop() {
				k.k.apply(out, x, res, 0.5, 0.1, true)
			}
		})
		b.Run("gradsums-relu/"+k.name, func(b *testing.B) {
			b.SetBytes(4 * 4 * n)
			for b.Loop() {
				k.k.sums(x, dy, y, dx, nil, 0.1, true, false)
			}
		})
		b.Run("gradinput/"+k.name, func(b *testing.B) {
			b.SetBytes(3 * 4 * n)
			for b.Loop() {
				k.k.input(dx, x, dy, y, 0.1, 0.5, 0.2, 0.1, true, false)
			}
		})
	}
}
