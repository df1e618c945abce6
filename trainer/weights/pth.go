package weights

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// torch.save files are read with gopickle's unpickler and its tensor
// rebuilder; the storages are read here, as raw little-endian bytes, so
// that every element type converts exactly (gopickle v0.2.0's own float16
// storage turns subnormal halves into wrong values) and sizes are checked
// against the file before anything is allocated.

// legacyMagic is the number a legacy (pre-1.6) torch.save file starts with,
// and legacyProtocol its format version (torch/serialization.py).
const (
	legacyMagic    = "1950a86a20f9469cfc6c"
	legacyProtocol = 1001
)

// storageType describes one torch.*Storage class.
type storageType struct {
	name  string // "Float", "Half", …
	elem  int    // bytes per element
	float bool
}

var storageTypes = map[string]storageType{
	"FloatStorage": {"Float", 4, true}, "HalfStorage": {"Half", 2, true}, "BFloat16Storage": {"BFloat16", 2, true},
	"DoubleStorage": {"Double", 8, true}, "LongStorage": {"Long", 8, false}, "IntStorage": {"Int", 4, false},
	"ShortStorage": {"Short", 2, false}, "CharStorage": {"Char", 1, false}, "ByteStorage": {"Byte", 1, false},
	"BoolStorage": {"Bool", 1, false},
}

// storageClass is what the pickle's storage type reference resolves to.
type storageClass struct{ t storageType }

func (c *storageClass) New(size int, location string) pytorch.StorageInterface {
	return &rawStorage{t: c.t, size: size}
}

// rawStorage holds a storage's bytes.
type rawStorage struct {
	t    storageType
	size int // elements
	data []byte
}

func (s *rawStorage) SetFromFile(r io.Reader) error {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return fmt.Errorf("reading a %sStorage size: %w", s.t.name, err)
	}
	return s.SetFromFileWithSize(r, int(binary.LittleEndian.Uint64(n[:])))
}

func (s *rawStorage) SetFromFileWithSize(r io.Reader, size int) error {
	if size != s.size {
		return fmt.Errorf("%w: a %sStorage of %d elements holds %d", ErrFormat, s.t.name, s.size, size)
	}
	s.data = make([]byte, size*s.t.elem)
	if _, err := io.ReadFull(r, s.data); err != nil {
		return fmt.Errorf("%w: reading a %sStorage of %d elements: %w", ErrFormat, s.t.name, size, err)
	}
	return nil
}

// floats converts the storage to float32.
func (s *rawStorage) floats() []float32 {
	out := make([]float32, s.size)
	d := s.data
	switch s.t.name {
	case "Float":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case "Half":
		for i := range out {
			out[i] = halfToFloat32(binary.LittleEndian.Uint16(d[2*i:]))
		}
	case "BFloat16":
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16)
		}
	case "Double":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:])))
		}
	}
	return out
}

// halfToFloat32 converts IEEE 754 binary16 bits to float32, exactly
// (every half value is a float32 value), subnormals included.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0: // zero or subnormal: man · 2^-24
		v := float32(man) * (1.0 / (1 << 24))
		return math.Float32frombits(math.Float32bits(v) | sign)
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
}

// rebuildParameter is torch._utils._rebuild_parameter: the tensor itself.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("%w: _rebuild_parameter without arguments", ErrFormat)
	}
	return args[0], nil
}

func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return &pytorch.RebuildTensorV2{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	}
	if module == "torch" {
		if t, ok := storageTypes[name]; ok {
			return &storageClass{t}, nil
		}
	}
	return types.NewGenericClass(module, name), nil
}

// loadPickle reads a torch.save file, zip or legacy, into the pickled
// object with its tensors' storages filled in. A panic inside the
// unpickler on malformed input becomes an error.
func loadPickle(p string) (obj any, err error) {
	defer func() {
		if r := recover(); r != nil {
			obj, err = nil, fmt.Errorf("%w: malformed PyTorch file: %v", ErrFormat, r)
		}
	}()
	if zr, zerr := zip.OpenReader(p); zerr == nil {
		defer zr.Close()
		return loadZip(&zr.Reader)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return loadLegacy(bufio.NewReader(f), fi.Size())
}

// persistentID unpacks ("storage", type, key, location, size, …).
func persistentID(id any) (*storageClass, string, int, error) {
	t, ok := id.(*types.Tuple)
	if !ok || t.Len() < 5 {
		return nil, "", 0, fmt.Errorf("%w: unexpected persistent id %v", ErrFormat, id)
	}
	if s, _ := t.Get(0).(string); s != "storage" {
		return nil, "", 0, fmt.Errorf("%w: persistent id of type %v, want storage", ErrFormat, t.Get(0))
	}
	cls, ok1 := t.Get(1).(*storageClass)
	key, ok2 := t.Get(2).(string)
	size, ok3 := t.Get(4).(int)
	if !ok1 || !ok2 || !ok3 || size < 0 {
		return nil, "", 0, fmt.Errorf("%w: unexpected storage reference %v", ErrFormat, id)
	}
	return cls, key, size, nil
}

// loadZip reads the torch.save zip format (PyTorch ≥ 1.6): ARCHIVE/data.pkl
// and one raw record ARCHIVE/data/KEY per storage.
func loadZip(zr *zip.Reader) (any, error) {
	records := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range zr.File {
		dir, base := path.Split(f.Name)
		switch {
		case base == "data.pkl" && strings.Count(f.Name, "/") == 1:
			pkl = f
		case base == "constants.pkl":
			return nil, fmt.Errorf("%w: a TorchScript archive (torch.jit.save); save the model's state_dict() with torch.save", ErrFormat)
		case strings.HasSuffix(dir, "/data/"):
			records[base] = f
		}
	}
	if pkl == nil {
		return nil, fmt.Errorf("%w: a zip file without ARCHIVE/data.pkl (not torch.save)", ErrFormat)
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	loaded := map[string]*rawStorage{}
	u := pickle.NewUnpickler(bufio.NewReader(rc))
	u.FindClass = findClass
	u.PersistentLoad = func(id any) (any, error) {
		cls, key, size, err := persistentID(id)
		if err != nil {
			return nil, err
		}
		if s, ok := loaded[key]; ok {
			return s, nil
		}
		rec, ok := records[key]
		if !ok {
			return nil, fmt.Errorf("%w: storage record %s is missing", ErrFormat, key)
		}
		if want := uint64(size) * uint64(cls.t.elem); rec.UncompressedSize64 != want {
			return nil, fmt.Errorf("%w: storage record %s holds %d bytes, %d %sStorage elements need %d",
				ErrFormat, key, rec.UncompressedSize64, size, cls.t.name, want)
		}
		r, err := rec.Open()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		s := &rawStorage{t: cls.t, size: size}
		if err := s.SetFromFileWithSize(r, size); err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
		loaded[key] = s
		return s, nil
	}
	return u.Load()
}

// loadLegacy reads the legacy format: pickles of the magic number, the
// protocol version and system info, the object pickle, the pickled list of
// storage keys, then each storage as an 8-byte element count and its raw
// bytes.
func loadLegacy(r *bufio.Reader, fileSize int64) (any, error) {
	magic, err := unpickleOne(r)
	if n, ok := magic.(*big.Int); err != nil || !ok || n.Text(16) != legacyMagic {
		return nil, fmt.Errorf("%w: neither a zip nor a legacy torch.save file", ErrFormat)
	}
	if v, err := unpickleOne(r); err != nil || v != legacyProtocol {
		return nil, fmt.Errorf("%w: legacy torch.save protocol %v, want %d", ErrFormat, v, legacyProtocol)
	}
	if _, err := unpickleOne(r); err != nil { // sys_info
		return nil, fmt.Errorf("%w: legacy header: %w", ErrFormat, err)
	}
	storages := map[string]*rawStorage{}
	u := pickle.NewUnpickler(r)
	u.FindClass = findClass
	u.PersistentLoad = func(id any) (any, error) {
		cls, key, size, err := persistentID(id)
		if err != nil {
			return nil, err
		}
		if t := id.(*types.Tuple); t.Len() > 5 && t.Get(5) != nil {
			return nil, fmt.Errorf("%w: storage views (legacy view metadata) are not supported", ErrFormat)
		}
		if int64(size)*int64(cls.t.elem) > fileSize {
			return nil, fmt.Errorf("%w: a %sStorage of %d elements is larger than the file", ErrFormat, cls.t.name, size)
		}
		if s, ok := storages[key]; ok {
			return s, nil
		}
		s := &rawStorage{t: cls.t, size: size}
		storages[key] = s
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, err
	}
	rawKeys, err := unpickleOne(r)
	if err != nil {
		return nil, fmt.Errorf("%w: legacy storage keys: %w", ErrFormat, err)
	}
	keys, ok := rawKeys.(*types.List)
	if !ok {
		return nil, fmt.Errorf("%w: legacy storage keys are a %T", ErrFormat, rawKeys)
	}
	for _, k := range *keys {
		key, _ := k.(string)
		s, ok := storages[key]
		if !ok {
			return nil, fmt.Errorf("%w: legacy storage %v is not referenced", ErrFormat, k)
		}
		if err := s.SetFromFile(r); err != nil {
			return nil, fmt.Errorf("legacy storage %s: %w", key, err)
		}
	}
	for key, s := range storages {
		if s.data == nil && s.size > 0 {
			return nil, fmt.Errorf("%w: legacy storage %s has no data", ErrFormat, key)
		}
	}
	return obj, nil
}

func unpickleOne(r io.Reader) (any, error) {
	u := pickle.NewUnpickler(r)
	v, err := u.Load()
	if err != nil && errors.Is(err, io.EOF) {
		return nil, io.ErrUnexpectedEOF
	}
	return v, err
}
