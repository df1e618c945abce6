package models

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/tagnet/tagnet/models/onnxpb"
)

// Fields of ModelProto (onnx.proto) that hold the network itself; ReadInfo
// skips them unread.
const (
	fieldGraph        = 7
	fieldTrainingInfo = 20
	fieldFunctions    = 25
)

// Graph fields (GraphProto) and the TensorProto field ReadInfo reads.
const (
	fieldGraphInitializer = 5
	fieldGraphInput       = 11
	fieldGraphOutput      = 12
	fieldTensorName       = 8
)

// ValueInfo is a graph input or output as the model declares it.
type ValueInfo struct {
	Name string
	// ElemType is the ONNX TensorProto.DataType of its elements (1 is
	// float32); 0 when it is not a tensor.
	ElemType int32
	// Shape has one entry per axis: the size, or -1 for a symbolic or
	// unknown size (a dynamic batch axis).
	Shape []int64
}

// FileInfo is what a model file says about itself, without its network.
type FileInfo struct {
	// Inputs are the graph's inputs that are not initializers, and Outputs
	// its outputs, in declaration order.
	Inputs, Outputs []ValueInfo
	// Metadata is the tagnet metadata (labels, preprocessing, sweep); nil
	// when the file has none (see [ReadInfo]).
	Metadata *Metadata
	// SHA256 is the hex SHA-256 of the whole file, its version.
	SHA256 string
	// Size is the file's size in bytes.
	Size int64
}

// ReadInfo reads the tagnet metadata, the graph's inputs and outputs of
// the ONNX model file at path and hashes the file, in one pass with a
// small buffer: the nodes and weights (most of the file: 100 MB for a
// ResNet-50) are hashed and skipped, never held in memory nor decoded. It
// checks that the file is a model with an IR version and a graph. Errors
// name path; a file without tagnet metadata gives the error of
// [Metadata.Validate] (see [ReadONNXInfo] for any ONNX model).
func ReadInfo(path string) (*FileInfo, error) {
	fi, mp, err := readInfo(path, true)
	if err != nil {
		return nil, err
	}
	if fi.Metadata, err = (&File{Proto: mp}).Metadata(); err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	return fi, nil
}

// ReadONNXInfo is [ReadInfo] for any ONNX model, for callers that need
// only its inputs and outputs: Metadata is nil, and the file is not hashed
// (SHA256 is empty), since hashing a large model costs more than skipping
// through it.
func ReadONNXInfo(path string) (*FileInfo, error) {
	fi, _, err := readInfo(path, false)
	return fi, err
}

func readInfo(path string, hashed bool) (*FileInfo, *pb.ModelProto, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("loading model: %w", err)
	}
	defer f.Close()
	fi, mp, err := scanModel(f, hashed)
	if err != nil {
		return nil, nil, fmt.Errorf("loading model %s: parsing ONNX: %w", path, err)
	}
	return fi, mp, nil
}

// scanModel reads a ModelProto from f in one streaming pass (see ReadInfo),
// hashing what it reads when hashed is set.
func scanModel(f io.Reader, hashed bool) (*FileInfo, *pb.ModelProto, error) {
	var h hash.Hash
	if hashed {
		h = sha256.New()
		f = io.TeeReader(f, h)
	}
	r := &countingReader{r: bufio.NewReaderSize(f, 64<<10)}
	// The top-level fields other than the network, re-encoded as they were
	// read, make a ModelProto of their own.
	var rest []byte
	sawGraph := false
	fi := &FileInfo{}
	for {
		tag, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		num, typ := protowire.DecodeTag(tag)
		if num <= 0 {
			return nil, nil, fmt.Errorf("bad field tag at byte %d", r.n)
		}
		var payload []byte
		switch typ {
		case protowire.VarintType:
			v, err := binary.ReadUvarint(r)
			if err != nil {
				return nil, nil, err
			}
			rest = protowire.AppendTag(rest, num, typ)
			rest = protowire.AppendVarint(rest, v)
			continue
		case protowire.Fixed32Type:
			payload = make([]byte, 4)
		case protowire.Fixed64Type:
			payload = make([]byte, 8)
		case protowire.BytesType:
			n, err := binary.ReadUvarint(r)
			if err != nil {
				return nil, nil, err
			}
			if num == fieldGraph {
				sawGraph = true
				if err := scanGraph(r, int64(n), fi); err != nil {
					return nil, nil, fmt.Errorf("graph: %w", err)
				}
				continue
			}
			if num == fieldTrainingInfo || num == fieldFunctions {
				if err := skip(r, int64(n)); err != nil {
					return nil, nil, fmt.Errorf("field %d: %w", num, err)
				}
				continue
			}
			if n > 1<<30 {
				return nil, nil, fmt.Errorf("field %d claims %d bytes", num, n)
			}
			rest = protowire.AppendTag(rest, num, typ)
			rest = protowire.AppendVarint(rest, n)
			if payload, err = readBytes(r, n); err != nil {
				return nil, nil, fmt.Errorf("field %d: %w", num, err)
			}
		default:
			return nil, nil, fmt.Errorf("field %d has wire type %d", num, typ)
		}
		if typ != protowire.BytesType {
			if _, err := io.ReadFull(r, payload); err != nil {
				return nil, nil, fmt.Errorf("field %d: %w", num, unexpected(err))
			}
		}
		if typ != protowire.BytesType {
			rest = protowire.AppendTag(rest, num, typ)
		}
		rest = append(rest, payload...)
	}
	mp := &pb.ModelProto{}
	if err := proto.Unmarshal(rest, mp); err != nil {
		return nil, nil, err
	}
	if !sawGraph || mp.GetIrVersion() == 0 {
		return nil, nil, errors.New("no graph or IR version: not an ONNX model")
	}
	fi.Size = r.n
	if hashed {
		fi.SHA256 = hex.EncodeToString(h.Sum(nil))
	}
	return fi, mp, nil
}

// scanGraph reads the n bytes of a GraphProto from r into fi's Inputs and
// Outputs, skipping nodes and weights. Inputs that are initializers (as
// models before IR version 4 list them) are left out, as ONNX Runtime
// leaves them out of a session's inputs.
func scanGraph(r *countingReader, n int64, fi *FileInfo) error {
	end := r.n + n
	var inputs []ValueInfo
	inits := map[string]bool{}
	for r.n < end {
		num, typ, size, err := readTag(r)
		if err != nil {
			return err
		}
		switch {
		case typ == protowire.BytesType && (num == fieldGraphInput || num == fieldGraphOutput):
			if size > uint64(end-r.n) {
				return errors.New("a field overruns the graph")
			}
			b, err := readBytes(r, size)
			if err != nil {
				return err
			}
			vi := &pb.ValueInfoProto{}
			if err := proto.Unmarshal(b, vi); err != nil {
				return fmt.Errorf("value info: %w", err)
			}
			v := valueInfo(vi)
			if num == fieldGraphInput {
				inputs = append(inputs, v)
			} else {
				fi.Outputs = append(fi.Outputs, v)
			}
		case typ == protowire.BytesType && num == fieldGraphInitializer:
			name, err := tensorName(r, int64(size))
			if err != nil {
				return fmt.Errorf("initializer: %w", err)
			}
			inits[name] = true
		default:
			if err := skipValue(r, typ, size); err != nil {
				return err
			}
		}
	}
	if r.n != end {
		return errors.New("a field overruns the graph")
	}
	for _, in := range inputs {
		if !inits[in.Name] {
			fi.Inputs = append(fi.Inputs, in)
		}
	}
	return nil
}

// tensorName reads the n bytes of a TensorProto from r, keeping its name.
func tensorName(r *countingReader, n int64) (string, error) {
	end := r.n + n
	name := ""
	for r.n < end {
		num, typ, size, err := readTag(r)
		if err != nil {
			return "", err
		}
		if num == fieldTensorName && typ == protowire.BytesType {
			if size > uint64(end-r.n) {
				return "", errors.New("a field overruns the tensor")
			}
			b, err := readBytes(r, size)
			if err != nil {
				return "", err
			}
			name = string(b)
			continue
		}
		if err := skipValue(r, typ, size); err != nil {
			return "", err
		}
	}
	if r.n != end {
		return "", errors.New("a field overruns the tensor")
	}
	return name, nil
}

// readTag reads a field's tag and, for length-delimited fields, its length
// (size); for varints size is 0 and the value is still to read.
func readTag(r *countingReader) (protowire.Number, protowire.Type, uint64, error) {
	tag, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, 0, 0, unexpected(err)
	}
	num, typ := protowire.DecodeTag(tag)
	if num <= 0 {
		return 0, 0, 0, fmt.Errorf("bad field tag at byte %d", r.n)
	}
	var size uint64
	if typ == protowire.BytesType {
		if size, err = binary.ReadUvarint(r); err != nil {
			return 0, 0, 0, unexpected(err)
		}
	}
	return num, typ, size, nil
}

// skipValue skips a field's value after readTag.
func skipValue(r *countingReader, typ protowire.Type, size uint64) error {
	switch typ {
	case protowire.VarintType:
		_, err := binary.ReadUvarint(r)
		return unexpected(err)
	case protowire.Fixed32Type:
		return skip(r, 4)
	case protowire.Fixed64Type:
		return skip(r, 8)
	case protowire.BytesType:
		return skip(r, int64(size))
	}
	return fmt.Errorf("wire type %d", typ)
}

func skip(r *countingReader, n int64) error {
	if _, err := io.CopyN(io.Discard, r, n); err != nil {
		return unexpected(err)
	}
	return nil
}

func valueInfo(vi *pb.ValueInfoProto) ValueInfo {
	v := ValueInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return v
	}
	v.ElemType = tt.GetElemType()
	for _, d := range tt.GetShape().GetDim() {
		if _, ok := d.GetValue().(*pb.TensorShapeProto_Dimension_DimValue); ok {
			v.Shape = append(v.Shape, d.GetDimValue())
		} else {
			v.Shape = append(v.Shape, -1)
		}
	}
	return v
}

// readBytes reads a length-delimited field's n bytes. The buffer grows
// with the bytes actually read, so a length larger than the rest of the
// file is io.ErrUnexpectedEOF, never an allocation of that length.
func readBytes(r io.Reader, n uint64) ([]byte, error) {
	if n > math.MaxInt64 {
		return nil, fmt.Errorf("a field claims %d bytes", n)
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		return nil, unexpected(err)
	}
	return buf.Bytes(), nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}
