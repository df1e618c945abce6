//go:build cgo

package blas

/*
#cgo CFLAGS: -O3 -std=c11
#include <stdint.h>
#include <string.h>

// The BatchNorm kernels of batchnorm.go, in C. Each is compiled three
// times (AVX-512, AVX2, plain x86-64: GCC's target_clones, chosen once
// when the library loads), and each keeps TG_LANES independent partial
// sums so that the compiler vectorises the reductions without reordering
// them: every clone and the Go twins give the same bits.
#define TG_LANES 16
#define TG_BLOCK 256
#define TG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// tg_pair returns two sums by value (pointers to Go locals would move
// them to the heap on every call).
typedef struct { double a, b; } tg_pair;

typedef double tg_v8d __attribute__((vector_size(64)));
typedef float tg_v8f __attribute__((vector_size(32)));

// tg_bn_stats keeps its 16 lanes in two 8-double vectors (GCC's vector
// extension, lowered to what each clone's ISA has): lane j is lo[j] for
// j < 8, hi[j−8] after.
TG_CLONES
static tg_pair tg_bn_stats(const float *x, int64_t n) {
	double x0 = x[0];
	tg_v8d x0v = {x0, x0, x0, x0, x0, x0, x0, x0};
	tg_v8d slo = {0}, shi = {0}, qlo = {0}, qhi = {0};
	int64_t i = 0;
	for (; i + TG_LANES <= n; i += TG_LANES) {
		tg_v8f a, b;
		memcpy(&a, x + i, sizeof a);
		memcpy(&b, x + i + 8, sizeof b);
		tg_v8d da = __builtin_convertvector(a, tg_v8d) - x0v;
		tg_v8d db = __builtin_convertvector(b, tg_v8d) - x0v;
		slo += da;
		qlo += da * da;
		shi += db;
		qhi += db * db;
	}
	double s[TG_LANES], q[TG_LANES];
	memcpy(s, &slo, sizeof slo);
	memcpy(s + 8, &shi, sizeof shi);
	memcpy(q, &qlo, sizeof qlo);
	memcpy(q + 8, &qhi, sizeof qhi);
	for (; i < n; i++) {
		double d = (double)x[i] - x0;
		s[0] += d;
		q[0] += d * d;
	}
	double ss = 0, qq = 0;
	for (int j = 0; j < TG_LANES; j++) {
		ss += s[j];
		qq += q[j];
	}
	ss /= (double)n;
	qq /= (double)n;
	double v = qq - ss * ss;
	tg_pair r = {(double)x0 + ss, v < 0 ? 0 : v};
	return r;
}

TG_CLONES
static void tg_bn_apply(float *restrict y, const float *restrict x, const float *restrict res, int64_t n, float a, float b, int relu) {
	if (res && relu) {
		for (int64_t i = 0; i < n; i++) { float t = x[i] * a + b + res[i]; y[i] = t > 0 ? t : 0; }
	} else if (res) {
		for (int64_t i = 0; i < n; i++) y[i] = x[i] * a + b + res[i];
	} else if (relu) {
		for (int64_t i = 0; i < n; i++) { float t = x[i] * a + b; y[i] = t > 0 ? t : 0; }
	} else {
		for (int64_t i = 0; i < n; i++) y[i] = x[i] * a + b;
	}
}

// tg_bn_grad_block sums one block (the loop of BNGradSums), with the
// options as constants so that each instantiation is a straight loop.
static inline __attribute__((always_inline)) void tg_bn_grad_block(const float *restrict x, const float *restrict dy,
		const float *restrict y, float *restrict gs, float *restrict dres, int64_t lo, int64_t hi, float mean,
		int relu, int res_add, float *s, float *t) {
	int64_t i = lo;
	for (; i + TG_LANES <= hi; i += TG_LANES) {
		for (int j = 0; j < TG_LANES; j++) {
			float g = dy[i + j];
			if (relu) g = y[i + j] > 0 ? g : 0;
			if (gs) gs[i + j] = g;
			if (dres) {
				if (res_add) dres[i + j] += g; else dres[i + j] = g;
			}
			s[j] += g;
			t[j] += g * (x[i + j] - mean);
		}
	}
	for (; i < hi; i++) {
		float g = dy[i];
		if (relu) g = y[i] > 0 ? g : 0;
		if (gs) gs[i] = g;
		if (dres) {
			if (res_add) dres[i] += g; else dres[i] = g;
		}
		s[0] += g;
		t[0] += g * (x[i] - mean);
	}
}

TG_CLONES
static tg_pair tg_bn_grad_sums(const float *x, const float *dy, const float *y, float *gs, float *dres, int64_t n,
		float mean, int relu, int res_add) {
	double a = 0, b = 0;
	for (int64_t lo = 0; lo < n; lo += TG_BLOCK) {
		int64_t hi = lo + TG_BLOCK < n ? lo + TG_BLOCK : n;
		float s[TG_LANES] = {0}, t[TG_LANES] = {0};
		if (relu && gs && !dres) tg_bn_grad_block(x, dy, y, gs, 0, lo, hi, mean, 1, 0, s, t);
		else if (relu && gs && dres && !res_add) tg_bn_grad_block(x, dy, y, gs, dres, lo, hi, mean, 1, 0, s, t);
		else if (relu && gs && dres) tg_bn_grad_block(x, dy, y, gs, dres, lo, hi, mean, 1, 1, s, t);
		else if (!relu && gs && !dres) tg_bn_grad_block(x, dy, 0, gs, 0, lo, hi, mean, 0, 0, s, t);
		else tg_bn_grad_block(x, dy, y, gs, dres, lo, hi, mean, relu, res_add, s, t);
		for (int j = 0; j < TG_LANES; j++) {
			a += (double)s[j];
			b += (double)t[j];
		}
	}
	tg_pair r = {a, b};
	return r;
}

TG_CLONES
static void tg_bn_grad_input(float *restrict dx, const float *restrict x, const float *restrict dy, const float *restrict y,
		int64_t n, float mean, float ka, float kb, float kc, int relu, int add) {
	if (!add) {
		for (int64_t i = 0; i < n; i++) dx[i] = ka * dx[i] + kb * (x[i] - mean) + kc;
	} else if (relu) {
		for (int64_t i = 0; i < n; i++) {
			float g = y[i] > 0 ? dy[i] : 0;
			dx[i] += ka * g + kb * (x[i] - mean) + kc;
		}
	} else {
		for (int64_t i = 0; i < n; i++) dx[i] += ka * dy[i] + kb * (x[i] - mean) + kc;
	}
}
*/
import "C"

import "unsafe"

func f32p(s []float32) *C.float {
	if s == nil {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&s[0]))
}

func bnStats(x []float32) (mean, variance float64) {
	r := C.tg_bn_stats(f32p(x), C.int64_t(len(x)))
	return float64(r.a), float64(r.b)
}

func bnApply(y, x, res []float32, a, b float32, relu bool) {
	C.tg_bn_apply(f32p(y), f32p(x), f32p(res), C.int64_t(len(x)), C.float(a), C.float(b), cbool(relu))
}

func bnGradSums(x, dy, y, gs, dres []float32, mean float32, relu, resAdd bool) (sg, sgx float64) {
	r := C.tg_bn_grad_sums(f32p(x), f32p(dy), f32p(y), f32p(gs), f32p(dres), C.int64_t(len(x)), C.float(mean), cbool(relu), cbool(resAdd))
	return float64(r.a), float64(r.b)
}

func bnGradInput(dx, x, dy, y []float32, mean, ka, kb, kc float32, relu, add bool) {
	C.tg_bn_grad_input(f32p(dx), f32p(x), f32p(dy), f32p(y), C.int64_t(len(x)), C.float(mean), C.float(ka), C.float(kb), C.float(kc), cbool(relu), cbool(add))
}
