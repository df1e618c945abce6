package models

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReadInfo checks the streaming metadata reader against the full
// parser on a written model, and that it refuses what is not a whole
// ONNX model.
func TestReadInfo(t *testing.T) {
	g, err := Build(Spec{Arch: "resnet-tiny", NumClasses: 3, InputSize: 32, Stem: StemSmall})
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Graph: g, Weights: Init(g, InitOptions{Seed: 1}),
		Metadata: Metadata{Labels: []string{"a", "b", "c"}, Preprocess: []byte(`{"width":32}`)}}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := m.WriteFile(path, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseONNX(b)
	if err != nil {
		t.Fatal(err)
	}
	want, err := f.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := ReadInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fi.Metadata, want) {
		t.Errorf("ReadInfo metadata\n%+v\nParseONNX\n%+v", fi.Metadata, want)
	}
	sum := sha256.Sum256(b)
	if fi.SHA256 != hex.EncodeToString(sum[:]) || fi.Size != int64(len(b)) {
		t.Errorf("sha256 %s size %d, want %x and %d", fi.SHA256, fi.Size, sum, len(b))
	}

	for name, data := range map[string][]byte{
		"cut":     b[:len(b)/2],
		"text":    []byte("not a model at all"),
		"empty":   nil,
		"nograph": b[len(b)-200:],
	} {
		p := filepath.Join(t.TempDir(), name+".onnx")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadInfo(p); err == nil {
			t.Errorf("%s: ReadInfo accepted it", name)
		}
	}
}

// TestReadInfoInputsOutputs reads the graph inputs and outputs of a
// written model and of the torchvision export (whose weights are
// initializers, not inputs).
func TestReadInfoInputsOutputs(t *testing.T) {
	g, err := Build(Spec{Arch: "resnet-tiny", NumClasses: 3, InputSize: 32, Stem: StemSmall})
	if err != nil {
		t.Fatal(err)
	}
	m := &Model{Graph: g, Weights: Init(g, InitOptions{Seed: 1}), Metadata: Metadata{Labels: []string{"a", "b", "c"}}}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := m.WriteFile(path, WriteOptions{Probabilities: true}); err != nil {
		t.Fatal(err)
	}
	fi, err := ReadInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &FileInfo{
		Inputs:  []ValueInfo{{Name: "images", ElemType: 1, Shape: []int64{-1, 3, 32, 32}}},
		Outputs: []ValueInfo{{Name: "logits", ElemType: 1, Shape: []int64{-1, 3}}, {Name: "probabilities", ElemType: 1, Shape: []int64{-1, 3}}},
	}
	if !reflect.DeepEqual(fi.Inputs, want.Inputs) || !reflect.DeepEqual(fi.Outputs, want.Outputs) {
		t.Errorf("inputs %+v outputs %+v, want %+v %+v", fi.Inputs, fi.Outputs, want.Inputs, want.Outputs)
	}
	tv := filepath.Join("..", ".native", "fixtures", "torchvision-resnet18", "model.onnx")
	fi, err = ReadONNXInfo(tv)
	if err != nil {
		t.Fatalf("%v (run scripts/setup.sh)", err)
	}
	if len(fi.Inputs) != 1 || len(fi.Outputs) != 1 || fi.Metadata != nil || fi.Inputs[0].ElemType != 1 || len(fi.Inputs[0].Shape) != 4 {
		t.Errorf("torchvision export: inputs %+v outputs %+v metadata %v", fi.Inputs, fi.Outputs, fi.Metadata)
	}
}
