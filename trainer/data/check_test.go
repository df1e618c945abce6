package data

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/preprocess"
)

// copyCase copies a damaged file of preprocess/testdata/cases into dir.
func copyCase(t *testing.T, name, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "preprocess", "testdata", "cases", name))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, name), string(b))
}

// TestLoadCSVDecodeCheck: a JPEG cut at 60 %, one cut after its scan header
// and a PNG cut at 50 % are named at load when Decode is set: all three in
// the *LoadError under fail, all three skipped and reported under skip,
// and never among the items an epoch uses.
func TestLoadCSVDecodeCheck(t *testing.T) {
	dir := t.TempDir()
	damaged := []string{"trunc-train-60pct.jpg", "header-only.jpg", "trunc-train-50pct.png"}
	for _, n := range damaged {
		copyCase(t, n, dir)
	}
	csv := "fname,labels,is_valid\n"
	for _, n := range []string{"a.jpg", "b.png", "c.jpg", "d.jpg"} {
		writeImage(t, filepath.Join(dir, n), gradient(40, 30))
		csv += n + ",cat,False\n"
	}
	writeImage(t, filepath.Join(dir, "v.jpg"), gradient(40, 30))
	csv += "v.jpg,cat,True\n"
	csv += damaged[0] + ",cat,False\n" + damaged[1] + ",cat,True\n" + damaged[2] + ",cat,False\n"
	writeFile(t, filepath.Join(dir, "labels.csv"), csv)

	pre, err := preprocess.New(preprocess.Default(32), preprocess.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	aug, err := NewAugmenter(pre, AugmentOptions{Mode: AugmentCropFlip})
	if err != nil {
		t.Fatal(err)
	}
	opt := CSVOptions{CSVPath: filepath.Join(dir, "labels.csv"), OnBadItem: Skip}
	if ds, err := LoadCSV(opt); err != nil || ds.Report.Skipped == 3 {
		t.Fatalf("headers alone: %v, %+v; the damaged files must pass a header check for this test to mean anything", err, ds.Report)
	}
	opt.Decode, opt.OnBadItem = aug.DecodeOptions, Fail
	_, err = LoadCSV(opt)
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 3 {
		t.Fatalf("fail policy: %v, want a *LoadError with 3 problems", err)
	}
	for _, n := range damaged {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("the error does not name %s:\n%v", n, err)
		}
	}

	opt.OnBadItem = Skip
	ds, err := LoadCSV(opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 4 || len(ds.Valid) != 1 || ds.Report.Skipped != 3 {
		t.Fatalf("skip policy: %d train, %d valid, %d skipped", len(ds.Train), len(ds.Valid), ds.Report.Skipped)
	}
	for i, n := range damaged {
		if p := ds.Report.Problems[i]; p.File != n || !strings.Contains(p.Msg, "cannot decode image "+filepath.Join(dir, n)) {
			t.Errorf("problem %d: %v, want %s undecodable", i, p, n)
		}
	}
	for _, it := range append(ds.Train, ds.Valid...) {
		for _, n := range damaged {
			if filepath.Base(it.Path) == n {
				t.Errorf("%s is among the items", n)
			}
		}
	}
}

// TestLabelWarnings: a label only on validation items, one only on
// training items and labels differing only in case are warned about, with
// their counts; the counts per split are kept.
func TestLabelWarnings(t *testing.T) {
	dir := t.TempDir()
	csv := "fname,labels,is_valid\n"
	rows := []struct{ name, labels, valid string }{
		{"a.jpg", "cat Circle", "False"}, {"b.jpg", "cat trainonly", "False"}, {"c.jpg", "trainonly", "False"},
		{"d.jpg", "cat circle", "True"}, {"e.jpg", "validonly", "True"}, {"f.jpg", "Circle", "True"},
	}
	for _, r := range rows {
		writeImage(t, filepath.Join(dir, r.name), gradient(8, 8))
		csv += r.name + "," + r.labels + "," + r.valid + "\n"
	}
	writeFile(t, filepath.Join(dir, "labels.csv"), csv)
	ds, err := LoadCSV(CSVOptions{CSVPath: filepath.Join(dir, "labels.csv")})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(ds.Report.Warnings, "\n")
	for _, want := range []string{
		`label "validonly" is only on validation items (0 training, 1 validation)`,
		`label "trainonly" is only on training items (2 training, 0 validation)`,
		`label "circle" is only on validation items (0 training, 1 validation)`,
		`labels "Circle", "circle" differ only in case`,
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %s:\n%s", want, w)
		}
	}
	if strings.Contains(w, `label "cat"`) || strings.Contains(w, `label "Circle"`) {
		t.Errorf("a label on both sides is warned about:\n%s", w)
	}
	// Labels: Circle cat circle trainonly validonly.
	if got := ds.TrainCounts; len(got) != 5 || got[0] != 1 || got[1] != 2 || got[4] != 0 {
		t.Errorf("train counts %v", got)
	}
	if got := ds.ValidCounts; got[0] != 1 || got[3] != 0 || got[4] != 1 {
		t.Errorf("valid counts %v", got)
	}
}

// TestCSVRelativeToData: a relative CSV path is read from the data folder
// (fastai's from_csv(path, csv_fname)), not the working directory.
func TestCSVRelativeToData(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "a.jpg"), gradient(8, 8))
	writeImage(t, filepath.Join(dir, "b.jpg"), gradient(8, 8))
	writeFile(t, filepath.Join(dir, "train.csv"), "fname,labels,is_valid\na.jpg,cat,False\nb.jpg,dog,True\n")
	t.Chdir(t.TempDir()) // a working directory without train.csv
	ds, err := LoadCSV(CSVOptions{CSVPath: "train.csv", ImageDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 1 || ds.Train[0].Path != filepath.Join(dir, "a.jpg") {
		t.Errorf("train %+v", ds.Train)
	}
}

// TestFolderHint: when no listed image exists but they are one folder
// down, the error says which data.folder to set.
func TestFolderHint(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "train", "a.jpg"), gradient(8, 8))
	writeImage(t, filepath.Join(dir, "train", "b.jpg"), gradient(8, 8))
	writeFile(t, filepath.Join(dir, "train.csv"), "fname,labels,is_valid\na.jpg,cat,False\nb.jpg,dog,True\n")
	_, err := LoadCSV(CSVOptions{CSVPath: "train.csv", ImageDir: dir})
	if err == nil || !strings.Contains(err.Error(), "--data.folder train") {
		t.Fatalf("got %v, want a hint to set --data.folder train", err)
	}
	if _, err := LoadCSV(CSVOptions{CSVPath: "train.csv", ImageDir: dir, Prefix: "train"}); err != nil {
		t.Errorf("with the folder set: %v", err)
	}
}
