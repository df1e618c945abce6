package ort_test

import (
	"fmt"

	"github.com/tagnet/tagnet/predictor/ort"
)

// Open a torchvision ResNet-18 export on the CPU and run a batch of two.
func ExampleSession() {
	rt, err := ort.Init(ort.InitOptions{}) // finds the library scripts/setup.sh installed
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()

	s, err := ort.NewSession(rt, "../../.native/fixtures/torchvision-resnet18/model.onnx",
		ort.SessionOptions{IntraOpThreads: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	logits, err := s.Run(make([]float32, 2*3*224*224), 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("input:", s.InputName(), s.InputShape())
	fmt.Println("output:", s.LogitsName(), []int{2, s.NumClasses()}, len(logits), "values on", s.Provider())
	// Output:
	// input: input [-1 3 224 224]
	// output: output [2 20] 40 values on cpu
}
