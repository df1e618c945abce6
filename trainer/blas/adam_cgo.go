//go:build cgo

package blas

/*
#cgo CFLAGS: -O3 -std=c11
#cgo LDFLAGS: -lm
#include <stdint.h>
#include <math.h>
#include <immintrin.h>

// tg_adam_one is AdamStep (adam.go) on one element. ISO C11: no
// contracted multiply-adds, so it gives the Go twin's bits.
static inline float tg_adam_one(float *v, float g, float *avg, float *sq, float m1, float c1, float m2, float c2,
		float eps, float decay, float step, double inv2) {
	float p = *v;
	if (decay != 1) p *= decay;
	float m = m1 * *avg + c1 * g;
	float q = m2 * *sq + c2 * g * g;
	*avg = m;
	*sq = q;
	return p - step * m / ((float)sqrt((double)q * inv2) + eps);
}

// tg_adam_avx512 is the same arithmetic 16 elements at a time (the root
// in two 8-lane double halves). GCC does not vectorise the scalar loop
// itself: sqrt may set errno, and cgo refuses -fno-math-errno.
__attribute__((target("avx512f")))
static int64_t tg_adam_avx512(float *restrict v, const float *restrict g, float *restrict avg, float *restrict sq, int64_t n,
		float m1, float c1, float m2, float c2, float eps, float decay, float step, double inv2) {
	__m512 vm1 = _mm512_set1_ps(m1), vc1 = _mm512_set1_ps(c1), vm2 = _mm512_set1_ps(m2), vc2 = _mm512_set1_ps(c2);
	__m512 veps = _mm512_set1_ps(eps), vdecay = _mm512_set1_ps(decay), vstep = _mm512_set1_ps(step);
	__m512d vinv2 = _mm512_set1_pd(inv2);
	int64_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m512 p = _mm512_loadu_ps(v + i);
		if (decay != 1) p = _mm512_mul_ps(p, vdecay);
		__m512 gj = _mm512_loadu_ps(g + i);
		__m512 m = _mm512_add_ps(_mm512_mul_ps(vm1, _mm512_loadu_ps(avg + i)), _mm512_mul_ps(vc1, gj));
		__m512 q = _mm512_add_ps(_mm512_mul_ps(vm2, _mm512_loadu_ps(sq + i)), _mm512_mul_ps(_mm512_mul_ps(vc2, gj), gj));
		_mm512_storeu_ps(avg + i, m);
		_mm512_storeu_ps(sq + i, q);
		__m256 qlo = _mm512_castps512_ps256(q);
		__m256 qhi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(q), 1));
		__m256 rlo = _mm512_cvtpd_ps(_mm512_sqrt_pd(_mm512_mul_pd(_mm512_cvtps_pd(qlo), vinv2)));
		__m256 rhi = _mm512_cvtpd_ps(_mm512_sqrt_pd(_mm512_mul_pd(_mm512_cvtps_pd(qhi), vinv2)));
		__m512 r = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(rlo)), _mm256_castps_pd(rhi), 1));
		p = _mm512_sub_ps(p, _mm512_div_ps(_mm512_mul_ps(vstep, m), _mm512_add_ps(r, veps)));
		_mm512_storeu_ps(v + i, p);
	}
	return i;
}

static void tg_adam(float *restrict v, const float *restrict g, float *restrict avg, float *restrict sq, int64_t n,
		float m1, float c1, float m2, float c2, float eps, float decay, float step, double inv2) {
	int64_t i = 0;
	if (__builtin_cpu_supports("avx512f")) i = tg_adam_avx512(v, g, avg, sq, n, m1, c1, m2, c2, eps, decay, step, inv2);
	for (; i < n; i++) v[i] = tg_adam_one(v + i, g[i], avg + i, sq + i, m1, c1, m2, c2, eps, decay, step, inv2);
}
*/
import "C"

func adamStep(v, g, avg, sq []float32, k *AdamConsts) {
	C.tg_adam(f32p(v), f32p(g), f32p(avg), f32p(sq), C.int64_t(len(v)), C.float(k.M1), C.float(k.C1), C.float(k.M2), C.float(k.C2),
		C.float(k.Eps), C.float(k.Decay), C.float(k.Step), C.double(k.Inv2))
}
