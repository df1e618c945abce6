package models

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"/conv1/Conv":                                   "conv1",
		"/layer1/layer1.0/conv1/Conv":                   "layer1.0.conv1",
		"/layer2/layer2.0/downsample/downsample.0/Conv": "layer2.0.downsample.0",
		"/fc/Gemm":       "fc",
		"layer3.1.conv2": "layer3.1.conv2",
	} {
		if got := modulePath(in); got != want {
			t.Errorf("modulePath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The fixture is a real torchvision export with BatchNorm folded into the
// convolutions (see .native/fixtures/torchvision-resnet18/README.md).
const fixtureModel = "../.native/fixtures/torchvision-resnet18/model.onnx"

func TestImportTorchvisionFixture(t *testing.T) {
	b, err := os.ReadFile(fixtureModel)
	if err != nil {
		t.Fatalf("%v (scripts/setup.sh copies the fixture)", err)
	}
	f, err := ParseONNX(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := InferSpec(f)
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{Arch: "resnet18", NumClasses: 20, InputSize: 224, Stem: StemImageNet, Head: HeadLinear, Width: 1}
	if s != want {
		t.Fatalf("inferred %+v, want %+v", s, want)
	}
	g := MustBuild(s)
	w, rep, err := Import(f, g, Init(g, InitOptions{Seed: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Convs != 20 || rep.FusedBN != 20 || !rep.Head {
		t.Errorf("report %+v", rep)
	}
	// layer2.0.downsample.0 is the 9th convolution; its folded weight and
	// bias are the node's second and third inputs.
	for _, n := range f.Proto.Graph.Node {
		if n.GetName() == "/layer2/layer2.0/downsample/downsample.0/Conv" {
			wt, _ := f.Initializer(n.Input[1])
			bt, _ := f.Initializer(n.Input[2])
			if !slices.Equal(w["layer2.0.downsample.0.weight"].Data, wt.Data) || !slices.Equal(w["layer2.0.downsample.1.bias"].Data, bt.Data) {
				t.Error("downsample weights not mapped by module path")
			}
		}
	}
	// A fastai head is not importable from a linear one: the body is, and
	// the head keeps the base weights.
	s.Head = HeadFastai
	g2 := MustBuild(s)
	base := Init(g2, InitOptions{Seed: 5})
	w2, rep2, err := Import(f, g2, base)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Head || !slices.Equal(w2["head.8.weight"].Data, base["head.8.weight"].Data) || !slices.Equal(w2["conv1.weight"].Data, w["conv1.weight"].Data) {
		t.Errorf("fastai-head import: report %+v", rep2)
	}
	if slices.Equal(base["conv1.weight"].Data, w2["conv1.weight"].Data) {
		t.Error("Import changed base in place or did not import")
	}
}

// A tagnet export keeps BatchNormalization nodes; importing it through the
// foreign-model path must give back exactly the same weights.
func TestImportUnfusedRoundTrip(t *testing.T) {
	m := testModel(t, Spec{Arch: "resnet18", NumClasses: 4, InputSize: 64}, false)
	for _, p := range m.Graph.Params { // non-trivial statistics
		if p.Kind == BNRunningMean || p.Kind == BNRunningVar {
			for i := range m.Weights[p.Name].Data {
				m.Weights[p.Name].Data[i] = 0.5 + float32(i%7)*0.1
			}
		}
	}
	b, err := m.Encode(WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := ParseONNX(b)
	s, err := InferSpec(f)
	if err != nil {
		t.Fatal(err)
	}
	if s != m.Graph.Spec {
		t.Fatalf("inferred %+v, want %+v", s, m.Graph.Spec)
	}
	w, rep, err := Import(f, m.Graph, Init(m.Graph, InitOptions{Seed: 99}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.FusedBN != 0 || rep.Convs != 20 || !rep.Head {
		t.Errorf("report %+v", rep)
	}
	for name, want := range m.Weights {
		if !slices.Equal(w[name].Data, want.Data) {
			t.Errorf("%s differs after import", name)
		}
	}
}

func TestImportRejectsOtherShapes(t *testing.T) {
	m := testModel(t, Spec{Arch: "resnet34", NumClasses: 4, InputSize: 64}, false)
	b, _ := m.Encode(WriteOptions{})
	f, _ := ParseONNX(b)
	g := MustBuild(Spec{Arch: "resnet18", NumClasses: 4, InputSize: 64})
	if _, _, err := Import(f, g, Init(g, InitOptions{})); err == nil || !strings.Contains(err.Error(), "36 convolutions, resnet18 has 20") {
		t.Errorf("got %v", err)
	}
	narrow := MustBuild(Spec{Arch: "resnet34", NumClasses: 4, InputSize: 64, Width: 0.5})
	if _, _, err := Import(f, narrow, Init(narrow, InitOptions{})); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("width mismatch: got %v", err)
	}
}
