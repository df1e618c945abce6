package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// testGemm is the conformance suite every Gemm implementation must pass
// (gonum's testblas pattern): random shapes, all transpositions, leading
// dimensions wider than the matrices, alpha and beta including 0, against a
// float64 triple loop.
func testGemm(t *testing.T, gemm Gemm) { testGemmPrep(t, gemm, nil) }

// testGemmPrep is testGemm with every operand value passed through prep
// first (nil: unchanged), e.g. rounded to bf16.
func testGemmPrep(t *testing.T, gemm Gemm, prep func(float32) float32) {
	seed := uint64(20240611)
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, tc := range []struct{ m, n, k int }{
		{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 130, 27}, {0, 4, 3}, {4, 0, 3}, {5, 6, 0},
	} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {-2, 0.25}, {0, 1}} {
					alpha, beta := ab[0], ab[1]
					name := fmt.Sprintf("m%d_n%d_k%d_ta%v_tb%v_a%g_b%g", tc.m, tc.n, tc.k, ta, tb, alpha, beta)
					ar, ac := tc.m, tc.k
					if ta {
						ar, ac = ac, ar
					}
					br, bc := tc.k, tc.n
					if tb {
						br, bc = bc, br
					}
					lda, ldb, ldc := ac+2, bc+1, tc.n+3
					a := randSlice(rng, ar*lda)
					b := randSlice(rng, br*ldb)
					c := randSlice(rng, tc.m*ldc)
					if prep != nil {
						for i := range a {
							a[i] = prep(a[i])
						}
						for i := range b {
							b[i] = prep(b[i])
						}
					}
					if beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN()) // must not propagate
						}
					}
					want := make([]float64, len(c))
					bound := make([]float64, len(c))
					for i := 0; i < tc.m; i++ {
						for j := 0; j < tc.n; j++ {
							var s, sa float64
							for p := 0; p < tc.k; p++ {
								ai, bi := i*lda+p, p*ldb+j
								if ta {
									ai = p*lda + i
								}
								if tb {
									bi = j*ldb + p
								}
								x, y := float64(a[ai]), float64(b[bi])
								s += x * y
								sa += math.Abs(x * y)
							}
							v := float64(alpha) * s
							if beta != 0 {
								v += float64(beta) * float64(c[i*ldc+j])
							}
							want[i*ldc+j] = v
							bound[i*ldc+j] = math.Abs(float64(alpha)) * sa
							if beta != 0 {
								bound[i*ldc+j] += math.Abs(float64(beta) * float64(c[i*ldc+j]))
							}
						}
					}
					orig := append([]float32(nil), c...)
					gemm(ta, tb, tc.m, tc.n, tc.k, alpha, a, lda, b, ldb, beta, c, ldc)
					for i := range c {
						row, col := i/ldc, i%ldc
						if row >= tc.m || col >= tc.n {
							if !(math.IsNaN(float64(orig[i])) && math.IsNaN(float64(c[i]))) && c[i] != orig[i] {
								t.Fatalf("%s: wrote outside C at %d", name, i)
							}
							continue
						}
						if d := math.Abs(float64(c[i]) - want[i]); !(d <= 1e-6*bound[i]+1e-30) {
							t.Fatalf("%s: c[%d,%d] = %g, want %g (bound %g)", name, row, col, c[i], want[i], bound[i])
						}
					}
				}
			}
		}
	}
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

func TestRefSgemm(t *testing.T) { testGemm(t, RefSgemm) }

func TestSgemm(t *testing.T) {
	t.Logf("native %v: %s", Native, Config())
	testGemm(t, Sgemm)
}

func TestSgemmPanicsOnShortSlice(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a short slice")
		}
	}()
	Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
}

// TestSgemmConcurrent calls single-threaded Sgemm from several goroutines at
// once (the engine's pattern) and checks every result against a serial run.
func TestSgemmConcurrent(t *testing.T) {
	prev := Threads()
	SetThreads(1)
	defer SetThreads(prev)
	rng := rand.New(rand.NewPCG(7, 7))
	const m, n, k = 48, 300, 200
	a, b := randSlice(rng, m*k), randSlice(rng, k*n)
	want := make([]float32, m*n)
	Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for g := range errs {
		wg.Go(func() {
			c := make([]float32, m*n)
			for range 20 {
				Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				for i := range c {
					if c[i] != want[i] {
						errs[g] = fmt.Errorf("goroutine %d: c[%d] = %g, want %g", g, i, c[i], want[i])
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

// Conv-shaped products of ResNet-18 at 128 px (batch chunk of 8 images):
// layer1's 3×3 conv forward (M=64, K=576, N=8·32·32) and layer3's
// (M=256, K=2304, N=8·8·8·… ); the same shapes the engine calls.
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"layer1_fwd_64x8192x576", 64, 8192, 576},
	{"layer3_fwd_256x2048x2304", 256, 2048, 2304},
}

// BenchmarkSgemm measures cblas_sgemm GFLOP/s on conv-shaped products with 1
// OpenBLAS thread, with all cores inside OpenBLAS ("blas-threads"), and with
// one single-threaded call per core at once ("goroutines", the engine's
// scheme). Pure Go reference for scale: BenchmarkRefSgemm.
//
//	go test ./trainer/blas -run '^$' -bench Sgemm -count 5
func BenchmarkSgemm(b *testing.B) {
	prev := Threads()
	defer SetThreads(prev)
	cores := runtime.GOMAXPROCS(0)
	for _, s := range benchShapes {
		rng := rand.New(rand.NewPCG(1, 2))
		a, bb := randSlice(rng, s.m*s.k), randSlice(rng, s.k*s.n)
		flop := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		b.Run(s.name+"/1-thread", func(b *testing.B) {
			SetThreads(1)
			c := make([]float32, s.m*s.n)
			b.ReportAllocs()
			for b.Loop() {
				Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
			}
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("%s/blas-threads-%d", s.name, cores), func(b *testing.B) {
			SetThreads(cores)
			c := make([]float32, s.m*s.n)
			b.ReportAllocs()
			for b.Loop() {
				Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
			}
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(fmt.Sprintf("%s/goroutines-%d", s.name, cores), func(b *testing.B) {
			SetThreads(1)
			cs := make([][]float32, cores)
			for i := range cs {
				cs[i] = make([]float32, s.m*s.n)
			}
			b.ReportAllocs()
			for b.Loop() {
				var wg sync.WaitGroup
				for i := range cores {
					wg.Go(func() { Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, cs[i], s.n) })
				}
				wg.Wait()
			}
			b.ReportMetric(float64(cores)*flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkRefSgemm is the pure-Go reference on a small product, for scale.
//
//	go test ./trainer/blas -run '^$' -bench RefSgemm -count 5
func BenchmarkRefSgemm(b *testing.B) {
	const m, n, k = 64, 256, 144
	rng := rand.New(rand.NewPCG(1, 2))
	a, bb, c := randSlice(rng, m*k), randSlice(rng, k*n), make([]float32, m*n)
	b.ReportAllocs()
	for b.Loop() {
		RefSgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	}
	b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
