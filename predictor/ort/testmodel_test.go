package ort

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// The tests write small ONNX models by hand (field numbers from onnx.proto)
// to reach shapes the fixture does not have.

// dim is one axis of a tensor shape: a size, or a symbolic name when < 0.
type dim int64

// valueInfo is a float32 tensor input or output.
type valueInfo struct {
	name  string
	shape []dim
}

// node is one operator without attributes.
type node struct {
	op       string
	inputs   []string
	outputs  []string
	nodeName string
}

// onnxModel encodes an opset-17 model with the given graph.
func onnxModel(inputs []valueInfo, nodes []node, outputs []valueInfo) []byte {
	var graph []byte
	for _, n := range nodes {
		var b []byte
		for _, in := range n.inputs {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, in)
		}
		for _, out := range n.outputs {
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendString(b, out)
		}
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, n.nodeName)
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, n.op)
		graph = protowire.AppendTag(graph, 1, protowire.BytesType)
		graph = protowire.AppendBytes(graph, b)
	}
	graph = protowire.AppendTag(graph, 2, protowire.BytesType)
	graph = protowire.AppendString(graph, "test")
	for _, in := range inputs {
		graph = protowire.AppendTag(graph, 11, protowire.BytesType)
		graph = protowire.AppendBytes(graph, in.encode())
	}
	for _, out := range outputs {
		graph = protowire.AppendTag(graph, 12, protowire.BytesType)
		graph = protowire.AppendBytes(graph, out.encode())
	}

	var opset []byte
	opset = protowire.AppendTag(opset, 1, protowire.BytesType)
	opset = protowire.AppendString(opset, "")
	opset = protowire.AppendTag(opset, 2, protowire.VarintType)
	opset = protowire.AppendVarint(opset, 17)

	var m []byte
	m = protowire.AppendTag(m, 1, protowire.VarintType) // ir_version
	m = protowire.AppendVarint(m, 8)
	m = protowire.AppendTag(m, 7, protowire.BytesType) // graph
	m = protowire.AppendBytes(m, graph)
	m = protowire.AppendTag(m, 8, protowire.BytesType) // opset_import
	m = protowire.AppendBytes(m, opset)
	return m
}

func (v valueInfo) encode() []byte {
	var shape []byte
	for i, d := range v.shape {
		var db []byte
		if d < 0 {
			db = protowire.AppendTag(db, 2, protowire.BytesType) // dim_param
			db = protowire.AppendString(db, "d"+string(rune('0'+i)))
		} else {
			db = protowire.AppendTag(db, 1, protowire.VarintType) // dim_value
			db = protowire.AppendVarint(db, uint64(d))
		}
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, db)
	}
	var tensor []byte
	tensor = protowire.AppendTag(tensor, 1, protowire.VarintType) // elem_type
	tensor = protowire.AppendVarint(tensor, 1)                    // FLOAT
	tensor = protowire.AppendTag(tensor, 2, protowire.BytesType)  // shape
	tensor = protowire.AppendBytes(tensor, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, 1, protowire.BytesType) // tensor_type
	typ = protowire.AppendBytes(typ, tensor)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, v.name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, typ)
	return b
}

// flattenModel is images [batch,3,2,2] → Flatten → logits [batch,12], with a
// Sigmoid output named probabilities listed first. batch < 0 makes the
// batch axis dynamic.
func flattenModel(batch dim) []byte {
	return onnxModel(
		[]valueInfo{{"images", []dim{batch, 3, 2, 2}}},
		[]node{
			{op: "Flatten", inputs: []string{"images"}, outputs: []string{"logits"}, nodeName: "flatten"},
			{op: "Sigmoid", inputs: []string{"logits"}, outputs: []string{"probabilities"}, nodeName: "sigmoid"},
		},
		[]valueInfo{{"probabilities", []dim{batch, 12}}, {"logits", []dim{batch, 12}}},
	)
}
