package models

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"google.golang.org/protobuf/proto"

	pb "github.com/tagnet/tagnet/models/onnxpb"
)

// ONNX versions tagnet writes.
const (
	IRVersion = 8
	Opset     = 17
)

// Producer is written into the model's producer_name.
const Producer = "tagnet"

// Model is a tagnet model in memory: its architecture, weights and metadata.
type Model struct {
	Graph    *Graph
	Weights  Weights
	Metadata Metadata
}

// WriteOptions tunes [Model.Encode].
type WriteOptions struct {
	// Probabilities adds a second output, "probabilities" = sigmoid(logits).
	Probabilities bool
	// ProducerVersion is written as producer_version ("" leaves it empty).
	ProducerVersion string
}

// Encode serialises m as an ONNX model: opset 17, IR 8, input "images"
// [N,3,H,W] with a dynamic batch axis, output "logits" [N,C], BatchNorm as
// inference-mode BatchNormalization nodes, dropout omitted, and the metadata
// in metadata_props.
func (m *Model) Encode(opt WriteOptions) ([]byte, error) {
	g := m.Graph
	if err := m.Weights.Check(g); err != nil {
		return nil, fmt.Errorf("encoding model: %w", err)
	}
	md := m.Metadata
	md.Spec = g.Spec
	if md.Schema == "" {
		md.Schema = SchemaVersion
	}
	if err := md.Validate(); err != nil {
		return nil, fmt.Errorf("encoding model: %w", err)
	}
	props, err := md.props()
	if err != nil {
		return nil, fmt.Errorf("encoding model: %w", err)
	}

	gp := &pb.GraphProto{Name: proto.String(g.Spec.Arch)}
	for _, p := range g.Params {
		gp.Initializer = append(gp.Initializer, floatTensor(p.Name, p.Shape, m.Weights[p.Name].Data))
	}
	// alias maps a layer's output to the ONNX value that holds it (dropout
	// layers pass their input through).
	alias := map[string]string{}
	val := func(v string) string {
		if a, ok := alias[v]; ok {
			return a
		}
		return v
	}
	node := func(name, op string, in []string, out string, attrs ...*pb.AttributeProto) {
		gp.Node = append(gp.Node, &pb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: []string{out}, Attribute: attrs})
	}
	for _, l := range g.Layers {
		x := val(l.Inputs[0])
		switch l.Op {
		case OpConv:
			in := []string{x, l.Name + ".weight"}
			if l.Bias {
				in = append(in, l.Name+".bias")
			}
			node(l.Name, "Conv", in, l.Output,
				intsAttr("kernel_shape", l.Kernel, l.Kernel), intsAttr("strides", l.Stride, l.Stride),
				intsAttr("pads", l.Pad, l.Pad, l.Pad, l.Pad), intsAttr("dilations", 1, 1), intAttr("group", 1))
		case OpBatchNorm:
			p := l.Name + "."
			node(l.Name, "BatchNormalization", []string{x, p + "weight", p + "bias", p + "running_mean", p + "running_var"}, l.Output,
				floatAttr("epsilon", l.Eps), floatAttr("momentum", 1-l.Momentum))
		case OpReLU:
			node(l.Name, "Relu", []string{x}, l.Output)
		case OpMaxPool:
			node(l.Name, "MaxPool", []string{x}, l.Output,
				intsAttr("kernel_shape", l.Kernel, l.Kernel), intsAttr("strides", l.Stride, l.Stride), intsAttr("pads", l.Pad, l.Pad, l.Pad, l.Pad))
		case OpAdd:
			node(l.Name, "Add", []string{x, val(l.Inputs[1])}, l.Output)
		case OpAvgPool:
			node(l.Name+"/pool", "GlobalAveragePool", []string{x}, l.Output+"/pool")
			node(l.Name+"/flatten", "Flatten", []string{l.Output + "/pool"}, l.Output, intAttr("axis", 1))
		case OpConcatPool:
			node(l.Name+"/max", "GlobalMaxPool", []string{x}, l.Output+"/max")
			node(l.Name+"/avg", "GlobalAveragePool", []string{x}, l.Output+"/avg")
			node(l.Name+"/concat", "Concat", []string{l.Output + "/max", l.Output + "/avg"}, l.Output+"/concat", intAttr("axis", 1))
			node(l.Name+"/flatten", "Flatten", []string{l.Output + "/concat"}, l.Output, intAttr("axis", 1))
		case OpLinear:
			in := []string{x, l.Name + ".weight"}
			if l.Bias {
				in = append(in, l.Name+".bias")
			}
			node(l.Name, "Gemm", in, l.Output, intAttr("transB", 1))
		case OpDropout:
			alias[l.Output] = x
		default:
			return nil, fmt.Errorf("encoding model: layer %s: unknown op %q", l.Name, l.Op)
		}
	}
	s := g.Spec
	gp.Input = []*pb.ValueInfoProto{tensorInfo(g.Input, "batch", 3, s.InputSize, s.InputSize)}
	gp.Output = []*pb.ValueInfoProto{tensorInfo(OutputName, "batch", s.NumClasses)}
	if opt.Probabilities {
		node("sigmoid", "Sigmoid", []string{OutputName}, ProbsName)
		gp.Output = append(gp.Output, tensorInfo(ProbsName, "batch", s.NumClasses))
	}

	mp := &pb.ModelProto{
		IrVersion:       proto.Int64(IRVersion),
		OpsetImport:     []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		ProducerName:    proto.String(Producer),
		ProducerVersion: proto.String(opt.ProducerVersion),
		Graph:           gp,
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mp.MetadataProps = append(mp.MetadataProps, &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(props[k])})
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("encoding model: %w", err)
	}
	return b, nil
}

// WriteFile encodes m and writes it to path atomically (a temporary file
// in the same directory, then rename), so a reader never sees half a model.
func (m *Model) WriteFile(path string, opt WriteOptions) error {
	b, err := m.Encode(opt)
	if err != nil {
		return fmt.Errorf("writing model %s: %w", path, err)
	}
	if err := WriteFileAtomic(path, b, 0o644); err != nil {
		return fmt.Errorf("writing model %s: %w", path, err)
	}
	return nil
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it
// and renames it over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Load reads a tagnet model file: its metadata, the architecture rebuilt
// from the stored Spec, and the weights, checked against that architecture.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	m, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	return m, nil
}

// Decode parses a tagnet model from its bytes (see [Load]).
func Decode(b []byte) (*Model, error) {
	f, err := ParseONNX(b)
	if err != nil {
		return nil, err
	}
	md, err := f.Metadata()
	if err != nil {
		return nil, err
	}
	g, err := Build(md.Spec)
	if err != nil {
		return nil, err
	}
	w := make(Weights, len(g.Params))
	for _, p := range g.Params {
		t, err := f.Initializer(p.Name)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(t.Shape, p.Shape) {
			return nil, fmt.Errorf("initializer %s has shape %v, architecture wants %v", p.Name, t.Shape, p.Shape)
		}
		w[p.Name] = t
	}
	return &Model{Graph: g, Weights: w, Metadata: *md}, nil
}

// LoadMetadata reads only what a model file says about itself (see
// [ReadInfo]).
func LoadMetadata(path string) (*Metadata, error) {
	fi, err := ReadInfo(path)
	if err != nil {
		return nil, err
	}
	return fi.Metadata, nil
}

// File is a parsed ONNX file, tagnet's or anyone's.
type File struct {
	Proto *pb.ModelProto
	inits map[string]*pb.TensorProto
}

// ParseONNX parses an ONNX model. It checks only that the bytes are a
// model with a graph.
func ParseONNX(b []byte) (*File, error) {
	mp := &pb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		return nil, fmt.Errorf("parsing ONNX: %w", err)
	}
	if mp.Graph == nil || mp.GetIrVersion() == 0 {
		return nil, fmt.Errorf("parsing ONNX: no graph or IR version: not an ONNX model")
	}
	f := &File{Proto: mp, inits: map[string]*pb.TensorProto{}}
	for _, t := range mp.Graph.Initializer {
		f.inits[t.GetName()] = t
	}
	return f, nil
}

// Props returns the metadata_props as a map.
func (f *File) Props() map[string]string {
	m := map[string]string{}
	for _, p := range f.Proto.MetadataProps {
		m[p.GetKey()] = p.GetValue()
	}
	return m
}

// Metadata decodes and validates the tagnet metadata.
func (f *File) Metadata() (*Metadata, error) {
	return metadataFromProps(f.Props())
}

// Initializer returns the float32 initializer called name.
func (f *File) Initializer(name string) (*Tensor, error) {
	t, ok := f.inits[name]
	if !ok {
		return nil, fmt.Errorf("no initializer %s", name)
	}
	return TensorFromProto(t)
}

// TensorFromProto converts a float32 TensorProto (raw_data or float_data).
func TensorFromProto(t *pb.TensorProto) (*Tensor, error) {
	if t.GetDataType() != int32(pb.TensorProto_FLOAT) {
		return nil, fmt.Errorf("initializer %s: data type %d, want float32", t.GetName(), t.GetDataType())
	}
	if t.GetDataLocation() == pb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("initializer %s: external data is not supported", t.GetName())
	}
	shape := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		if d < 0 || d > math.MaxInt32 {
			return nil, fmt.Errorf("initializer %s: bad dimension %d", t.GetName(), d)
		}
		shape[i] = int(d)
	}
	n := numel(shape)
	out := &Tensor{Shape: shape}
	switch {
	case len(t.RawData) > 0:
		if len(t.RawData) != 4*n {
			return nil, fmt.Errorf("initializer %s: %d raw bytes for %d floats", t.GetName(), len(t.RawData), n)
		}
		out.Data = make([]float32, n)
		for i := range out.Data {
			out.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
		}
	case len(t.FloatData) == n:
		out.Data = slices.Clone(t.FloatData)
	default:
		return nil, fmt.Errorf("initializer %s: %d values for shape %v", t.GetName(), len(t.FloatData), shape)
	}
	return out, nil
}

func floatTensor(name string, shape []int, data []float32) *pb.TensorProto {
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &pb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(pb.TensorProto_FLOAT)), RawData: raw}
}

func tensorInfo(name, batch string, dims ...int) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{Dim: []*pb.TensorShapeProto_Dimension{{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: batch}}}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &pb.ValueInfoProto{
		Name: proto.String(name),
		Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(pb.TensorProto_FLOAT)), Shape: shape}}},
	}
}

func intsAttr(name string, v ...int) *pb.AttributeProto {
	ints := make([]int64, len(v))
	for i, x := range v {
		ints[i] = int64(x)
	}
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: ints}
}

func intAttr(name string, v int) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(int64(v))}
}

func floatAttr(name string, v float64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_FLOAT.Enum(), F: proto.Float32(float32(v))}
}
