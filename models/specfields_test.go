package models

import (
	"errors"
	"math"
	"testing"
)

func TestSpecProblems(t *testing.T) {
	ok := Spec{Arch: "resnet18", NumClasses: 2, InputSize: MaxInputSize, Stem: StemSmall, Head: HeadFastai, Width: MaxWidth}
	if p := ok.Problems(); p != nil {
		t.Errorf("valid spec: %v", p)
	}
	bad := Spec{Arch: "vgg", NumClasses: 0, InputSize: MaxInputSize + 1, Stem: "tiny", Head: "", Width: math.NaN()}
	want := []string{
		`arch "vgg" is invalid: must be one of resnet-tiny, resnet18, resnet34, resnet50`,
		`num_classes 0 is invalid: must be >= 1`,
		`input_size 4097 is invalid: must be between 16 and 4096`,
		`stem "tiny" is invalid: must be one of imagenet, small`,
		`head "" is invalid: must be one of linear, fastai`,
		`width NaN is invalid: must be in (0, 8]`,
	}
	p := bad.Problems()
	if len(p) != len(want) {
		t.Fatalf("%d problems %v, want %d", len(p), p, len(want))
	}
	for i, w := range want {
		if p[i].Error() != w {
			t.Errorf("problem %d: %q, want %q", i, p[i].Error(), w)
		}
	}
	// Validate fills the defaults first: an empty head and a zero width
	// are fine there, and the first problem is returned as a *SpecError.
	err := Spec{Arch: "resnet18", NumClasses: 1, InputSize: 15}.Validate()
	var se *SpecError
	if !errors.As(err, &se) || se.Field != "input_size" {
		t.Errorf("Validate: %v, want a SpecError for input_size", err)
	}
	if err := (Spec{Arch: "resnet18", NumClasses: 1, InputSize: 16}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}
