package weights

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tagnet/tagnet/models"
)

// MapReport says what [Apply] took from a state dict.
type MapReport struct {
	// Loaded is the number of parameters and buffers copied.
	Loaded int
	// Head is true when the classifier (fc.weight, fc.bias) was copied;
	// false when the graph's head differs and was left as initialised.
	Head bool
	// Dropped lists the state-dict entries deliberately not used: the
	// classifier of a different head and num_batches_tracked counters.
	Dropped []string
}

// MappingError lists every problem of a strict mapping at once, as
// PyTorch's load_state_dict(strict=True) does.
type MappingError struct {
	Source     string   // the file or name the state dict came from
	Missing    []string // graph parameters the state dict lacks, with shapes
	Unexpected []string // state-dict entries the graph has no place for
	Mismatched []string // "name: shape [a b] in the file, [c d] here"
}

func (e *MappingError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, fmt.Sprintf("missing keys (%d): %s", len(e.Missing), strings.Join(e.Missing, ", ")))
	}
	if len(e.Unexpected) > 0 {
		parts = append(parts, fmt.Sprintf("unexpected keys (%d): %s", len(e.Unexpected), strings.Join(e.Unexpected, ", ")))
	}
	if len(e.Mismatched) > 0 {
		parts = append(parts, fmt.Sprintf("shape mismatches (%d): %s", len(e.Mismatched), strings.Join(e.Mismatched, "; ")))
	}
	return fmt.Sprintf("weights %s do not fit the architecture: %s", e.Source, strings.Join(parts, "; "))
}

// isHead reports a parameter of the classifier head (fastai's split: the
// last parameter group).
func isHead(p models.Param) bool { return p.Group == 2 }

// Apply copies the entries of sd into a copy of base (weights of g) by
// torchvision name, strictly: every body parameter and BatchNorm buffer of
// g must be present with the same shape, and every entry of sd must find a
// place, except that
//   - "*.num_batches_tracked" counters are ignored (tagnet's BatchNorm uses
//     a fixed momentum);
//   - the classifier "fc.weight"/"fc.bias" is copied when g has a linear
//     head of the same shape and dropped otherwise (a fastai head, or
//     another number of classes), as fastai's vision_learner cuts the body
//     and puts a fresh head on it; g's head then keeps base's values.
//
// All missing, unexpected and mis-shaped keys are reported together in one
// *MappingError. source names sd in errors.
func Apply(sd *StateDict, g *models.Graph, base models.Weights, source string) (models.Weights, *MapReport, error) {
	if err := base.Check(g); err != nil {
		return nil, nil, fmt.Errorf("mapping weights: %w", err)
	}
	out := make(models.Weights, len(base))
	for k, t := range base {
		out[k] = &models.Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
	}
	rep := &MapReport{}
	merr := &MappingError{Source: source}

	// The classifier: copied only into an identical linear head.
	useFC := false
	if fcW, ok := sd.Tensors["fc.weight"]; ok {
		if p, ok := g.Param("fc.weight"); ok && slices.Equal(p.Shape, fcW.Shape) {
			if fcB, ok := sd.Tensors["fc.bias"]; ok {
				if q, ok := g.Param("fc.bias"); ok && slices.Equal(q.Shape, fcB.Shape) {
					useFC = true
				}
			}
		}
	}
	for _, name := range sd.Names() {
		switch {
		case strings.HasSuffix(name, ".num_batches_tracked") || name == "num_batches_tracked":
			rep.Dropped = append(rep.Dropped, name)
			continue
		case (name == "fc.weight" || name == "fc.bias") && !useFC:
			rep.Dropped = append(rep.Dropped, name)
			continue
		}
		t, isFloat := sd.Tensors[name]
		p, ok := g.Param(name)
		if !ok {
			merr.Unexpected = append(merr.Unexpected, name)
			continue
		}
		if !isFloat {
			merr.Mismatched = append(merr.Mismatched, fmt.Sprintf("%s: integer tensor in the file, float32 %v here", name, p.Shape))
			continue
		}
		if !slices.Equal(t.Shape, p.Shape) {
			merr.Mismatched = append(merr.Mismatched, fmt.Sprintf("%s: shape %v in the file, %v here", name, t.Shape, p.Shape))
			continue
		}
		copy(out[name].Data, t.Data)
		rep.Loaded++
	}
	for _, p := range g.Params {
		if _, ok := sd.Tensors[p.Name]; ok {
			continue
		}
		if _, ok := sd.Ints[p.Name]; ok {
			continue // reported as a mismatch above
		}
		if isHead(p) && !useFC {
			continue // a fresh head
		}
		merr.Missing = append(merr.Missing, fmt.Sprintf("%s %v", p.Name, p.Shape))
	}
	if len(merr.Missing)+len(merr.Unexpected)+len(merr.Mismatched) > 0 {
		sort.Strings(merr.Missing)
		return nil, nil, merr
	}
	rep.Head = useFC
	return out, rep, nil
}
