package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/trainer/learn"
)

// trainArgs trains resnet-tiny on a tiny synthetic set; fixed threads and
// seed make the result reproducible across processes.
func trainArgs(dataDir, out string) []string {
	return []string{"train", "--data", dataDir, "--output", out, "--arch", "resnet-tiny", "--model.stem", "small",
		"--size", "32", "--epochs", "3", "--train.freeze-epochs", "1", "--batch-size", "16", "--lr", "3e-3",
		"--train.aug", "crop+flip", "--train.threads", "2", "--data.workers", "2", "--output.plots=false", "--log-format", "json"}
}

func writeTinyData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if code := run(context.Background(), []string{"data", "synth", "-o", dir, "--train", "320", "--valid", "64", "--image-size", "32", "--classes", "3", "--log-format", "json"}, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("data synth: exit %d", code)
	}
	return dir
}

// A training process killed with SIGKILL in the middle of an epoch resumes
// from its last checkpoint and ends with exactly the weights of an
// uninterrupted run.
func TestResumeAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three times")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "tagnet-train")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir := writeTinyData(t)

	fullDir := filepath.Join(tmp, "full")
	if code := run(context.Background(), trainArgs(dataDir, fullDir), os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("uninterrupted run: exit %d", code)
	}

	cutDir := filepath.Join(tmp, "cut")
	cmd := exec.Command(bin, trainArgs(dataDir, cutDir)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	// Wait for the first epoch's checkpoint (metrics.jsonl gets its line
	// just before last.ckpt, which is renamed into place whole).
	for !exists(filepath.Join(cutDir, "last.ckpt")) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no epoch finished in time:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // into the second epoch
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(cutDir, "model.onnx")); err == nil {
		t.Fatal("the run finished before it was killed; the test proves nothing")
	}
	if code := run(context.Background(), append(trainArgs(dataDir, cutDir), "--resume"), os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("resumed run: exit %d", code)
	}
	want, err := models.Load(filepath.Join(fullDir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := models.Load(filepath.Join(cutDir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want.Weights {
		if !slices.Equal(got.Weights[name].Data, w.Data) {
			t.Fatalf("%s differs between the resumed and the uninterrupted run", name)
		}
	}
	if n := lines(filepath.Join(cutDir, "metrics.jsonl")); n != 4 {
		t.Errorf("metrics.jsonl has %d lines after resume, want 4 (one per epoch)", n)
	}
	if got.Metadata.Sweep == nil || len(got.Metadata.Sweep.Thresholds) != 29 || got.Metadata.Training.Metrics["mAP"] == 0 {
		t.Errorf("exported metadata incomplete: %+v", got.Metadata.Training)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func lines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		if strings.TrimSpace(s.Text()) != "" {
			n++
		}
	}
	return n
}

func TestTrainBadDataMessages(t *testing.T) {
	dir := writeTinyData(t)
	csv := filepath.Join(dir, "labels.csv")
	b, err := os.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	rows = append(rows, rows[3], "ghost.jpg,circle,False", "broken,row,with,too,many")
	if err := os.WriteFile(csv, []byte(strings.Join(rows, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	args := append(trainArgs(dir, out), "--data.on-bad-item", "fail", "--epochs", "1", "--train.freeze-epochs", "0")
	if code := run(context.Background(), args, os.Stdout, os.Stderr); code == 0 {
		t.Fatal("training on bad data with on_bad_item=fail succeeded")
	}
}

// After training, `eval` reproduces the trainer's validation metrics
// through ONNX Runtime (logits within 1e-4 of the engine's), `sweep`
// rewrites the stored sweep, and `lr-find` plots and suggests.
func TestEvalSweepLRFind(t *testing.T) {
	dataDir := writeTinyData(t)
	out := filepath.Join(t.TempDir(), "out")
	args := append(trainArgs(dataDir, out), "--epochs", "1", "--train.freeze-epochs", "0")
	if code := run(context.Background(), args, os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("train: exit %d", code)
	}
	model := filepath.Join(out, "model.onnx")
	trained, err := models.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	// train.precision reaches the learner (auto here) and the summary; the
	// final metrics below are the exported fp32 model's in either case.
	if _, want, err := learn.ResolvePrecision("auto"); err != nil || string(trained.Metadata.Training.Precision) != want {
		t.Errorf("training summary precision %q, want %q (%v)", trained.Metadata.Training.Precision, want, err)
	}
	common := []string{"--data", dataDir, "--output", out, "--batch-size", "16", "--train.threads", "2", "--log-format", "json"}
	res, err := (&app{log: zap.NewNop(), stderr: os.Stderr}).evaluate(context.Background(), mustTrainConfig(t, common), model)
	if err != nil {
		t.Fatal(err)
	}
	if res.MaxAbsDiff > 1e-4 {
		t.Errorf("ONNX Runtime vs engine: max |Δlogit| %.3g", res.MaxAbsDiff)
	}
	for k, v := range trained.Metadata.Training.Metrics {
		if d := res.ORT[k] - v; d > 1e-4 || d < -1e-4 {
			t.Errorf("%s through ONNX Runtime %.6f, trainer reported %.6f", k, res.ORT[k], v)
		}
	}
	if code := run(context.Background(), append([]string{"eval"}, common...), os.Stdout, os.Stderr); code != 0 {
		t.Errorf("eval: exit %d", code)
	}
	if code := run(context.Background(), append([]string{"sweep", "--sweep.steps", "9"}, common...), os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("sweep: exit %d", code)
	}
	swept, err := models.LoadMetadata(model)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(swept.Sweep.Thresholds); n != 9 {
		t.Errorf("sweep has %d thresholds after `sweep --sweep.steps 9`", n)
	}
	if code := run(context.Background(), append([]string{"lr-find", "--num-it", "20"}, common...), os.Stdout, os.Stderr); code != 0 {
		t.Fatalf("lr-find: exit %d", code)
	}
	if st, err := os.Stat(filepath.Join(out, "lr_find.png")); err != nil || st.Size() == 0 {
		t.Errorf("lr_find.png: %v", err)
	}
}

func mustTrainConfig(t *testing.T, args []string) *config.Train {
	t.Helper()
	// Every key's flag, the commands' aliases and the root's log flags.
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addConfigFlags(fs, "data", "model", "train", "sweep", "output", "runtime")
	config.AddTrainFlagsFor(fs, "log")
	for flag, key := range map[string]string{"log-format": "log.format", "log-level": "log.level"} {
		if err := config.AddAlias(fs, flag, "", key, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadTrain("", fs)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
