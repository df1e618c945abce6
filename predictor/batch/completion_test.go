package batch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/predictor/predictortest"
)

// A run that predicts every file of its shard leaves a completion record
// that matches its results file; a run that stops early leaves none, even
// over the record of an earlier finished run; resuming writes it again.
func TestCompletionRecord(t *testing.T) {
	p := openPredictor(t)
	dir := t.TempDir()
	const n = 48
	for i := range n {
		b, err := predictortest.Image(i, 40, 30, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("img%03d.png", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "part-1.jsonl")
	cfg := Config{
		Roots:      []string{dir},
		Output:     OutputOptions{Path: out},
		ShardIndex: 1, ShardCount: 2,
		Run: Options{BatchSize: 2, Workers: 1},
	}
	sum, err := Predict(context.Background(), p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ReadCompletion(out)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rows != sum.OK || c.Files != sum.Files || c.Shard != (CompletionShard{1, 2}) || c.Format != JSONL ||
		c.Model != p.Info().SHA256 || !slices.Equal(c.Labels, p.Labels()) || !slices.Equal(c.Thresholds, p.Thresholds()) ||
		!slices.Equal(c.Inputs, []string{dir}) || c.Output != "part-1.jsonl" {
		t.Errorf("record %+v after %+v", c, sum)
	}
	if sum.OK == 0 || sum.OK == n {
		t.Fatalf("shard 1/2 has %d of %d files", sum.OK, n)
	}

	// A new run over the same output, stopped part-way: no record.
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Run.OnProgress = func(pr Progress) {
		if pr.OK >= 4 {
			cancel()
		}
	}
	if _, err := Predict(ctx, p, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if _, err := ReadCompletion(out); !errors.Is(err, ErrNotFinished) {
		t.Fatalf("after a cancelled run: %v, want ErrNotFinished", err)
	}

	// Resumed to the end: the record again, for every row.
	cfg.Run.OnProgress = nil
	cfg.Output.Resume = true
	sum2, err := Predict(context.Background(), p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c, err = ReadCompletion(out); err != nil || c.Rows != sum.OK || sum2.Skipped == 0 {
		t.Fatalf("after resuming (%+v): %+v, %v", sum2, c, err)
	}
	// Resuming a finished file keeps it finished.
	if _, err := Predict(context.Background(), p, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err = ReadCompletion(out); err != nil {
		t.Fatal(err)
	}

	// A results file changed afterwards no longer matches.
	f, err := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"file":"extra"}` + "\n")
	f.Close()
	if _, err := ReadCompletion(out); err == nil || !strings.Contains(err.Error(), "changed after its run finished") {
		t.Errorf("after appending a line: %v", err)
	}
	// Standard output has no record, and is not an error.
	cfg.Output = OutputOptions{Path: "-", Stdout: new(strings.Builder)}
	if _, err := Predict(context.Background(), p, cfg); err != nil {
		t.Fatal(err)
	}
}

// Rows read back equal the rows written, in both formats, NaN and failed
// rows included; a file of another model or a torn file is refused.
func TestReadResults(t *testing.T) {
	rows := rowsN("a.jpg", "bad1.jpg", "b, c.jpg", "d\"e.png")
	rows[0].Probabilities[1] = float32(math.NaN())
	rows[2].Labels = []string{}
	for _, ext := range []string{".csv", ".jsonl"} {
		path := filepath.Join(t.TempDir(), "r"+ext)
		write(t, OutputOptions{Path: path}, rows)
		got, err := ReadResults(path, classes)
		if err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		if len(got) != len(rows) {
			t.Fatalf("%s: %d rows, wrote %d", ext, len(got), len(rows))
		}
		for i := range rows {
			g, w := got[i], rows[i]
			if g.File != w.File || g.Err != w.Err || !slices.Equal(g.Labels, w.Labels) ||
				!slices.EqualFunc(g.Probabilities, w.Probabilities, sameFloat) || (g.Probabilities == nil) != (w.Probabilities == nil) {
				t.Errorf("%s row %d: %+v, wrote %+v", ext, i, g, w)
			}
		}
		// Written again, the file is the same bytes.
		again := filepath.Join(t.TempDir(), "again"+ext)
		write(t, OutputOptions{Path: again}, got)
		a, _ := os.ReadFile(path)
		b, _ := os.ReadFile(again)
		if string(a) != string(b) {
			t.Errorf("%s: rewritten file differs:\n%s\n%s", ext, a, b)
		}

		if _, err := ReadResults(path, []string{"cat", "dog"}); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s with other classes: %v", ext, err)
		}
		os.WriteFile(path, append(a, `{"file":"x","lab`...), 0o644)
		if _, err := ReadResults(path, classes); err == nil {
			t.Errorf("%s with a torn last line: no error", ext)
		}
	}
}

func sameFloat(a, b float32) bool { return a == b || (a != a && b != b) }
