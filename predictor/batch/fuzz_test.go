package batch

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzResume gives --resume (OpenOutput with Resume) an arbitrary existing
// results file, in each format, and holds it to what resuming promises:
//   - it never panics;
//   - when it refuses the file, the file is left exactly as it was (a
//     results file that cannot be resumed loses nothing);
//   - when it accepts the file, what it keeps is a prefix of the file, the
//     files it reports done are exactly the rows of that prefix, and after
//     one more row is written the whole file reads back with ReadResults
//     (the reader merge uses) as those rows and the new one.
//
// Seeded with real results files of both formats, torn at every kind of
// place a crash leaves them.
//
//	go test ./predictor/batch -run '^$' -fuzz FuzzResume -fuzztime 60s
func FuzzResume(f *testing.F) {
	dir := f.TempDir()
	for _, ext := range []string{".csv", ".jsonl"} {
		path := filepath.Join(dir, "seed"+ext)
		o, _, err := OpenOutput(OutputOptions{Path: path, Classes: classes})
		if err != nil {
			f.Fatal(err)
		}
		if err := o.Write(rowsN("a.jpg", "bad.png", "dir/c d.jpg", `q"uote,.jpg`)); err != nil {
			f.Fatal(err)
		}
		if err := o.Close(); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		isCSV := ext == ".csv"
		for _, cut := range []int{len(b), len(b) - 1, len(b) - 7, len(b) / 2, 0} {
			f.Add(isCSV, b[:cut])
		}
		f.Add(isCSV, append(slices.Clone(b), b...))
		f.Add(isCSV, bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
	}
	f.Fuzz(func(t *testing.T, isCSV bool, old []byte) {
		path := filepath.Join(t.TempDir(), "results.jsonl")
		if isCSV {
			path = filepath.Join(filepath.Dir(path), "results.csv")
		}
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Fatal(err)
		}
		o, done, err := OpenOutput(OutputOptions{Path: path, Classes: classes, Resume: true})
		if err != nil {
			after, rerr := os.ReadFile(path)
			if rerr != nil || !bytes.Equal(after, old) {
				t.Fatalf("refusing to resume (%v) changed the file: %q → %q", err, old, after)
			}
			return
		}
		next := Row{File: "next.jpg", Labels: []string{"bird"}, Probabilities: []float32{0.25, 0.5, 0.75}}
		if done[next.File] {
			// Already listed: not a new row for this check.
			o.Close()
			return
		}
		if err := o.Write([]Row{next}); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := ReadResults(path, classes)
		if err != nil {
			t.Fatalf("a resumed file does not read back: %v\nwas:\n%q\nnow:\n%q", err, old, after)
		}
		var files []string
		for _, r := range rows {
			files = append(files, r.File)
		}
		if len(files) == 0 || files[len(files)-1] != next.File {
			t.Fatalf("the new row is not the last: %q", files)
		}
		want := map[string]bool{}
		for _, name := range files[:len(files)-1] {
			want[name] = true
		}
		if len(want) != len(done) {
			t.Fatalf("resuming reported %d files done, the kept rows hold %d (%q)", len(done), len(want), files)
		}
		for name := range done {
			if !want[name] {
				t.Fatalf("resuming reported %q done, the kept rows do not hold it", name)
			}
		}
		// What precedes the new row is the kept part of the old file, or,
		// when nothing was kept, a fresh header (CSV) or nothing (JSONL).
		kept := after[:bytes.LastIndexByte(after[:len(after)-1], '\n')+1]
		if !bytes.HasPrefix(old, kept) {
			fresh := ""
			if isCSV {
				fresh = "file,labels,cat,\"dog, the\",bird,error\n"
			}
			if len(done) > 0 || string(kept) != fresh {
				t.Fatalf("what precedes the new row is not a prefix of the old file:\nold %q\nkept %q", old, kept)
			}
		}
	})
}
