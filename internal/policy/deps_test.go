package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/tagnet/tagnet"

// cgoAllowed are the only non-standard packages that may use cgo: the three
// rooms of the architecture — the ONNX Runtime binding, the image codecs
// (libvips) and the CPU training kernels.
var cgoAllowed = map[string]bool{
	"github.com/yalue/onnxruntime_go": true,
	module + "/preprocess/vips":       true,
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
	seen := map[string]bool{}
	for _, p := range list(t, "./...") {
		if p.Standard || len(p.CgoFiles) == 0 {
			continue
		}
		seen[p.ImportPath] = true
		if !cgoAllowed[p.ImportPath] {
			t.Errorf("%s uses cgo (%v); only %v may", p.ImportPath, p.CgoFiles, keys(cgoAllowed))
		}
	}
	// The rule must be checking something: every binding exists and uses
	// cgo, so exactly three packages do.
	for k := range cgoAllowed {
		if !seen[k] {
			t.Errorf("%s should use cgo but does not: is CGO_ENABLED off, or has it moved?", k)
		}
	}
	if len(seen) != 3 {
		t.Errorf("%d packages use cgo (%v), want exactly the three rooms", len(seen), keys(seen))
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

// TestOnlyCmdAndConfigReachViper: viper is configuration plumbing, so only
// cmd/... and config/... may build from it — directly or through any chain
// of imports (Deps is go list's transitive closure). A library package
// that took a *config.Predict, as predictor/serve once did, reaches viper
// through config and fails here.
func TestOnlyCmdAndConfigReachViper(t *testing.T) {
	pkgs := list(t, "./...")
	for _, msg := range viperReached(pkgs) {
		t.Error(msg)
	}
	// The rule checks something: cmd/tagnet-predict reaches viper.
	found := false
	for _, p := range pkgs {
		if p.ImportPath == module+"/cmd/tagnet-predict" {
			found = slices.ContainsFunc(p.Deps, isViper)
		}
	}
	if !found {
		t.Error("cmd/tagnet-predict does not reach viper: has go list changed, or has viper gone?")
	}
}

// TestViperRuleIsTransitive feeds the rule a package that reaches viper
// only through config, and one that imports it directly.
func TestViperRuleIsTransitive(t *testing.T) {
	pkgs := []pkg{
		{ImportPath: module + "/predictor/serve", Imports: []string{module + "/config"}, Deps: []string{module + "/config", "github.com/spf13/viper"}},
		{ImportPath: module + "/trainer", Imports: []string{"github.com/spf13/viper/internal/x"}, Deps: []string{"github.com/spf13/viper/internal/x"}},
		{ImportPath: module + "/config", Imports: []string{"github.com/spf13/viper"}, Deps: []string{"github.com/spf13/viper"}},
		{ImportPath: module + "/cmd/tagnet-predict", Imports: []string{module + "/config"}, Deps: []string{module + "/config", "github.com/spf13/viper"}},
		{ImportPath: "github.com/spf13/viper", Deps: []string{"github.com/spf13/afero"}},
	}
	got := viperReached(pkgs)
	if len(got) != 2 || !strings.Contains(got[0], "/predictor/serve") || !strings.Contains(got[1], "/trainer ") {
		t.Errorf("the rule reported %q, want predictor/serve and trainer", got)
	}
}

func isViper(path string) bool {
	return path == "github.com/spf13/viper" || strings.HasPrefix(path, "github.com/spf13/viper/")
}

// viperReached returns one message per package of the module outside
// cmd/ and config/ whose transitive dependencies include viper.
func viperReached(pkgs []pkg) []string {
	var msgs []string
	for _, p := range pkgs {
		if !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		if strings.HasPrefix(rel, "cmd/") || rel == "config" || strings.HasPrefix(rel, "config/") {
			continue
		}
		if i := slices.IndexFunc(p.Deps, isViper); i >= 0 {
			msgs = append(msgs, fmt.Sprintf("%s builds from %s; only cmd/ and config/ may reach viper, even through other packages", p.ImportPath, p.Deps[i]))
		}
	}
	return msgs
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestOnlyPreprocessDecodes keeps the image codecs behind package
// preprocess, so the trainer and the predictor decode through one path.
func TestOnlyPreprocessDecodes(t *testing.T) {
	for _, p := range list(t, "./...") {
		if p.ImportPath == module+"/preprocess" || !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		for _, imp := range p.Imports {
			if imp == module+"/preprocess/vips" {
				t.Errorf("%s imports preprocess/vips; only preprocess may, the rest decode through it", p.ImportPath)
			}
		}
	}
}
