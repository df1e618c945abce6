// Package models is the contract between the tagnet trainer and predictor.
//
// It describes the ResNet architectures once, as a flat, topologically
// ordered list of layers with torchvision parameter names ([Graph]); the
// training engine interprets that list and the ONNX writer translates it, so
// what is trained is exactly what is exported. The package also holds the
// versioned metadata schema stored in the model file (labels, preprocessing,
// training summary, threshold sweep), the ONNX writer and reader, and
// random initialisation.
//
// It depends only on the standard library and protobuf.
package models

import (
	"fmt"
	"math"
	"sort"
)

// Op names a layer kind of the architecture description.
type Op string

// Layer kinds. Each maps onto one ONNX operator (or a short fixed sequence).
const (
	OpConv       Op = "Conv"              // 2-D convolution, optional bias
	OpBatchNorm  Op = "BatchNorm"         // batch normalisation over channels of [N,C,H,W] or features of [N,F]
	OpReLU       Op = "Relu"              // rectified linear unit
	OpMaxPool    Op = "MaxPool"           // 2-D max pooling
	OpAdd        Op = "Add"               // element-wise sum of two inputs (residual)
	OpAvgPool    Op = "GlobalAveragePool" // global average pool to [N,C] (flattened)
	OpConcatPool Op = "ConcatPool"        // fastai concat pool: [max, avg] along channels, flattened to [N,2C]
	OpLinear     Op = "Linear"            // fully connected, weight [out,in], optional bias
	OpDropout    Op = "Dropout"           // dropout, active in training only
)

// Layer is one step of the architecture. Inputs and Output name values (the
// network input is [Graph.Input]); Name is the torchvision module path and
// the prefix of the layer's parameter names ("layer1.0.conv1" owns
// "layer1.0.conv1.weight"). Only the fields that apply to Op are set.
type Layer struct {
	Name   string
	Op     Op
	Inputs []string
	Output string

	InC, OutC           int // Conv: channels; Linear: in/out features; BatchNorm: OutC = features
	Kernel, Stride, Pad int // Conv, MaxPool (square kernels, symmetric padding)
	Bias                bool
	Eps, Momentum       float64 // BatchNorm
	P                   float64 // Dropout probability

	// Group is the parameter group of the layer's parameters: 0 = stem to
	// layer2, 1 = layer3 and layer4, 2 = head (fastai's ResNet split).
	Group int
}

// ParamKind tells what a parameter is; the optimiser and initialiser use it.
type ParamKind int

// Parameter kinds.
const (
	ConvWeight    ParamKind = iota // [out,in,k,k]
	LinearWeight                   // [out,in]
	Bias                           // [out] of a Conv or Linear
	BNWeight                       // [C] BatchNorm scale (gamma)
	BNBias                         // [C] BatchNorm shift (beta)
	BNRunningMean                  // [C] buffer, not trained
	BNRunningVar                   // [C] buffer, not trained
)

// Trainable reports whether the optimiser updates parameters of this kind.
func (k ParamKind) Trainable() bool { return k != BNRunningMean && k != BNRunningVar }

// Decays reports whether decoupled weight decay applies (fastai: not to
// BatchNorm parameters nor biases).
func (k ParamKind) Decays() bool { return k == ConvWeight || k == LinearWeight }

// IsBN reports whether the parameter belongs to a BatchNorm layer (these stay
// trainable in a frozen body, as fastai's train_bn).
func (k ParamKind) IsBN() bool {
	return k == BNWeight || k == BNBias || k == BNRunningMean || k == BNRunningVar
}

// Param describes one named tensor of the model.
type Param struct {
	Name  string // torchvision name, e.g. "layer2.0.downsample.1.running_var"
	Layer string // owning layer's Name
	Kind  ParamKind
	Shape []int
	Group int // parameter group, see Layer.Group
}

// Size is the number of elements of the parameter.
func (p Param) Size() int { return numel(p.Shape) }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Stem selects the network's entry.
type Stem string

// Stems.
const (
	// StemImageNet is torchvision's stem: conv 7×7/2 pad 3 → BN → ReLU →
	// max-pool 3×3/2 pad 1 (a 4× reduction before layer1).
	StemImageNet Stem = "imagenet"
	// StemSmall keeps the resolution of small images: conv 3×3/1 pad 1 →
	// BN → ReLU, no max-pool.
	StemSmall Stem = "small"
)

// Head selects the classifier on top of the body.
type Head string

// Heads.
const (
	// HeadLinear is torchvision's: global average pool → Linear(nf, C) with bias.
	HeadLinear Head = "linear"
	// HeadFastai is fastai's create_head: concat pool → BN1d(2nf) →
	// Dropout(0.25) → Linear(2nf, 512, no bias) → ReLU → BN1d(512) →
	// Dropout(0.5) → Linear(512, C, no bias).
	HeadFastai Head = "fastai"
)

// Spec identifies an architecture and its shape. It is stored in the model
// file, so a reader can rebuild the exact [Graph].
type Spec struct {
	Arch       string  `json:"arch"`        // resnet18, resnet34, resnet50 or resnet-tiny
	NumClasses int     `json:"num_classes"` // outputs
	InputSize  int     `json:"input_size"`  // square input side in pixels
	Stem       Stem    `json:"stem"`        // "" means StemImageNet
	Head       Head    `json:"head"`        // "" means HeadLinear
	Width      float64 `json:"width"`       // channel multiplier; 0 means 1
}

type archDef struct {
	bottleneck bool
	blocks     [4]int
	base       int // planes of layer1 before the width multiplier
}

var archs = map[string]archDef{
	"resnet18": {false, [4]int{2, 2, 2, 2}, 64},
	"resnet34": {false, [4]int{3, 4, 6, 3}, 64},
	"resnet50": {true, [4]int{3, 4, 6, 3}, 64},
	// resnet-tiny: one BasicBlock per stage and a quarter of the width
	// (16/32/64/128 planes): a ten-layer ResNet for tests and CPU demos.
	"resnet-tiny": {false, [4]int{1, 1, 1, 1}, 16},
}

// Archs lists the known architecture names, sorted.
func Archs() []string {
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Normalized returns s with defaults filled in (stem imagenet, head linear,
// width 1).
func (s Spec) Normalized() Spec {
	if s.Stem == "" {
		s.Stem = StemImageNet
	}
	if s.Head == "" {
		s.Head = HeadLinear
	}
	if s.Width == 0 {
		s.Width = 1
	}
	return s
}

// Validate reports the first problem with s after [Spec.Normalized] (an
// empty stem or head and a zero width take their defaults), naming the
// field: a *[SpecError].
func (s Spec) Validate() error {
	if p := s.Normalized().Problems(); len(p) > 0 {
		return p[0]
	}
	return nil
}

// Graph is an architecture as a flat list of layers in execution order,
// with its parameters in a fixed order (the order of [Graph.Params] is the
// order of the optimiser state and of checkpoints).
type Graph struct {
	Spec   Spec
	Input  string // "images": [N,3,H,W] float32
	Output string // "logits": [N,NumClasses]
	Layers []Layer
	Params []Param
	// Features is the channel count entering the head (512 for resnet18,
	// 2048 for resnet50, scaled by the width multiplier).
	Features int
}

// Value names of the graph's input and output, as in the model file.
const (
	InputName  = "images"
	OutputName = "logits"
	ProbsName  = "probabilities"
)

// Build expands s into its layer list.
func Build(s Spec) (*Graph, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("building %s: %w", s.Arch, err)
	}
	s = s.Normalized()
	def := archs[s.Arch]
	b := &builder{g: &Graph{Spec: s, Input: InputName, Output: OutputName}}
	w := func(c int) int { return max(1, int(math.Round(float64(c)*s.Width))) }

	x := InputName
	stemC := w(def.base)
	if s.Stem == StemImageNet {
		x = b.conv("conv1", x, 3, stemC, 7, 2, 3, false, 0)
	} else {
		x = b.conv("conv1", x, 3, stemC, 3, 1, 1, false, 0)
	}
	x = b.bn("bn1", x, stemC, 0)
	x = b.relu("relu", x, 0)
	if s.Stem == StemImageNet {
		x = b.add(Layer{Name: "maxpool", Op: OpMaxPool, Inputs: []string{x}, Kernel: 3, Stride: 2, Pad: 1})
	}
	inC := stemC
	expansion := 1
	if def.bottleneck {
		expansion = 4
	}
	for stage := 0; stage < 4; stage++ {
		planes := w(def.base << stage)
		group := 0
		if stage >= 2 {
			group = 1
		}
		for blk := 0; blk < def.blocks[stage]; blk++ {
			stride := 1
			if stage > 0 && blk == 0 {
				stride = 2
			}
			name := fmt.Sprintf("layer%d.%d", stage+1, blk)
			outC := planes * expansion
			identity := x
			var y string
			if def.bottleneck {
				y = b.conv(name+".conv1", x, inC, planes, 1, 1, 0, false, group)
				y = b.bn(name+".bn1", y, planes, group)
				y = b.relu(name+".relu1", y, group)
				y = b.conv(name+".conv2", y, planes, planes, 3, stride, 1, false, group)
				y = b.bn(name+".bn2", y, planes, group)
				y = b.relu(name+".relu2", y, group)
				y = b.conv(name+".conv3", y, planes, outC, 1, 1, 0, false, group)
				y = b.bn(name+".bn3", y, outC, group)
			} else {
				y = b.conv(name+".conv1", x, inC, planes, 3, stride, 1, false, group)
				y = b.bn(name+".bn1", y, planes, group)
				y = b.relu(name+".relu1", y, group)
				y = b.conv(name+".conv2", y, planes, planes, 3, 1, 1, false, group)
				y = b.bn(name+".bn2", y, planes, group)
			}
			if stride != 1 || inC != outC {
				identity = b.conv(name+".downsample.0", x, inC, outC, 1, stride, 0, false, group)
				identity = b.bn(name+".downsample.1", identity, outC, group)
			}
			x = b.add(Layer{Name: name + ".add", Op: OpAdd, Inputs: []string{y, identity}, Group: group})
			x = b.relu(name+".relu", x, group)
			inC = outC
		}
	}
	b.g.Features = inC

	const head = 2
	switch s.Head {
	case HeadLinear:
		x = b.add(Layer{Name: "avgpool", Op: OpAvgPool, Inputs: []string{x}, Group: head})
		b.linear("fc", x, inC, s.NumClasses, true, OutputName)
	case HeadFastai:
		// Module paths follow fastai's Sequential(body, head): the head's
		// children are numbered as create_head numbers them.
		x = b.add(Layer{Name: "head.0", Op: OpConcatPool, Inputs: []string{x}, Group: head})
		x = b.bn1d("head.2", x, 2*inC)
		x = b.add(Layer{Name: "head.3", Op: OpDropout, Inputs: []string{x}, P: 0.25, Group: head})
		x = b.linear("head.4", x, 2*inC, 512, false, "")
		x = b.relu("head.5", x, head)
		x = b.bn1d("head.6", x, 512)
		x = b.add(Layer{Name: "head.7", Op: OpDropout, Inputs: []string{x}, P: 0.5, Group: head})
		b.linear("head.8", x, 512, s.NumClasses, false, OutputName)
	}
	return b.g, nil
}

// MustBuild is Build for specs known to be valid (tests, tables); it panics
// on an invalid spec, a programmer error.
func MustBuild(s Spec) *Graph {
	g, err := Build(s)
	if err != nil {
		panic(err)
	}
	return g
}

type builder struct{ g *Graph }

// add appends l, naming its output after the layer unless already named.
func (b *builder) add(l Layer) string {
	if l.Output == "" {
		l.Output = l.Name
	}
	b.g.Layers = append(b.g.Layers, l)
	return l.Output
}

func (b *builder) param(layer string, suffix string, kind ParamKind, group int, shape ...int) {
	b.g.Params = append(b.g.Params, Param{Name: layer + "." + suffix, Layer: layer, Kind: kind, Shape: shape, Group: group})
}

func (b *builder) conv(name, x string, in, out, k, stride, pad int, bias bool, group int) string {
	b.param(name, "weight", ConvWeight, group, out, in, k, k)
	if bias {
		b.param(name, "bias", Bias, group, out)
	}
	return b.add(Layer{Name: name, Op: OpConv, Inputs: []string{x}, InC: in, OutC: out, Kernel: k, Stride: stride, Pad: pad, Bias: bias, Group: group})
}

func (b *builder) bn(name, x string, c, group int) string {
	b.param(name, "weight", BNWeight, group, c)
	b.param(name, "bias", BNBias, group, c)
	b.param(name, "running_mean", BNRunningMean, group, c)
	b.param(name, "running_var", BNRunningVar, group, c)
	return b.add(Layer{Name: name, Op: OpBatchNorm, Inputs: []string{x}, InC: c, OutC: c, Eps: 1e-5, Momentum: 0.1, Group: group})
}

func (b *builder) bn1d(name, x string, c int) string { return b.bn(name, x, c, 2) }

func (b *builder) relu(name, x string, group int) string {
	return b.add(Layer{Name: name, Op: OpReLU, Inputs: []string{x}, Group: group})
}

func (b *builder) linear(name, x string, in, out int, bias bool, output string) string {
	b.param(name, "weight", LinearWeight, 2, out, in)
	if bias {
		b.param(name, "bias", Bias, 2, out)
	}
	return b.add(Layer{Name: name, Op: OpLinear, Inputs: []string{x}, Output: output, InC: in, OutC: out, Bias: bias, Group: 2})
}

// Param returns the parameter called name.
func (g *Graph) Param(name string) (Param, bool) {
	for _, p := range g.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// NumParams counts the trainable parameter elements (buffers excluded).
func (g *Graph) NumParams() int {
	n := 0
	for _, p := range g.Params {
		if p.Kind.Trainable() {
			n += p.Size()
		}
	}
	return n
}
