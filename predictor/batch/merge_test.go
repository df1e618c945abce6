package batch

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeResults writes rows (named as rowsN names them) to a results file.
func writeResults(t *testing.T, path string, names ...string) {
	t.Helper()
	o, _, err := OpenOutput(OutputOptions{Path: path, Classes: classes})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Write(rowsN(names...)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMergeRows: shards merge in Walk's order with ties in input order; a
// shard out of order (a run resumed after files were added) is found by
// SummarizeResults and sorted; one marked in order that is not is an
// error; and a shard in order is read as the merge goes, not ahead.
func TestMergeRows(t *testing.T) {
	dir := t.TempDir()
	a, b, c := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.jsonl"), filepath.Join(dir, "c.jsonl")
	writeResults(t, a, "img/1.jpg", "img/4.jpg", "img/9.jpg")
	writeResults(t, b, "bad-2.png", "img/3.jpg", "img/4.jpg")
	writeResults(t, c, "img/8.jpg", "img/0.jpg") // resumed after img/0.jpg appeared

	var inputs []MergeInput
	for _, p := range []string{a, b, c} {
		s, err := SummarizeResults(p, classes)
		if err != nil {
			t.Fatal(err)
		}
		if s.InOrder != (p != c) {
			t.Errorf("%s: InOrder %v", p, s.InOrder)
		}
		inputs = append(inputs, MergeInput{Path: p, InOrder: s.InOrder})
	}
	var got []string
	err := MergeRows(inputs, classes, func(r Row, from string) error {
		got = append(got, r.File+"@"+filepath.Base(from))
		return nil
	})
	want := []string{"bad-2.png@b.jsonl", "img/0.jpg@c.jsonl", "img/1.jpg@a.csv", "img/3.jpg@b.jsonl",
		"img/4.jpg@a.csv", "img/4.jpg@b.jsonl", "img/8.jpg@c.jsonl", "img/9.jpg@a.csv"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("merged %q, %v; want %q", got, err, want)
	}

	err = MergeRows([]MergeInput{{Path: c, InOrder: true}}, classes, func(Row, string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not in path order") {
		t.Errorf("an input marked in order that is not: %v", err)
	}

	// Damage after the first row: a merge that stops after one row never
	// parses it, because an input in order is read as the merge goes.
	b2, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	first := strings.Index(string(b2), "\n") + 1
	if err := os.WriteFile(b, append(b2[:first:first], "not a row\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	err = MergeRows([]MergeInput{{Path: b, InOrder: true}}, classes, func(Row, string) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("merge stopped after one row: %v, want the callback's error (nothing read ahead)", err)
	}
	if _, err := ReadResults(b, classes); err == nil {
		t.Error("the damaged file reads whole")
	}
}
