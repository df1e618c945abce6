package kubernetes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tagnet/tagnet/predictor/batch"
	"github.com/tagnet/tagnet/predictor/predictortest"
)

// writeModel writes a small test model as dir/model.onnx, where the image
// (TAGNET_MODEL_PATH) and deploy.yaml look for it.
func writeModel(t *testing.T, dir string) {
	t.Helper()
	p, err := predictortest.Write(dir, predictortest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p, filepath.Join(dir, "model.onnx")); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a TCP port free on 127.0.0.1 at the time of the call.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The service started as the cpu overlay's Deployment starts it (its
// arguments, the image's and the container's environment, the ConfigMap,
// the Secret and the model volume as folders) answers its probes' paths
// without credentials, serves the scrape path only with the Secret's
// token, and drains and exits 0 on SIGTERM. Only the listening address
// differs: a free port on the loopback interface.
func TestServeAsDeployed(t *testing.T) {
	objs := build(t, "overlays/cpu")
	dep := one[*appsv1.Deployment](t, objs)
	cm := one[*corev1.ConfigMap](t, objs)
	spec := dep.Spec.Template.Spec
	c := container(t, dep.Spec.Template, "serve")

	const token = "k8s-test-token"
	vols := map[string]string{}
	for _, v := range spec.Volumes {
		dir := t.TempDir()
		vols[v.Name] = dir
		switch {
		case v.ConfigMap != nil:
			if v.ConfigMap.Name != cm.Name {
				t.Fatalf("volume %s mounts ConfigMap %s, the build has %s", v.Name, v.ConfigMap.Name, cm.Name)
			}
			for k, text := range cm.Data {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		case v.Secret != nil:
			for _, it := range v.Secret.Items {
				if err := os.WriteFile(filepath.Join(dir, it.Path), []byte(token+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		case v.PersistentVolumeClaim != nil:
			writeModel(t, dir)
		}
	}
	// The paths deploy.yaml names inside the container, given again as
	// variables so that they map to the folders (the file is not rewritten).
	_, cfg := serveConfig(t, objs)
	port := freePort(t)
	p := pod{spec: spec, image: dockerfileImage(t, "cpu"), volumes: vols,
		extraEnv: map[string]string{
			"TAGNET_SERVER_LISTEN":                 "127.0.0.1:" + strconv.Itoa(port),
			"TAGNET_MODEL_PATH":                    cfg.Model.Path,
			"TAGNET_SERVER_AUTH_BEARER_TOKEN_FILE": cfg.Server.Auth.BearerTokenFile,
		}}
	cmd := p.command(t, "serve")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	get := func(path, bearer string) int {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, probe := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if probe == nil || probe.HTTPGet == nil {
			t.Fatal("the serve container lacks an HTTP probe (see TestServeConfig)")
		}
	}
	// Wait for readiness as the kubelet does: poll the readiness probe.
	ready := c.ReadinessProbe.HTTPGet.Path
	for get(ready, "") != http.StatusOK {
		select {
		case <-exited:
			t.Fatalf("the service exited (%d) before it was ready:\n%s", cmd.ProcessState.ExitCode(), logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	for kind, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if code := get(probe.HTTPGet.Path, ""); code != http.StatusOK {
			t.Errorf("%s probe %s: %d without credentials, want 200", kind, probe.HTTPGet.Path, code)
		}
	}
	scrape := dep.Spec.Template.Annotations["prometheus.io/path"]
	if code := get(scrape, ""); code != http.StatusUnauthorized {
		t.Errorf("%s without the token: %d, want 401", scrape, code)
	}
	if code := get(scrape, token); code != http.StatusOK {
		t.Errorf("%s with the Secret's token: %d, want 200", scrape, code)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-exited
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0:\n%s", code, logs.String())
	}
}

// indexedJob returns the overlay's Indexed Job.
func indexedJob(t *testing.T, dir string) *batchv1.Job {
	t.Helper()
	for _, o := range build(t, dir) {
		if j, ok := o.(*batchv1.Job); ok && j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion {
			return j
		}
	}
	t.Fatalf("%s has no Indexed Job", dir)
	return nil
}

// countLines returns the number of newlines in the file at path.
func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte("\n"))
}

// The cpu overlay's Indexed Job, run here as the Job controller and the
// kubelet would run it: one real tagnet-predict process per completion
// index, all at once, with the manifest's arguments and environment and
// the volumes as folders. Index 1 is killed with SIGKILL part-way (leaving
// a torn line, as a kill during a write does); the merge Job then refuses,
// naming that shard; index 1 is started again as the Job controller
// would, resumes, and the merge Job gives every file exactly once, byte for
// byte the file of one unsharded run.
func TestIndexedJobOnThisMachine(t *testing.T) {
	job := indexedJob(t, "overlays/cpu")
	mergeJob := one[*batchv1.Job](t, build(t, mergeDir))
	n := int(*job.Spec.Completions)
	c := container(t, job.Spec.Template, "predict")
	_, prefix, suffix := jobShape(t, c)

	models, data := t.TempDir(), t.TempDir()
	writeModel(t, models)
	vols := map[string]string{"models": models, "data": data, "tmp": t.TempDir()}
	// The Job reads /data/in, the volume's in/.
	inDir := filepath.Join(data, "in")
	const images = 120
	for i := range images {
		b, err := predictortest.Image(i, 64, 48, i%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(inDir, fmt.Sprintf("set%d", i%5), fmt.Sprintf("img%04d.%s", i, map[bool]string{true: "jpg", false: "png"}[i%2 == 0]))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// One image per batch in every run, so the sharded and the unsharded
	// runs compute each image alike, to the last bit.
	settings := map[string]string{"TAGNET_PREDICT_BATCH_SIZE": "1", "TAGNET_PREDICT_WORKERS": "1", "TAGNET_LOG_LEVEL": "warn"}
	img := dockerfileImage(t, "cpu")
	podFor := func(i int) pod {
		return pod{spec: job.Spec.Template.Spec, image: img, volumes: vols, index: strconv.Itoa(i), extraEnv: settings}
	}
	// The container's output path for index i, on this machine.
	outDir := filepath.Join(data, "out")
	outPath := func(i int) string {
		m, _ := mountOf(c, prefix)
		return local([][2]string{{m.MountPath, filepath.Join(data, m.SubPath)}}, fmt.Sprintf("%s%d%s", prefix, i, suffix))
	}

	const killed = 1
	type done struct {
		i    int
		code int
		out  string
	}
	results := make(chan done, n)
	for i := range n {
		if i == killed {
			continue
		}
		cmd := podFor(i).command(t, "predict")
		go func() {
			out, err := cmd.CombinedOutput()
			code := -2
			if cmd.ProcessState != nil {
				code = cmd.ProcessState.ExitCode()
			}
			results <- done{i, code, fmt.Sprintf("%s%v", out, err)}
		}()
	}
	// Index 1: killed once it has written a few rows; if it finishes first
	// (a fast machine), it is run again from nothing.
	var killedAt int
	for attempt := 1; ; attempt++ {
		cmd := podFor(killed).command(t, "predict")
		var logs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		finished := false
	poll:
		for countLines(outPath(killed)) < 3 {
			select {
			case <-exited:
				finished = true
				break poll
			case <-time.After(time.Millisecond):
			}
		}
		if !finished {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			if cmd.ProcessState.ExitCode() == -1 {
				killedAt = countLines(outPath(killed))
				break
			}
		} else {
			<-exited
		}
		if attempt == 3 {
			t.Fatalf("index %d finished three times before it could be killed:\n%s", killed, logs.String())
		}
		os.Remove(outPath(killed))
		os.Remove(batch.CompletionPath(outPath(killed)))
	}
	// A kill in the middle of a write leaves a torn last line.
	f, err := os.OpenFile(outPath(killed), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"file":"/data/in/set0/img9999.jpg","labels":["ani`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for range n - 1 {
		d := <-results
		if d.code != 0 {
			t.Fatalf("index %d: exit %d:\n%s", d.i, d.code, d.out)
		}
	}

	// The merge Job refuses while index 1 has not finished.
	mergePod := pod{spec: mergeJob.Spec.Template.Spec, image: img, volumes: vols}
	merged := filepath.Join(outDir, "results.jsonl")
	code, out := run(t, mergePod.command(t, "merge"))
	if code != 2 || !strings.Contains(out, filepath.Base(outPath(killed))+": its run did not finish") {
		t.Fatalf("merge with index %d killed: exit %d, want 2 naming it:\n%s", killed, code, out)
	}
	if _, err := os.Stat(merged); err == nil {
		t.Fatal("a refused merge wrote its output")
	}

	// The Job controller starts a new pod for the index.
	code, out = run(t, podFor(killed).command(t, "predict"))
	if code != 0 || !strings.Contains(out, "already in the output skipped") || !strings.Contains(out, "torn") {
		t.Fatalf("index %d started again: exit %d, want 0 after resuming past a torn line:\n%s", killed, code, out)
	}
	t.Logf("index %d killed after %d rows", killed, killedAt)

	code, out = run(t, mergePod.command(t, "merge"))
	if code != 0 {
		t.Fatalf("merge: exit %d:\n%s", code, out)
	}

	// The same container, unsharded: no --shard, no --resume, its own file.
	ref := job.Spec.Template.Spec.DeepCopy()
	rc := &ref.Containers[slices.IndexFunc(ref.Containers, func(c corev1.Container) bool { return c.Name == "predict" })]
	rc.Args = slices.DeleteFunc(rc.Args, func(a string) bool { return strings.HasPrefix(a, "--shard") || a == "--resume" })
	for i, a := range rc.Args {
		if strings.HasPrefix(a, "--predict.output=") {
			rc.Args[i] = "--predict.output=" + path.Dir(prefix) + "/unsharded" + suffix
		}
	}
	// (Its pod still declares JOB_COMPLETION_INDEX; without --shard it is unused.)
	refPod := pod{spec: *ref, image: img, volumes: vols, index: "0", extraEnv: settings}
	if code, out := run(t, refPod.command(t, "predict")); code != 0 {
		t.Fatalf("unsharded run: exit %d:\n%s", code, out)
	}
	got, err := os.ReadFile(merged)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(outDir, "unsharded"+suffix))
	if err != nil {
		t.Fatal(err)
	}

	// Every file exactly once.
	seen := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSuffix(string(got), "\n"), "\n") {
		var row struct{ File string }
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("merged line %q: %v", line, err)
		}
		seen[row.File]++
	}
	if len(seen) != images {
		t.Errorf("%d files in the merged output, %d images", len(seen), images)
	}
	for f, k := range seen {
		if k != 1 || !strings.HasPrefix(f, inDir+"/") {
			t.Errorf("%s: %d rows", f, k)
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the merged shards differ from the unsharded run:\n%s\nunsharded:\n%s", got, want)
	}
}
