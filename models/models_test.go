package models

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/tagnet/tagnet/models/onnxpb"
)

// The parameter counts torchvision reports for its ImageNet models
// (1000 classes, linear head): sum(p.numel() for p in model.parameters()).
func TestParamCountsMatchTorchvision(t *testing.T) {
	for arch, want := range map[string]int{
		"resnet18": 11_689_512,
		"resnet34": 21_797_672,
		"resnet50": 25_557_032,
	} {
		g := MustBuild(Spec{Arch: arch, NumClasses: 1000, InputSize: 224})
		if got := g.NumParams(); got != want {
			t.Errorf("%s: %d parameters, torchvision has %d", arch, got, want)
		}
	}
}

func TestTorchvisionNames(t *testing.T) {
	g := MustBuild(Spec{Arch: "resnet50", NumClasses: 20, InputSize: 128})
	for _, name := range []string{
		"conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight",
		"layer2.0.downsample.1.running_var", "layer4.2.conv3.weight", "layer4.2.bn3.bias", "fc.weight", "fc.bias",
	} {
		if _, ok := g.Param(name); !ok {
			t.Errorf("resnet50 has no parameter %s", name)
		}
	}
	p, _ := g.Param("layer2.0.conv2.weight") // v1.5: the stride sits on the 3×3
	if !slices.Equal(p.Shape, []int{128, 128, 3, 3}) {
		t.Errorf("layer2.0.conv2.weight shape %v", p.Shape)
	}
	for _, l := range g.Layers {
		if l.Name == "layer2.0.conv2" && l.Stride != 2 {
			t.Errorf("layer2.0.conv2 stride %d, want 2", l.Stride)
		}
	}
	if g.Features != 2048 {
		t.Errorf("resnet50 features %d", g.Features)
	}
}

func TestFastaiHeadAndGroups(t *testing.T) {
	g := MustBuild(Spec{Arch: "resnet34", NumClasses: 20, InputSize: 128, Head: HeadFastai})
	want := map[string][]int{
		"head.2.weight": {1024}, "head.4.weight": {512, 1024}, "head.6.running_mean": {512}, "head.8.weight": {20, 512},
	}
	for name, shape := range want {
		p, ok := g.Param(name)
		if !ok || !slices.Equal(p.Shape, shape) || p.Group != 2 {
			t.Errorf("%s: %+v (found %v)", name, p, ok)
		}
	}
	if _, ok := g.Param("head.4.bias"); ok {
		t.Error("fastai head linears have no bias")
	}
	groups := map[string]int{"conv1.weight": 0, "layer2.3.bn2.weight": 0, "layer3.0.conv1.weight": 1, "layer4.2.bn2.bias": 1}
	for name, grp := range groups {
		if p, _ := g.Param(name); p.Group != grp {
			t.Errorf("%s in group %d, want %d", name, p.Group, grp)
		}
	}
}

func TestSmallStemAndWidth(t *testing.T) {
	g := MustBuild(Spec{Arch: "resnet18", NumClasses: 10, InputSize: 32, Stem: StemSmall, Width: 0.5})
	p, _ := g.Param("conv1.weight")
	if !slices.Equal(p.Shape, []int{32, 3, 3, 3}) {
		t.Errorf("small stem conv1 %v", p.Shape)
	}
	for _, l := range g.Layers {
		if l.Op == OpMaxPool {
			t.Error("small stem has a max-pool")
		}
	}
	if g.Features != 256 {
		t.Errorf("width 0.5 features %d, want 256", g.Features)
	}
}

func TestSpecValidateNamesField(t *testing.T) {
	for _, tc := range []struct {
		s    Spec
		want string
	}{
		{Spec{Arch: "vgg", NumClasses: 2, InputSize: 64}, "arch"},
		{Spec{Arch: "resnet18", NumClasses: 0, InputSize: 64}, "num_classes"},
		{Spec{Arch: "resnet18", NumClasses: 2, InputSize: 8}, "input_size"},
		{Spec{Arch: "resnet18", NumClasses: 2, InputSize: 64, Stem: "big"}, "stem"},
		{Spec{Arch: "resnet18", NumClasses: 2, InputSize: 64, Head: "mlp"}, "head"},
		{Spec{Arch: "resnet18", NumClasses: 2, InputSize: 64, Width: -1}, "width"},
	} {
		err := tc.s.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to start with %q", tc.s, err, tc.want)
		}
	}
}

func TestInitStatistics(t *testing.T) {
	g := MustBuild(Spec{Arch: "resnet18", NumClasses: 20, InputSize: 128, Head: HeadFastai})
	w := Init(g, InitOptions{Seed: 1, ZeroInitResidual: true})
	if err := w.Check(g); err != nil {
		t.Fatal(err)
	}
	// Kaiming normal, fan_out: layer3.0.conv2 is 256×256×3×3 → std √(2/2304).
	std := stddev(w["layer3.0.conv2.weight"].Data)
	if want := math.Sqrt(2.0 / (256 * 9)); math.Abs(std-want)/want > 0.02 {
		t.Errorf("conv std %.5f, want %.5f", std, want)
	}
	if want := math.Sqrt(2.0 / 1024); math.Abs(stddev(w["head.4.weight"].Data)-want)/want > 0.02 {
		t.Errorf("head linear std %.5f, want %.5f", stddev(w["head.4.weight"].Data), want)
	}
	if w["layer1.0.bn2.weight"].Data[0] != 0 || w["layer1.0.bn1.weight"].Data[0] != 1 {
		t.Error("zero_init_residual should zero only each block's last BN")
	}
	if w["head.2.bias"].Data[0] != 1e-3 || w["bn1.bias"].Data[0] != 0 || w["bn1.running_var"].Data[0] != 1 {
		t.Error("BN init wrong")
	}
	again := Init(g, InitOptions{Seed: 1, ZeroInitResidual: true})
	if !slices.Equal(again["conv1.weight"].Data, w["conv1.weight"].Data) {
		t.Error("same seed gave different weights")
	}
	other := Init(g, InitOptions{Seed: 2})
	if slices.Equal(other["conv1.weight"].Data, w["conv1.weight"].Data) {
		t.Error("different seeds gave the same weights")
	}
}

func stddev(d []float32) float64 {
	var s, s2 float64
	for _, v := range d {
		s += float64(v)
		s2 += float64(v) * float64(v)
	}
	n := float64(len(d))
	return math.Sqrt(s2/n - (s/n)*(s/n))
}

func testModel(t testing.TB, s Spec, withSweep bool) *Model {
	t.Helper()
	g := MustBuild(s)
	labels := make([]string, s.NumClasses)
	for i := range labels {
		labels[i] = string(rune('a'+i%26)) + strings.Repeat("x", i/26)
	}
	md := Metadata{
		Labels:     labels,
		Preprocess: json.RawMessage(`{"width":64,"height":64}`),
		Training:   &Training{Arch: s.Arch, Epochs: 3, Metrics: map[string]float64{"f1_macro": 0.9, "nan": math.NaN()}},
	}
	if withSweep {
		md.Sweep = fakeSweep(labels)
	}
	return &Model{Graph: g, Weights: Init(g, InitOptions{Seed: 7}), Metadata: md}
}

func fakeSweep(labels []string) *Sweep {
	grid := Grid(0.05, 0.95, 29)
	s := &Sweep{Thresholds: grid, Items: 100, AccuracyMulti: make([]float64, len(grid))}
	for i, l := range labels {
		c := ClassSweep{Label: l, Support: 10 + i}
		for j := range grid {
			c.Precision = append(c.Precision, grid[j])
			c.Recall = append(c.Recall, 1-grid[j])
			c.F1 = append(c.F1, 2*grid[j]*(1-grid[j]))
			c.Accuracy = append(c.Accuracy, 0.5)
		}
		s.Classes = append(s.Classes, c)
	}
	return s
}

func TestRoundTripEveryArch(t *testing.T) {
	dir := t.TempDir()
	for _, arch := range Archs() {
		for _, s := range []Spec{
			{Arch: arch, NumClasses: 20, InputSize: 64, Head: HeadFastai},
			{Arch: arch, NumClasses: 3, InputSize: 32, Stem: StemSmall, Width: 0.25},
		} {
			m := testModel(t, s, true)
			path := filepath.Join(dir, arch+".onnx")
			if err := m.WriteFile(path, WriteOptions{Probabilities: true}); err != nil {
				t.Fatal(err)
			}
			back, err := Load(path)
			if err != nil {
				t.Fatalf("%s: %v", arch, err)
			}
			if back.Metadata.Spec != m.Graph.Spec {
				t.Errorf("%s: spec %+v, want %+v", arch, back.Metadata.Spec, m.Graph.Spec)
			}
			for name, w := range m.Weights {
				if !slices.Equal(back.Weights[name].Data, w.Data) {
					t.Fatalf("%s: %s differs after round trip", arch, name)
				}
			}
			if !slices.Equal(back.Metadata.Labels, m.Metadata.Labels) ||
				back.Metadata.Sweep.Classes[2].F1[3] != m.Metadata.Sweep.Classes[2].F1[3] ||
				back.Metadata.Training.Metrics["f1_macro"] != 0.9 || string(back.Metadata.Preprocess) != `{"width":64,"height":64}` {
				t.Errorf("%s: metadata changed: %+v", arch, back.Metadata)
			}
			if _, ok := back.Metadata.Training.Metrics["nan"]; ok {
				t.Errorf("%s: NaN metric written", arch)
			}
		}
	}
}

func TestEncodedGraphShape(t *testing.T) {
	m := testModel(t, Spec{Arch: "resnet-tiny", NumClasses: 5, InputSize: 64, Head: HeadFastai}, false)
	b, err := m.Encode(WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseONNX(b)
	if err != nil {
		t.Fatal(err)
	}
	p := f.Proto
	if p.GetIrVersion() != 8 || p.OpsetImport[0].GetVersion() != 17 {
		t.Errorf("ir %d opset %d", p.GetIrVersion(), p.OpsetImport[0].GetVersion())
	}
	in := p.Graph.Input[0]
	dims := in.Type.GetTensorType().Shape.Dim
	if in.GetName() != "images" || dims[0].GetDimParam() != "batch" || dims[1].GetDimValue() != 3 || dims[3].GetDimValue() != 64 {
		t.Errorf("input %v", in)
	}
	if len(p.Graph.Output) != 1 || p.Graph.Output[0].GetName() != "logits" {
		t.Errorf("outputs %v", p.Graph.Output)
	}
	ops := map[string]int{}
	for _, n := range p.Graph.Node {
		ops[n.GetOpType()]++
		if n.GetOpType() == "Dropout" {
			t.Error("dropout exported")
		}
	}
	// resnet-tiny: stem + 4 blocks × 2 convs + 3 downsamples; fastai head.
	if ops["Conv"] != 12 || ops["BatchNormalization"] != 14 || ops["Gemm"] != 2 || ops["GlobalMaxPool"] != 1 || ops["Concat"] != 1 {
		t.Errorf("op counts %v", ops)
	}
}

func TestReaderRejects(t *testing.T) {
	m := testModel(t, Spec{Arch: "resnet-tiny", NumClasses: 2, InputSize: 32}, false)
	b, err := m.Encode(WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*pb.ModelProto)) []byte {
		mp := &pb.ModelProto{}
		if err := proto.Unmarshal(b, mp); err != nil {
			t.Fatal(err)
		}
		f(mp)
		out, err := proto.Marshal(mp)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	setProp := func(key, val string) func(*pb.ModelProto) {
		return func(mp *pb.ModelProto) {
			for _, p := range mp.MetadataProps {
				if p.GetKey() == key {
					p.Value = proto.String(val)
				}
			}
		}
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("not a model at all"), "parsing ONNX"},
		{"empty", nil, "not an ONNX model"},
		{"newer major", edit(setProp(KeySchema, "2.0")), "schema version 2.0, this build reads major version 1"},
		{"bad schema", edit(setProp(KeySchema, "one")), "not major.minor"},
		{"no schema", edit(func(mp *pb.ModelProto) { mp.MetadataProps = nil }), "not a tagnet model"},
		{"label count", edit(setProp(KeyLabels, `["a"]`)), "1 labels for 2 classes"},
		{"bad spec", edit(setProp(KeySpec, `{"arch":"vgg16","num_classes":2,"input_size":32}`)), `arch "vgg16" is invalid: must be one of`},
		{"missing weight", edit(func(mp *pb.ModelProto) { mp.Graph.Initializer = mp.Graph.Initializer[1:] }), "no initializer conv1.weight"},
		{"truncated weight", edit(func(mp *pb.ModelProto) { mp.Graph.Initializer[0].RawData = mp.Graph.Initializer[0].RawData[:8] }), "raw bytes"},
	} {
		_, err := Decode(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if tc.name == "newer major" && !errors.Is(err, ErrSchema) {
			t.Errorf("newer major: %v does not wrap ErrSchema", err)
		}
	}
}

func TestSweepValidate(t *testing.T) {
	labels := []string{"cat", "dog"}
	s := fakeSweep(labels)
	if err := s.Validate(labels); err != nil {
		t.Fatal(err)
	}
	s.Classes[1].F1 = s.Classes[1].F1[:3]
	if err := s.Validate(labels); err == nil || !strings.Contains(err.Error(), `class "dog" f1 has 3 values`) {
		t.Errorf("got %v", err)
	}
	s = fakeSweep(labels)
	s.Thresholds[4] = s.Thresholds[3]
	if err := s.Validate(labels); err == nil || !strings.Contains(err.Error(), "not increasing") {
		t.Errorf("got %v", err)
	}
	if err := fakeSweep(labels).Validate([]string{"cat", "cow"}); err == nil {
		t.Error("label mismatch accepted")
	}
}

func TestGridIsBookSweep(t *testing.T) {
	g := Grid(0.05, 0.95, 29)
	if len(g) != 29 || g[0] != 0.05 || g[28] != 0.95 || math.Abs(g[1]-0.08214285714285714) > 1e-15 {
		t.Errorf("grid %v", g)
	}
}

func TestWriteFileAtomicLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	m := testModel(t, Spec{Arch: "resnet-tiny", NumClasses: 2, InputSize: 32}, false)
	if err := m.WriteFile(path, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	bad := *m
	bad.Weights = Weights{}
	if err := bad.WriteFile(path, WriteOptions{}); err == nil {
		t.Fatal("writing incomplete weights succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the model", len(entries))
	}
	if _, err := Load(path); err != nil {
		t.Errorf("the first model was damaged: %v", err)
	}
}
