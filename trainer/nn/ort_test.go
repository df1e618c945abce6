package nn_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/trainer/nn"
)

// TestEvalMatchesONNXRuntime exports every architecture (both heads; the
// small stem too) with random weights and perturbed BatchNorm statistics,
// runs the file in ONNX Runtime, and requires the engine's evaluation-mode
// logits to agree within 1e-4 (max abs) on the same random batch: what the
// trainer computes is what the predictor serves.
func TestEvalMatchesONNXRuntime(t *testing.T) {
	rt, err := ort.Init(ort.InitOptions{})
	if err != nil {
		t.Fatalf("ONNX Runtime (scripts/setup.sh installs it; tests need it): %v", err)
	}
	defer rt.Close()
	type tc struct {
		arch string
		stem models.Stem
		head models.Head
	}
	var cases []tc
	for _, arch := range []string{"resnet-tiny", "resnet18", "resnet34", "resnet50"} {
		for _, head := range []models.Head{models.HeadLinear, models.HeadFastai} {
			cases = append(cases, tc{arch, models.StemImageNet, head})
		}
	}
	cases = append(cases, tc{"resnet-tiny", models.StemSmall, models.HeadFastai}, tc{"resnet18", models.StemSmall, models.HeadLinear})
	const batch, size, classes = 2, 64, 7
	for i, c := range cases {
		t.Run(fmt.Sprintf("%s_%s_%s", c.arch, c.stem, c.head), func(t *testing.T) {
			spec := models.Spec{Arch: c.arch, NumClasses: classes, InputSize: size, Stem: c.stem, Head: c.head}
			g, err := models.Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			w := models.Init(g, models.InitOptions{Seed: uint64(i)})
			rng := rand.New(rand.NewPCG(uint64(i), 17))
			// The last BatchNorm of each residual branch gets a small
			// scale, so that the logits stay O(1) through 16 blocks
			// (float32 resolution at |logit| 400 is already 3e-5).
			branchEnd := map[string]bool{}
			for _, l := range g.Layers {
				if l.Op == models.OpAdd {
					branchEnd[l.Inputs[0]] = true
				}
			}
			for _, p := range g.Params {
				d := w[p.Name].Data
				for j := range d {
					switch p.Kind {
					case models.BNWeight:
						d[j] = float32(0.5 + rng.Float64())
						if branchEnd[p.Layer] {
							d[j] *= 0.2
						}
					case models.BNBias, models.BNRunningMean:
						d[j] = float32(0.2 * rng.NormFloat64())
					case models.BNRunningVar:
						d[j] = float32(0.5 + rng.Float64())
					}
				}
			}
			labels := make([]string, classes)
			for j := range labels {
				labels[j] = fmt.Sprintf("class%d", j)
			}
			m := &models.Model{Graph: g, Weights: w, Metadata: models.Metadata{Labels: labels}}
			t0 := time.Now()
			file, err := m.Encode(models.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			sess, err := ort.NewSessionFromBytes(rt, file, ort.SessionOptions{IntraOpThreads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			x := make([]float32, batch*3*size*size)
			for j := range x {
				x[j] = float32(rng.NormFloat64())
			}
			t1 := time.Now()
			want, err := sess.Run(x, batch)
			if err != nil {
				t.Fatal(err)
			}
			net, err := nn.New(g, w, nn.Config{MaxBatch: batch})
			if err != nil {
				t.Fatal(err)
			}
			defer net.Close()
			got, err := net.Forward(x, batch, false)
			if err != nil {
				t.Fatal(err)
			}
			var maxErr, maxAbs float64
			for j := range want {
				maxErr = max(maxErr, math.Abs(float64(got[j]-want[j])))
				maxAbs = max(maxAbs, math.Abs(float64(want[j])))
			}
			t.Logf("max |logit − ORT| %.2g (max |logit| %.3g); encode+session %v, rest %v", maxErr, maxAbs, t1.Sub(t0), time.Since(t1))
			if !(maxErr <= 1e-4) {
				t.Errorf("max abs logit difference from ONNX Runtime %g > 1e-4", maxErr)
			}
		})
	}
}
