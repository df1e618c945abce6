package nn_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/nn"
	"github.com/tagnet/tagnet/trainer/optim"
)

// The training step: forward, loss, backward, optimiser step with the
// schedule's hyper-parameters. Overfitting four random images shows the
// loss falling.
func Example() {
	g := models.MustBuild(models.Spec{Arch: "resnet-tiny", NumClasses: 3, InputSize: 32, Head: models.HeadFastai})
	net, err := nn.New(g, models.Init(g, models.InitOptions{Seed: 1}), nn.Config{MaxBatch: 4, Threads: 1, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer net.Close()
	const batch = 4
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, batch*net.InputLen())
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := []float32{1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 1}
	grad := make([]float32, batch*net.NumClasses())

	opt := optim.NewAdam(net.Params(), optim.DefaultAdam())
	sched := optim.NewOneCycle(optim.Slice(1e-2, nn.NumGroups), 30)
	var first, last float64
	for i := range sched.Len() {
		logits, err := net.Forward(x, batch, true)
		if err != nil {
			fmt.Println(err)
			return
		}
		last = nn.BCEWithLogits(logits, y, grad)
		if i == 0 {
			first = last
		}
		if err := net.Backward(grad); err != nil {
			fmt.Println(err)
			return
		}
		if err := opt.Step(sched.At(i)); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("parameters:", g.NumParams())
	fmt.Println("loss fell below half:", last < first/2)
	// Output:
	// parameters: 443600
	// loss fell below half: true
}
