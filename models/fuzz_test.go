package models

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the two readers of a model file —
// Decode (the whole protobuf, then the architecture and weights) and
// scanModel (ReadInfo's streaming reader, which skips the weights) — and
// holds them to each other:
//   - neither panics, and neither allocates more than the input can hold
//     (a length field larger than what follows is an error, not an
//     allocation of that length);
//   - a file Decode accepts, scanModel accepts too, with the same labels,
//     the same inputs and outputs, and the file's size;
//   - a model Decode accepts encodes again, and decodes to the same
//     architecture, metadata and bit-identical weights.
//
// Seeded with small tagnet models (with and without a sweep), their
// truncations, and a model whose metadata is not tagnet's.
//
//	go test ./models -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	for _, s := range []Spec{
		{Arch: "resnet-tiny", NumClasses: 3, InputSize: 32, Stem: StemSmall, Width: 0.25},
		{Arch: "resnet-tiny", NumClasses: 2, InputSize: 32, Head: HeadFastai, Width: 0.25},
	} {
		for _, sweep := range []bool{false, true} {
			b, err := testModel(f, s, sweep).Encode(WriteOptions{Probabilities: sweep})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			f.Add(b[:len(b)/2])
			f.Add(b[:len(b)-1])
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x08, 0x3a, 0x00}) // IR version 8, an empty graph
	f.Fuzz(func(t *testing.T, b []byte) {
		fi, mp, scanErr := scanModel(bytes.NewReader(b), false)
		m, err := Decode(b)
		if err != nil {
			return
		}
		if scanErr != nil {
			t.Fatalf("Decode reads the file, ReadInfo's reader refuses it: %v", scanErr)
		}
		md, err := (&File{Proto: mp}).Metadata()
		if err != nil {
			t.Fatalf("Decode reads the metadata, ReadInfo's reader does not: %v", err)
		}
		if !slices.Equal(md.Labels, m.Metadata.Labels) || fi.Size != int64(len(b)) {
			t.Fatalf("ReadInfo's reader: labels %q, %d bytes; Decode: labels %q, %d bytes",
				md.Labels, fi.Size, m.Metadata.Labels, len(b))
		}
		f, err := ParseONNX(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := graphValues(f, true); !slices.EqualFunc(fi.Inputs, want, sameValue) {
			t.Fatalf("inputs: streamed %+v, parsed %+v", fi.Inputs, want)
		}
		if want := graphValues(f, false); !slices.EqualFunc(fi.Outputs, want, sameValue) {
			t.Fatalf("outputs: streamed %+v, parsed %+v", fi.Outputs, want)
		}

		again, err := m.Encode(WriteOptions{})
		if err != nil {
			t.Fatalf("a decoded model does not encode: %v", err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("a re-encoded model does not decode: %v", err)
		}
		if back.Graph.Spec != m.Graph.Spec || !slices.Equal(back.Metadata.Labels, m.Metadata.Labels) ||
			!bytes.Equal(back.Metadata.Preprocess, m.Metadata.Preprocess) || (back.Metadata.Sweep == nil) != (m.Metadata.Sweep == nil) {
			t.Fatalf("round trip changed the model: %+v → %+v", m.Metadata, back.Metadata)
		}
		for name, w := range m.Weights {
			if !slices.EqualFunc(back.Weights[name].Data, w.Data, sameBits) {
				t.Fatalf("round trip changed %s", name)
			}
		}
	})
}

// graphValues is what ReadInfo reports of a parsed file: the inputs that
// are not initializers, or the outputs.
func graphValues(f *File, inputs bool) []ValueInfo {
	var out []ValueInfo
	if !inputs {
		for _, o := range f.Proto.Graph.GetOutput() {
			out = append(out, valueInfo(o))
		}
		return out
	}
	for _, in := range f.Proto.Graph.GetInput() {
		if _, isInit := f.inits[in.GetName()]; !isInit {
			out = append(out, valueInfo(in))
		}
	}
	return out
}

// sameBits compares weights bit for bit (NaN payloads included).
func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

func sameValue(a, b ValueInfo) bool {
	return a.Name == b.Name && a.ElemType == b.ElemType && slices.Equal(a.Shape, b.Shape)
}

// TestReadInfoRefusesLengthsPastTheEnd: a length field that promises more
// bytes than the file holds is an error found without allocating that
// length (a 20-byte file must not cost a gigabyte).
func TestReadInfoRefusesLengthsPastTheEnd(t *testing.T) {
	dir := t.TempDir()
	for name, b := range map[string][]byte{
		// IR version 8; graph (field 7) of 1 GiB.
		"graph": {0x08, 0x08, 0x3a, 0x80, 0x80, 0x80, 0x80, 0x04},
		// IR version 8; graph of 6 bytes holding an input (field 11) that
		// claims 1 GiB.
		"input": {0x08, 0x08, 0x3a, 0x06, 0x5a, 0x80, 0x80, 0x80, 0x80, 0x04},
		// IR version 8; producer name (field 2) of 1 GiB.
		"field": {0x08, 0x08, 0x12, 0x80, 0x80, 0x80, 0x80, 0x04},
	} {
		path := filepath.Join(dir, name+".onnx")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ReadInfo(path)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: a %d-byte file promising 1 GiB was read", name, len(b))
		}
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 16<<20 {
			t.Errorf("%s: reading a %d-byte file allocated %d MiB", name, len(b), grown>>20)
		}
	}
}
