package blas

import "fmt"

// BatchNorm kernels over one channel's values (trainer/nn keeps feature
// maps [C,N,H,W], so a channel is one contiguous run of N·H·W values).
// The native versions (C, compiled for AVX-512, AVX2 and plain x86-64,
// picked at load time) and the pure-Go twins below compute the same
// sums in the same order, bit for bit (TestBatchNormKernels): bnLanes
// independent partial sums per accumulator, and no fused multiply-adds
// (the C is compiled as ISO C11, where GCC does not contract a·b + c; the
// Go converts each product explicitly, which the Go spec says prevents
// fusing).

// bnLanes is the number of partial sums of every BatchNorm reduction.
const bnLanes = 16

// bnBlock is the length of the float32 partial sums of [BNGradSums],
// added in float64 from block to block.
const bnBlock = 256

// BNStats returns the mean and the biased variance of x (len(x) >= 1),
// accumulated in float64 on values shifted by x[0] against cancellation:
// mean = x0 + Σd/n and variance = max(0, Σd²/n − (Σd/n)²) with
// d = x − x0 (the shifted-data algorithm, Chan, Golub and LeVeque 1983).
func BNStats(x []float32) (mean, variance float64) {
	if len(x) == 0 {
		panic("blas: BNStats of no values")
	}
	return bnStats(x)
}

// BNApply writes y[i] = x[i]·a + b, plus res[i] when res is not nil, then
// max(0, ·) when relu: BatchNorm's affine output with a = γ/σ and
// b = β − μ·γ/σ, optionally fused with a residual add and a ReLU. y, res
// and x have the same length.
func BNApply(y, x, res []float32, a, b float32, relu bool) {
	checkLens("BNApply", len(x), y, res)
	if len(x) == 0 {
		return
	}
	bnApply(y, x, res, a, b, relu)
}

// BNGradSums returns Σg and Σg·(x − mean) over one channel, where g is dy,
// or with relu dy masked by the ReLU's output y (g = 0 where y == 0; y is
// never negative). It stores g into gs when gs is not nil, and into dres
// (with resAdd: adds it to dres) when dres is not nil — the gradient of a
// fused residual input. Float32 sums over blocks of 256 values, float64
// across blocks. All slices but the nil ones have len(x) values.
func BNGradSums(x, dy, y, gs, dres []float32, mean float32, relu, resAdd bool) (sg, sgx float64) {
	checkLens("BNGradSums", len(x), dy, gs, dres)
	if relu {
		checkLens("BNGradSums", len(x), y)
	}
	if len(x) == 0 {
		return 0, 0
	}
	return bnGradSums(x, dy, y, gs, dres, mean, relu, resAdd)
}

// BNGradInput writes BatchNorm's input gradient
// dx = ka·g + kb·(x − mean) + kc, with ka = γ/σ, kb = −γ·Σg·x̂/(σ·M),
// kc = −γ·Σg/(σ·M) (x̂ = (x − mean)/σ over the channel's M values). With
// add it adds dx to what dx holds and computes g from dy (masked by the
// ReLU output y when relu) as [BNGradSums] does; without add dx already
// holds g ([BNGradSums] stored it there) and is overwritten.
func BNGradInput(dx, x, dy, y []float32, mean, ka, kb, kc float32, relu, add bool) {
	checkLens("BNGradInput", len(x), dx)
	if add {
		checkLens("BNGradInput", len(x), dy)
		if relu {
			checkLens("BNGradInput", len(x), y)
		}
	}
	if len(x) == 0 {
		return
	}
	bnGradInput(dx, x, dy, y, mean, ka, kb, kc, relu, add)
}

// checkLens panics unless every non-nil slice has n values.
func checkLens(fn string, n int, s ...[]float32) {
	for _, v := range s {
		if v != nil && len(v) != n {
			panic(fmt.Sprintf("blas: %s: a slice has %d values, want %d", fn, len(v), n))
		}
	}
}

// refBNStats is the pure-Go twin of the native BNStats.
func refBNStats(x []float32) (mean, variance float64) {
	x0 := x[0]
	var s, q [bnLanes]float64
	i := 0
	for ; i+bnLanes <= len(x); i += bnLanes {
		v := x[i : i+bnLanes : i+bnLanes]
		for j := range bnLanes {
			d := float64(v[j]) - float64(x0)
			s[j] += d
			q[j] += float64(d * d)
		}
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - float64(x0)
		s[0] += d
		q[0] += float64(d * d)
	}
	var ss, qq float64
	for j := range bnLanes {
		ss += s[j]
		qq += q[j]
	}
	m := float64(len(x))
	ss /= m
	qq /= m
	v := qq - float64(ss*ss)
	if v < 0 {
		v = 0
	}
	return float64(x0) + ss, v
}

// refBNApply is the pure-Go twin of the native BNApply.
func refBNApply(y, x, res []float32, a, b float32, relu bool) {
	y = y[:len(x)]
	for i, v := range x {
		t := float32(v*a) + b
		if res != nil {
			t += res[i]
		}
		if relu && !(t > 0) {
			t = 0
		}
		y[i] = t
	}
}

// reluGrad returns g where the ReLU output y is positive, else 0.
func reluGrad(g, y float32) float32 {
	if y > 0 {
		return g
	}
	return 0
}

// refBNGradSums is the pure-Go twin of the native BNGradSums.
func refBNGradSums(x, dy, y, gs, dres []float32, mean float32, relu, resAdd bool) (sg, sgx float64) {
	n := len(x)
	// grad returns g at i and stores it where asked.
	grad := func(i int) float32 {
		g := dy[i]
		if relu {
			g = reluGrad(g, y[i])
		}
		if gs != nil {
			gs[i] = g
		}
		if dres != nil {
			if resAdd {
				dres[i] += g
			} else {
				dres[i] = g
			}
		}
		return g
	}
	for lo := 0; lo < n; lo += bnBlock {
		hi := min(n, lo+bnBlock)
		var s, t [bnLanes]float32
		i := lo
		for ; i+bnLanes <= hi; i += bnLanes {
			for j := range bnLanes {
				g := grad(i + j)
				s[j] += g
				t[j] += float32(g * (x[i+j] - mean))
			}
		}
		for ; i < hi; i++ {
			g := grad(i)
			s[0] += g
			t[0] += float32(g * (x[i] - mean))
		}
		for j := range bnLanes {
			sg += float64(s[j])
			sgx += float64(t[j])
		}
	}
	return sg, sgx
}

// refBNGradInput is the pure-Go twin of the native BNGradInput.
func refBNGradInput(dx, x, dy, y []float32, mean, ka, kb, kc float32, relu, add bool) {
	dx = dx[:len(x)]
	if !add {
		for i, v := range x {
			dx[i] = float32(ka*dx[i]) + float32(kb*(v-mean)) + kc
		}
		return
	}
	for i, v := range x {
		g := dy[i]
		if relu {
			g = reluGrad(g, y[i])
		}
		dx[i] += float32(ka*g) + float32(kb*(v-mean)) + kc
	}
}
