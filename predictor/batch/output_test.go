package batch

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

var classes = []string{"cat", "dog, the", "bird"}

func rowsN(names ...string) []Row {
	var out []Row
	for i, n := range names {
		if strings.HasPrefix(n, "bad") {
			out = append(out, Row{File: n, Labels: []string{}, Err: "bad image: " + n})
			continue
		}
		out = append(out, Row{File: n, Labels: []string{"cat"}, Probabilities: []float32{0.9, float32(i) / 10, 0.125}})
	}
	return out
}

func write(t *testing.T, opt OutputOptions, rows []Row) map[string]bool {
	t.Helper()
	opt.Classes = classes
	opt.Logger = zaptest.NewLogger(t)
	o, done, err := OpenOutput(opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	return done
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s does not parse as CSV: %v", path, err)
	}
	return recs
}

type jsonLine struct {
	File          string             `json:"file"`
	Labels        []string           `json:"labels"`
	Probabilities map[string]float64 `json:"probabilities"`
	Error         *string            `json:"error"`
}

func readJSONL(t *testing.T, path string) []jsonLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []jsonLine
	for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		var l jsonLine
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("%s line %d does not parse: %v: %s", path, i+1, err, line)
		}
		out = append(out, l)
	}
	return out
}

func TestFormats(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "out", "r.CSV")
	write(t, OutputOptions{Path: csvPath}, rowsN("a.jpg", "bad.jpg", "c,\"quoted\".jpg"))
	recs := readCSV(t, csvPath)
	want := [][]string{
		{"file", "labels", "cat", "dog, the", "bird", "error"},
		{"a.jpg", "cat", "0.9", "0", "0.125", ""},
		{"bad.jpg", "", "", "", "", "bad image: bad.jpg"},
		{`c,"quoted".jpg`, "cat", "0.9", "0.2", "0.125", ""},
	}
	if len(recs) != len(want) {
		t.Fatalf("CSV: %q", recs)
	}
	for i := range want {
		if !slices.Equal(recs[i], want[i]) {
			t.Errorf("CSV row %d: %q, want %q", i, recs[i], want[i])
		}
	}

	jsonPath := filepath.Join(dir, "r.jsonl")
	write(t, OutputOptions{Path: jsonPath}, rowsN("a.jpg", "bad.jpg"))
	lines := readJSONL(t, jsonPath)
	if len(lines) != 2 || lines[0].File != "a.jpg" || lines[0].Error != nil || lines[0].Probabilities["dog, the"] != 0 ||
		lines[0].Probabilities["bird"] != 0.125 || !slices.Equal(lines[0].Labels, []string{"cat"}) {
		t.Errorf("JSON line 1: %+v", lines[0])
	}
	if l := lines[1]; l.Error == nil || *l.Error != "bad image: bad.jpg" || l.Probabilities != nil || l.Labels == nil {
		t.Errorf("JSON line 2: %+v", l)
	}
	// Probabilities keep class order in the text.
	raw, _ := os.ReadFile(jsonPath)
	if !strings.Contains(string(raw), `{"cat":0.9,"dog, the":0,"bird":0.125}`) {
		t.Errorf("JSON line 1 text: %s", raw)
	}

	var stdout bytes.Buffer
	write(t, OutputOptions{Path: "-", Stdout: &stdout}, rowsN("x.jpg"))
	if !strings.HasPrefix(stdout.String(), `{"file":"x.jpg"`) {
		t.Errorf("stdout: %q", stdout.String())
	}
	for _, bad := range []string{"r.txt", "r.json", "r"} {
		if _, err := FormatFor(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("FormatFor(%q): %v", bad, err)
		}
	}
	if _, _, err := OpenOutput(OutputOptions{Path: "-", Resume: true}); !errors.Is(err, ErrConfig) {
		t.Errorf("resume on stdout: %v", err)
	}
}

// Resuming cuts off a torn last line, reports the complete rows as done,
// and appends after them: no row lost, none twice, header once.
func TestResumeAfterTornLine(t *testing.T) {
	for _, ext := range []string{".csv", ".jsonl"} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "r"+ext)
			write(t, OutputOptions{Path: path}, rowsN("a.jpg", "bad1.jpg", "b.jpg"))
			full, _ := os.ReadFile(path)
			// A crash in the middle of writing c.jpg's row.
			write(t, OutputOptions{Path: filepath.Join(dir, "extra"+ext)}, rowsN("c.jpg"))
			extra, _ := os.ReadFile(filepath.Join(dir, "extra"+ext))
			if ext == ".csv" {
				extra = extra[bytes.IndexByte(extra, '\n')+1:]
			}
			torn := append(full, extra[:len(extra)/2]...)
			if err := os.WriteFile(path, torn, 0o644); err != nil {
				t.Fatal(err)
			}

			done := write(t, OutputOptions{Path: path, Resume: true}, rowsN("c.jpg", "d.jpg"))
			if len(done) != 3 || !done["a.jpg"] || !done["bad1.jpg"] || !done["b.jpg"] {
				t.Errorf("done: %v", done)
			}
			var files []string
			if ext == ".csv" {
				recs := readCSV(t, path)
				if !slices.Equal(recs[0], []string{"file", "labels", "cat", "dog, the", "bird", "error"}) {
					t.Errorf("header %q", recs[0])
				}
				for _, r := range recs[1:] {
					files = append(files, r[0])
				}
			} else {
				for _, l := range readJSONL(t, path) {
					files = append(files, l.File)
				}
			}
			if want := []string{"a.jpg", "bad1.jpg", "b.jpg", "c.jpg", "d.jpg"}; !slices.Equal(files, want) {
				t.Errorf("files %v, want %v", files, want)
			}
			// Resuming a complete file finds everything and changes nothing.
			before, _ := os.ReadFile(path)
			done = write(t, OutputOptions{Path: path, Resume: true}, nil)
			after, _ := os.ReadFile(path)
			if len(done) != 5 || !bytes.Equal(before, after) {
				t.Errorf("second resume: %d done, file changed %v", len(done), !bytes.Equal(before, after))
			}
		})
	}
}

func TestResumeRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"other-header.csv":    "file,labels,cat,error\na.jpg,cat,0.9,\n",
		"damaged.csv":         "file,labels,cat,\"dog, the\",bird,error\na.jpg,cat,0.9\"x,0,0,\nb.jpg,,0,0,0,\n",
		"short-row.csv":       "file,labels,cat,\"dog, the\",bird,error\na.jpg,cat,0.9,\n",
		"not-json.jsonl":      "{\"file\":\"a.jpg\"}\nhello\n",
		"other-classes.jsonl": `{"file":"a.jpg","labels":[],"probabilities":{"cat":0.5},"error":null}` + "\n",
	}
	for name, content := range cases {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := OpenOutput(OutputOptions{Path: path, Classes: classes, Resume: true})
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
		t.Logf("%s: %v", name, err)
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("%s was changed", name)
		}
	}
	// A missing file, an empty one and a torn header start afresh.
	for name, content := range map[string]string{"empty.csv": "", "torn-header.csv": "file,lab"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		write(t, OutputOptions{Path: path, Resume: true}, rowsN("a.jpg"))
		if recs := readCSV(t, path); len(recs) != 2 || recs[0][0] != "file" {
			t.Errorf("%s: %q", name, recs)
		}
	}
	write(t, OutputOptions{Path: filepath.Join(dir, "new.jsonl"), Resume: true}, rowsN("a.jpg"))
}
