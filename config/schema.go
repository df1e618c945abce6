package config

import (
	"encoding"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// field is one leaf key of a configuration struct.
type field struct {
	key   string       // full dotted key, such as "server.batching.max_batch"
	index []int        // reflect field index from the root struct
	typ   reflect.Type // Go type of the field
	help  string       // flag usage text
	path  bool         // a file path, resolved against the config file's directory
	name  bool         // with path: a value that is not a file (IsWeightsFile) is a name, kept as written
}

// kind classifies how a field's value is written and converted.
type kind int

const (
	kindScalar kind = iota // string, bool, number, duration, text type
	kindList               // []string
	kindMap                // map[string]float64
)

func (f *field) kind() kind {
	switch {
	case isText(f.typ):
		return kindScalar
	case f.typ.Kind() == reflect.Slice:
		return kindList
	case f.typ.Kind() == reflect.Map:
		return kindMap
	default:
		return kindScalar
	}
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[time.Duration]()
)

// isText reports whether t is a leaf written as text (postprocess.Strategy,
// Shard) rather than a section.
func isText(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// schema is the set of keys of one configuration struct.
type schema struct {
	binary string // "tagnet-train" or "tagnet-predict"
	fields []field
	byKey  map[string]*field
	root   *schemaNode
}

// schemaNode is one level of the key tree, used to check a YAML file.
type schemaNode struct {
	children map[string]*schemaNode // nil for a leaf
	names    []string               // children's names in struct order
	field    *field                 // set for a leaf
}

// schemaOf builds the schema of struct type t from its yaml tags.
func schemaOf(t reflect.Type, binary string) *schema {
	s := &schema{binary: binary, byKey: map[string]*field{}}
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if !sf.IsExported() || name == "" || name == "-" {
				continue
			}
			key := prefix + name
			idx := append(slices.Clone(index), i)
			if sf.Type.Kind() == reflect.Struct && !isText(sf.Type) {
				walk(sf.Type, key+".", idx)
				continue
			}
			s.fields = append(s.fields, field{
				key:   key,
				index: idx,
				typ:   sf.Type,
				help:  sf.Tag.Get("help"),
				path:  sf.Tag.Get("config") == "path" || sf.Tag.Get("config") == "path,name",
				name:  sf.Tag.Get("config") == "path,name",
			})
		}
	}
	walk(t, "", nil)
	s.root = &schemaNode{children: map[string]*schemaNode{}}
	for i := range s.fields {
		f := &s.fields[i]
		s.byKey[f.key] = f
		n := s.root
		parts := strings.Split(f.key, ".")
		for j, p := range parts {
			child := n.children[p]
			if child == nil {
				child = &schemaNode{}
				if j < len(parts)-1 {
					child.children = map[string]*schemaNode{}
				} else {
					child.field = f
				}
				n.children[p] = child
				n.names = append(n.names, p)
			}
			n = child
		}
	}
	return s
}

var (
	trainSchema   = sync.OnceValue(func() *schema { return schemaOf(reflect.TypeFor[Train](), "tagnet-train") })
	predictSchema = sync.OnceValue(func() *schema { return schemaOf(reflect.TypeFor[Predict](), "tagnet-predict") })
)

// keys returns the schema's dotted keys in struct order.
func (s *schema) keys() []string {
	out := make([]string, len(s.fields))
	for i, f := range s.fields {
		out[i] = f.key
	}
	return out
}

// TrainKeys returns every key of [Train] in struct order, such as
// "data.dir" and "train.epochs".
func TrainKeys() []string { return trainSchema().keys() }

// PredictKeys returns every key of [Predict] in struct order, such as
// "runtime.providers" and "server.batching.max_batch".
func PredictKeys() []string { return predictSchema().keys() }

// EnvName returns the environment variable that overrides key:
// "server.batching.max_batch" gives TAGNET_SERVER_BATCHING_MAX_BATCH.
func EnvName(key string) string {
	return "TAGNET_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// FlagName returns the name of the flag that [AddTrainFlags] and
// [AddPredictFlags] register for key: the key with underscores turned into
// dashes, so "runtime.intra_op_threads" gives "runtime.intra-op-threads".
func FlagName(key string) string {
	return strings.ReplaceAll(key, "_", "-")
}
