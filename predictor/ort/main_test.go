package ort

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The fixture is a real torchvision ResNet-18 export with PyTorch's logits
// for a reference input (see its README.md), copied into .native by
// scripts/setup.sh.
const fixtureDir = "../../.native/fixtures/torchvision-resnet18"

// childEnv marks a test binary started by a test to check what happens in a
// fresh process; such a binary does not create the shared runtime.
const childEnv = "TAGNET_ORT_TEST_CHILD"

// Shared by the tests of this package: ONNX Runtime allows one environment
// per process.
var (
	testRuntime *Runtime
	testSession *Session // the fixture on the CPU
	fixtureIn   []float32
	fixtureWant []float32
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(m.Run())
	}
	if err := setUp(); err != nil {
		fmt.Fprintln(os.Stderr, "ort tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := testSession.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "ort tests: closing session:", err)
		code = 1
	}
	if err := testRuntime.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "ort tests: closing runtime:", err)
		code = 1
	}
	os.Exit(code)
}

func setUp() error {
	var err error
	if fixtureIn, err = readF32(filepath.Join(fixtureDir, "input.f32")); err != nil {
		return err
	}
	if fixtureWant, err = readF32(filepath.Join(fixtureDir, "torch_logits.f32")); err != nil {
		return err
	}
	if testRuntime, err = Init(InitOptions{}); err != nil {
		return err
	}
	testSession, err = NewSession(testRuntime, filepath.Join(fixtureDir, "model.onnx"), SessionOptions{})
	return err
}

// readF32 reads a little-endian float32 file.
func readF32(path string) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading fixture: %w", err)
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("reading fixture %s: %d bytes is not a whole number of float32", path, len(b))
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// maxAbsDiff returns the largest absolute difference of two equally long
// slices.
func maxAbsDiff(t *testing.T, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	var m float64
	for i := range got {
		m = max(m, math.Abs(float64(got[i])-float64(want[i])))
	}
	return m
}
