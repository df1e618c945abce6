//go:build cgo

package blas

/*
#cgo LDFLAGS: -ldnnl -lgomp
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>

extern void omp_set_num_threads(int);

static dnnl_engine_t tg_engine;

static int tg_init(void) {
	return dnnl_engine_create(&tg_engine, dnnl_cpu, 0);
}

static int tg_isa(void) { return (int)dnnl_get_effective_cpu_isa(); }

static const char *tg_version(void) {
	static char buf[64];
	const dnnl_version_t *v = dnnl_version();
	snprintf(buf, sizeof buf, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
	return buf;
}

// A cached matmul: C[m,n] (f32, leading dimension ldc) = alpha·A·B + beta·C
// with A [m,k] and B [k,n] of type dt (f32 or bf16), each dense with the
// strides given at creation (a transposed operand is a column-major one).
typedef struct {
	dnnl_primitive_t prim;
	dnnl_memory_desc_t a, b, c, scratch;
	int has_scratch;
} tg_mm;

static int tg_mm_create(tg_mm *mm, int bf16, int ta, int tb, int64_t m, int64_t n, int64_t k,
		int64_t lda, int64_t ldb, int64_t ldc, float alpha, float beta) {
	dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
	dnnl_dims_t ad = {m, k}, bd = {k, n}, cd = {m, n};
	dnnl_dims_t as = {lda, 1}, bs = {ldb, 1}, cs = {ldc, 1};
	if (ta) { as[0] = 1; as[1] = lda; }
	if (tb) { bs[0] = 1; bs[1] = ldb; }
	int st;
	if ((st = dnnl_memory_desc_init_by_strides(&mm->a, 2, ad, dt, as))) return st;
	if ((st = dnnl_memory_desc_init_by_strides(&mm->b, 2, bd, dt, bs))) return st;
	if ((st = dnnl_memory_desc_init_by_strides(&mm->c, 2, cd, dnnl_f32, cs))) return st;
	dnnl_matmul_desc_t md;
	if ((st = dnnl_matmul_desc_init(&md, &mm->a, &mm->b, NULL, &mm->c))) return st;
	dnnl_primitive_attr_t attr;
	if ((st = dnnl_primitive_attr_create(&attr))) return st;
	dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (alpha != 1) dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha);
	dnnl_post_ops_t po = NULL;
	if (beta != 0) {
		dnnl_post_ops_create(&po);
		dnnl_post_ops_append_sum(po, beta);
		dnnl_primitive_attr_set_post_ops(attr, po);
	}
	omp_set_num_threads(1);
	dnnl_primitive_desc_t pd;
	st = dnnl_primitive_desc_create(&pd, &md, attr, tg_engine, NULL);
	dnnl_primitive_attr_destroy(attr);
	if (po) dnnl_post_ops_destroy(po);
	if (st) return st;
	const dnnl_memory_desc_t *sm = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	mm->has_scratch = sm && dnnl_memory_desc_get_size(sm) > 0;
	if (mm->has_scratch) mm->scratch = *sm;
	st = dnnl_primitive_create(&mm->prim, pd);
	dnnl_primitive_desc_destroy(pd);
	return st;
}

// Per-OS-thread scratch: the bf16 copies of A and B and the primitive's
// scratchpad. A cgo call runs on one OS thread from start to end, so no
// two calls share these.
static __thread void *tg_buf;
static __thread size_t tg_cap;
static __thread dnnl_stream_t tg_stream;

static void *tg_scratch(size_t n) {
	if (n > tg_cap || !tg_buf) {
		free(tg_buf);
		tg_cap = n + n / 4 + 4096;
		tg_buf = aligned_alloc(64, (tg_cap + 63) / 64 * 64);
		if (!tg_buf) tg_cap = 0;
	}
	return tg_buf;
}

static inline uint16_t tg_bf16(float f) {
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
	u += 0x7fffu + ((u >> 16) & 1); // round to nearest even
	return (uint16_t)(u >> 16);
}

// tg_cvt_avx512 rounds n floats to bf16 with AVX512_BF16 (the same
// round-to-nearest-even as tg_bf16), the last 1–15 under a mask: im2col
// rows are often 7–31 values long, and a scalar tail there cost more than
// the vector loop (BenchmarkIm2col).
__attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw")))
static void tg_cvt_avx512(uint16_t *dst, const float *src, int64_t n) {
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		__m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
		_mm512_storeu_si512((void *)(dst + i), (__m512i)v);
	}
	for (; i + 16 <= n; i += 16) {
		__m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
		_mm256_storeu_si256((__m256i *)(dst + i), (__m256i)v);
	}
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);
		__m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i));
		_mm256_mask_storeu_epi16((void *)(dst + i), m, (__m256i)v);
	}
}

static int tg_native_cvt;
static void tg_set_native_cvt(int on) { tg_native_cvt = on; }

// tg_pack converts rows×cols of src (leading dimension ld) into a dense
// bf16 matrix with leading dimension cols.
static void tg_pack(uint16_t *dst, const float *src, int64_t rows, int64_t cols, int64_t ld) {
	for (int64_t r = 0; r < rows; r++) {
		if (tg_native_cvt) {
			tg_cvt_avx512(dst + r * cols, src + r * ld, cols);
		} else {
			for (int64_t j = 0; j < cols; j++) dst[r * cols + j] = tg_bf16(src[r * ld + j]);
		}
	}
}

// tg_cvt_row writes n values of src, rounded to bf16, to dst.
static inline void tg_cvt_row(uint16_t *dst, const float *src, int64_t n) {
	if (tg_native_cvt) {
		tg_cvt_avx512(dst, src, n);
	} else {
		for (int64_t j = 0; j < n; j++) dst[j] = tg_bf16(src[j]);
	}
}

// TG_NO_LIBCALLS keeps GCC from turning short copy and zeroing loops into
// memcpy and memset calls: im2col rows at small maps are 2–16 values, and
// a library call per row (and per 1-value padding edge) cost more than the
// copying (BenchmarkIm2col 3x3s1/8px).
#define TG_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))

typedef float tg_f8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef float tg_f4u __attribute__((vector_size(16), aligned(4), may_alias));

// tg_zero clears n bytes inline: 32 at a time, then one by one.
static inline TG_NO_LIBCALLS void tg_zero(void *p, size_t n) {
	char *c = p;
	size_t i = 0;
	tg_f8u z = {0};
	for (; i + 32 <= n; i += 32) *(tg_f8u *)(c + i) = z;
	for (; i < n; i++) c[i] = 0;
}

// TG_IM2COL defines NAME, the engine's im2col (trainer/nn) writing
// elements of type T: the receptive fields of images [n0, n1) of x
// (channel stride cs, image stride ns) as a [cin·k·k, (n1−n0)·ho·wo]
// row-major matrix, zero where the window reads padding (outputs ow in
// [lo, hi) read inside the image: 0 <= ow·s + off < w). COPY(dst, src, n)
// writes a run of n floats as T, STRIDED(dst, line, lo, hi, s, off) the
// outputs [lo, hi) of a strided row (dst[ow] = line[ow·s + off]). One loop for both
// element types, so float32 and bf16 columns cannot drift apart.
// A "same" stride-1 window (ho = h, wo = w: ResNet's 3×3 convolutions)
// takes a shortcut: an image's row of col is its plane shifted by
// (kh−p)·w + off, so it is copied as one run from the first to the last
// value read inside the image, and what that run wrapped in from a
// neighbouring image row is zeroed column by column — one COPY per image
// instead of one per output row, which is what costs at small maps (8×8:
// eight rows of 8 values).
#define TG_IM2COL(NAME, T, COPY, STRIDED)                                                            \
TG_NO_LIBCALLS static void NAME(T *col, const float *x, int64_t cin, int64_t h, int64_t w, int64_t k,           \
		int64_t s, int64_t p, int64_t ho, int64_t wo, int64_t cs, int64_t ns, int64_t n0, int64_t n1) { \
	int64_t cols = (n1 - n0) * ho * wo;                                                      \
	int64_t r = 0;                                                                           \
	for (int64_t ci = 0; ci < cin; ci++) {                                                   \
		for (int64_t kh = 0; kh < k; kh++) {                                                 \
			for (int64_t kw = 0; kw < k; kw++, r++) {                                        \
				T *row = col + r * cols;                                                     \
				int64_t off = kw - p;                                                        \
				int64_t lo = off < 0 ? (-off + s - 1) / s : 0;                               \
				int64_t last = w - 1 - off;                                                  \
				int64_t hi = last < 0 ? 0 : (last / s + 1 < wo ? last / s + 1 : wo);         \
				if (last < 0) lo = 0;                                                        \
				if (lo > hi) lo = hi;                                                        \
				int64_t j = 0;                                                               \
				if (s == 1 && ho == h && wo == w) {                                          \
					int64_t dh = kh - p;                                                     \
					int64_t r0 = dh < 0 ? (-dh < h ? -dh : h) : 0, r1 = dh > 0 ? h - dh : h; \
					if (r1 < r0) r1 = r0;                                                    \
					for (int64_t n = n0; n < n1; n++, j += ho * wo) {                        \
						T *dst = row + j;                                                    \
						const float *src = x + ci * cs + n * ns;                             \
						tg_zero(dst, r0 * wo * sizeof(T));                                   \
						tg_zero(dst + r1 * wo, (ho - r1) * wo * sizeof(T));                  \
						if (r1 == r0 || hi == lo) {                                          \
							tg_zero(dst + r0 * wo, (r1 - r0) * wo * sizeof(T));              \
							continue;                                                        \
						}                                                                    \
						int64_t a = r0 * wo + lo, b = (r1 - 1) * wo + hi;                    \
						COPY(dst + a, src + a + dh * w + off, b - a);                        \
						for (int64_t oh = r0; oh < r1; oh++) {                               \
							for (int64_t q = 0; q < lo; q++) dst[oh * wo + q] = 0;           \
							for (int64_t q = hi; q < wo; q++) dst[oh * wo + q] = 0;          \
						}                                                                    \
					}                                                                        \
					continue;                                                                \
				}                                                                            \
				for (int64_t n = n0; n < n1; n++) {                                          \
					const float *src = x + ci * cs + n * ns;                                 \
					for (int64_t oh = 0; oh < ho; oh++, j += wo) {                           \
						T *dst = row + j;                                                    \
						int64_t ih = oh * s - p + kh;                                        \
						if (ih < 0 || ih >= h) {                                             \
							tg_zero(dst, wo * sizeof(T));                                    \
							continue;                                                        \
						}                                                                    \
						const float *line = src + ih * w;                                    \
						for (int64_t q = 0; q < lo; q++) dst[q] = 0;                          \
						for (int64_t q = hi; q < wo; q++) dst[q] = 0;                         \
						if (s == 1) {                                                        \
							COPY(dst + lo, line + lo + off, hi - lo);                        \
						} else {                                                             \
							STRIDED(dst, line, lo, hi, s, off);                              \
						}                                                                    \
					}                                                                        \
				}                                                                            \
			}                                                                                \
		}                                                                                    \
	}                                                                                        \
}

// tg_copy_f32 copies n floats: a short run inline, 8 at a time (unaligned
// vector moves), then 4, then one by one; from 24 on with memcpy (faster
// there: it dispatches to the CPU's widest moves).
static inline TG_NO_LIBCALLS void tg_copy_f32(float *dst, const float *src, int64_t n) {
	if (n >= 24) {
		memcpy(dst, src, n * sizeof(float));
		return;
	}
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) *(tg_f8u *)(dst + i) = *(const tg_f8u *)(src + i);
	if (i + 4 <= n) {
		*(tg_f4u *)(dst + i) = *(const tg_f4u *)(src + i);
		i += 4;
	}
	for (; i < n; i++) dst[i] = src[i];
}

static inline void tg_strided_f32(float *dst, const float *line, int64_t lo, int64_t hi, int64_t s, int64_t off) {
	for (int64_t ow = lo; ow < hi; ow++) dst[ow] = line[ow * s + off];
}

// tg_strided_bf16 gathers a strided row into floats on the stack, then
// rounds them with tg_cvt_row (vector code) instead of one value at a time.
static inline void tg_strided_bf16(uint16_t *dst, const float *line, int64_t lo, int64_t hi, int64_t s, int64_t off) {
	float tmp[256];
	for (int64_t a = lo; a < hi; a += 256) {
		int64_t b = hi - a < 256 ? hi : a + 256;
		for (int64_t ow = a; ow < b; ow++) tmp[ow - a] = line[ow * s + off];
		tg_cvt_row(dst + a, tmp, b - a);
	}
}

TG_IM2COL(tg_im2col_f32, float, tg_copy_f32, tg_strided_f32)
TG_IM2COL(tg_im2col_bf16, uint16_t, tg_cvt_row, tg_strided_bf16)

// tg_flip_kernel is FlipKernel (im2col.go), over blocks of 16 output
// channels: the reads of one block stay in the same cache lines from one
// input channel to the next, and its writes are one contiguous run.
static void tg_flip_kernel(float *restrict dst, const float *restrict w, int64_t cout, int64_t cin, int64_t kk, int64_t ci0, int64_t ci1) {
	for (int64_t cb = 0; cb < cout; cb += 16) {
		int64_t ce = cb + 16 < cout ? cb + 16 : cout;
		for (int64_t ci = ci0; ci < ci1; ci++) {
			for (int64_t co = cb; co < ce; co++) {
				const float *src = w + (co * cin + ci) * kk;
				float *d = dst + (ci * cout + co) * kk;
				for (int64_t i = 0; i < kk; i++) d[i] = src[kk - 1 - i];
			}
		}
	}
}

// tg_max_pool is MaxPool (im2col.go): the same row-major scan with a
// strict comparison, as selects instead of branches.
static void tg_max_pool(float *restrict y, int32_t *restrict arg, const float *restrict x, int64_t h, int64_t w, int64_t k,
		int64_t s, int64_t p, int64_t ho, int64_t wo, int64_t p0, int64_t p1) {
	for (int64_t pl = p0; pl < p1; pl++) {
		const float *xs = x + pl * h * w;
		float *ys = y + pl * ho * wo;
		int32_t *as = arg + pl * ho * wo;
		for (int64_t oh = 0; oh < ho; oh++) {
			int64_t h0 = oh * s - p < 0 ? 0 : oh * s - p, h1 = oh * s - p + k < h ? oh * s - p + k : h;
			for (int64_t ow = 0; ow < wo; ow++) {
				int64_t w0 = ow * s - p < 0 ? 0 : ow * s - p, w1 = ow * s - p + k < w ? ow * s - p + k : w;
				float best = -INFINITY;
				int32_t bi = (int32_t)(h0 * w + w0);
				for (int64_t ih = h0; ih < h1; ih++) {
					const float *row = xs + ih * w;
					for (int64_t iw = w0; iw < w1; iw++) {
						float v = row[iw];
						int gt = v > best;
						best = gt ? v : best;
						bi = gt ? (int32_t)(ih * w + iw) : bi;
					}
				}
				ys[oh * wo + ow] = best;
				as[oh * wo + ow] = bi;
			}
		}
	}
}

static void tg_to_bf16(uint16_t *dst, const float *src, int64_t n) { tg_cvt_row(dst, src, n); }

// tg_mm_run executes mm. With bf16, a and b are f32 matrices with
// leading dimensions lda, ldb (arows×acols, brows×bcols as stored), first
// rounded to bf16 into the thread's scratch; otherwise they are used as
// they are. The primitive runs on the calling thread alone.
// With a16 or b16 (bf16 only), a or b already holds bf16 values, used as
// they are.
static int tg_mm_run(const tg_mm *mm, int bf16, const void *a, int a16, int64_t arows, int64_t acols, int64_t lda,
		const void *b, int b16, int64_t brows, int64_t bcols, int64_t ldb, float *c) {
	omp_set_num_threads(1);
	int st;
	if (!tg_stream && (st = dnnl_stream_create(&tg_stream, tg_engine, dnnl_stream_default_flags))) return st;
	size_t an = bf16 && !a16 ? (size_t)(arows * acols) * 2 : 0, bn = bf16 && !b16 ? (size_t)(brows * bcols) * 2 : 0;
	an = (an + 63) / 64 * 64;
	bn = (bn + 63) / 64 * 64;
	size_t sn = mm->has_scratch ? dnnl_memory_desc_get_size(&mm->scratch) : 0;
	char *buf = tg_scratch(an + bn + sn);
	if (!buf) return dnnl_out_of_memory;
	const void *ap = a, *bp = b;
	if (bf16) {
		if (!a16) {
			tg_pack((uint16_t *)buf, (const float *)a, arows, acols, lda);
			ap = buf;
		}
		if (!b16) {
			tg_pack((uint16_t *)(buf + an), (const float *)b, brows, bcols, ldb);
			bp = buf + an;
		}
	}
	dnnl_memory_t ma, mb, mc, ms = NULL;
	if ((st = dnnl_memory_create(&ma, &mm->a, tg_engine, (void *)ap))) return st;
	if ((st = dnnl_memory_create(&mb, &mm->b, tg_engine, (void *)bp))) { dnnl_memory_destroy(ma); return st; }
	if ((st = dnnl_memory_create(&mc, &mm->c, tg_engine, c))) { dnnl_memory_destroy(ma); dnnl_memory_destroy(mb); return st; }
	dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}, {DNNL_ARG_SCRATCHPAD, NULL}};
	int nargs = 3;
	if (mm->has_scratch) {
		if ((st = dnnl_memory_create(&ms, &mm->scratch, tg_engine, buf + an + bn))) goto out;
		args[3].memory = ms;
		nargs = 4;
	}
	st = dnnl_primitive_execute(mm->prim, tg_stream, nargs, args);
	if (!st) st = dnnl_stream_wait(tg_stream);
out:
	dnnl_memory_destroy(ma);
	dnnl_memory_destroy(mb);
	dnnl_memory_destroy(mc);
	if (ms) dnnl_memory_destroy(ms);
	return st;
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

// oneDNN CPU ISA levels (dnnl_cpu_isa_t) that matter here.
const (
	isaAVX512BF16 = C.dnnl_cpu_isa_avx512_core_bf16
	isaAMX        = C.dnnl_cpu_isa_avx512_core_amx
)

var (
	dnnlOnce sync.Once
	dnnlErr  error
	dnnlISA  int

	mmMu    sync.Mutex
	mmCache = map[mmKey]*C.tg_mm{}
)

func dnnlInit() error {
	dnnlOnce.Do(func() {
		if st := C.tg_init(); st != C.dnnl_success {
			dnnlErr = fmt.Errorf("blas: creating the oneDNN CPU engine: status %d", int(st))
			return
		}
		dnnlISA = int(C.tg_isa())
		if nativeBF16() {
			C.tg_set_native_cvt(1)
		}
	})
	return dnnlErr
}

// cpuBF16 reports whether oneDNN runs bf16 products natively on this CPU
// (AVX512_BF16 or AMX), before any override.
func cpuBF16() bool {
	if dnnlInit() != nil {
		return false
	}
	return dnnlISA&isaAVX512BF16 == isaAVX512BF16 || dnnlISA&isaAMX == isaAMX
}

// nativeBF16 is cpuBF16 before the engine is up (used by dnnlInit itself).
func nativeBF16() bool {
	return dnnlISA&isaAVX512BF16 == isaAVX512BF16 || dnnlISA&isaAMX == isaAMX
}

// DNNLVersion returns the linked oneDNN's version and the CPU ISA it
// dispatches to, e.g. "oneDNN 2.6.3 (isa 0xe7)".
func DNNLVersion() string {
	_ = dnnlInit()
	return fmt.Sprintf("%s (isa %#x)", C.GoString(C.tg_version()), dnnlISA)
}

type mmKey struct {
	bf16, ta, tb  bool
	m, n, k       int
	lda, ldb, ldc int
	alpha, beta   float32
}

func matmul(prec Precision, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 || k == 0 {
		scale(beta, m, n, c, ldc)
		return
	}
	dnnlMatMul(prec == BF16, transA, transB, m, n, k, alpha, unsafe.Pointer(&a[0]), false, lda, unsafe.Pointer(&b[0]), false, ldb, beta, c, ldc)
}

func matmulBF16(transA, transB bool, m, n, k int, alpha float32, a Operand, lda int, b Operand, ldb int, beta float32, c []float32, ldc int) {
	checkOperands(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 || k == 0 {
		scale(beta, m, n, c, ldc)
		return
	}
	dnnlMatMul(true, transA, transB, m, n, k, alpha, a.ptr(), a.F32 == nil, lda, b.ptr(), b.F32 == nil, ldb, beta, c, ldc)
}

func (o Operand) ptr() unsafe.Pointer {
	if o.F32 != nil {
		return unsafe.Pointer(&o.F32[0])
	}
	return unsafe.Pointer(&o.B16[0])
}

// dnnlMatMul runs a cached oneDNN matmul; a and b point to float32 values,
// or with a16, b16 to bf16 ones (then bf16 must be set).
func dnnlMatMul(bf16, transA, transB bool, m, n, k int, alpha float32, a unsafe.Pointer, a16 bool, lda int, b unsafe.Pointer, b16 bool, ldb int, beta float32, c []float32, ldc int) {
	if err := dnnlInit(); err != nil {
		panic(err)
	}
	if bf16 && !BF16Supported() {
		panic("blas: bf16 matmul on a CPU without native bf16 support (check BF16Supported first)")
	}
	ar, ac, br, bc := operandShapes(transA, transB, m, n, k)
	key := mmKey{bf16: bf16, ta: transA, tb: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, alpha: alpha, beta: beta}
	if bf16 { // float32 operands are rounded into dense copies
		if !a16 {
			key.lda = ac
		}
		if !b16 {
			key.ldb = bc
		}
	}
	mmMu.Lock()
	mm := mmCache[key]
	if mm == nil {
		mm = (*C.tg_mm)(C.calloc(1, C.size_t(unsafe.Sizeof(C.tg_mm{}))))
		st := C.tg_mm_create(mm, cbool(bf16), cbool(transA), cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k),
			C.int64_t(key.lda), C.int64_t(key.ldb), C.int64_t(ldc), C.float(alpha), C.float(beta))
		if st != C.dnnl_success {
			C.free(unsafe.Pointer(mm))
			mmMu.Unlock()
			panic(fmt.Sprintf("blas: creating a oneDNN matmul %+v: status %d", key, int(st)))
		}
		mmCache[key] = mm
	}
	mmMu.Unlock()
	st := C.tg_mm_run(mm, cbool(bf16), a, cbool(a16), C.int64_t(ar), C.int64_t(ac), C.int64_t(lda),
		b, cbool(b16), C.int64_t(br), C.int64_t(bc), C.int64_t(ldb), (*C.float)(unsafe.Pointer(&c[0])))
	if st != C.dnnl_success {
		panic(fmt.Sprintf("blas: running a oneDNN matmul %+v: status %d", key, int(st)))
	}
}

func im2col(col []float32, x []float32, g *Geom, cS, nS, n0, n1 int) {
	checkIm2col(len(col), len(x), g, cS, nS, n0, n1)
	if len(col) == 0 {
		return
	}
	C.tg_im2col_f32((*C.float)(unsafe.Pointer(&col[0])), (*C.float)(unsafe.Pointer(&x[0])),
		C.int64_t(g.Cin), C.int64_t(g.H), C.int64_t(g.W), C.int64_t(g.K), C.int64_t(g.S), C.int64_t(g.P),
		C.int64_t(g.Ho), C.int64_t(g.Wo), C.int64_t(cS), C.int64_t(nS), C.int64_t(n0), C.int64_t(n1))
}

func maxPool(y []float32, arg []int32, x []float32, g *Geom, p0, p1 int) {
	C.tg_max_pool(f32p(y), (*C.int32_t)(unsafe.Pointer(&arg[0])), f32p(x), C.int64_t(g.H), C.int64_t(g.W), C.int64_t(g.K),
		C.int64_t(g.S), C.int64_t(g.P), C.int64_t(g.Ho), C.int64_t(g.Wo), C.int64_t(p0), C.int64_t(p1))
}

func flipKernel(dst, w []float32, cout, cin, kk, ci0, ci1 int) {
	C.tg_flip_kernel(f32p(dst), f32p(w), C.int64_t(cout), C.int64_t(cin), C.int64_t(kk), C.int64_t(ci0), C.int64_t(ci1))
}

func toBF16(dst []uint16, src []float32) {
	if len(dst) < len(src) {
		panic(fmt.Sprintf("blas: ToBF16 into %d values from %d", len(dst), len(src)))
	}
	if len(src) == 0 {
		return
	}
	if err := dnnlInit(); err != nil {
		panic(err)
	}
	C.tg_to_bf16((*C.uint16_t)(unsafe.Pointer(&dst[0])), (*C.float)(unsafe.Pointer(&src[0])), C.int64_t(len(src)))
}

func im2colBF16(col []uint16, x []float32, g *Geom, cS, nS, n0, n1 int) {
	checkIm2col(len(col), len(x), g, cS, nS, n0, n1)
	if len(col) == 0 {
		return
	}
	if err := dnnlInit(); err != nil {
		panic(err)
	}
	C.tg_im2col_bf16((*C.uint16_t)(unsafe.Pointer(&col[0])), (*C.float)(unsafe.Pointer(&x[0])),
		C.int64_t(g.Cin), C.int64_t(g.H), C.int64_t(g.W), C.int64_t(g.K), C.int64_t(g.S), C.int64_t(g.P),
		C.int64_t(g.Ho), C.int64_t(g.Wo), C.int64_t(cS), C.int64_t(nS), C.int64_t(n0), C.int64_t(n1))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
