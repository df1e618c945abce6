package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
	"github.com/tagnet/tagnet/trainer/weights"
)

const pthFixture = "../../.native/fixtures/torchvision-resnet18-pth/resnet18.pth"

// TestWeightsByNameChecksum: --model.weights IMAGENET1K_V1 fetches
// torchvision's resnet18-f37072fd.pth from the configured base URL; a local
// server answering other bytes under that name gives one checksum error
// naming the file, and the cache ($TAGNET_CACHE_DIR) stays empty. An
// unknown name for the architecture is a usage error.
func TestWeightsByNameChecksum(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/mirror/resnet18-f37072fd.pth" {
			http.NotFound(w, r)
			return
		}
		hits++
		w.Write([]byte("not torchvision's resnet18"))
	}))
	defer srv.Close()
	cache := t.TempDir()
	t.Setenv(weights.CacheEnv, cache)
	cfg := mustTrainConfig(t, []string{"--arch", "resnet18", "--size", "64", "--model.weights", "IMAGENET1K_V1", "--model.weights-url", srv.URL + "/mirror"})
	g, err := models.Build(specFor(cfg, 3))
	if err != nil {
		t.Fatal(err)
	}
	_, err = initialWeights(context.Background(), cfg, g, io.Discard, zap.NewNop())
	if !errors.Is(err, weights.ErrChecksum) || !strings.Contains(err.Error(), "model.weights") || !strings.Contains(err.Error(), "resnet18-f37072fd.pth") {
		t.Errorf("error %v, want a checksum error naming model.weights and the file", err)
	}
	if hits != 1 {
		t.Errorf("%d requests, want 1", hits)
	}
	if ents, _ := os.ReadDir(cache); len(ents) != 0 {
		t.Errorf("cache holds %d entries after a failed download", len(ents))
	}

	cfg.Model.Arch = "resnet-tiny"
	g = models.MustBuild(specFor(cfg, 3))
	_, err = initialWeights(context.Background(), cfg, g, io.Discard, zap.NewNop())
	var ee *cli.ExitError
	if !errors.As(err, &ee) || ee.Code != cli.ExitUsage || !errors.Is(err, weights.ErrUnknownName) {
		t.Errorf("resnet-tiny IMAGENET1K_V1: error %v, want a usage error", err)
	}
}

// TestTrainFromPyTorchWeights fine-tunes resnet18 from a real torch.save
// state dict (1000-class fc) with fastai's head: the body starts from the
// file (the trained conv1 stays close to it), the head is fresh, and the
// exported model stores ImageNet's mean and std.
func TestTrainFromPyTorchWeights(t *testing.T) {
	if _, err := os.Stat(pthFixture); err != nil {
		t.Fatalf("fixture missing (scripts/setup.sh installs it): %v", err)
	}
	if testing.Short() {
		t.Skip("trains a resnet18")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if code := run(context.Background(), []string{"data", "synth", "-o", dir, "--train", "48", "--valid", "16", "--image-size", "32", "--classes", "3", "--log-format", "json"}, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("data synth: exit %d", code)
	}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"train", "--data", dir, "--output", out, "--arch", "resnet18", "--size", "32", "--epochs", "1",
		"--train.freeze-epochs", "1", "--batch-size", "16", "--lr", "1e-3", "--train.aug", "none", "--train.threads", "2",
		"--data.workers", "2", "--output.plots=false", "--log-format", "json", "--model.weights", pthFixture}
	if code := run(context.Background(), args, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("train: exit %d", code)
	}
	m, err := models.Load(filepath.Join(out, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Graph.Spec.Head != models.HeadFastai {
		t.Errorf("head %s, want fastai", m.Graph.Spec.Head)
	}
	var spec preprocess.Spec
	if err := json.Unmarshal(m.Metadata.Preprocess, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Mean != [3]float32{0.485, 0.456, 0.406} || spec.Std != [3]float32{0.229, 0.224, 0.225} {
		t.Errorf("stored normalisation %v / %v, want ImageNet's", spec.Mean, spec.Std)
	}
	sd, err := weights.ReadFile(pthFixture)
	if err != nil {
		t.Fatal(err)
	}
	if c := cosine(m.Weights["conv1.weight"].Data, sd.Tensors["conv1.weight"].Data); c < 0.95 {
		t.Errorf("cosine(trained conv1, file conv1) = %.3f, want the body to start from the file", c)
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
