package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestExamples keeps config/examples in step with the structs: each example
// loads, lists every key with a comment, and shows the default value
// except for the few keys it sets on purpose.
func TestExamples(t *testing.T) {
	isolateEnv(t)
	t.Run("train", func(t *testing.T) {
		const path = "examples/train.yaml"
		checkExampleKeys(t, path, trainSchema())
		got, err := LoadTrain(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultTrain()
		// Set on purpose, to show a real layout.
		want.Data.Dir, want.Data.CSV, want.Data.Folder = got.Data.Dir, got.Data.CSV, got.Data.Folder
		// A relative path written in the file resolves against its folder.
		want.Output.Dir = filepath.Join("examples", want.Output.Dir)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("examples/train.yaml differs from DefaultTrain() outside data.dir, data.csv, data.folder:\ngot  %+v\nwant %+v", got, want)
		}
		if err := got.RequireData(nil); err != nil {
			t.Error(err)
		}
	})
	t.Run("deploy", func(t *testing.T) {
		const path = "examples/deploy.yaml"
		checkExampleKeys(t, path, predictSchema())
		got, err := LoadPredict(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultPredict()
		want.Model.Path = got.Model.Path // set on purpose
		if len(got.Thresholds.Overrides) == 0 {
			got.Thresholds.Overrides = nil // "{}" in the file, nil by default
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("examples/deploy.yaml differs from DefaultPredict() outside model.path:\ngot  %+v\nwant %+v", got, want)
		}
		if err := got.RequireModel(nil); err != nil {
			t.Error(err)
		}
	})
}

// checkExampleKeys fails unless the file at path has every key of s, each
// with a comment above it or beside it.
func checkExampleKeys(t *testing.T, path string, s *schema) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := prefix + k.Value
			if v.Kind == yaml.MappingNode && s.byKey[key] == nil {
				walk(v, key+".")
				continue
			}
			comments[key] = strings.TrimSpace(k.HeadComment + k.LineComment + v.LineComment)
		}
	}
	walk(doc.Content[0], "")
	for _, f := range s.fields {
		c, ok := comments[f.key]
		switch {
		case !ok:
			t.Errorf("%s: key %s is missing", path, f.key)
		case c == "":
			t.Errorf("%s: key %s has no comment", path, f.key)
		case !strings.Contains(c, "Default:"):
			t.Errorf("%s: the comment of %s does not give its default", path, f.key)
		}
	}
}
