package models

// ClassSummary is one class's line of a sweep summary: what `tagnet-predict
// info` and the trainer's end-of-run report show of a class's curve.
type ClassSummary struct {
	// Label is the class's name.
	Label string `json:"label"`
	// Support is the number of validation items with the class.
	Support int `json:"support"`
	// BestF1 is the largest F1 on the grid (unsmoothed) and
	// BestF1Threshold the lowest threshold reaching it.
	BestF1          float64 `json:"best_f1"`
	BestF1Threshold float64 `json:"best_f1_threshold"`
	// TrainSupport is the number of training items with the class; nil
	// when the model does not record it.
	TrainSupport *int `json:"train_support,omitempty"`
	// OneSided marks a class seen on one side of the split only
	// ([ClassSweep.OneSided]); "" otherwise.
	OneSided string `json:"one_sided,omitempty"`
}

// Summarize returns each class's best F1, its threshold and its support,
// in output order. It returns nil for a nil sweep.
func (s *Sweep) Summarize() []ClassSummary {
	if s == nil {
		return nil
	}
	out := make([]ClassSummary, len(s.Classes))
	for i := range s.Classes {
		c := &s.Classes[i]
		cs := ClassSummary{Label: c.Label, Support: c.Support, TrainSupport: c.TrainSupport, OneSided: c.OneSided()}
		for j, f := range c.F1 {
			if j == 0 || f > cs.BestF1 {
				cs.BestF1, cs.BestF1Threshold = f, s.Thresholds[j]
			}
		}
		out[i] = cs
	}
	return out
}

// BestF1Macro is the macro F1 when each class uses its own best threshold
// of the grid: the mean over the classes of [ClassSummary.BestF1]. It is 0
// for a nil sweep or one without classes.
func (s *Sweep) BestF1Macro() float64 {
	sum := s.Summarize()
	if len(sum) == 0 {
		return 0
	}
	var t float64
	for _, c := range sum {
		t += c.BestF1
	}
	return t / float64(len(sum))
}
