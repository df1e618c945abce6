package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
)

func TestInitWritesLoadableModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.onnx")
	if code := run(context.Background(), []string{"init", "--arch", "resnet-tiny", "--labels", "cat,dog,bird", "--size", "96", "-o", path, "--log-format", "json"}, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	m, err := models.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Metadata.Spec.NumClasses != 3 || m.Metadata.Labels[2] != "bird" || m.Metadata.Spec.InputSize != 96 {
		t.Errorf("metadata %+v", m.Metadata)
	}
	var spec preprocess.Spec
	if err := json.Unmarshal(m.Metadata.Preprocess, &spec); err != nil {
		t.Fatal(err)
	}
	if err := spec.Validate(); err != nil || spec.Width != 96 {
		t.Errorf("preprocess spec %+v: %v", spec, err)
	}
}

func TestInitUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "--arch", "vgg", "-o", filepath.Join(dir, "a.onnx")},
		{"init", "--classes", "2", "--labels", "a,b,c", "-o", filepath.Join(dir, "b.onnx")},
		{"init"},
		{"init", "--no-such-flag"},
	} {
		if code := run(context.Background(), append(args, "--log-format", "json"), os.Stdout, os.Stderr); code != cli.ExitUsage {
			t.Errorf("%v: exit code %d, want %d", args, code, cli.ExitUsage)
		}
	}
}
