// Package predictortest writes what the predictor's tests need: small,
// random-initialised tagnet models with preprocessing and a threshold sweep
// in their metadata, and directories of real photographs beside bad files
// of every kind. Tests and benchmarks of the predictor, its batch mode and
// its HTTP service use it; no binary does.
package predictortest

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
)

// Labels are the classes of the models Write makes.
var Labels = []string{"animal", "outdoor", "person"}

// Options tunes Write. The zero value writes a 32-pixel resnet-tiny with
// three classes, a sweep and tagnet's default preprocessing.
type Options struct {
	// InputSize is the square input side; 0 means 32.
	InputSize int
	// NoSweep leaves the threshold sweep out.
	NoSweep bool
	// Seed seeds the weights.
	Seed uint64
}

// Sweep returns a sweep over the grid 0.1 … 0.9 for Labels whose best
// smoothed F1 is at 0.3 for animal, 0.5 for outdoor and 0.7 for person.
func Sweep() *models.Sweep {
	grid := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}
	s := &models.Sweep{Thresholds: grid, Items: 50, AccuracyMulti: make([]float64, len(grid))}
	peaks := []int{2, 4, 6}
	for c, label := range Labels {
		cs := models.ClassSweep{Label: label, Support: 10 + c}
		for i := range grid {
			d := float64(i - peaks[c])
			f1 := 0.8 - 0.05*d*d
			cs.F1 = append(cs.F1, max(f1, 0))
			cs.Precision = append(cs.Precision, 0.5+0.05*float64(i))
			cs.Recall = append(cs.Recall, 0.95-0.1*float64(i))
			cs.Accuracy = append(cs.Accuracy, 0.7)
		}
		s.Classes = append(s.Classes, cs)
	}
	for i := range grid {
		s.AccuracyMulti[i] = 0.7
	}
	return s
}

// Write writes a model into dir and returns its path.
func Write(dir string, opt Options) (string, error) {
	size := opt.InputSize
	if size == 0 {
		size = 32
	}
	spec := models.Spec{Arch: "resnet-tiny", NumClasses: len(Labels), InputSize: size, Stem: models.StemSmall}
	g, err := models.Build(spec)
	if err != nil {
		return "", err
	}
	pre, err := json.Marshal(preprocess.Default(size))
	if err != nil {
		return "", err
	}
	md := models.Metadata{
		Spec:       spec,
		Labels:     Labels,
		Preprocess: pre,
		Training: &models.Training{
			Arch: "resnet-tiny", Epochs: 3, Dataset: "testmodel", Train: 200, Valid: 50,
			Finished: "2025-01-02T03:04:05Z", Metrics: map[string]float64{"accuracy_multi": 0.7},
		},
	}
	if !opt.NoSweep {
		md.Sweep = Sweep()
	}
	m := &models.Model{Graph: g, Weights: models.Init(g, models.InitOptions{Seed: opt.Seed + 1}), Metadata: md}
	name := fmt.Sprintf("tiny%d-s%d", size, opt.Seed)
	if opt.NoSweep {
		name += "-nosweep"
	}
	path := filepath.Join(dir, name+".onnx")
	if err := m.WriteFile(path, models.WriteOptions{}); err != nil {
		return "", err
	}
	return path, nil
}
