package postprocess

import (
	"strings"
	"testing"
)

// TestOneSidedClasses: a class never trained (train_support 0) is marked
// in the summary and warned about when the sweep chooses its threshold; a
// class without validation positives is marked too.
func TestOneSidedClasses(t *testing.T) {
	sw := handSweep()
	zero, five, seven := 0, 5, 7
	sw.Classes[0].TrainSupport = &zero  // cat: validation only
	sw.Classes[1].TrainSupport = &seven // dog: both sides
	sw.Classes[2].TrainSupport = &five  // bird: training only
	sum := sw.Summarize()
	if !strings.Contains(sum[0].OneSided, "never trained (0 training items, 40 validation)") || sum[0].TrainSupport == nil {
		t.Errorf("cat: %+v", sum[0])
	}
	if sum[1].OneSided != "" {
		t.Errorf("dog is marked: %q", sum[1].OneSided)
	}
	if !strings.Contains(sum[2].OneSided, "no validation positives (5 training items)") {
		t.Errorf("bird: %+v", sum[2])
	}
	sel, err := Select([]string{"cat", "dog", "bird"}, sw, Strategy{Kind: KindF1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(sel.Warnings, "\n")
	if !strings.Contains(w, `class "cat": never trained`) || strings.Contains(w, `class "dog"`) {
		t.Errorf("warnings:\n%s", w)
	}
}
