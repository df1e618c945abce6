package data

import (
	"bytes"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tagnet/tagnet/preprocess"
)

// readTree returns every file under dir by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSynthDeterministic(t *testing.T) {
	gen := func(seed uint64) map[string][]byte {
		dir := t.TempDir()
		if _, err := Synth(dir, SynthOptions{Train: 12, Valid: 4, Size: 40, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		return readTree(t, dir)
	}
	a, b, c := gen(5), gen(5), gen(6)
	if len(a) != 17 { // 16 images and the CSV
		t.Fatalf("%d files, want 17", len(a))
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
	same := 0
	for name, data := range a {
		if bytes.Equal(data, c[name]) {
			same++
		}
	}
	if same > 1 {
		t.Errorf("%d files identical across seeds 5 and 6", same)
	}
}

func TestSynthLayout(t *testing.T) {
	dir := t.TempDir()
	o, err := Synth(dir, SynthOptions{Train: 30, Valid: 10, Size: 48, Classes: 4, MaxObjects: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if o.CSVPath != filepath.Join(dir, "labels.csv") || !slices.Equal(o.Labels, []string{"circle", "square", "triangle", "cross"}) {
		t.Errorf("options %+v", o)
	}
	ds, err := LoadCSV(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Train) != 30 || len(ds.Valid) != 10 || ds.Report.Skipped != 0 {
		t.Fatalf("%d train, %d valid, report %+v", len(ds.Train), len(ds.Valid), ds.Report)
	}
	counts := map[int]int{}
	for _, it := range append(ds.Train, ds.Valid...) {
		f, err := os.Open(it.Path)
		if err != nil {
			t.Fatal(err)
		}
		cfg, format, err := image.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != 48 || cfg.Height != 48 || format != "jpeg" {
			t.Errorf("%s: %dx%d %s %v", it.Path, cfg.Width, cfg.Height, format, err)
		}
		n := 0
		for _, v := range it.Target {
			n += int(v)
		}
		counts[n]++
	}
	// 0, 1 or 2 objects; with 40 images each count occurs.
	if len(counts) != 3 || counts[0] == 0 || counts[1] == 0 || counts[2] == 0 {
		t.Errorf("objects per image: %v", counts)
	}
	csv, _ := os.ReadFile(o.CSVPath)
	if !strings.HasPrefix(string(csv), "fname,labels,is_valid\n00000.jpg,") || !strings.Contains(string(csv), ",True\n") {
		t.Errorf("CSV starts %q", string(csv[:min(len(csv), 80)]))
	}
}

// TestSynthLabelsMatchPixels checks that an image shows a class's colour
// exactly when it carries the label: PNG, so no compression artefacts.
func TestSynthLabelsMatchPixels(t *testing.T) {
	dir := t.TempDir()
	o, err := Synth(dir, SynthOptions{Train: 150, Valid: 1, Size: 64, Classes: 8, Seed: 2, Format: FormatPNG})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := LoadCSV(o)
	if err != nil {
		t.Fatal(err)
	}
	pre := newPre(t, preprocess.Default(64))
	minPresent, maxAbsent := 1<<30, 0
	for _, it := range ds.Train {
		img, err := pre.DecodeFile(it.Path)
		if err != nil {
			t.Fatal(err)
		}
		for c, sh := range synthShapes {
			// Pixels within 45 of the class colour in each channel (the
			// colour jitter is ±20, the noise ±12).
			n := 0
			for i := 0; i < len(img.Pix); i += 3 {
				ok := true
				for k := range 3 {
					if d := float64(img.Pix[i+k]) - sh.colour[k]; d > 45 || d < -45 {
						ok = false
					}
				}
				if ok {
					n++
				}
			}
			if it.Target[c] == 1 {
				minPresent = min(minPresent, n)
			} else {
				maxAbsent = max(maxAbsent, n)
			}
		}
	}
	t.Logf("colour pixels: at least %d where labelled, at most %d where not", minPresent, maxAbsent)
	if minPresent <= maxAbsent || minPresent < 40 {
		t.Errorf("labelled classes show %d+ pixels of their colour, unlabelled up to %d", minPresent, maxAbsent)
	}
}

func TestSynthOptions(t *testing.T) {
	for _, o := range []SynthOptions{{Size: 8}, {Classes: 9}, {MaxObjects: -1}, {Format: "gif"}, {Quality: 101}, {Train: -1, Valid: -1}} {
		if _, err := Synth(t.TempDir(), o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if got := SynthClasses(3); !slices.Equal(got, []string{"circle", "square", "triangle"}) {
		t.Errorf("SynthClasses(3) = %v", got)
	}
	if got := SynthClasses(20); len(got) != 8 {
		t.Errorf("SynthClasses(20) has %d names", len(got))
	}
}

func TestInsideStar(t *testing.T) {
	// The centre and the top point's shaft are inside; the gap between
	// the two upper points (straight up-right at 45°, radius 0.8) and the
	// far corner are outside.
	for _, c := range []struct {
		u, v float64
		in   bool
	}{{0, 0, true}, {0, -0.9, true}, {0.57, -0.57, false}, {0.95, 0.95, false}} {
		if got := insideStar(c.u, c.v); got != c.in {
			t.Errorf("(%v, %v): %v, want %v", c.u, c.v, got, c.in)
		}
	}
}

func ExampleSynth() {
	dir, err := os.MkdirTemp("", "tagnet-synth")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	o, err := Synth(dir, SynthOptions{Train: 20, Valid: 5, Seed: 7})
	if err != nil {
		fmt.Println(err)
		return
	}
	ds, err := LoadCSV(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(filepath.Base(o.CSVPath), ds.Labels, len(ds.Train), len(ds.Valid))
	// Output: labels.csv [circle square triangle cross ring star] 20 5
}
