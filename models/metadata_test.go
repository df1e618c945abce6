package models

import (
	"strings"
	"testing"
)

// TestLabelDelimRoundTrip: the label delimiter and the one-sided class
// marks survive the metadata_props encoding; a label containing the
// delimiter is refused.
func TestLabelDelimRoundTrip(t *testing.T) {
	zero, three := 0, 3
	md := Metadata{
		Spec:       Spec{Arch: "resnet-tiny", NumClasses: 2, InputSize: 32},
		Labels:     []string{"traffic light", "car"},
		LabelDelim: ";",
		Sweep: &Sweep{
			Thresholds: []float64{0.5}, Items: 4, AccuracyMulti: []float64{1},
			Classes: []ClassSweep{
				{Label: "traffic light", Support: 2, TrainSupport: &zero, Precision: []float64{1}, Recall: []float64{1}, F1: []float64{1}, Accuracy: []float64{1}},
				{Label: "car", Support: 0, TrainSupport: &three, Precision: []float64{1}, Recall: []float64{0}, F1: []float64{0}, Accuracy: []float64{1}},
			},
		},
	}
	props, err := md.props()
	if err != nil {
		t.Fatal(err)
	}
	got, err := metadataFromProps(props)
	if err != nil {
		t.Fatal(err)
	}
	if got.LabelDelim != ";" || got.Delim() != ";" {
		t.Errorf("label delimiter %q", got.LabelDelim)
	}
	if s := got.Sweep.Classes[0].OneSided(); !strings.Contains(s, "never trained") {
		t.Errorf("class 0: %q", s)
	}
	if s := got.Sweep.Classes[1].OneSided(); !strings.Contains(s, "no validation positives (3 training items)") {
		t.Errorf("class 1: %q", s)
	}
	if (&Metadata{}).Delim() != " " {
		t.Error("the default delimiter is not a space")
	}
	md.LabelDelim, md.Schema = " ", SchemaVersion
	if err := md.Validate(); err == nil || !strings.Contains(err.Error(), `label "traffic light" contains the label delimiter " "`) {
		t.Errorf("Validate: %v", err)
	}
}
