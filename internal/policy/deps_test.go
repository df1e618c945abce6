package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tagnet/tagnet"

// cgoAllowed are the only non-standard packages that may use cgo.
var cgoAllowed = map[string]bool{
	"github.com/yalue/onnxruntime_go": true,
	module + "/trainer/blas":          true,
}

type pkg struct {
	ImportPath string
	Standard   bool
	CgoFiles   []string
	Imports    []string
	Deps       []string
	Module     *struct{ Path string }
}

// list runs `go list -deps -json` on patterns, with cgo enabled as in a
// real build.
func list(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json"}, patterns...)...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", patterns, err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("finding module root: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestPredictorNeverBuildsFromTrainer(t *testing.T) {
	pkgs := list(t, "./cmd/tagnet-predict", "./predictor/...")
	if len(pkgs) == 0 {
		t.Fatal("go list returned nothing")
	}
	for _, p := range pkgs {
		if p.ImportPath == module+"/trainer" || strings.HasPrefix(p.ImportPath, module+"/trainer/") {
			t.Errorf("the predictor builds from %s; the predictor must never import the trainer", p.ImportPath)
		}
	}
}

func TestOnlyBindingsUseCgo(t *testing.T) {
	sawBLAS, sawORT := false, false
	for _, p := range list(t, "./...") {
		if p.Standard || len(p.CgoFiles) == 0 {
			continue
		}
		switch {
		case p.ImportPath == module+"/trainer/blas":
			sawBLAS = true
		case p.ImportPath == "github.com/yalue/onnxruntime_go":
			sawORT = true
		}
		if !cgoAllowed[p.ImportPath] {
			t.Errorf("%s uses cgo (%v); only %v may", p.ImportPath, p.CgoFiles, keys(cgoAllowed))
		}
	}
	// The rule must be checking something: the bindings exist and use cgo.
	if !sawORT || !sawBLAS {
		t.Errorf("the ONNX Runtime binding (seen: %v) and the BLAS binding (seen: %v) should both use cgo: is CGO_ENABLED off?", sawORT, sawBLAS)
	}
}

func TestModelsDependsOnlyOnStdlibAndProtobuf(t *testing.T) {
	for _, p := range list(t, "./models") {
		if p.ImportPath != module+"/models" {
			continue
		}
		for _, d := range p.Deps {
			if !strings.Contains(strings.Split(d, "/")[0], ".") { // standard library
				continue
			}
			if strings.HasPrefix(d, "google.golang.org/protobuf/") || d == module+"/models/onnxpb" {
				continue
			}
			t.Errorf("models depends on %s; it may use only the standard library and protobuf", d)
		}
	}
}

func TestOnlyCmdAndConfigImportViper(t *testing.T) {
	for _, p := range list(t, "./...") {
		if !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		if strings.HasPrefix(rel, "cmd/") || rel == "config" || strings.HasPrefix(rel, "config/") {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/spf13/viper") {
				t.Errorf("%s imports viper; only cmd/ and config/ may", p.ImportPath)
			}
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
