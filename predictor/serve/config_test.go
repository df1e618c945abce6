package serve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/tagnet/tagnet/config"
)

// TestConfigErrors: bad server settings are reported by config, naming
// their keys, whether they come from a file or are set in code.
func TestConfigErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "deploy.yaml")
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

	cfg := config.DefaultPredict()
	cfg.Server.QueueSize = 0
	cfg.Server.MaxBodyBytes = -1
	_, err = New(testP, cfg, zaptest.NewLogger(t))
	var ke *config.KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("New with bad settings: %v, want a *config.KeyError", err)
	}
	for _, key := range []string{"server.queue_size", "server.max_body_bytes"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("New's error does not name %s: %v", key, err)
		}
	}
}

// TestDeployExampleServes: the annotated deploy file configures a working
// server once its model path is set.
func TestDeployExampleServes(t *testing.T) {
	cfg, err := config.LoadPredict("../../config/examples/deploy.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:8080" {
		t.Errorf("the example listens on %s; the default must stay on 127.0.0.1", cfg.Server.Listen)
	}
	ts := startServer(t, serverOpts{edit: func(c *config.Predict) {
		listen := c.Server.Listen
		*c = *cfg
		c.Server.Listen = listen
	}})
	r, err := postImage(ts.url, readImage(t, "giraffe.jpg"), nil)
	if err != nil || r.status != 200 {
		t.Errorf("%v %+v", err, r)
	}
}
