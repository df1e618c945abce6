package models

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/tagnet/tagnet/models/onnxpb"
)

// ImportReport says what [Import] took from a foreign model.
type ImportReport struct {
	// Convs is the number of convolutions mapped.
	Convs int
	// FusedBN counts convolutions whose BatchNorm had been folded into
	// them (as torch.onnx.export does in eval mode); their BatchNorm
	// layers here are set to the identity plus the folded bias.
	FusedBN int
	// Head is true when the classifier (fc) weights were imported too;
	// false when g's head differs and keeps base's weights.
	Head bool
}

// InferSpec guesses the tagnet Spec of a torchvision-layout ResNet from its
// ONNX graph: the architecture from its convolution count and block type,
// the stem from the first kernel, the width from the stem's channels, the
// classes from the final Gemm and the input size from the graph input.
func InferSpec(f *File) (Spec, error) {
	g := f.Proto.Graph
	var convs []*pb.NodeProto
	gemms := 0
	var lastGemm *pb.NodeProto
	for _, n := range g.Node {
		switch n.GetOpType() {
		case "Conv":
			convs = append(convs, n)
		case "Gemm", "MatMul":
			gemms++
			lastGemm = n
		}
	}
	s := Spec{Head: HeadLinear}
	switch len(convs) {
	case 12:
		s.Arch = "resnet-tiny"
	case 20:
		s.Arch = "resnet18"
	case 36:
		s.Arch = "resnet34"
	case 53:
		s.Arch = "resnet50"
	default:
		return Spec{}, fmt.Errorf("importing: %d convolutions match no known ResNet (resnet-tiny 12, resnet18 20, resnet34 36, resnet50 53)", len(convs))
	}
	w0, err := f.Initializer(input(convs[0], 1))
	if err != nil {
		return Spec{}, fmt.Errorf("importing: first convolution: %w", err)
	}
	if len(w0.Shape) != 4 {
		return Spec{}, fmt.Errorf("importing: first convolution weight has shape %v", w0.Shape)
	}
	switch w0.Shape[2] {
	case 7:
		s.Stem = StemImageNet
	case 3:
		s.Stem = StemSmall
	default:
		return Spec{}, fmt.Errorf("importing: first convolution is %d×%d; want 7×7 (imagenet stem) or 3×3 (small stem)", w0.Shape[2], w0.Shape[3])
	}
	base := float64(archs[s.Arch].base)
	s.Width = float64(w0.Shape[0]) / base
	if gemms != 1 {
		return Spec{}, fmt.Errorf("importing: %d fully connected layers; want torchvision's single fc", gemms)
	}
	fc, err := f.Initializer(input(lastGemm, 1))
	if err != nil {
		return Spec{}, fmt.Errorf("importing: fc: %w", err)
	}
	s.NumClasses = fc.Shape[0]
	if lastGemm.GetOpType() == "Gemm" && attrInt(lastGemm, "transB", 0) == 0 || lastGemm.GetOpType() == "MatMul" {
		s.NumClasses = fc.Shape[1]
	}
	if len(g.Input) == 0 {
		return Spec{}, fmt.Errorf("importing: the graph has no input")
	}
	dims := g.Input[0].GetType().GetTensorType().GetShape().GetDim()
	if len(dims) != 4 || dims[2].GetDimValue() == 0 || dims[2].GetDimValue() != dims[3].GetDimValue() {
		return Spec{}, fmt.Errorf("importing: input %s is not a fixed square [N,3,H,W]", g.Input[0].GetName())
	}
	s.InputSize = int(dims[2].GetDimValue())
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("importing: %w", err)
	}
	return s, nil
}

// Import copies the weights of a torchvision-layout ResNet in f into a copy
// of base (weights for g), so users can fine-tune models they already have.
//
// Convolutions are matched in order, cross-checked with the module path
// torch.onnx.export writes into node names ("/layer1/layer1.0/conv1/Conv" is
// layer1.0.conv1) when present; initializer names are not relied on. A
// BatchNormalization node after a convolution gives that layer's statistics;
// without one, the BatchNorm was folded into the convolution and the layer
// here becomes the identity plus the folded bias, which computes the same
// function in eval mode. The fc layer is imported when g has a linear head
// of the same shape; otherwise the head keeps base's weights.
func Import(f *File, g *Graph, base Weights) (Weights, *ImportReport, error) {
	out := make(Weights, len(base))
	for k, t := range base {
		out[k] = &Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
	}
	if err := out.Check(g); err != nil {
		return nil, nil, fmt.Errorf("importing: %w", err)
	}
	var convLayers []Layer
	bnAfter := map[string]Layer{} // conv layer name → its BatchNorm layer
	for i, l := range g.Layers {
		if l.Op == OpConv {
			convLayers = append(convLayers, l)
			if i+1 < len(g.Layers) && g.Layers[i+1].Op == OpBatchNorm && g.Layers[i+1].Inputs[0] == l.Output {
				bnAfter[l.Name] = g.Layers[i+1]
			}
		}
	}
	var convs []*pb.NodeProto
	bnOf := map[string]*pb.NodeProto{} // conv output value → BatchNormalization node
	var gemm *pb.NodeProto
	for _, n := range f.Proto.Graph.Node {
		switch n.GetOpType() {
		case "Conv":
			convs = append(convs, n)
		case "BatchNormalization":
			bnOf[input(n, 0)] = n
		case "Gemm":
			gemm = n
		}
	}
	if len(convs) != len(convLayers) {
		return nil, nil, fmt.Errorf("importing: the model has %d convolutions, %s has %d", len(convs), g.Spec.Arch, len(convLayers))
	}
	rep := &ImportReport{}
	for i, n := range convs {
		l := convLayers[i]
		if path := modulePath(n.GetName()); path != "" && path != l.Name && strings.Contains(n.GetName(), "/") {
			return nil, nil, fmt.Errorf("importing: convolution %d is %s in the model, %s here: not a torchvision layout", i, path, l.Name)
		}
		if s := attrInts(n, "strides"); len(s) == 2 && (s[0] != int64(l.Stride) || s[1] != int64(l.Stride)) {
			return nil, nil, fmt.Errorf("importing: %s has strides %v, want %d", l.Name, s, l.Stride)
		}
		w, err := f.Initializer(input(n, 1))
		if err != nil {
			return nil, nil, fmt.Errorf("importing %s: %w", l.Name, err)
		}
		if err := copyInto(out, l.Name+".weight", w); err != nil {
			return nil, nil, err
		}
		var bias *Tensor
		if b := input(n, 2); b != "" {
			if bias, err = f.Initializer(b); err != nil {
				return nil, nil, fmt.Errorf("importing %s: %w", l.Name, err)
			}
			if len(bias.Data) != l.OutC {
				return nil, nil, fmt.Errorf("importing %s: bias has %d values, want %d", l.Name, len(bias.Data), l.OutC)
			}
		}
		bn, ok := bnAfter[l.Name]
		if !ok {
			return nil, nil, fmt.Errorf("importing: %s has no BatchNorm after it", l.Name)
		}
		if bnNode := bnOf[n.GetOutput()[0]]; bnNode != nil {
			if err := importBN(f, bnNode, bn, bias, out); err != nil {
				return nil, nil, err
			}
		} else {
			// Folded: identity BatchNorm carrying the conv bias.
			rep.FusedBN++
			p := bn.Name + "."
			fill(out[p+"weight"].Data, 1)
			fill(out[p+"running_mean"].Data, 0)
			fill(out[p+"running_var"].Data, float32(1-bn.Eps))
			if bias != nil {
				copy(out[p+"bias"].Data, bias.Data)
			} else {
				fill(out[p+"bias"].Data, 0)
			}
		}
		rep.Convs++
	}
	if fc, ok := g.Param("fc.weight"); ok && gemm != nil {
		w, err := f.Initializer(input(gemm, 1))
		if err != nil {
			return nil, nil, fmt.Errorf("importing fc: %w", err)
		}
		if attrInt(gemm, "transB", 0) == 0 {
			w = transpose2(w)
		}
		if slices.Equal(w.Shape, fc.Shape) {
			copy(out["fc.weight"].Data, w.Data)
			if b := input(gemm, 2); b != "" {
				bt, err := f.Initializer(b)
				if err != nil {
					return nil, nil, fmt.Errorf("importing fc: %w", err)
				}
				if err := copyInto(out, "fc.bias", bt); err != nil {
					return nil, nil, err
				}
			}
			rep.Head = true
		}
	}
	return out, rep, nil
}

func importBN(f *File, n *pb.NodeProto, bn Layer, convBias *Tensor, out Weights) error {
	p := bn.Name + "."
	for i, suffix := range []string{"weight", "bias", "running_mean", "running_var"} {
		t, err := f.Initializer(input(n, i+1))
		if err != nil {
			return fmt.Errorf("importing %s: %w", bn.Name, err)
		}
		if err := copyInto(out, p+suffix, t); err != nil {
			return err
		}
	}
	if convBias != nil { // BN(conv + b) = BN with mean − b
		m := out[p+"running_mean"].Data
		for i := range m {
			m[i] -= convBias.Data[i]
		}
	}
	eps := attrFloat(n, "epsilon", 1e-5)
	if d := eps - bn.Eps; d > 1e-9 || d < -1e-9 { // keep the same denominator √(var+eps)
		v := out[p+"running_var"].Data
		for i := range v {
			v[i] += float32(d)
		}
	}
	return nil
}

func copyInto(w Weights, name string, t *Tensor) error {
	dst, ok := w[name]
	if !ok {
		return fmt.Errorf("importing: no parameter %s here", name)
	}
	if numel(t.Shape) != len(dst.Data) || (len(t.Shape) == len(dst.Shape) && !slices.Equal(t.Shape, dst.Shape)) {
		return fmt.Errorf("importing %s: shape %v in the model, %v here", name, t.Shape, dst.Shape)
	}
	copy(dst.Data, t.Data)
	return nil
}

func transpose2(t *Tensor) *Tensor {
	r, c := t.Shape[0], t.Shape[1]
	out := NewTensor(c, r)
	for i := range r {
		for j := range c {
			out.Data[j*r+i] = t.Data[i*c+j]
		}
	}
	return out
}

// modulePath turns an exporter node name such as
// "/layer2/layer2.0/downsample/downsample.0/Conv" into the module path
// "layer2.0.downsample.0". A name without slashes is returned as is.
func modulePath(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	parts := strings.Split(strings.Trim(name, "/"), "/")
	var path []string
	for _, c := range parts[:len(parts)-1] { // the last part is the op
		// A scope qualifies its parent's name ("layer1" then "layer1.0",
		// "downsample" then "downsample.0"): it replaces it.
		if n := len(path); n > 0 && strings.HasPrefix(c, path[n-1]+".") {
			path[n-1] = c
			continue
		}
		path = append(path, c)
	}
	return strings.Join(path, ".")
}

func input(n *pb.NodeProto, i int) string {
	if i < len(n.Input) {
		return n.Input[i]
	}
	return ""
}

func attr(n *pb.NodeProto, name string) *pb.AttributeProto {
	for _, a := range n.Attribute {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func attrInt(n *pb.NodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

func attrInts(n *pb.NodeProto, name string) []int64 {
	if a := attr(n, name); a != nil {
		return a.Ints
	}
	return nil
}

func attrFloat(n *pb.NodeProto, name string, def float64) float64 {
	if a := attr(n, name); a != nil {
		return float64(a.GetF())
	}
	return def
}

// ValueShape is a graph input or output: its name, element type and dims
// (a dynamic or symbolic axis is -1).
type ValueShape struct {
	Name  string
	Float bool // element type float32
	Dims  []int64
}

// Inputs returns the graph's real inputs: initializers listed as inputs
// (older exporters do so) are left out.
func (f *File) Inputs() []ValueShape {
	var out []ValueShape
	for _, v := range f.Proto.Graph.Input {
		if _, ok := f.inits[v.GetName()]; ok {
			continue
		}
		out = append(out, valueShape(v))
	}
	return out
}

// Outputs returns the graph's outputs.
func (f *File) Outputs() []ValueShape {
	out := make([]ValueShape, 0, len(f.Proto.Graph.Output))
	for _, v := range f.Proto.Graph.Output {
		out = append(out, valueShape(v))
	}
	return out
}

func valueShape(v *pb.ValueInfoProto) ValueShape {
	tt := v.GetType().GetTensorType()
	s := ValueShape{Name: v.GetName(), Float: tt.GetElemType() == int32(pb.TensorProto_FLOAT)}
	for _, d := range tt.GetShape().GetDim() {
		if n := d.GetDimValue(); n > 0 {
			s.Dims = append(s.Dims, n)
		} else {
			s.Dims = append(s.Dims, -1)
		}
	}
	return s
}

// EncodeWithMetadata returns the file's model, graph untouched, with md as
// its tagnet metadata: every tagnet.* entry of metadata_props is replaced,
// other entries are kept. md is validated first.
func (f *File) EncodeWithMetadata(md *Metadata) ([]byte, error) {
	if md.Schema == "" {
		md.Schema = SchemaVersion
	}
	if err := md.Validate(); err != nil {
		return nil, fmt.Errorf("encoding metadata: %w", err)
	}
	props, err := md.props()
	if err != nil {
		return nil, err
	}
	mp := proto.Clone(f.Proto).(*pb.ModelProto)
	var kept []*pb.StringStringEntryProto
	for _, e := range mp.MetadataProps {
		if !strings.HasPrefix(e.GetKey(), "tagnet.") {
			kept = append(kept, e)
		}
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		kept = append(kept, &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(props[k])})
	}
	mp.MetadataProps = kept
	b, err := proto.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("encoding ONNX: %w", err)
	}
	return b, nil
}
