package models

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

// FileInfo is what a model file says about itself, without its network.
type FileInfo struct {
	// Metadata is the tagnet metadata (labels, preprocessing, sweep).
	Metadata *Metadata
	// SHA256 is the hex SHA-256 of the whole file, its version.
	SHA256 string
	// Size is the file's size in bytes.
	Size int64
}

// ReadInfo reads the tagnet metadata of the ONNX model file at path and
// hashes the file, in one pass with a small buffer: the graph and its
// weights (most of the file: 100 MB for a ResNet-50) are hashed and
// skipped, never held in memory nor decoded. It checks that the file is a
// model with an IR version and a graph. Errors name path; a file without
// tagnet metadata gives the error of [Metadata.Validate].
func ReadInfo(path string) (*FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading model: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	r := &countingReader{r: bufio.NewReaderSize(io.TeeReader(f, h), 64<<10)}
	// The top-level fields other than the network, re-encoded as they were
	// read, make a ModelProto of their own.
	var rest []byte
	sawGraph := false
	for {
		tag, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("loading model %s: parsing ONNX: %w", path, err)
		}
		num, typ := protowire.DecodeTag(tag)
		if num <= 0 {
			return nil, fmt.Errorf("loading model %s: parsing ONNX: bad field tag at byte %d", path, r.n)
		}
		var payload []byte
		switch typ {
		case protowire.VarintType:
			v, err := binary.ReadUvarint(r)
			if err != nil {
				return nil, fmt.Errorf("loading model %s: parsing ONNX: %w", path, err)
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
				return nil, fmt.Errorf("loading model %s: parsing ONNX: %w", path, err)
			}
			if num == fieldGraph || num == fieldTrainingInfo || num == fieldFunctions {
				sawGraph = sawGraph || num == fieldGraph
				if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
					return nil, fmt.Errorf("loading model %s: parsing ONNX: field %d: %w", path, num, unexpected(err))
				}
				continue
			}
			if n > 1<<30 {
				return nil, fmt.Errorf("loading model %s: parsing ONNX: field %d claims %d bytes", path, num, n)
			}
			rest = protowire.AppendTag(rest, num, typ)
			rest = protowire.AppendVarint(rest, n)
			payload = make([]byte, n)
		default:
			return nil, fmt.Errorf("loading model %s: parsing ONNX: field %d has wire type %d", path, num, typ)
		}
		if _, err := io.ReadFull(r, payload); err != nil {
			return nil, fmt.Errorf("loading model %s: parsing ONNX: field %d: %w", path, num, unexpected(err))
		}
		if typ != protowire.BytesType {
			rest = protowire.AppendTag(rest, num, typ)
		}
		rest = append(rest, payload...)
	}
	mp := &pb.ModelProto{}
	if err := proto.Unmarshal(rest, mp); err != nil {
		return nil, fmt.Errorf("loading model %s: parsing ONNX: %w", path, err)
	}
	if !sawGraph || mp.GetIrVersion() == 0 {
		return nil, fmt.Errorf("loading model %s: parsing ONNX: no graph or IR version: not an ONNX model", path)
	}
	md, err := (&File{Proto: mp}).Metadata()
	if err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}
	return &FileInfo{Metadata: md, SHA256: hex.EncodeToString(h.Sum(nil)), Size: r.n}, nil
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
