package predictor_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/predictortest"
)

// photosDir holds the real photographs scripts/setup.sh installs.
const photosDir = "../.native/photos"

// Shared by the tests: ONNX Runtime allows one environment per process.
var (
	testRuntime *ort.Runtime
	modelPath   string // a 32-pixel resnet-tiny with a sweep
	noSweepPath string // the same without a sweep
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "predictor-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "predictor tests:", err)
		os.Exit(1)
	}
	code := 1
	if err := setUp(dir); err != nil {
		fmt.Fprintln(os.Stderr, "predictor tests:", err)
	} else {
		code = m.Run()
		if err := testRuntime.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "predictor tests: closing runtime:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func setUp(dir string) error {
	var err error
	if modelPath, err = predictortest.Write(dir, predictortest.Options{}); err != nil {
		return err
	}
	if noSweepPath, err = predictortest.Write(dir, predictortest.Options{NoSweep: true}); err != nil {
		return err
	}
	testRuntime, err = ort.Init(ort.InitOptions{})
	return err
}

// photos returns the real photographs, by file name.
func photos(t *testing.T) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(photosDir, "*.jpg"))
	if err != nil || len(names) < 6 {
		t.Fatalf("want the six photos in %s (run scripts/setup.sh): %v %v", photosDir, names, err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(n)] = b
	}
	return out
}
