package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
	"github.com/tagnet/tagnet/trainer/data"
)

// damaged are the training cases of damaged files: a JPEG cut at 60 %, one
// cut after its scan header and a PNG cut at 50 %.
var damaged = []string{"trunc-train-60pct.jpg", "header-only.jpg", "trunc-train-50pct.png"}

// TestTrainDataProblems trains on a CSV in fastai's layout with damaged
// images, multi-word labels separated by ';' and a label only on
// validation rows:
//   - a relative --data.csv is read from the data folder, and without
//     --data.folder the error names the folder the images are in;
//   - under data.on_bad_item=fail, loading stops before training and names
//     all three damaged files;
//   - under skip, the summary, metrics.jsonl and the model's training
//     summary count and name them; the model stores ';' and its labels
//     keep their spaces; the validation-only label is marked never trained
//     in the sweep.
func TestTrainDataProblems(t *testing.T) {
	dir := writeTinyData(t)
	b, err := os.ReadFile(filepath.Join(dir, data.GeneratedCSV))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{"circle": "traffic light", "square": "stop sign", "triangle": "car"}
	var csv strings.Builder
	csv.WriteString("fname,labels,is_valid\n")
	ghosts := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		f := strings.Split(line, ",")
		var ls []string
		for _, l := range strings.Fields(f[1]) {
			ls = append(ls, names[l])
		}
		if f[2] == "True" && ghosts < 5 {
			ls = append(ls, "ghost town")
			ghosts++
		}
		csv.WriteString(f[0] + "," + strings.Join(ls, ";") + "," + f[2] + "\n")
	}
	for _, n := range damaged {
		b, err := os.ReadFile(filepath.Join("..", "..", "preprocess", "testdata", "cases", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, data.GeneratedImages, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
		csv.WriteString(n + ",car,False\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "train.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--data.dir", dir, "--data.csv", "train.csv", "--data.label-delim", ";", "--output.dir", out,
		"--model.arch", "resnet-tiny", "--model.stem", "small", "--model.size", "32", "--train.epochs", "1",
		"--train.freeze-epochs", "0", "--train.batch-size", "16", "--train.threads", "2", "--data.workers", "2",
		"--output.plots=false"}
	ctx := context.Background()
	log := zap.NewNop()

	cfg := mustTrainConfig(t, args)
	if _, _, _, err := prepare(ctx, cfg, nil, &bytes.Buffer{}, log); err == nil || !strings.Contains(err.Error(), "--data.folder images") {
		t.Fatalf("without data.folder: %v, want a hint to set --data.folder images", err)
	}

	cfg = mustTrainConfig(t, append(args, "--data.folder", "images", "--data.on-bad-item", "fail"))
	_, _, _, err = prepare(ctx, cfg, nil, &bytes.Buffer{}, log)
	var le *data.LoadError
	if !errors.As(err, &le) || len(le.Problems) != 3 {
		t.Fatalf("fail policy: %v, want the 3 damaged files", err)
	}
	for _, n := range damaged {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("fail policy: the error does not name %s", n)
		}
	}

	cfg = mustTrainConfig(t, append(args, "--data.folder", "images"))
	var stdout bytes.Buffer
	if err := (&app{log: log, stderr: os.Stderr}).train(ctx, cfg, &stdout); err != nil {
		t.Fatal(err)
	}
	md, err := models.LoadMetadata(filepath.Join(out, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if md.Training.BadItems != 3 {
		t.Errorf("training summary: %d bad items %q, want 3", md.Training.BadItems, md.Training.BadItemList)
	}
	metrics, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range damaged {
		if !strings.Contains(strings.Join(md.Training.BadItemList, "\n"), n) {
			t.Errorf("training summary does not name %s", n)
		}
		if !strings.Contains(stdout.String(), n) {
			t.Errorf("the summary does not name %s:\n%s", n, stdout.String())
		}
		if !strings.Contains(string(metrics), n) {
			t.Errorf("metrics.jsonl does not name %s", n)
		}
	}
	if !strings.Contains(string(metrics), `"bad_items":3`) || !strings.Contains(stdout.String(), "3 bad item(s) left out") {
		t.Errorf("counts missing: metrics.jsonl %s\nsummary %s", metrics, stdout.String())
	}
	if md.LabelDelim != ";" || strings.Join(md.Labels, "|") != "car|ghost town|stop sign|traffic light" {
		t.Errorf("labels %q, delimiter %q", md.Labels, md.LabelDelim)
	}
	ghost := md.Sweep.Classes[1]
	if ghost.TrainSupport == nil || *ghost.TrainSupport != 0 || !strings.Contains(ghost.OneSided(), "never trained") {
		t.Errorf("the validation-only label is not marked: %+v", ghost)
	}
}

// TestPixelLimitIsPredictions: training refuses an image over the pixel
// limit exactly where prediction does (one default,
// preprocess.DefaultMaxPixels): a PNG one pixel row over it is a bad item
// at load and refused by the predictor's default limit.
func TestPixelLimitIsPredictions(t *testing.T) {
	const w = 10000
	h := int(preprocess.DefaultMaxPixels/w) + 1
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big.png"), pngHeader(w, h), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "labels.csv"), []byte("fname,labels\nbig.png,cat\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := data.LoadCSV(data.CSVOptions{CSVPath: filepath.Join(dir, "labels.csv"), ValidPct: -1})
	if err == nil || !strings.Contains(err.Error(), "over the limit of 89478485") {
		t.Errorf("training load: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "big.png"))
	lim := preprocess.Limits{MaxPixels: config.DefaultPredict().Predict.MaxPixels}
	var le *preprocess.LimitError
	if _, err := preprocess.DecodeConfig(b, lim); !errors.As(err, &le) {
		t.Errorf("prediction's default limit: %v", err)
	}
	if config.DefaultPredict().Predict.MaxPixels != preprocess.DefaultMaxPixels || config.DefaultPredict().Server.MaxPixels != preprocess.DefaultMaxPixels {
		t.Error("the predictor's pixel limit is not preprocess.DefaultMaxPixels")
	}
}

// pngHeader returns a PNG of w×h greyscale pixels whose one IDAT chunk is
// empty: enough for a header read.
func pngHeader(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		c := crc32.NewIEEE()
		c.Write([]byte(typ))
		c.Write(data)
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, c.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 8, 0 // 8-bit greyscale
	chunk("IHDR", ihdr)
	chunk("IDAT", nil)
	chunk("IEND", nil)
	return b.Bytes()
}

// TestEarlyStoppingExport: the validation rows carry the complement of
// their labels, so the validation loss rises once training fits; early
// stopping ends the run and the exported model is the first epoch's (its
// stored validation loss is that epoch's), as the summary says.
func TestEarlyStoppingExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	opt, err := data.Synth(dir, data.SynthOptions{Train: 96, Valid: 32, Size: 32, Classes: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(opt.CSVPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i, line := range lines[1:] {
		f := strings.Split(line, ",")
		if f[2] != "True" {
			continue
		}
		var comp []string
		for _, c := range data.SynthClasses(3) {
			if !strings.Contains(" "+f[1]+" ", " "+c+" ") {
				comp = append(comp, c)
			}
		}
		f[1] = strings.Join(comp, " ")
		lines[i+1] = strings.Join(f, ",")
	}
	if err := os.WriteFile(opt.CSVPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	cfg := mustTrainConfig(t, []string{"--data.dir", dir, "--output.dir", out, "--model.arch", "resnet-tiny",
		"--model.stem", "small", "--model.size", "32", "--train.schedule", "one_cycle", "--train.epochs", "5",
		"--train.lr", "1e-2", "--train.batch-size", "16", "--train.threads", "2", "--data.workers", "2",
		"--train.early-stopping-patience", "1", "--output.plots=false",
		// fp32, so that the epoch's validation (training precision) and
		// the final one (the exported model's fp32) agree exactly.
		"--train.precision", "fp32"})
	var stdout bytes.Buffer
	if err := (&app{log: zap.NewNop(), stderr: os.Stderr}).train(context.Background(), cfg, &stdout); err != nil {
		t.Fatal(err)
	}
	md, err := models.LoadMetadata(filepath.Join(out, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if !md.Training.EarlyStopped || md.Training.BestEpoch != 1 || md.Training.Epochs != 2 {
		t.Fatalf("training summary: early %v, best epoch %d, %d epochs:\n%s", md.Training.EarlyStopped, md.Training.BestEpoch, md.Training.Epochs, stdout.String())
	}
	if !strings.Contains(stdout.String(), "early stopping: the model has the weights of epoch 1") {
		t.Errorf("the summary does not say so:\n%s", stdout.String())
	}
	m, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var first struct {
		ValidLoss float64 `json:"valid_loss"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(string(m), "\n", 2)[0]), &first); err != nil {
		t.Fatal(err)
	}
	if got := md.Training.Metrics["loss"]; got != first.ValidLoss {
		t.Errorf("the exported model's validation loss %v is not the best epoch's %v", got, first.ValidLoss)
	}
}
