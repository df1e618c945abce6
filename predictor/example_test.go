package predictor_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tagnet/tagnet/predictor"
	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/postprocess"
	"github.com/tagnet/tagnet/predictor/predictortest"
)

// Open a model, predict a photograph and a broken file, and read the
// thresholds chosen from the model's sweep.
func ExamplePredictor() {
	dir, err := os.MkdirTemp("", "example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path, err := predictortest.Write(dir, predictortest.Options{}) // a random-initialised resnet-tiny
	if err != nil {
		fmt.Println(err)
		return
	}

	rt, err := ort.Init(ort.InitOptions{}) // once per process
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()
	p, err := predictor.New(rt, path, predictor.Options{
		Thresholds: predictor.Thresholds{
			Strategy:  postprocess.Strategy{Kind: postprocess.KindF1},
			Overrides: map[string]float64{"person": 0.9},
		},
		Warmup: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	dog, err := os.ReadFile("../.native/photos/dog.jpg")
	if err != nil {
		fmt.Println(err)
		return
	}
	preds, errs := p.PredictBytes(context.Background(), [][]byte{dog, []byte("not an image")})
	fmt.Println("labels:", p.Labels(), "on", p.Provider())
	fmt.Println("thresholds:", p.Thresholds())
	fmt.Println("dog.jpg:", len(preds[0].Probabilities), "probabilities, error:", errs[0])
	fmt.Println("bad image:", errors.Is(errs[1], predictor.ErrImage))
	// Output:
	// labels: [animal outdoor person] on cpu
	// thresholds: [0.3 0.5 0.9]
	// dog.jpg: 3 probabilities, error: <nil>
	// bad image: true
}
