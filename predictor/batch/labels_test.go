package batch

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// TestLabelsRoundTrip: the CSV labels column splits back into exactly the
// labels written, whatever their text (multi-word labels trained with
// data.label_delim ';' included); CSV is refused when no separator is free.
func TestLabelsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		classes []string
		sep     string
	}{
		{[]string{"cat", "dog"}, " "},
		{[]string{"traffic light", "car", "stop sign"}, ";"},
		{[]string{"a b;c", "d", "light traffic light"}, "|"},
	} {
		if got := LabelSeparator(tc.classes); got != tc.sep {
			t.Errorf("LabelSeparator(%q) = %q, want %q", tc.classes, got, tc.sep)
		}
		path := filepath.Join(t.TempDir(), "r.csv")
		o, _, err := OpenOutput(OutputOptions{Path: path, Classes: tc.classes})
		if err != nil {
			t.Fatal(err)
		}
		probs := make([]float32, len(tc.classes))
		rows := []Row{
			{File: "all.jpg", Labels: slices.Clone(tc.classes), Probabilities: probs},
			{File: "first-last.jpg", Labels: []string{tc.classes[0], tc.classes[len(tc.classes)-1]}, Probabilities: probs},
			{File: "none.jpg", Labels: []string{}, Probabilities: probs},
		}
		if err := o.Write(rows); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := ReadResults(path, tc.classes)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rows {
			if !slices.Equal(got[i].Labels, r.Labels) {
				t.Errorf("classes %q, %s: read back %q, wrote %q", tc.classes, r.File, got[i].Labels, r.Labels)
			}
		}
	}
	every := []string{"a b", "c;d", "e|f", "g\th"}
	if _, _, err := OpenOutput(OutputOptions{Path: filepath.Join(t.TempDir(), "r.csv"), Classes: every}); !errors.Is(err, ErrConfig) {
		t.Errorf("CSV with no free separator: %v", err)
	}
	o, _, err := OpenOutput(OutputOptions{Path: filepath.Join(t.TempDir(), "r.jsonl"), Classes: every})
	if err != nil {
		t.Errorf("JSON lines refused: %v", err)
	} else {
		o.Close()
	}
}
