package learn

import (
	"context"
	"fmt"
	"math"

	"github.com/tagnet/tagnet/trainer/optim"
)

// LRFindOptions tunes LRFind; zero values mean fastai's defaults.
type LRFindOptions struct {
	Start, End float64 // 1e-7 and 10
	NumIt      int     // 100
}

// LRFindResult is the recorded curve and the suggestions.
type LRFindResult struct {
	LRs, Losses []float64 // Losses are the smoothed (debiased EMA) losses
	// Suggestions by name: "valley" (fastai's default), "minimum" (the
	// lr of the lowest loss, divided by 10) and "steepest".
	Suggestions map[string]float64
}

// LRFind is fastai's lr_find: train with an exponentially growing learning
// rate, lr_i = start·(end/start)^(i/num_it), the same for every group,
// recording the loss smoothed by a debiased EMA (β 0.98), until num_it
// steps or the smoothed loss exceeds four times its best; then restore the
// weights and optimiser state. The body is trained unfrozen.
func (l *Learner) LRFind(ctx context.Context, opt LRFindOptions) (*LRFindResult, error) {
	if opt.Start == 0 {
		opt.Start = 1e-7
	}
	if opt.End == 0 {
		opt.End = 10
	}
	if opt.NumIt == 0 {
		opt.NumIt = 100
	}
	if !(opt.Start > 0 && opt.End > opt.Start) || opt.NumIt < 2 {
		return nil, fmt.Errorf("lr_find: need 0 < start < end and num_it ≥ 2 (got %g, %g, %d)", opt.Start, opt.End, opt.NumIt)
	}
	saved := l.net.Weights()
	optState, err := l.opt.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer func() {
		_ = l.net.SetWeights(saved)
		_ = l.opt.UnmarshalBinary(optState)
	}()
	l.net.Unfreeze()
	l.opt.Reset()
	res := &LRFindResult{}
	const beta = 0.98
	avg, best := 0.0, math.Inf(1)
	it := 0
	for epoch := 0; it < opt.NumIt; epoch++ {
		l.net.Reseed(l.epochSeed(1_000_000 + epoch))
		for b, err := range l.train.Epoch(1_000_000 + epoch) {
			if err != nil {
				return nil, fmt.Errorf("lr_find: %w", err)
			}
			if ctx.Err() != nil {
				return nil, ErrInterrupted
			}
			if b.N == 0 {
				continue
			}
			lr := opt.Start * math.Pow(opt.End/opt.Start, float64(it)/float64(opt.NumIt))
			loss, err := l.step(b, optim.Hypers{LRs: []float64{lr, lr, lr}, Mom: 0.9})
			if err != nil && !math.IsNaN(loss) && !math.IsInf(loss, 0) {
				return nil, fmt.Errorf("lr_find: %w", err)
			}
			it++
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				it = opt.NumIt // diverged: stop
				break
			}
			avg = beta*avg + (1-beta)*loss
			smooth := avg / (1 - math.Pow(beta, float64(it)))
			res.LRs = append(res.LRs, lr)
			res.Losses = append(res.Losses, smooth)
			best = math.Min(best, smooth)
			if smooth > 4*best || it >= opt.NumIt {
				it = opt.NumIt
				break
			}
		}
	}
	res.Suggestions = suggest(res.LRs, res.Losses, opt.NumIt)
	return res, nil
}

// suggest applies fastai's suggestion functions to the curve, skipping the
// first num_it/10 points and the last 5 as fastai does.
func suggest(lrs, losses []float64, numIt int) map[string]float64 {
	lo, hi := numIt/10, len(lrs)-5
	if hi-lo < 3 {
		lo, hi = 0, len(lrs)
	}
	if hi-lo < 2 {
		return map[string]float64{}
	}
	lrs, losses = lrs[lo:hi], losses[lo:hi]
	out := map[string]float64{}
	imin := 0
	for i, v := range losses {
		if v < losses[imin] {
			imin = i
		}
	}
	out["minimum"] = lrs[imin] / 10
	isteep, steep := 0, math.Inf(1)
	for i := 1; i < len(lrs); i++ {
		g := (losses[i] - losses[i-1]) / (math.Log(lrs[i]) - math.Log(lrs[i-1]))
		if g < steep {
			steep, isteep = g, i-1
		}
	}
	out["steepest"] = lrs[isteep]
	out["valley"] = lrs[valley(losses)]
	return out
}

// valley is fastai's valley: the longest decreasing subsequence of the
// losses, and the point a third plus a sixth of the way into it.
func valley(losses []float64) int {
	n := len(losses)
	lds := make([]int, n)
	for i := range lds {
		lds[i] = 1
	}
	maxStart, maxEnd := 0, 0
	for i := 1; i < n; i++ {
		for j := 0; j < i; j++ {
			if losses[i] < losses[j] && lds[i] < lds[j]+1 {
				lds[i] = lds[j] + 1
			}
			if lds[maxEnd] < lds[i] {
				maxEnd = i
				maxStart = maxEnd - lds[maxEnd]
			}
		}
	}
	sections := float64(maxEnd-maxStart) / 3
	idx := maxStart + int(sections) + int(sections/2)
	return min(max(idx, 0), n-1)
}
