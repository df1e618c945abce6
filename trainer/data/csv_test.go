package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/preprocess"
)

func TestLoadCSV(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.jpg", "b.png", "c.jpg", "d.jpg", "e.png"} {
		writeImage(t, filepath.Join(dir, "train", name), gradient(12, 9))
	}
	// Line 3 has no labels (kept: an image without objects), line 4 a
	// double space (an empty token, ignored), line 5 a repeated label.
	writeFile(t, filepath.Join(dir, "train.csv"), "fname,labels,is_valid\n"+
		"a.jpg,dog person,False\n"+
		"b.png,,TRUE\n"+
		"c.jpg,cat  dog,0\n"+
		"d.jpg,car car,1\n"+
		"e.png, person ,false\n")
	ds, err := LoadCSV(CSVOptions{CSVPath: filepath.Join(dir, "train.csv"), Prefix: "train"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"car", "cat", "dog", "person"}; !slices.Equal(ds.Labels, want) {
		t.Errorf("labels %v, want %v", ds.Labels, want)
	}
	type item struct {
		name   string
		target []float32
		line   int
	}
	check := func(split string, got []Item, want []item) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d items, want %d", split, len(got), len(want))
		}
		for i, w := range want {
			if p := filepath.Join(dir, "train", w.name); got[i].Path != p || !slices.Equal(got[i].Target, w.target) || got[i].Line != w.line {
				t.Errorf("%s item %d: %+v, want %s %v line %d", split, i, got[i], p, w.target, w.line)
			}
		}
	}
	check("train", ds.Train, []item{
		{"a.jpg", []float32{0, 0, 1, 1}, 2},
		{"c.jpg", []float32{0, 1, 1, 0}, 4},
		{"e.png", []float32{0, 0, 0, 1}, 6},
	})
	check("valid", ds.Valid, []item{
		{"b.png", []float32{0, 0, 0, 0}, 3},
		{"d.jpg", []float32{1, 0, 0, 0}, 5},
	})
	if ds.Report.Rows != 5 || ds.Report.Skipped != 0 || len(ds.Report.Problems) != 0 {
		t.Errorf("report %+v", ds.Report)
	}
}

// badCSV has one good row per split and one of each kind of problem.
const badCSV = `fname,labels,is_valid
good.jpg,dog,False
missing.jpg,dog,False
garbage.jpg,cat,False
good.jpg,cat,False
short.jpg,dog
bad-valid.jpg,dog,maybe
huge.png,dog,False
,dog,False
bad"quote.jpg,dog,False
also-good.jpg,cat dog,True
`

func writeBadSet(t *testing.T) string {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "good.jpg"), gradient(8, 8))
	writeImage(t, filepath.Join(dir, "also-good.jpg"), gradient(8, 8))
	writeImage(t, filepath.Join(dir, "short.jpg"), gradient(8, 8))
	writeImage(t, filepath.Join(dir, "bad-valid.jpg"), gradient(8, 8))
	writeImage(t, filepath.Join(dir, "huge.png"), gradient(20, 20)) // 400 pixels, over the test limit
	writeFile(t, filepath.Join(dir, "garbage.jpg"), "this is not an image")
	writeFile(t, filepath.Join(dir, "labels.csv"), badCSV)
	return filepath.Join(dir, "labels.csv")
}

// wantProblems are the problems of badCSV: line, file, a piece of the
// message.
var wantProblems = []struct {
	line int
	file string
	msg  string
}{
	{3, "missing.jpg", "not found"},
	{4, "garbage.jpg", "cannot decode image header"},
	{5, "good.jpg", "duplicate row, the file is already listed on line 2"},
	{6, "short.jpg", "has 2 fields, the header has 3"},
	{7, "bad-valid.jpg", `bad is_valid value "maybe"`},
	{8, "huge.png", "20x20 pixels, over the limit of 300"},
	{9, "", "empty file name"},
	{10, "", "malformed CSV"},
}

func TestLoadCSVSkip(t *testing.T) {
	csvPath := writeBadSet(t)
	ds, err := LoadCSV(CSVOptions{CSVPath: csvPath, Limits: preprocess.Limits{MaxPixels: 300}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 1 || len(ds.Valid) != 1 || filepath.Base(ds.Train[0].Path) != "good.jpg" || filepath.Base(ds.Valid[0].Path) != "also-good.jpg" {
		t.Fatalf("kept train %+v valid %+v", ds.Train, ds.Valid)
	}
	if !slices.Equal(ds.Labels, []string{"cat", "dog"}) {
		t.Errorf("labels %v: the vocabulary comes from the kept rows only", ds.Labels)
	}
	r := ds.Report
	if r.Rows != 10 || r.Skipped != len(wantProblems) || len(r.Problems) != len(wantProblems) {
		for _, p := range r.Problems {
			t.Log(p)
		}
		t.Fatalf("%d rows, skipped %d, %d problems, want 10 rows and %d problems", r.Rows, r.Skipped, len(r.Problems), len(wantProblems))
	}
	for i, w := range wantProblems {
		p := r.Problems[i]
		if p.Line != w.line || p.File != w.file || !strings.Contains(p.Msg, w.msg) || p.CSV != csvPath {
			t.Errorf("problem %d: %+v, want line %d file %q message containing %q", i, p, w.line, w.file, w.msg)
		}
		s := p.String()
		if !strings.HasPrefix(s, fmt.Sprintf("%s:%d: ", csvPath, w.line)) || !strings.Contains(s, w.file) {
			t.Errorf("problem %d prints as %q", i, s)
		}
	}
}

func TestLoadCSVFail(t *testing.T) {
	csvPath := writeBadSet(t)
	_, err := LoadCSV(CSVOptions{CSVPath: csvPath, OnBadItem: Fail, Limits: preprocess.Limits{MaxPixels: 300}})
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, ErrBadData) {
		t.Fatalf("error %v, want a *LoadError", err)
	}
	if len(le.Problems) != len(wantProblems) {
		t.Fatalf("%d problems, want %d", len(le.Problems), len(wantProblems))
	}
	msg := err.Error()
	if !strings.Contains(msg, fmt.Sprintf("%d bad item(s)", len(wantProblems))) {
		t.Errorf("message does not count the problems: %s", msg)
	}
	for _, w := range wantProblems {
		if !strings.Contains(msg, fmt.Sprintf("%s:%d:", csvPath, w.line)) || !strings.Contains(msg, w.msg) {
			t.Errorf("message lacks line %d (%s):\n%s", w.line, w.msg, msg)
		}
	}
}

func TestLoadCSVVocabulary(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"1.png", "2.png", "3.png"} {
		writeImage(t, filepath.Join(dir, n), gradient(4, 4))
	}
	writeFile(t, filepath.Join(dir, "l.csv"), "fname,labels\n1.png,cat\n2.png,zebra cat\n3.png,\n")
	ds, err := LoadCSV(CSVOptions{CSVPath: filepath.Join(dir, "l.csv"), Labels: []string{"dog", "cat"}, ValidPct: -1})
	if err != nil {
		t.Fatal(err)
	}
	// The given order is kept; dog has no example and still has a column.
	if !slices.Equal(ds.Labels, []string{"dog", "cat"}) || len(ds.Train) != 2 || len(ds.Valid) != 0 {
		t.Fatalf("labels %v, %d train, %d valid", ds.Labels, len(ds.Train), len(ds.Valid))
	}
	if !slices.Equal(ds.Train[0].Target, []float32{0, 1}) || !slices.Equal(ds.Train[1].Target, []float32{0, 0}) {
		t.Errorf("targets %v %v", ds.Train[0].Target, ds.Train[1].Target)
	}
	if p := ds.Report.Problems; len(p) != 1 || p[0].Line != 3 || !strings.Contains(p[0].Msg, `label "zebra" not in the given vocabulary`) {
		t.Errorf("problems %v", p)
	}
	for _, bad := range [][]string{{}, {"a", "a"}, {"a", " "}} {
		if _, err := LoadCSV(CSVOptions{CSVPath: filepath.Join(dir, "l.csv"), Labels: bad}); err == nil {
			t.Errorf("vocabulary %q accepted", bad)
		}
	}
}

func TestLoadCSVHeader(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "l.csv"), "file,tags\nx.png,a\n")
	for _, policy := range []BadItemPolicy{Skip, Fail} {
		_, err := LoadCSV(CSVOptions{CSVPath: filepath.Join(dir, "l.csv"), OnBadItem: policy})
		if err == nil || !strings.Contains(err.Error(), `header has no "fname" or "labels" column (it has file, tags)`) {
			t.Errorf("%s: error %v", policy, err)
		}
	}
	writeFile(t, filepath.Join(dir, "empty.csv"), "")
	if _, err := LoadCSV(CSVOptions{CSVPath: filepath.Join(dir, "empty.csv")}); err == nil || !strings.Contains(err.Error(), "no header") {
		t.Errorf("empty CSV: %v", err)
	}
	if _, err := LoadCSV(CSVOptions{CSVPath: filepath.Join(dir, "none.csv")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing CSV: %v", err)
	}
	// Every row bad: an error under skip too, quoting the first problem.
	writeFile(t, filepath.Join(dir, "l2.csv"), "fname,labels\nx.png,a\n")
	_, err := LoadCSV(CSVOptions{CSVPath: filepath.Join(dir, "l2.csv")})
	if err == nil || !strings.Contains(err.Error(), "no usable training items") || !strings.Contains(err.Error(), "x.png") {
		t.Errorf("no usable rows: %v", err)
	}
}

func TestLoadCSVOptions(t *testing.T) {
	// Semicolon-separated fields, comma-separated labels, custom column
	// names, a byte-order mark, images beside the CSV in a sub-folder.
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "img", "sub", "p.png"), gradient(4, 4))
	writeImage(t, filepath.Join(dir, "img", "q.png"), gradient(4, 4))
	writeFile(t, filepath.Join(dir, "meta", "l.csv"), "\ufeffpath;objects;split\nsub/p.png;a, b,;yes\nq.png;b;fAlSe\n")
	ds, err := LoadCSV(CSVOptions{
		CSVPath: filepath.Join(dir, "meta", "l.csv"), ImageDir: dir, Prefix: "img",
		FnColumn: "path", LabelColumn: "objects", ValidColumn: "split",
		LabelDelim: ",", Delimiter: ';', ValidPct: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// "yes" is not a valid is_valid value: that row is reported.
	if len(ds.Report.Problems) != 1 || !strings.Contains(ds.Report.Problems[0].Msg, `bad split value "yes" (want True, False, 1 or 0)`) {
		t.Errorf("problems %v", ds.Report.Problems)
	}
	if len(ds.Train) != 1 || ds.Train[0].Path != filepath.Join(dir, "img", "q.png") || !slices.Equal(ds.Labels, []string{"b"}) {
		t.Errorf("train %+v labels %v", ds.Train, ds.Labels)
	}
	writeFile(t, filepath.Join(dir, "meta", "l.csv"), "path;objects;split\nsub/p.png;a, b,;1\nq.png;b;0\n")
	ds, err = LoadCSV(CSVOptions{
		CSVPath: filepath.Join(dir, "meta", "l.csv"), ImageDir: dir, Prefix: "img",
		FnColumn: "path", LabelColumn: "objects", ValidColumn: "split", LabelDelim: ",", Delimiter: ';',
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Valid) != 1 || !slices.Equal(ds.Valid[0].Target, []float32{1, 1}) || !slices.Equal(ds.Labels, []string{"a", "b"}) {
		t.Errorf("valid %+v labels %v", ds.Valid, ds.Labels)
	}
	if _, err := ParseBadItemPolicy("explode"); err == nil {
		t.Error("bad policy accepted")
	}
	if _, err := LoadCSV(CSVOptions{CSVPath: "x.csv", ValidPct: 1}); err == nil {
		t.Error("valid fraction 1 accepted")
	}
}

func TestLoadCSVRandomSplit(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("fname,labels\n")
	for i := range 10 {
		name := fmt.Sprintf("%d.png", i)
		writeImage(t, filepath.Join(dir, name), gradient(4, 4))
		fmt.Fprintf(&b, "%s,l%d\n", name, i%3)
	}
	writeFile(t, filepath.Join(dir, "l.csv"), b.String())
	split := func(pct float64, seed uint64) []string {
		ds, err := LoadCSV(CSVOptions{CSVPath: filepath.Join(dir, "l.csv"), ValidPct: pct, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Train)+len(ds.Valid) != 10 {
			t.Fatalf("%d+%d items", len(ds.Train), len(ds.Valid))
		}
		var v []string
		for _, it := range ds.Valid {
			v = append(v, filepath.Base(it.Path))
		}
		return v
	}
	// int(0.3·10) = 3, int(0.2·10) = 2 (the default), int(0.25·10) = 2.
	if v := split(0.3, 1); len(v) != 3 {
		t.Errorf("0.3: %d valid", len(v))
	}
	if v := split(0, 1); len(v) != 2 {
		t.Errorf("default: %d valid", len(v))
	}
	if v := split(0.25, 1); len(v) != 2 {
		t.Errorf("0.25: %d valid", len(v))
	}
	if v := split(-1, 1); len(v) != 0 {
		t.Errorf("negative: %d valid", len(v))
	}
	if a, b := split(0.5, 7), split(0.5, 7); !slices.Equal(a, b) {
		t.Errorf("same seed, different splits %v %v", a, b)
	}
	differ := false
	for seed := range uint64(5) {
		if !slices.Equal(split(0.5, seed), split(0.5, seed+100)) {
			differ = true
		}
	}
	if !differ {
		t.Error("the seed does not change the split")
	}
}

func ExampleLoadCSV() {
	dir, err := os.MkdirTemp("", "tagnet-data")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	// The fastai layout: a CSV beside a folder of images.
	o, err := Synth(dir, SynthOptions{Train: 8, Valid: 2, Size: 32, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Remove(filepath.Join(dir, "images", "00003.jpg")) // a missing image
	ds, err := LoadCSV(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ds.Labels)
	fmt.Println(len(ds.Train), "train,", len(ds.Valid), "valid,", ds.Report.Skipped, "skipped")
	for _, p := range ds.Report.Problems {
		fmt.Println("line", p.Line, p.File)
	}
	// Output:
	// [circle square triangle cross ring star]
	// 7 train, 2 valid, 1 skipped
	// line 5 00003.jpg
}
