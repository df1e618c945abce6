package models_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tagnet/tagnet/models"
)

// A random-initialised model written and read back, as `tagnet-train init`
// does.
func ExampleModel() {
	g := models.MustBuild(models.Spec{Arch: "resnet18", NumClasses: 20, InputSize: 224})
	labels := make([]string, 20)
	for i := range labels {
		labels[i] = fmt.Sprintf("class%02d", i)
	}
	m := &models.Model{Graph: g, Weights: models.Init(g, models.InitOptions{Seed: 1}), Metadata: models.Metadata{Labels: labels}}

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.onnx")
	if err := m.WriteFile(path, models.WriteOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	back, err := models.Load(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(back.Metadata.Spec.Arch, back.Metadata.Spec.NumClasses, "classes,", back.Graph.NumParams(), "parameters")
	// Output: resnet18 20 classes, 11186772 parameters
}
