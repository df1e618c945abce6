package dockercheck

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/internal/digest"
	"github.com/tagnet/tagnet/predictor/ort"
)

const (
	root       = "../.."
	dockerfile = root + "/Dockerfile"
	stepsPath  = "scripts/docker-steps.sh"
	// out is the builder's output folder, mapped into a temporary folder
	// when the steps run outside Docker.
	out = "/out"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // first line
	cmd  string // upper case: FROM, RUN, COPY, …
	args string
}

// stage is a build stage: its FROM and the instructions after it.
type stage struct {
	name, base string
	instrs     []instruction
}

// parseDockerfile splits the Dockerfile into the ARGs before the first
// FROM (name → default) and its stages.
func parseDockerfile(t *testing.T) (map[string]string, []*stage) {
	t.Helper()
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var instrs []instruction
	var cur *instruction
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == nil && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur != nil && strings.HasPrefix(trimmed, "#") {
			continue // comment inside a continued instruction
		}
		cont := strings.HasSuffix(trimmed, "\\")
		trimmed = strings.TrimSpace(strings.TrimSuffix(trimmed, "\\"))
		if cur == nil {
			cmd, args, _ := strings.Cut(trimmed, " ")
			cur = &instruction{line: i + 1, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + trimmed
		}
		if !cont {
			instrs = append(instrs, *cur)
			cur = nil
		}
	}
	if cur != nil {
		t.Fatalf("Dockerfile:%d: instruction continued past the end", cur.line)
	}
	args := map[string]string{}
	var stages []*stage
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := &stage{base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
		case len(stages) == 0 && in.cmd == "ARG":
			name, def, _ := strings.Cut(in.args, "=")
			args[name] = def
		case len(stages) == 0:
			t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
		default:
			st := stages[len(stages)-1]
			st.instrs = append(st.instrs, in)
		}
	}
	return args, stages
}

func findStage(t *testing.T, stages []*stage, name string) *stage {
	t.Helper()
	for _, s := range stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("the Dockerfile has no stage %q", name)
	return nil
}

// words splits a RUN or COPY argument string into words, removing double
// quotes and expanding $VARIANT / ${VARIANT}.
func words(s, variant string) []string {
	s = strings.NewReplacer("${VARIANT}", variant, "$VARIANT", variant).Replace(s)
	f := strings.Fields(s)
	for i := range f {
		f[i] = strings.Trim(f[i], `"`)
	}
	return f
}

// scriptSteps returns the steps scripts/docker-steps.sh says it has.
func scriptSteps(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("bash", stepsPath, "--list")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s --list: %v", stepsPath, err)
	}
	return strings.Fields(string(b))
}

// TestDockerfileShape checks the Dockerfile's structure: the variants, the
// runtime bases, the builder's RUN lines against the script's steps, the
// paths the predictor looks at, and a non-root user.
func TestDockerfileShape(t *testing.T) {
	args, stages := parseDockerfile(t)
	if args["VARIANT"] != "cpu" {
		t.Errorf("ARG VARIANT defaults to %q, want cpu", args["VARIANT"])
	}
	if !regexp.MustCompile(`^nvidia/cuda:13\.0\.\d+-cudnn-runtime-ubuntu24\.04$`).MatchString(args["CUDA_BASE"]) {
		t.Errorf("CUDA_BASE is %q, want nvidia/cuda:13.0.x-cudnn-runtime-ubuntu24.04", args["CUDA_BASE"])
	}
	builder := findStage(t, stages, "builder")
	if !strings.HasPrefix(builder.base, "golang:1.26-bookworm") {
		t.Errorf("the builder is based on %s, want golang:1.26-bookworm", builder.base)
	}
	if b := findStage(t, stages, "runtime-cpu").base; b != "debian:bookworm-slim" {
		t.Errorf("runtime-cpu is based on %s, want debian:bookworm-slim", b)
	}
	if b := findStage(t, stages, "runtime-cuda").base; b != "${CUDA_BASE}" {
		t.Errorf("runtime-cuda is based on %s, want ${CUDA_BASE}", b)
	}
	final := stages[len(stages)-1]
	if final.base != "runtime-${VARIANT}" {
		t.Errorf("the final stage is based on %s, want runtime-${VARIANT}", final.base)
	}

	// Docker runs RUN lines through /bin/sh, which needs the script
	// executable (git keeps the mode).
	if fi, err := os.Stat(filepath.Join(root, stepsPath)); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("%s must be executable: %v", stepsPath, err)
	}
	known := scriptSteps(t)
	var used []string
	for _, in := range builder.instrs {
		if in.cmd != "RUN" {
			continue
		}
		w := words(in.args, "cpu")
		if w[0] == "apt-get" { // system packages: the one Docker-only step
			continue
		}
		if w[0] != stepsPath || len(w) < 2 {
			t.Errorf("Dockerfile:%d: RUN %s does not go through %s", in.line, in.args, stepsPath)
			continue
		}
		if !slices.Contains(known, w[1]) {
			t.Errorf("Dockerfile:%d: step %q is not one of %s's steps %v", in.line, w[1], stepsPath, known)
		}
		used = append(used, w[1])
	}
	for _, s := range known {
		if !slices.Contains(used, s) {
			t.Errorf("the Dockerfile never runs step %q", s)
		}
	}

	env, user := map[string]string{}, ""
	var copies [][]string
	for _, in := range final.instrs {
		switch in.cmd {
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "USER":
			user = in.args
		case "COPY":
			copies = append(copies, words(in.args, "cpu"))
		}
	}
	if env["TAGNET_MODEL_PATH"] != "/models/model.onnx" {
		t.Errorf("TAGNET_MODEL_PATH is %q, want /models/model.onnx", env["TAGNET_MODEL_PATH"])
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("the image runs as %q; it must run as an unprivileged user", user)
	}
	wantCopies := [][]string{
		{"--from=builder", out + "/bin/tagnet-predict", "/opt/tagnet/bin/tagnet-predict"},
		{"--from=builder", out + "/lib/", path.Dir(ort.ImageLibrary) + "/"},
	}
	if !slices.EqualFunc(copies, wantCopies, slices.Equal) {
		t.Errorf("the final stage copies %q, want exactly %q (the binary and ONNX Runtime, nothing of the trainer)", copies, wantCopies)
	}
}

// TestRuntimeStagesInstallLibvips: each runtime base installs the libvips
// runtime library that tagnet-predict links (its name differs between
// Debian bookworm and Ubuntu 24.04) and nothing of the trainer.
func TestRuntimeStagesInstallLibvips(t *testing.T) {
	_, stages := parseDockerfile(t)
	for name, pkg := range map[string]string{"runtime-cpu": "libvips42", "runtime-cuda": "libvips42t64"} {
		var installed []string
		for _, in := range findStage(t, stages, name).instrs {
			if in.cmd != "RUN" {
				continue
			}
			w := words(in.args, "cpu")
			if i := slices.Index(w, "install"); i > 0 && w[0] == "apt-get" {
				for _, p := range w[i+1:] {
					if p == "&&" {
						break
					}
					if !strings.HasPrefix(p, "-") {
						installed = append(installed, p)
					}
				}
			}
		}
		if !slices.Contains(installed, pkg) {
			t.Errorf("%s installs %q, want %s (libvips, which tagnet-predict links)", name, installed, pkg)
		}
		for _, p := range installed {
			if strings.Contains(p, "blas") || strings.Contains(p, "dnnl") || strings.HasSuffix(p, "-dev") {
				t.Errorf("%s installs %s: the runtime image carries nothing of the trainer and no headers", name, p)
			}
		}
	}
}

// TestChecksumsAgree: the script's checksums are the ones the predictor
// and scripts/setup.sh check.
func TestChecksumsAgree(t *testing.T) {
	assignment := regexp.MustCompile(`(?m)^(\w+_sha)=([0-9a-f]{64})$`)
	read := func(p string) map[string]string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, s := range assignment.FindAllStringSubmatch(string(b), -1) {
			m[s[1]] = s[2]
		}
		return m
	}
	steps, setup := read(stepsPath), read("scripts/setup.sh")
	if steps["ort_lib_sha"] != ort.LibrarySHA256 {
		t.Errorf("%s: ort_lib_sha %s, ort.LibrarySHA256 %s", stepsPath, steps["ort_lib_sha"], ort.LibrarySHA256)
	}
	for _, k := range []string{"ort_tgz_sha", "ort_lib_sha", "cuda_tgz_sha", "cuda_lib_sha", "shared_lib_sha"} {
		if steps[k] == "" || steps[k] != setup[k] {
			t.Errorf("%s: %s=%q, scripts/setup.sh has %q", stepsPath, k, steps[k], setup[k])
		}
	}
}

// TestBuilderOutsideDocker performs the builder stage of the cpu variant
// outside Docker and checks what the image takes from it.
func TestBuilderOutsideDocker(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tagnet-predict from a copy of the sources; skipped in -short mode")
	}
	for _, tool := range []string{"bash", "go", "ldd", "tar", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	cache, err := filepath.Abs(filepath.Join(root, ".native", "cache"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cache, "onnxruntime-node-"+ort.LibraryVersion+".tgz")); err != nil {
		if _, err := exec.LookPath("npm"); err != nil {
			t.Skip("neither the cached onnxruntime-node tarball (scripts/setup.sh) nor npm is available")
		}
	}
	_, stages := parseDockerfile(t)
	builder := findStage(t, stages, "builder")
	tmp := t.TempDir()
	src, outDir := filepath.Join(tmp, "src"), filepath.Join(tmp, "out")
	mapOut := func(p string) string {
		if p == out || strings.HasPrefix(p, out+"/") {
			return outDir + strings.TrimPrefix(p, out)
		}
		return p
	}

	for _, in := range builder.instrs {
		switch in.cmd {
		case "WORKDIR":
			if in.args != "/src" {
				t.Fatalf("Dockerfile:%d: WORKDIR %s; this test maps /src only", in.line, in.args)
			}
		case "COPY":
			w := words(in.args, "cpu")
			if strings.HasPrefix(w[0], "--") {
				t.Fatalf("Dockerfile:%d: COPY %s: the builder copies only from the context", in.line, in.args)
			}
			dst := w[len(w)-1]
			for _, s := range w[:len(w)-1] {
				target := filepath.Join(src, dst)
				if strings.HasSuffix(dst, "/") || len(w) > 2 {
					target = filepath.Join(src, dst, filepath.Base(s))
					if strings.HasSuffix(s, "/") {
						target = filepath.Join(src, dst)
					}
				}
				if err := copyPath(filepath.Join(root, s), target); err != nil {
					t.Fatalf("Dockerfile:%d: COPY %s: %v", in.line, s, err)
				}
			}
		case "RUN":
			w := words(in.args, "cpu")
			if w[0] == "apt-get" {
				continue // system packages, present here
			}
			for i := range w {
				w[i] = mapOut(w[i])
			}
			cmd := exec.Command("bash", w...)
			cmd.Dir = src
			cmd.Env = append(os.Environ(), "TAGNET_NPM_CACHE="+cache, "CGO_ENABLED=1")
			var outb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &outb, &outb
			if err := cmd.Run(); err != nil {
				t.Fatalf("Dockerfile:%d: RUN %s: %v\n%s", in.line, in.args, err, outb.String())
			}
			t.Logf("RUN %s\n%s", in.args, strings.TrimSpace(outb.String()))
		}
	}

	// What the final stage copies, checked independently of the script's
	// own check step.
	bin := mapOut(out + "/bin/tagnet-predict")
	lib := mapOut(out + "/lib")
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("the binary %s: %v", bin, err)
	}
	ldd, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("ldd: %v\n%s", err, ldd)
	}
	if strings.Contains(strings.ToLower(string(ldd)), "openblas") {
		t.Errorf("tagnet-predict links OpenBLAS:\n%s", ldd)
	}
	entries, err := os.ReadDir(lib)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{ort.LibraryName}) {
		t.Errorf("the cpu image's library folder holds %v, want only %s", names, ort.LibraryName)
	}
	if sum, err := digest.File(filepath.Join(lib, ort.LibraryName)); err != nil || sum != ort.LibrarySHA256 {
		t.Errorf("%s: sha256 %s (%v), want %s", ort.LibraryName, sum, err, ort.LibrarySHA256)
	}
	help, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "serve") {
		t.Errorf("tagnet-predict --help: %v\n%s", err, help)
	}
	// The image's layout lets ort.Locate find the library beside the
	// binary (<bin>/../lib) as well as at /opt/tagnet/lib.
	if got := filepath.Join(filepath.Dir(filepath.Dir(bin)), "lib"); got != lib {
		t.Errorf("the library folder %s is not <binary folder>/../lib", lib)
	}
}

// copyPath copies a file or a folder tree.
func copyPath(from, to string) error {
	return filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		o, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(o, in); err != nil {
			o.Close()
			return err
		}
		return o.Close()
	})
}
