package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/predictor/batch"
	"github.com/tagnet/tagnet/predictor/predictortest"
)

// The shards of a run, in either format, merge into exactly the file an
// unsharded run writes, with its exit status; shards that do not make one
// run are refused with every reason named, and nothing is written.
func TestMerge(t *testing.T) {
	dir := t.TempDir()
	images(t, dir, 24, 40, 30)
	if err := os.WriteFile(filepath.Join(dir, "set1", "empty.jpg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	// One image per batch: every image sees the same computation in every
	// run, so the probabilities agree to the last bit.
	common := []string{"predict", "--model", modelPath, "--batch-size", "1", "--runtime.intra-op-threads", "1", "--log.level", "warn"}
	predict := func(output, shard string, extra ...string) {
		t.Helper()
		args := append(common, "-o", output, dir)
		if shard != "" {
			args = append(args, "--shard", shard)
		}
		args = append(args, extra...)
		// 1 for the run, or the shard, with the empty file.
		if r := tp(t, nil, args...); r.code != 0 && r.code != 1 {
			t.Fatalf("predict %s: exit %d:\n%s", output, r.code, r.stderr)
		}
	}
	refJSON, refCSV := filepath.Join(out, "ref.jsonl"), filepath.Join(out, "ref.csv")
	predict(refJSON, "")
	predict(refCSV, "")
	parts := []string{filepath.Join(out, "part-0.jsonl"), filepath.Join(out, "part-1.csv"), filepath.Join(out, "part-2.jsonl")}
	for i, p := range parts {
		predict(p, fmt.Sprintf("%d/3", i))
	}

	// Merged into either format: byte for byte the unsharded run's file,
	// the empty file's error row counted.
	for _, ref := range []string{refJSON, refCSV} {
		merged := filepath.Join(out, "merged"+filepath.Ext(ref))
		// A completion record stands for its results file.
		r := tp(t, nil, "merge", "-o", merged, parts[0], parts[1]+batch.CompletionSuffix, parts[2])
		if r.code != 0 || !strings.Contains(r.stderr, "merged 3 shard(s) of 3: 25 rows (1 failed)") {
			t.Fatalf("merge into %s: exit %d:\n%s", merged, r.code, r.stderr)
		}
		if got, want := readFile(t, merged), readFile(t, ref); got != want {
			t.Errorf("merged %s differs from the unsharded run's:\n%s\nwant:\n%s", merged, got, want)
		}
	}
	r := tp(t, nil, "merge", parts[2], parts[1], parts[0])
	if r.code != 0 || r.stdout != readFile(t, refJSON) {
		t.Errorf("merge to standard output: exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// Shards from another model and another shard count.
	otherModel, err := predictortest.Write(t.TempDir(), predictortest.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	byOtherModel := filepath.Join(otherDir, "part-2.jsonl")
	predict(byOtherModel, "2/3", "--model", otherModel)
	ofFour := filepath.Join(otherDir, "four-1.jsonl")
	predict(ofFour, "1/4")
	pngOnly := filepath.Join(otherDir, "png-1.jsonl")
	predict(pngOnly, "1/3", "--predict.extensions=.png")
	// part-1 killed: no record.
	unfinished := filepath.Join(t.TempDir(), "part-1.csv")
	copyFile(t, parts[1], unfinished)
	// part-0 changed after it finished.
	changed := filepath.Join(t.TempDir(), "part-0.jsonl")
	copyFile(t, parts[0], changed)
	copyFile(t, parts[0]+batch.CompletionSuffix, changed+batch.CompletionSuffix)
	appendTo(t, changed, `{"file":"x.jpg","labels":[],"probabilities":null,"error":"x"}`+"\n")
	// part-2 holding a row of part-0, with a record that matches it.
	overlap := filepath.Join(t.TempDir(), "part-2.jsonl")
	copyFile(t, parts[2], overlap)
	stolen := strings.SplitAfter(readFile(t, parts[0]), "\n")[0]
	appendTo(t, overlap, stolen)
	rewriteRecord(t, parts[2], overlap, 1)
	var stolenRow struct{ File string }
	if err := json.Unmarshal([]byte(stolen), &stolenRow); err != nil {
		t.Fatal(err)
	}

	merged := filepath.Join(out, "refused.jsonl")
	for _, tc := range []struct {
		name   string
		shards []string
		want   []string
	}{
		{"missing shard", []string{parts[0], parts[2]}, []string{"shard 1/3 is missing"}},
		{"changed after finishing", []string{changed, parts[1], parts[2]}, []string{changed + " changed after its run finished"}},
		{"unfinished", []string{parts[0], unfinished, parts[2]}, []string{unfinished + ": its run did not finish", "--resume"}},
		{"absent file", []string{parts[0], parts[1], parts[2] + ".gone"}, []string{parts[2] + ".gone does not exist"}},
		{"other model", []string{parts[0], parts[1], byOtherModel}, []string{byOtherModel + " was made with the model"}},
		{"other shard count", []string{parts[0], parts[1], parts[2], ofFour}, []string{ofFour + " was made with the shard count 4 shards", "3 shards"}},
		{"other extensions", []string{parts[0], pngOnly, parts[2]}, []string{pngOnly + ` was made with the walk settings extensions [".png"]`}},
		{"file twice", []string{parts[0], parts[1], overlap}, []string{"1 file(s) predicted more than once: " + stolenRow.File + " (in " + parts[0] + " and " + overlap + ")"}},
		{"same shard twice", []string{parts[0], parts[1], parts[2], overlap}, []string{"shard 2/3 is given 2 times: " + parts[2] + ", " + overlap}},
		{"output is a shard", []string{parts[0], parts[1], parts[2], merged}, []string{"the output " + merged + " is one of the shards"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tp(t, nil, append([]string{"merge", "-o", merged}, tc.shards...)...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2:\n%s", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if _, err := os.Stat(merged); err == nil {
				t.Errorf("a refused merge wrote %s", merged)
			}
		})
	}
	if r := tp(t, nil, "merge", "-o", "x.txt", parts[0]); r.code != 2 || !strings.Contains(r.stderr, "unknown extension") {
		t.Errorf("merge into .txt: exit %d:\n%s", r.code, r.stderr)
	}
	if r := tp(t, nil, "merge"); r.code != 2 {
		t.Errorf("merge without shards: exit %d:\n%s", r.code, r.stderr)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, []byte(readFile(t, from)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// rewriteRecord writes to's completion record: from's, made to match to's
// content, with extra more rows.
func rewriteRecord(t *testing.T, from, to string, extra int) {
	t.Helper()
	var rec batch.Completion
	if err := json.Unmarshal([]byte(readFile(t, from+batch.CompletionSuffix)), &rec); err != nil {
		t.Fatal(err)
	}
	b := readFile(t, to)
	sum := sha256.Sum256([]byte(b))
	rec.Bytes, rec.SHA256, rec.Rows = int64(len(b)), hex.EncodeToString(sum[:]), rec.Rows+extra
	rec.Output = filepath.Base(to)
	j, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to+batch.CompletionSuffix, j, 0o644); err != nil {
		t.Fatal(err)
	}
}
