package kubernetes

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// binary is tagnet-predict, built once for the tests that run it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tagnet-k8s-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := 1
	binary = filepath.Join(dir, "tagnet-predict")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/tagnet-predict")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building tagnet-predict:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// ─── the image, as the Dockerfile builds it ────────────────────────────────

// image is what the Dockerfile's final stage gives a container: its
// environment for a variant, its user.
type image struct {
	env  map[string]string // ENV of runtime-<variant> and of the final stage
	user string            // USER of the final stage
}

// dockerfileImage reads the repository's Dockerfile: the ENV lines of the
// stage runtime-<variant> and of the last stage, and the last stage's USER.
// Only the instructions the image's runtime depends on are read (the full
// Dockerfile is checked by internal/dockercheck).
func dockerfileImage(t *testing.T, variant string) image {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continued lines, drop comments.
	var instrs []string
	var cur strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		cont := strings.HasSuffix(line, "\\")
		cur.WriteString(strings.TrimSuffix(line, "\\"))
		cur.WriteByte(' ')
		if !cont {
			instrs = append(instrs, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	stageEnv := map[string]map[string]string{}
	var stage string
	last := map[string]string{}
	img := image{env: map[string]string{}}
	for _, in := range instrs {
		cmd, rest, _ := strings.Cut(in, " ")
		switch strings.ToUpper(cmd) {
		case "FROM":
			f := strings.Fields(rest)
			stage = ""
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stage = f[2]
			}
			last = map[string]string{}
			stageEnv[stage] = last
			img.user = ""
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %q: want KEY=VALUE pairs", rest)
				}
				last[k] = v
			}
		case "USER":
			img.user = strings.TrimSpace(rest)
		}
	}
	base, ok := stageEnv["runtime-"+variant]
	if !ok {
		t.Fatalf("Dockerfile: no stage runtime-%s", variant)
	}
	for k, v := range base {
		img.env[k] = v
	}
	for k, v := range last {
		img.env[k] = v
	}
	if img.user == "" {
		t.Fatal("Dockerfile: the final stage has no USER")
	}
	return img
}

// ─── a container run as the kubelet would run it, on this machine ──────────

// pod runs the containers of a pod template here: the image's entrypoint is
// the tagnet-predict binary, its environment the Dockerfile's, and each
// volume a local folder (subPath a folder below it).
type pod struct {
	spec    corev1.PodSpec
	image   image
	volumes map[string]string // volume name → local folder
	// index is the Job completion index the pod's annotation holds; "" for
	// a pod that is not an Indexed Job's.
	index string
	// extraEnv is set after the container's own, for the test's settings.
	extraEnv map[string]string
}

// mounts returns the container's mount paths and their local folders,
// longest mount path first.
func (p pod) mounts(t *testing.T, c corev1.Container) [][2]string {
	t.Helper()
	var out [][2]string
	for _, vm := range c.VolumeMounts {
		dir, ok := p.volumes[vm.Name]
		if !ok {
			t.Fatalf("container %s mounts volume %s, which the test does not provide", c.Name, vm.Name)
		}
		local := filepath.Join(dir, vm.SubPath)
		if err := os.MkdirAll(local, 0o755); err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]string{vm.MountPath, local})
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i][0]) > len(out[j][0]) })
	return out
}

// local maps a path inside the container to this machine; other strings are
// returned as they are. "--flag=PATH" maps PATH.
func local(mounts [][2]string, s string) string {
	if flag, val, ok := strings.Cut(s, "="); ok && strings.HasPrefix(flag, "-") {
		return flag + "=" + local(mounts, val)
	}
	for _, m := range mounts {
		if s == m[0] || strings.HasPrefix(s, m[0]+"/") {
			return m[1] + strings.TrimPrefix(s, m[0])
		}
	}
	return s
}

var refRE = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expand replaces $(VAR) by VAR's value when env defines it and $$ by $,
// as Kubernetes expands a container's args and env values.
func expand(s string, env map[string]string) string {
	return refRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// indexAnnotation is the annotation the Job controller writes the
// completion index into.
const indexAnnotation = "metadata.annotations['batch.kubernetes.io/job-completion-index']"

// command returns the process of the container named name.
func (p pod) command(t *testing.T, name string) *exec.Cmd {
	t.Helper()
	i := slices.IndexFunc(p.spec.Containers, func(c corev1.Container) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("no container %s", name)
	}
	c := p.spec.Containers[i]
	if len(c.Command) > 0 {
		t.Fatalf("container %s replaces the image's entrypoint with %q", name, c.Command)
	}
	mounts := p.mounts(t, c)
	env := map[string]string{}
	for k, v := range p.image.env {
		env[k] = v
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = expand(e.Value, env)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == indexAnnotation:
			if p.index == "" {
				t.Fatalf("container %s reads the completion index outside an Indexed Job", name)
			}
			env[e.Name] = p.index
		default:
			t.Fatalf("container %s: env %s: a source the test does not simulate", name, e.Name)
		}
	}
	if p.index != "" {
		// The Job controller sets it in every container.
		if _, ok := env["JOB_COMPLETION_INDEX"]; !ok {
			env["JOB_COMPLETION_INDEX"] = p.index
		}
	}
	for k, v := range p.extraEnv {
		env[k] = v
	}
	var args []string
	for _, a := range c.Args {
		args = append(args, local(mounts, expand(a, env)))
	}
	cmd := exec.Command(binary, args...)
	// Nothing of this process's TAGNET_* settings leaks in.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAGNET_") && !strings.HasPrefix(kv, "JOB_COMPLETION_INDEX=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+local(mounts, v))
	}
	return cmd
}

// run runs cmd to the end and returns its exit code and output.
func run(t *testing.T, cmd *exec.Cmd) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish in 2 minutes:\n%s", cmd.Args, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}
