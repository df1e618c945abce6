package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestMatMulFP32 runs the Gemm conformance suite on oneDNN's fp32 matmul.
func TestMatMulFP32(t *testing.T) {
	t.Logf("%s", DNNLVersion())
	testGemm(t, func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		MatMul(FP32, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
}

// TestRefMatMulBF16 runs the conformance suite on the reference bf16
// product with operands already representable in bf16, where rounding
// changes nothing and the float64 bound applies unchanged.
func TestRefMatMulBF16(t *testing.T) {
	testGemmBF16(t, func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		RefMatMul(BF16, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
}

// TestMatMulBF16 runs the same suite on oneDNN's bf16 matmul (needs a CPU
// with AVX512_BF16 or AMX), then compares it with the reference on
// arbitrary float32 operands: both round the operands the same way, so
// they differ only by float32 accumulation order.
func TestMatMulBF16(t *testing.T) {
	if !BF16Supported() {
		t.Skipf("no native bf16 on this CPU (%s)", DNNLVersion())
	}
	testGemmBF16(t, func(ta, tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		MatMul(BF16, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		ta, tb  bool
		m, n, k int
	}{{false, false, 64, 300, 577}, {false, true, 33, 70, 1001}, {true, false, 128, 257, 64}, {true, true, 5, 9, 40}} {
		ar, ac, br, bc := tc.m, tc.k, tc.k, tc.n
		if tc.ta {
			ar, ac = ac, ar
		}
		if tc.tb {
			br, bc = bc, br
		}
		a, b := randSlice(rng, ar*ac), randSlice(rng, br*bc)
		got, want := make([]float32, tc.m*tc.n), make([]float32, tc.m*tc.n)
		MatMul(BF16, tc.ta, tc.tb, tc.m, tc.n, tc.k, 1, a, ac, b, bc, 0, got, tc.n)
		RefMatMul(BF16, tc.ta, tc.tb, tc.m, tc.n, tc.k, 1, a, ac, b, bc, 0, want, tc.n)
		// Rounded operands are exact in float32; only the float32 sums
		// differ from the float64 ones: k·2⁻²⁴ of Σ|a·b| ≈ √k scale.
		tol := float64(tc.k) * 0x1p-23 * math.Sqrt(float64(tc.k)) * 4
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); d > tol {
				t.Fatalf("%+v: c[%d] = %g, reference %g (|d| %g > %g)", tc, i, got[i], want[i], d, tol)
			}
		}
		// And rounding matters: fp32 products differ from bf16 ones by
		// about 2⁻⁹ relative per operand, far beyond the tolerance above.
		f := make([]float32, tc.m*tc.n)
		Sgemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 1, a, ac, b, bc, 0, f, tc.n)
		var diff float64
		for i := range f {
			diff = math.Max(diff, math.Abs(float64(f[i]-got[i])))
		}
		if diff <= tol {
			t.Fatalf("%+v: bf16 product equals the fp32 one (max |d| %g): operands were not rounded", tc, diff)
		}
	}
}

// testGemmBF16 is testGemm with every random operand rounded to bf16.
func testGemmBF16(t *testing.T, gemm Gemm) { testGemmPrep(t, gemm, RoundBF16) }

func TestRoundBF16(t *testing.T) {
	for _, tc := range []struct{ in, want uint32 }{
		{0x3f800000, 0x3f800000}, // 1
		{0x3f808000, 0x3f800000}, // tie, even stays
		{0x3f818000, 0x3f820000}, // tie, odd rounds up
		{0x3f808001, 0x3f810000}, // above the tie
		{0x7f7fffff, 0x7f800000}, // max float32 overflows to +Inf, as the hardware
		{0xff800000, 0xff800000}, // -Inf
	} {
		if got := math.Float32bits(RoundBF16(math.Float32frombits(tc.in))); got != tc.want {
			t.Errorf("RoundBF16(%#08x) = %#08x, want %#08x", tc.in, got, tc.want)
		}
	}
	if v := RoundBF16(float32(math.NaN())); v == v {
		t.Error("RoundBF16(NaN) is not NaN")
	}
}

// TestBF16Disabled: with bf16 forced off, BF16Supported is false and a
// bf16 product refuses to run, on any CPU.
func TestBF16Disabled(t *testing.T) {
	DisableBF16(true)
	defer DisableBF16(false)
	if BF16Supported() {
		t.Fatal("BF16Supported is true with bf16 disabled")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a bf16 product with bf16 disabled")
		}
	}()
	c := make([]float32, 4)
	MatMul(BF16, false, false, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, c, 2)
}

// TestMatMulConcurrent calls MatMul from several goroutines at once with
// shared primitives and checks every result against a serial run.
func TestMatMulConcurrent(t *testing.T) {
	precs := []Precision{FP32}
	if BF16Supported() {
		precs = append(precs, BF16)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const m, n, k = 48, 300, 200
	a, b := randSlice(rng, m*k), randSlice(rng, k*n)
	for _, p := range precs {
		want := make([]float32, m*n)
		MatMul(p, false, false, m, n, k, 1, a, k, b, n, 0, want, n)
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for g := range errs {
			wg.Go(func() {
				c := make([]float32, m*n)
				for range 20 {
					MatMul(p, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
					for i := range c {
						if c[i] != want[i] {
							errs[g] = fmt.Errorf("%v goroutine %d: c[%d] = %g, want %g", p, g, i, c[i], want[i])
							return
						}
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// BenchmarkMatMul compares, on the conv-shaped products of BenchmarkSgemm
// with one thread, OpenBLAS's sgemm with oneDNN's fp32 and bf16 matmul
// (bf16 includes rounding the float32 operands), in GFLOP/s.
//
//	go test ./trainer/blas -run '^$' -bench MatMul -count 5
func BenchmarkMatMul(b *testing.B) {
	prev := Threads()
	defer SetThreads(prev)
	SetThreads(1)
	for _, s := range benchShapes {
		rng := rand.New(rand.NewPCG(1, 2))
		a, bb := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n)
		flop := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		for _, impl := range []string{"openblas-fp32", "onednn-fp32", "onednn-bf16"} {
			if impl == "onednn-bf16" && !BF16Supported() {
				continue
			}
			b.Run(s.name+"/"+impl, func(b *testing.B) {
				c := make([]float32, s.m*s.n)
				for b.Loop() {
					switch impl {
					case "openblas-fp32":
						Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
					case "onednn-fp32":
						MatMul(FP32, false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
					default:
						MatMul(BF16, false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
					}
				}
				b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// im2colImages is the number of images of an im2colCase.
const im2colImages = 4

// im2colCase is a random input of im2colImages square images of cin
// channels and side hw, in the CNHW layout (nchw false) or NCHW, for a
// k×k convolution with stride s and padding p: its geometry, the values
// and the channel and image strides Im2col takes.
func im2colCase(rng *rand.Rand, cin, hw, k, s, p int, nchw bool) (g *Geom, x []float32, cS, nS int) {
	ho := (hw+2*p-k)/s + 1
	g = &Geom{Cin: cin, H: hw, W: hw, K: k, S: s, P: p, Ho: ho, Wo: ho}
	x = randSlice(rng, cin*im2colImages*hw*hw)
	plane := hw * hw
	cS, nS = im2colImages*plane, plane
	if nchw {
		cS, nS = plane, cin*plane
	}
	return g, x, cS, nS
}

// TestIm2colBF16 checks the native im2col, to bf16 and to fp32, against the
// pure-Go one, bit for bit, over strides, paddings, kernel sizes, both input layouts
// and image ranges.
func TestIm2colBF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ cin, hw, k, s, p int }{
		{3, 13, 7, 2, 3}, {4, 6, 3, 1, 1}, {2, 5, 3, 1, 0}, {3, 7, 3, 2, 1}, {5, 4, 1, 1, 0}, {4, 7, 1, 2, 0}, {2, 4, 3, 1, 2}, {3, 33, 3, 1, 1},
		{1, 530, 3, 2, 1}, // strided rows longer than the C gather's 256-value buffer
		// "same" stride-1 windows (one run per image): 5×5, and windows
		// wider than the map (rows wholly in the padding)
		{2, 9, 5, 1, 2}, {3, 1, 3, 1, 1}, {2, 2, 5, 1, 2}, {2, 1, 5, 1, 2}, {2, 3, 7, 1, 3},
	} {
		for _, nchw := range []bool{false, true} {
			g, x, cS, nS := im2colCase(rng, tc.cin, tc.hw, tc.k, tc.s, tc.p, nchw)
			ho := g.Ho
			n0, n1 := 1, 3
			size := tc.cin * tc.k * tc.k * (n1 - n0) * ho * ho
			got, want := make([]uint16, size), make([]uint16, size)
			for i := range got {
				got[i] = 0xffff // every element must be written
			}
			Im2colBF16(got, x, g, cS, nS, n0, n1)
			refIm2colBF16(want, x, g, cS, nS, n0, n1)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%+v nchw %v: col[%d] = %#04x, want %#04x", tc, nchw, i, got[i], want[i])
				}
			}
			gf, wf := make([]float32, size), make([]float32, size)
			for i := range gf {
				gf[i] = float32(math.NaN())
			}
			Im2col(gf, x, g, cS, nS, n0, n1)
			refIm2col(wf, x, g, cS, nS, n0, n1)
			for i := range gf {
				if math.Float32bits(gf[i]) != math.Float32bits(wf[i]) {
					t.Fatalf("%+v nchw %v: fp32 col[%d] = %g, want %g", tc, nchw, i, gf[i], wf[i])
				}
			}
		}
	}
}

// TestMaxPool holds the native max pooling to its pure-Go twin, values and
// indices, over windows, strides, paddings and plane ranges, on data with
// ties (ReLU zeros).
func TestMaxPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, tc := range []struct{ hw, k, s, p int }{{9, 3, 2, 1}, {8, 3, 2, 1}, {7, 2, 2, 0}, {5, 3, 1, 1}, {6, 1, 1, 0}, {4, 3, 2, 1}} {
		ho := (tc.hw+2*tc.p-tc.k)/tc.s + 1
		g := &Geom{H: tc.hw, W: tc.hw, K: tc.k, S: tc.s, P: tc.p, Ho: ho, Wo: ho}
		const planes = 5
		x := randSlice(rng, planes*tc.hw*tc.hw)
		for i := range x {
			x[i] = max(0, x[i])
		}
		y, y2 := make([]float32, planes*ho*ho), make([]float32, planes*ho*ho)
		a, a2 := make([]int32, len(y)), make([]int32, len(y))
		MaxPool(y, a, x, g, 1, 4)
		refMaxPool(y2, a2, x, g, 1, 4)
		for i := range y {
			if y[i] != y2[i] || a[i] != a2[i] {
				t.Fatalf("%+v: y[%d] = %g at %d, twin %g at %d", tc, i, y[i], a[i], y2[i], a2[i])
			}
		}
	}
}

// TestFlipKernel holds the native kernel flip to its pure-Go twin and to
// the definition, over kernel sizes and row ranges.
func TestFlipKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct{ cout, cin, k, ci0, ci1 int }{{3, 4, 3, 0, 4}, {5, 2, 7, 1, 2}, {4, 6, 1, 2, 5}, {2, 3, 3, 1, 1}} {
		kk := tc.k * tc.k
		w := randSlice(rng, tc.cout*tc.cin*kk)
		got, want := make([]float32, len(w)), make([]float32, len(w))
		FlipKernel(got, w, tc.cout, tc.cin, kk, tc.ci0, tc.ci1)
		refFlipKernel(want, w, tc.cout, tc.cin, kk, tc.ci0, tc.ci1)
		for ci := 0; ci < tc.cin; ci++ {
			for co := 0; co < tc.cout; co++ {
				for kh := 0; kh < tc.k; kh++ {
					for kw := 0; kw < tc.k; kw++ {
						i := ((ci*tc.cout+co)*tc.k+kh)*tc.k + kw
						def := float32(0)
						if ci >= tc.ci0 && ci < tc.ci1 {
							def = w[((co*tc.cin+ci)*tc.k+tc.k-1-kh)*tc.k+tc.k-1-kw]
						}
						if got[i] != want[i] || want[i] != def {
							t.Fatalf("%+v: flipped[%d] = %g, twin %g, want %g", tc, i, got[i], want[i], def)
						}
					}
				}
			}
		}
	}
}

// TestMatMulBF16Operands runs MatMulBF16 with each operand in float32 or
// already in bf16 against MatMul with BF16 on the float32 values: the same
// products, bit for bit.
func TestMatMulBF16Operands(t *testing.T) {
	if !BF16Supported() {
		t.Skipf("no native bf16 on this CPU (%s)", DNNLVersion())
	}
	rng := rand.New(rand.NewPCG(8, 9))
	for _, tc := range []struct {
		ta, tb  bool
		m, n, k int
		beta    float32
	}{{false, false, 64, 300, 577, 0}, {false, true, 33, 70, 1001, 1}, {true, false, 7, 5, 3, 1}, {true, true, 16, 9, 40, 0}} {
		ar, ac, br, bc := tc.m, tc.k, tc.k, tc.n
		if tc.ta {
			ar, ac = ac, ar
		}
		if tc.tb {
			br, bc = bc, br
		}
		a, b := randSlice(rng, ar*ac), randSlice(rng, br*bc)
		a16, b16 := make([]uint16, len(a)), make([]uint16, len(b))
		ToBF16(a16, a)
		ToBF16(b16, b)
		for i, v := range b {
			if b16[i] != BF16Bits(v) {
				t.Fatalf("ToBF16(%g) = %#04x, want %#04x", v, b16[i], BF16Bits(v))
			}
		}
		c0 := randSlice(rng, tc.m*tc.n)
		want := append([]float32(nil), c0...)
		MatMul(BF16, tc.ta, tc.tb, tc.m, tc.n, tc.k, 1, a, ac, b, bc, tc.beta, want, tc.n)
		for _, ops := range [][2]Operand{{F32(a), F32(b)}, {F32(a), B16(b16)}, {B16(a16), F32(b)}, {B16(a16), B16(b16)}} {
			got := append([]float32(nil), c0...)
			MatMulBF16(tc.ta, tc.tb, tc.m, tc.n, tc.k, 1, ops[0], ac, ops[1], bc, tc.beta, got, tc.n)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%+v a16 %v b16 %v: c[%d] = %g, want %g", tc, ops[0].B16 != nil, ops[1].B16 != nil, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkIm2col measures the native im2col to float32 and to bf16 on
// ResNet-18 shapes at 128 px (a worker's chunk of 4 images): the stem's
// 7×7 stride-2 window over the NCHW image, a 3×3 stride-1 layer at 32×32
// and one at 8×8 (short rows), in GB/s of columns written.
//
//	go test ./trainer/blas -run '^$' -bench Im2col -count 5
func BenchmarkIm2col(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name             string
		cin, hw, k, s, p int
		nchw             bool
	}{
		{"stem7x7s2", 3, 128, 7, 2, 3, true},
		{"3x3s1/32px", 64, 32, 3, 1, 1, false},
		{"3x3s1/8px", 256, 8, 3, 1, 1, false},
	} {
		const n = im2colImages
		g, x, cS, nS := im2colCase(rng, tc.cin, tc.hw, tc.k, tc.s, tc.p, tc.nchw)
		size := tc.cin * tc.k * tc.k * n * g.Ho * g.Wo
		b.Run(tc.name+"/fp32", func(b *testing.B) {
			col := make([]float32, size)
			b.SetBytes(int64(4 * size))
			for b.Loop() {
				Im2col(col, x, g, cS, nS, 0, n)
			}
		})
		b.Run(tc.name+"/bf16", func(b *testing.B) {
			col := make([]uint16, size)
			b.SetBytes(int64(2 * size))
			for b.Loop() {
				Im2colBF16(col, x, g, cS, nS, 0, n)
			}
		})
	}
}
