package nn

import "math/rand/v2"

// Reseed restarts the dropout mask generator from seed. The training
// workflow reseeds at the start of every epoch from (run seed, epoch), so a
// run resumed from an epoch checkpoint draws the same masks as an
// uninterrupted one.
func (n *Net) Reseed(seed uint64) {
	n.rng = rand.New(rand.NewPCG(seed, 0x64726f70)) // "drop", as New
}
