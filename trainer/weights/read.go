package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
	"github.com/nlpodyssey/safetensors"

	"github.com/tagnet/tagnet/models"
)

// ErrFormat is wrapped by errors about a weights file that cannot be read:
// not a PyTorch, safetensors or ONNX file, or one that holds no state dict.
var ErrFormat = errors.New("unreadable weights file")

// StateDict is a PyTorch state dict as stored in a file: parameter and
// buffer names (torchvision's, e.g. "layer1.0.bn1.running_var") to float32
// tensors. Floating tensors of other precisions are converted to float32;
// integer entries (BatchNorm's num_batches_tracked) are listed in Ints with
// their shapes and hold no data.
type StateDict struct {
	// Tensors holds the floating-point entries.
	Tensors map[string]*models.Tensor
	// Ints names the integer entries, with their shapes.
	Ints map[string][]int
}

// Names returns every entry name, floating and integer, sorted.
func (sd *StateDict) Names() []string {
	names := make([]string, 0, len(sd.Tensors)+len(sd.Ints))
	for k := range sd.Tensors {
		names = append(names, k)
	}
	for k := range sd.Ints {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ReadFile reads the state dict in a PyTorch (.pth, .pt, .bin, .ckpt) or
// safetensors (.safetensors) file, choosing the reader by the file's
// content (a zip or legacy PyTorch file, or a safetensors header), not its
// name. Errors name the file and wrap ErrFormat when the content is not a
// state dict.
func ReadFile(path string) (*StateDict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading weights: %w", err)
	}
	head := make([]byte, 8)
	n, _ := f.Read(head)
	f.Close()
	head = head[:n]
	var sd *StateDict
	switch {
	case isSafetensors(path, head):
		sd, err = readSafetensors(path)
	default:
		sd, err = readPyTorch(path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading weights %s: %w", path, err)
	}
	if len(sd.Tensors) == 0 {
		return nil, fmt.Errorf("reading weights %s: %w: no floating-point tensors", path, ErrFormat)
	}
	return sd, nil
}

// isSafetensors reports a safetensors file: by extension, or by its header
// (an 8-byte little-endian length followed by a JSON object).
func isSafetensors(path string, head []byte) bool {
	if strings.EqualFold(filepath.Ext(path), ".safetensors") {
		return true
	}
	if len(head) < 8 || bytes.HasPrefix(head, []byte("PK")) {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n > 1 && n < 100<<20 && head[0] != 0x80 // not a pickle (PROTO opcode)
}

// readPyTorch reads a torch.save file, zip or legacy, with gopickle.
func readPyTorch(path string) (*StateDict, error) {
	obj, err := loadPickle(path)
	if err != nil {
		if !errors.Is(err, ErrFormat) {
			err = fmt.Errorf("%w: not a PyTorch file: %w", ErrFormat, err)
		}
		return nil, err
	}
	entries, err := stateDictEntries(obj)
	if err != nil {
		return nil, err
	}
	sd := &StateDict{Tensors: map[string]*models.Tensor{}, Ints: map[string][]int{}}
	for _, e := range entries {
		t, ok := e.value.(*pytorch.Tensor)
		if !ok {
			continue // non-tensor entries (e.g. _metadata, an epoch counter)
		}
		data, isFloat, err := tensorFloats(t)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", e.key, err)
		}
		if !isFloat {
			sd.Ints[e.key] = slices.Clone(t.Size)
			continue
		}
		sd.Tensors[e.key] = &models.Tensor{Shape: slices.Clone(t.Size), Data: data}
	}
	return sd, nil
}

type entry struct {
	key   string
	value any
}

// stateDictEntries finds the state dict in a loaded pickle: the top-level
// dict itself, or the dict under "state_dict" or "model" (training
// checkpoints). A common "module." prefix (DataParallel) is removed.
func stateDictEntries(obj any) ([]entry, error) {
	entries, ok := dictEntries(obj)
	if !ok {
		return nil, fmt.Errorf("%w: the file holds a %T, not a state dict (save model.state_dict(), not the model)", ErrFormat, obj)
	}
	hasTensor := false
	for _, e := range entries {
		if _, ok := e.value.(*pytorch.Tensor); ok {
			hasTensor = true
			break
		}
	}
	if !hasTensor {
		for _, e := range entries {
			if e.key == "state_dict" || e.key == "model" || e.key == "model_state_dict" {
				if inner, ok := dictEntries(e.value); ok {
					entries = inner
					break
				}
			}
		}
	}
	prefixed := len(entries) > 0
	for _, e := range entries {
		prefixed = prefixed && strings.HasPrefix(e.key, "module.")
	}
	if prefixed {
		for i := range entries {
			entries[i].key = strings.TrimPrefix(entries[i].key, "module.")
		}
	}
	return entries, nil
}

func dictEntries(obj any) ([]entry, bool) {
	var out []entry
	switch d := obj.(type) {
	case *types.OrderedDict:
		for el := d.List.Front(); el != nil; el = el.Next() {
			de := el.Value.(*types.OrderedDictEntry)
			k, ok := de.Key.(string)
			if !ok {
				continue
			}
			out = append(out, entry{k, de.Value})
		}
	case *types.Dict:
		for _, de := range *d {
			k, ok := de.Key.(string)
			if !ok {
				continue
			}
			out = append(out, entry{k, de.Value})
		}
	default:
		return nil, false
	}
	return out, true
}

// tensorFloats copies a (possibly strided) PyTorch tensor into a dense
// row-major float32 slice; isFloat is false for integer and bool tensors.
func tensorFloats(t *pytorch.Tensor) (data []float32, isFloat bool, err error) {
	rs, ok := t.Source.(*rawStorage)
	if !ok {
		return nil, false, fmt.Errorf("%w: tensor storage of type %T", ErrFormat, t.Source)
	}
	if !rs.t.float {
		return nil, false, nil
	}
	src := rs.floats()
	if len(t.Stride) != len(t.Size) {
		return nil, true, fmt.Errorf("%w: %d strides for %d dimensions", ErrFormat, len(t.Stride), len(t.Size))
	}
	n := 1
	for _, d := range t.Size {
		if d < 0 {
			return nil, true, fmt.Errorf("%w: negative dimension in shape %v", ErrFormat, t.Size)
		}
		n *= d
	}
	out := make([]float32, n)
	idx := make([]int, len(t.Size))
	for i := range out {
		off := t.StorageOffset
		for d, k := range idx {
			off += k * t.Stride[d]
		}
		if off < 0 || off >= len(src) {
			return nil, true, fmt.Errorf("%w: shape %v with strides %v reaches past its storage of %d values", ErrFormat, t.Size, t.Stride, len(src))
		}
		out[i] = src[off]
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, true, nil
}

// readSafetensors reads a safetensors file (F32, F16, BF16 and F64 tensors
// are converted to float32; integer tensors are listed in Ints).
func readSafetensors(path string) (*StateDict, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := safetensors.Deserialize(b)
	if err != nil {
		return nil, fmt.Errorf("%w: not a safetensors file: %w", ErrFormat, err)
	}
	sd := &StateDict{Tensors: map[string]*models.Tensor{}, Ints: map[string][]int{}}
	for _, nt := range st.Tensors() {
		v := nt.TensorView
		shape := make([]int, len(v.Shape()))
		for i, d := range v.Shape() {
			shape[i] = int(d)
		}
		raw := v.Data()
		var data []float32
		switch v.DType() {
		case safetensors.F32:
			data = make([]float32, len(raw)/4)
			for i := range data {
				data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		case safetensors.F16:
			data = make([]float32, len(raw)/2)
			for i := range data {
				data[i] = halfToFloat32(binary.LittleEndian.Uint16(raw[2*i:]))
			}
		case safetensors.BF16:
			data = make([]float32, len(raw)/2)
			for i := range data {
				data[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
			}
		case safetensors.F64:
			data = make([]float32, len(raw)/8)
			for i := range data {
				data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			}
		default:
			sd.Ints[nt.Name] = shape
			continue
		}
		sd.Tensors[nt.Name] = &models.Tensor{Shape: shape, Data: data}
	}
	return sd, nil
}
