package weights_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/weights"
)

// weightsServer serves body under /models/<file> the way
// download.pytorch.org does, counting requests; truncate cuts the body
// after that many bytes while announcing the full length.
type weightsServer struct {
	*httptest.Server
	hits     atomic.Int32
	body     []byte
	truncate int
}

func newWeightsServer(t *testing.T, file string, body []byte) *weightsServer {
	s := &weightsServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/models/"+file {
			http.NotFound(w, r)
			return
		}
		s.hits.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(len(s.body)))
		if s.truncate > 0 {
			w.Write(s.body[:s.truncate])
			return // the connection closes short of Content-Length
		}
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// published returns a Published entry for body in torchvision's naming
// (arch-<first 8 hex of sha256>.pth) with its full sha256.
func published(body []byte) weights.Published {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])
	return weights.Published{Arch: "resnet18", Name: "IMAGENET1K_V1", File: "resnet18-" + h[:8] + ".pth", SHA256: h}
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestFetch serves the real resnet18.pth fixture from a local HTTP server
// under a torchvision-style name: the first Fetch downloads and verifies
// it, the second reads the cache, a damaged cached copy is fetched again,
// and a wrong hash or a truncated download is one error that leaves
// nothing in the cache.
func TestFetch(t *testing.T) {
	body, err := os.ReadFile(fixture(t, "stem-legacy.pth"))
	if err != nil {
		t.Fatal(err)
	}
	p := published(body)
	srv := newWeightsServer(t, p.File, body)
	dir := filepath.Join(t.TempDir(), "cache")
	var progress bytes.Buffer
	opt := weights.FetchOptions{BaseURL: srv.URL + "/models/", Dir: dir, Progress: &progress}
	ctx := context.Background()

	res, err := weights.Fetch(ctx, p, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Downloaded || res.Path != filepath.Join(dir, p.File) || srv.hits.Load() != 1 {
		t.Errorf("first fetch: %+v, %d requests", res, srv.hits.Load())
	}
	if !strings.Contains(progress.String(), p.File) {
		t.Errorf("no progress bar naming %s: %q", p.File, progress.String())
	}
	if got, _ := os.ReadFile(res.Path); !bytes.Equal(got, body) {
		t.Error("cached file differs from the served one")
	}

	res, err = weights.Fetch(ctx, p, opt)
	if err != nil || res.Downloaded || srv.hits.Load() != 1 {
		t.Errorf("second fetch: %+v, %v, %d requests; want the cache", res, err, srv.hits.Load())
	}

	// A damaged cache entry (bit flip) is detected and fetched again.
	damaged := append([]byte(nil), body...)
	damaged[len(damaged)/2] ^= 1
	os.WriteFile(res.Path, damaged, 0o644)
	res, err = weights.Fetch(ctx, p, opt)
	if err != nil || !res.Downloaded || !res.Refetched || srv.hits.Load() != 2 {
		t.Errorf("damaged cache: %+v, %v, %d requests", res, err, srv.hits.Load())
	}
	if got, _ := os.ReadFile(res.Path); !bytes.Equal(got, body) {
		t.Error("damaged cache entry not replaced")
	}

	// A server answering other bytes: checksum error, nothing cached.
	dir2 := filepath.Join(t.TempDir(), "cache2")
	srv.body = append([]byte("x"), body...)
	_, err = weights.Fetch(ctx, p, weights.FetchOptions{BaseURL: srv.URL + "/models", Dir: dir2})
	if !errors.Is(err, weights.ErrChecksum) || !strings.Contains(err.Error(), p.File) || !strings.Contains(err.Error(), dir2) {
		t.Errorf("wrong bytes: error %v, want a checksum error naming the file and the cache folder", err)
	}
	if names := cacheFiles(t, dir2); len(names) != 0 {
		t.Errorf("cache holds %v after a checksum failure", names)
	}

	// A full-hash mismatch that keeps the name's prefix is caught too.
	q := p
	q.SHA256 = p.SHA256[:8] + strings.Repeat("0", 56)
	srv.body = body
	_, err = weights.Fetch(ctx, q, weights.FetchOptions{BaseURL: srv.URL + "/models", Dir: dir2})
	if !errors.Is(err, weights.ErrChecksum) {
		t.Errorf("full-hash mismatch: error %v", err)
	}

	// A truncated download.
	srv.truncate = len(body) / 3
	_, err = weights.Fetch(ctx, p, weights.FetchOptions{BaseURL: srv.URL + "/models", Dir: dir2})
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/models/"+p.File) {
		t.Errorf("truncated: error %v, want one naming the URL", err)
	}
	if names := cacheFiles(t, dir2); len(names) != 0 {
		t.Errorf("cache holds %v after a truncated download", names)
	}

	// Offline: one error naming the URL, the file and the folder.
	srv.Close()
	_, err = weights.Fetch(ctx, p, weights.FetchOptions{BaseURL: srv.URL + "/models", Dir: dir2})
	if err == nil || !strings.Contains(err.Error(), srv.URL+"/models/"+p.File) || !strings.Contains(err.Error(), "put it in "+dir2) {
		t.Errorf("offline: error %v", err)
	} else {
		t.Logf("offline: %v", err)
	}
}

// TestLoadByName resolves IMAGENET1K_V1 for resnet18 to torchvision's
// published file name against a local server: the wrong file under that
// name fails its name's hash; the cache folder comes from
// $TAGNET_CACHE_DIR.
func TestLoadByName(t *testing.T) {
	p, err := weights.Lookup("resnet18", "DEFAULT")
	if err != nil || p.File != "resnet18-f37072fd.pth" || p.Name != "IMAGENET1K_V1" {
		t.Fatalf("DEFAULT for resnet18: %+v, %v", p, err)
	}
	if p, err := weights.Lookup("resnet50", "DEFAULT"); err != nil || p.File != "resnet50-11ad3fa6.pth" {
		t.Errorf("DEFAULT for resnet50: %+v, %v", p, err)
	}
	if _, err := weights.Lookup("resnet18", "IMAGENET1K_V2"); !errors.Is(err, weights.ErrUnknownName) || !strings.Contains(err.Error(), "resnet50 IMAGENET1K_V2") {
		t.Errorf("resnet18 IMAGENET1K_V2: %v, want an error listing what exists", err)
	}
	body, err := os.ReadFile(fixture(t, "stem.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	srv := newWeightsServer(t, p.File, body)
	dir := t.TempDir()
	t.Setenv(weights.CacheEnv, dir)
	g := resnet18Graph(t, 5, models.HeadFastai)
	_, err = weights.Load(context.Background(), "IMAGENET1K_V1", g, models.Init(g, models.InitOptions{}), weights.FetchOptions{BaseURL: srv.URL + "/models"})
	if !errors.Is(err, weights.ErrChecksum) || !strings.Contains(err.Error(), "f37072fd") || !strings.Contains(err.Error(), dir) {
		t.Errorf("wrong file under torchvision's name: %v", err)
	}
	if names := cacheFiles(t, dir); len(names) != 0 {
		t.Errorf("cache holds %v", names)
	}
	_, err = weights.Load(context.Background(), "imagenet1k_v1", g, models.Init(g, models.InitOptions{}), weights.FetchOptions{BaseURL: srv.URL + "/models"})
	if !errors.Is(err, weights.ErrUnknownName) {
		t.Errorf("a bare word that is no weights name: %v, want ErrUnknownName", err)
	}
}

// TestLoadFiles loads the same weights from .pth and the body from .onnx
// through Load.
func TestLoadFiles(t *testing.T) {
	g := resnet18Graph(t, 20, models.HeadFastai)
	base := models.Init(g, models.InitOptions{Seed: 1})
	l, err := weights.Load(context.Background(), fixture(t, "resnet18.pth"), g, base, weights.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Head || l.Loaded != 100 || l.Mean != [3]float32{0.485, 0.456, 0.406} {
		t.Errorf("pth: head %v, loaded %d, mean %v", l.Head, l.Loaded, l.Mean)
	}
	onnx := "../../.native/fixtures/torchvision-resnet18/model.onnx"
	if _, err := os.Stat(onnx); err != nil {
		t.Fatalf("ONNX fixture missing (scripts/setup.sh installs it): %v", err)
	}
	l, err = weights.Load(context.Background(), onnx, g, base, weights.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Loaded != 20 || l.FoldedBN != 20 {
		t.Errorf("onnx: %d convolutions, %d folded", l.Loaded, l.FoldedBN)
	}
}
