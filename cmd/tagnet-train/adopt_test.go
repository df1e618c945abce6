package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tagnet/tagnet/models"
	pb "github.com/tagnet/tagnet/models/onnxpb"
	"github.com/tagnet/tagnet/trainer/data"
)

// torchvisionONNX is a real torch.onnx.export of torchvision's resnet18
// with 20 classes (input "input" [batch,3,224,224], output "output").
const torchvisionONNX = "../../.native/fixtures/torchvision-resnet18/model.onnx"

// fixBatch writes a copy of the ONNX model at src whose input and output
// batch axes are fixed at 1, as many exports are.
func fixBatch(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := models.ParseONNX(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range append(f.Proto.Graph.Input, f.Proto.Graph.Output...) {
		v.Type.GetTensorType().Shape.Dim[0].Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: 1}
	}
	out, err := proto.Marshal(f.Proto)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runTrain runs tagnet-train in-process and returns its exit code and
// standard output.
func runTrain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout bytes.Buffer
	code := run(context.Background(), append(args, "--log-format", "json"), &stdout, os.Stderr)
	return code, stdout.String()
}

// TestAdoptServeFixedBatch adopts the torchvision export with 20 labels
// and a small labelled folder, then runs the real tagnet-predict binary on
// it: info shows per-class thresholds from the sweep, predict labels a
// folder, and serve answers a 3-image request. The same model with its
// batch axis fixed at 1 predicts a folder of 13 images and answers the
// 3-image request with 200.
func TestAdoptServeFixedBatch(t *testing.T) {
	if _, err := os.Stat(torchvisionONNX); err != nil {
		t.Fatalf("fixture missing (scripts/setup.sh installs it): %v", err)
	}
	if testing.Short() {
		t.Skip("builds tagnet-predict and runs a resnet18")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "tagnet-predict")
	build := exec.Command("go", "build", "-o", bin, "../tagnet-predict")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir := filepath.Join(tmp, "data")
	if code, _ := runTrain(t, "data", "synth", "-o", dataDir, "--train", "16", "--valid", "8", "--image-size", "64", "--classes", "8"); code != 0 {
		t.Fatalf("data synth: exit %d", code)
	}
	labels := data.SynthClasses(8)
	for i := len(labels); i < 20; i++ {
		labels = append(labels, fmt.Sprintf("other%d", i))
	}
	labelsFile := filepath.Join(tmp, "labels.txt")
	os.WriteFile(labelsFile, []byte(strings.Join(labels, "\n")+"\n"), 0o644)
	photos := filepath.Join(tmp, "photos")
	os.MkdirAll(photos, 0o755)
	ents, _ := os.ReadDir(filepath.Join(dataDir, data.GeneratedImages))
	if len(ents) < 13 {
		t.Fatalf("%d synthetic images", len(ents))
	}
	for _, e := range ents[:13] {
		b, _ := os.ReadFile(filepath.Join(dataDir, data.GeneratedImages, e.Name()))
		os.WriteFile(filepath.Join(photos, e.Name()), b, 0o644)
	}

	adopted := filepath.Join(tmp, "adopted.onnx")
	code, out := runTrain(t, "adopt", torchvisionONNX, "--labels", labelsFile, "-o", adopted,
		"--data", dataDir, "--csv", filepath.Join(dataDir, data.GeneratedCSV), "--data.folder", data.GeneratedImages, "--threads", "2")
	if code != 0 {
		t.Fatalf("adopt: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "resnet18, 20 classes") || !strings.Contains(out, "batch: dynamic") || !strings.Contains(out, "on 24 items") {
		t.Errorf("adopt output:\n%s", out)
	}
	md, err := models.LoadMetadata(adopted)
	if err != nil {
		t.Fatal(err)
	}
	if md.Sweep == nil || md.Sweep.Items != 24 || md.IO == nil || md.IO.Input != "input" || md.IO.OutputKind != models.OutputLogits || !md.IO.Adopted {
		t.Fatalf("adopted metadata: io %+v, sweep %v", md.IO, md.Sweep != nil)
	}

	// A damaged image among the labelled ones (a JPEG cut at 60 %: its
	// header reads, its pixels do not) is a bad item, as in training: under
	// skip it is named and left out of the sweep; under fail every bad item
	// is listed and nothing is written.
	victim := filepath.Join(dataDir, data.GeneratedImages, ents[0].Name())
	whole, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(victim, whole[:len(whole)*6/10], 0o644)
	skipped := filepath.Join(tmp, "skipped.onnx")
	code, out = runTrain(t, "adopt", torchvisionONNX, "--labels", labelsFile, "-o", skipped,
		"--data", dataDir, "--csv", filepath.Join(dataDir, data.GeneratedCSV), "--data.folder", data.GeneratedImages, "--threads", "2")
	if code != 0 || !strings.Contains(out, "skipped: "+victim) || !strings.Contains(out, "on 23 items") {
		t.Errorf("adopt with a damaged image (skip): exit %d, want 0, the file named and 23 items\n%s", code, out)
	}
	failed := filepath.Join(tmp, "failed.onnx")
	var stderr bytes.Buffer
	code = run(context.Background(), []string{"adopt", torchvisionONNX, "--labels", labelsFile, "-o", failed,
		"--data", dataDir, "--csv", filepath.Join(dataDir, data.GeneratedCSV), "--data.folder", data.GeneratedImages, "--threads", "2",
		"--data.on-bad-item", "fail", "--log-format", "json"}, io.Discard, &stderr)
	if _, err := os.Stat(failed); code != 1 || !strings.Contains(stderr.String(), victim) || err == nil {
		t.Errorf("adopt with a damaged image (fail): exit %d, want 1 naming %s and no model (stat: %v)\n%s", code, victim, err, stderr.String())
	}
	os.WriteFile(victim, whole, 0o644)

	one := filepath.Join(tmp, "batch1.onnx")
	fixBatch(t, torchvisionONNX, filepath.Join(tmp, "batch1-src.onnx"))
	code, out = runTrain(t, "adopt", filepath.Join(tmp, "batch1-src.onnx"), "--labels", labelsFile, "-o", one,
		"--data", dataDir, "--csv", filepath.Join(dataDir, data.GeneratedCSV), "--data.folder", data.GeneratedImages, "--threads", "2")
	if code != 0 || !strings.Contains(out, "batch: fixed at 1") {
		t.Fatalf("adopt batch-1: exit %d\n%s", code, out)
	}

	// Without data: no sweep, and the predictor says only fixed:T applies.
	bare := filepath.Join(tmp, "bare.onnx")
	code, out = runTrain(t, "adopt", torchvisionONNX, "--labels", labelsFile, "-o", bare, "--resize", "torchvision")
	if code != 0 || !strings.Contains(out, "fixed:T") {
		t.Fatalf("adopt without data: exit %d\n%s", code, out)
	}
	if res := tpRun(t, bin, "info", bare); !strings.Contains(res.stdout+res.stderr, "only fixed:T") {
		t.Errorf("info without a sweep: exit %d, want it to say only fixed:T applies\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := tpRun(t, bin, "predict", "--model", bare, "-o", filepath.Join(tmp, "bare.jsonl"), photos); res.code != 2 || !strings.Contains(res.stderr, "fixed:T") {
		t.Errorf("predict without a sweep and strategy f1: exit %d, want 2 and a hint at fixed:T\n%s", res.code, res.stderr)
	}
	if res := tpRun(t, bin, "info", "--strategy", "fixed:0.3", bare); res.code != 0 || !strings.Contains(res.stdout, "shorter side to 256") {
		t.Errorf("info --strategy fixed:0.3: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	for _, model := range []string{adopted, one} {
		name := filepath.Base(model)
		res := tpRun(t, bin, "info", model)
		if res.code != 0 || !strings.Contains(res.stdout, "strategy f1") || !strings.Contains(res.stdout, "sweep  ") ||
			!strings.Contains(res.stdout, "adopted from elsewhere") {
			t.Errorf("%s info: exit %d\n%s%s", name, res.code, res.stdout, res.stderr)
		}
		if model == one && !strings.Contains(res.stdout, "fixed at 1") {
			t.Errorf("%s info does not say the batch is fixed:\n%s", name, res.stdout)
		}
		csvOut := filepath.Join(tmp, name+".jsonl")
		res = tpRun(t, bin, "predict", "--model", model, "--predict.batch-size", "4", "-o", csvOut, photos)
		if res.code != 0 {
			t.Fatalf("%s predict: exit %d\n%s", name, res.code, res.stderr)
		}
		b, _ := os.ReadFile(csvOut)
		if n := strings.Count(string(b), "\n"); n != 13 {
			t.Errorf("%s predict: %d rows, want 13:\n%s", name, n, b)
		}
		if strings.Contains(string(b), `"error":"`) {
			t.Errorf("%s predict: error rows:\n%s", name, b)
		}
		status, body := serveThree(t, bin, model, photos)
		if status != http.StatusOK || strings.Count(body, `"probabilities"`) != 3 || !strings.Contains(body, `"thresholds"`) {
			t.Errorf("%s serve, 3 images: %d %s", name, status, body)
		}
	}
}

type tpResult struct {
	code           int
	stdout, stderr string
}

func tpRun(t *testing.T, bin string, args ...string) tpResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if err != nil && cmd.ProcessState == nil {
		t.Fatal(err)
	}
	return tpResult{cmd.ProcessState.ExitCode(), so.String(), se.String()}
}

// serveThree starts tagnet-predict serve on a free port, posts three
// images in one multipart request and stops the server.
func serveThree(t *testing.T, bin, model, photos string) (int, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--model.path", model, "--server.listen", addr, "--log-format", "json")
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready:\n%s", se.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ents, _ := os.ReadDir(photos)
	for _, e := range ents[:3] {
		b, _ := os.ReadFile(filepath.Join(photos, e.Name()))
		w, _ := mw.CreateFormFile("image", e.Name())
		w.Write(b)
	}
	mw.Close()
	resp, err := http.Post("http://"+addr+"/v1/predict", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Errorf("serve answer is not JSON: %q", b)
	}
	return resp.StatusCode, string(b)
}
