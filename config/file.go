package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fileCheck decodes a YAML document strictly against a schema before viper
// sees it: unknown and duplicate keys, sections written as values and values
// of the wrong type are reported with the file, line and key. viper is
// case-insensitive and lowercases map keys; this check is case-sensitive and
// keeps the case of map keys (label names), which viper would lose.
type fileCheck struct {
	file  string
	other *schema                       // the other binary's schema, to hint at a mixed-up file
	lines map[string]int                // key → line, for keys with a non-null value
	maps  map[string]map[string]float64 // map-typed keys, decoded here
	errs  []error
}

func newFileCheck(file string, other *schema) *fileCheck {
	return &fileCheck{file: file, other: other, lines: map[string]int{}, maps: map[string]map[string]float64{}}
}

func (c *fileCheck) fail(line int, key, value, reason string) {
	c.errs = append(c.errs, &KeyError{Source: c.file, Line: line, Key: key, Value: value, Reason: reason})
}

// document checks a whole document. It returns a non-nil error, without
// checking further, when the top level is not a mapping.
func (c *fileCheck) document(doc *yaml.Node, s *schema) error {
	if doc.Kind == 0 { // empty file
		return nil
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	root = resolveAlias(root)
	if isNull(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s:%d: top level must be a mapping of sections (%s), got %s",
			c.file, root.Line, strings.Join(s.root.names, ", "), describeNode(root))
	}
	c.mapping(root, s.root, "")
	return nil
}

func (c *fileCheck) mapping(n *yaml.Node, sn *schemaNode, prefix string) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolveAlias(n.Content[i+1])
		if kn.Kind != yaml.ScalarNode {
			c.fail(kn.Line, strings.TrimSuffix(prefix, ".")+"[…]", "", "keys must be plain names")
			continue
		}
		key := prefix + kn.Value
		if first, dup := seen[kn.Value]; dup {
			c.fail(kn.Line, key, "", fmt.Sprintf("duplicate key (first at line %d)", first))
			continue
		}
		seen[kn.Value] = kn.Line
		child := sn.children[kn.Value]
		if child == nil {
			c.fail(kn.Line, key, "", "unknown key"+c.hint(prefix, kn.Value, sn))
			continue
		}
		if isNull(vn) {
			continue // null keeps the default
		}
		if child.children != nil {
			if vn.Kind != yaml.MappingNode {
				c.fail(vn.Line, key, "", fmt.Sprintf("must be a section with keys %s, got %s", strings.Join(child.names, ", "), describeNode(vn)))
				continue
			}
			c.mapping(vn, child, key+".")
			continue
		}
		c.leaf(kn, vn, child.field)
	}
}

// leaf type-checks one value by converting it exactly as the loader will.
func (c *fileCheck) leaf(kn, vn *yaml.Node, f *field) {
	c.lines[f.key] = kn.Line
	switch f.kind() {
	case kindMap:
		c.decodeMap(kn, vn, f)
		return
	case kindScalar:
		if vn.Kind != yaml.ScalarNode {
			c.fail(vn.Line, f.key, "", "must be a single value, got "+describeNode(vn))
			return
		}
	case kindList:
		if vn.Kind == yaml.MappingNode {
			c.fail(vn.Line, f.key, "", "must be a list, got "+describeNode(vn))
			return
		}
	}
	var val any
	if err := vn.Decode(&val); err != nil {
		c.fail(vn.Line, f.key, strconv.Quote(vn.Value), err.Error())
		return
	}
	if err := setValue(reflect.New(f.typ).Elem(), val); err != nil {
		c.fail(vn.Line, f.key, formatValue(val), err.Error())
	}
}

// decodeMap decodes a map of label → number, keeping the labels' case.
func (c *fileCheck) decodeMap(kn, vn *yaml.Node, f *field) {
	if vn.Kind != yaml.MappingNode {
		c.fail(vn.Line, f.key, "", "must be a mapping of label: number, got "+describeNode(vn))
		return
	}
	m := map[string]float64{}
	for i := 0; i+1 < len(vn.Content); i += 2 {
		ek, ev := vn.Content[i], resolveAlias(vn.Content[i+1])
		key := f.key + "[" + strconv.Quote(ek.Value) + "]"
		if ek.Kind != yaml.ScalarNode {
			c.fail(ek.Line, f.key, "", "labels must be plain names")
			continue
		}
		if _, dup := m[ek.Value]; dup {
			c.fail(ek.Line, key, "", fmt.Sprintf("duplicate label (first at line %d)", c.lines[key]))
			continue
		}
		c.lines[key] = ek.Line
		var x float64
		if ev.Kind != yaml.ScalarNode || ev.Tag == "!!str" || ev.Decode(&x) != nil {
			c.fail(ev.Line, key, formatNode(ev), "must be a number")
			continue
		}
		m[ek.Value] = x
	}
	c.maps[f.key] = m
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// describeNode names a node's shape for an error message.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "the value " + formatNode(n)
	}
}

func formatNode(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return describeNode(n)
	}
	if n.Tag == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// hint explains an unknown key: a near miss, or a top-level section that
// belongs to the other binary.
func (c *fileCheck) hint(prefix, name string, sn *schemaNode) string {
	if h := suggest(name, sn.names); h != "" {
		return h
	}
	if prefix == "" && c.other != nil {
		if _, ok := c.other.root.children[name]; ok {
			return fmt.Sprintf(" (%s is a section of the %s configuration)", name, c.other.binary)
		}
	}
	return ""
}

// suggest returns ` (did you mean "x"?)` for the known name closest to
// name, or "" when none is close.
func suggest(name string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		d := editDistance(strings.ToLower(name), k)
		if d < bestD && d < len(k) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
