package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/predictor/serve"
)

// The server section becomes serve.Options field by field, the token read
// from its file; the predictor gets the section's pixel limit and batch.
func TestServeOptions(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("  from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "deploy.yaml")
	yaml := `server:
  listen: "127.0.0.1:9999"
  max_body_bytes: 1234
  max_pixels: 5678
  read_timeout: 1s
  write_timeout: 2s
  request_timeout: 3s
  shutdown_timeout: 4s
  queue_size: 5
  batching:
    enabled: true
    max_batch: 6
    max_delay: 7ms
  auth:
    bearer_token_file: ` + tokenFile + `
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadPredict(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := serveOptions(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := serve.Options{
		Listen: "127.0.0.1:9999", MaxBodyBytes: 1234,
		ReadTimeout: time.Second, WriteTimeout: 2 * time.Second, RequestTimeout: 3 * time.Second, ShutdownTimeout: 4 * time.Second,
		QueueSize: 5, Batching: true, MaxDelay: 7 * time.Millisecond, BearerToken: "from-a-file",
	}
	if got != want {
		t.Errorf("serveOptions:\n got %+v\nwant %+v", got, want)
	}
	po := servePredictorOptions(cfg)
	if po.MaxBatch != 6 || po.Warmup != 6 || po.MaxPixels != 5678 {
		t.Errorf("predictor options %+v, want MaxBatch 6, Warmup 6, MaxPixels 5678", po)
	}

	// The defaults: no batching runs a request's images as one pass and
	// warms one image up; runtime.warmup false warms nothing.
	def := config.DefaultPredict()
	if po := servePredictorOptions(def); po.MaxBatch != serve.MaxImages || po.Warmup != 1 || po.MaxPixels != def.Server.MaxPixels {
		t.Errorf("default predictor options %+v", po)
	}
	def.Runtime.Warmup = false
	if po := servePredictorOptions(def); po.Warmup != 0 {
		t.Errorf("runtime.warmup false: warm-up %d", po.Warmup)
	}
	if o, err := serveOptions(def, nil); err != nil || o.BearerToken != "" {
		t.Errorf("default options %+v %v: want no token", o, err)
	}
}

// Bad server settings are reported by config, naming their keys; a token
// file that is missing or empty is an error naming its key.
func TestServeOptionErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "deploy.yaml")
	yaml := `server:
  listen: "nowhere"
  queue_size: 0
  batching:
    max_batch: 0
  auth:
    bearer_token: a
    bearer_token_file: b
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.LoadPredict(file, nil)
	if err == nil {
		t.Fatal("LoadPredict accepted bad server settings")
	}
	for _, key := range []string{"server.listen", "server.queue_size", "server.batching.max_batch", "server.auth.bearer_token_file"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("the error does not name %s:\n%v", key, err)
		}
	}

	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file    string
		want    string
		notFind bool
	}{
		{empty, "holds no token", false},
		{filepath.Join(dir, "missing"), "no such file", true},
	} {
		cfg := config.DefaultPredict()
		cfg.Server.Auth.BearerTokenFile = tc.file
		_, err := serveOptions(cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "server.auth.bearer_token_file") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("token file %s: %v, want an error naming server.auth.bearer_token_file and %q", tc.file, err, tc.want)
		}
		if tc.notFind && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("token file %s: %v does not wrap fs.ErrNotExist", tc.file, err)
		}
	}
}

// The annotated deploy file configures a working server once its model
// path is set: the real binary serves a photograph with it, on a free
// port, and exits 0 on SIGTERM.
func TestServeDeployExample(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve", "--config", "../../config/examples/deploy.yaml")
	cmd.Env = append(os.Environ(), "TAGNET_MODEL_PATH="+modelPath, "TAGNET_SERVER_LISTEN="+addr)
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
	base := "http://" + addr
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("serve exited (%d) before it was ready:\n%s", cmd.ProcessState.ExitCode(), logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	img, err := os.ReadFile(filepath.Join(photosDir, "giraffe.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/v1/predict", "image/jpeg", bytes.NewReader(img))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /v1/predict: %d, want 200", resp.StatusCode)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-exited
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0:\n%s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "warmup_batch") || strings.Count(logs.String(), "model loaded") != 1 {
		t.Errorf("want one model loaded line with its warm-up:\n%s", logs.String())
	}
}
