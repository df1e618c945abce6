package data

import "math/rand/v2"

// Stream identifiers keep the random sequences drawn for different purposes
// from one seed apart.
const (
	streamSplit uint64 = iota + 1
	streamShuffle
	streamAugment
	streamSynth
	streamFashion
)

// mix64 is SplitMix64's finaliser, a bijective scrambling of x.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// newRand returns a generator determined by seed and the path of values
// below it (a stream identifier, an epoch, an item index).
func newRand(seed uint64, path ...uint64) *rand.Rand {
	a, b := mix64(seed), mix64(^seed)
	for _, v := range path {
		a = mix64(a ^ v)
		b = mix64(b + a)
	}
	return rand.New(rand.NewPCG(a, b))
}

// ItemRand returns the generator that augments item index in the given
// epoch of a run seeded with seed. It depends on nothing else, so the same
// item gets the same augmentation whichever worker handles it.
func ItemRand(seed uint64, epoch, index int) *rand.Rand {
	return newRand(seed, streamAugment, uint64(epoch), uint64(index))
}
