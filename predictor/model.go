package predictor

import (
	"encoding/json"
	"fmt"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/predictor/postprocess"
	"github.com/tagnet/tagnet/preprocess"
)

// versionLen is the number of hex digits of the model's sha256 that make
// its version.
const versionLen = 12

// Thresholds says how per-class thresholds are chosen. The zero value
// chooses each class's best smoothed F1 from the model's sweep.
type Thresholds struct {
	// Strategy picks the thresholds from the sweep; the zero value is f1.
	Strategy postprocess.Strategy
	// Overrides maps label names to fixed thresholds in (0, 1), taking
	// precedence over Strategy. A name the model does not have is an
	// error. Nil means none.
	Overrides map[string]float64
}

// Info describes a model as the predictor uses it. It marshals to JSON for
// the HTTP service and `tagnet-predict info --json`.
type Info struct {
	// Path is the model file as given.
	Path string `json:"path"`
	// SHA256 is the hex sha256 of the model file.
	SHA256 string `json:"sha256"`
	// Version identifies the weights: the first 12 hex digits of SHA256.
	Version string `json:"version"`
	// Schema is the metadata schema version.
	Schema string `json:"schema"`
	// Spec is the architecture.
	Spec models.Spec `json:"spec"`
	// Labels are the classes in output order.
	Labels []string `json:"labels"`
	// Preprocess is the preprocessing applied to every image.
	Preprocess preprocess.Spec `json:"preprocess"`
	// Training summarises the training run; nil for a model written
	// without one.
	Training *models.Training `json:"training,omitempty"`
	// Strategy is the threshold strategy's text form.
	Strategy string `json:"strategy"`
	// Thresholds holds each class's threshold, in output order.
	Thresholds []postprocess.Choice `json:"thresholds"`
	// Sweep summarises each class's validation sweep; nil when the model
	// has none.
	Sweep []models.ClassSummary `json:"sweep,omitempty"`
	// SweepItems is the number of validation items of the sweep.
	SweepItems int `json:"sweep_items,omitempty"`
	// OutputKind is what the model outputs: "logits" (the sigmoid is
	// applied) or "probabilities" (used as they are; adopted models).
	OutputKind string `json:"output_kind"`
	// Adopted is true for a model trained elsewhere and adopted with
	// `tagnet-train adopt`.
	Adopted bool `json:"adopted,omitempty"`
	// FixedBatch is the model's fixed batch size, 0 when its batch axis
	// is dynamic; batches of any size are split and padded to it.
	FixedBatch int `json:"fixed_batch,omitempty"`
	// Provider is the execution provider, "cpu" or "cuda"; empty from
	// Describe, which opens no session.
	Provider string `json:"provider,omitempty"`
	// Warnings lists what the predictor had to assume (no stored
	// preprocessing) or could not do as asked (a threshold target out of
	// reach).
	Warnings []string `json:"warnings,omitempty"`
}

// model is what a model file says, read once.
type model struct {
	path     string
	sha256   string
	md       *models.Metadata
	pre      preprocess.Spec
	sel      *postprocess.Selection
	warnings []string
}

// loadModel reads the model file at path, its metadata and preprocessing,
// and chooses the thresholds.
func loadModel(path string, th Thresholds) (*model, error) {
	// The metadata only: the weights are ONNX Runtime's to load.
	fi, err := models.ReadInfo(path)
	if err != nil {
		return nil, err
	}
	md := fi.Metadata
	m := &model{path: path, sha256: fi.SHA256, md: md}

	if len(md.Preprocess) == 0 {
		m.pre = preprocess.Default(md.Spec.InputSize)
		m.warnings = append(m.warnings, fmt.Sprintf("the model stores no preprocessing; using tagnet's default for %d pixels", md.Spec.InputSize))
	} else if err := json.Unmarshal(md.Preprocess, &m.pre); err != nil {
		return nil, fmt.Errorf("loading model %s: decoding its preprocessing: %w", path, err)
	}
	if err := m.pre.Validate(); err != nil {
		return nil, fmt.Errorf("loading model %s: %w", path, err)
	}

	m.sel, err = postprocess.Select(md.Labels, md.Sweep, th.Strategy, th.Overrides)
	if err != nil {
		return nil, fmt.Errorf("choosing thresholds for %s: %w", path, err)
	}
	m.warnings = append(m.warnings, m.sel.Warnings...)
	return m, nil
}

// info describes the model; provider is "" when no session is open.
func (m *model) info(provider string) *Info {
	md := m.md
	in := &Info{
		Path:       m.path,
		SHA256:     m.sha256,
		Version:    m.sha256[:versionLen],
		Schema:     md.Schema,
		Spec:       md.Spec.Normalized(),
		Labels:     append([]string(nil), md.Labels...),
		Preprocess: m.pre,
		Training:   md.Training,
		Strategy:   m.sel.Strategy.String(),
		Thresholds: append([]postprocess.Choice(nil), m.sel.Classes...),
		Sweep:      md.Sweep.Summarize(),
		Provider:   provider,
		Warnings:   append([]string(nil), m.warnings...),
	}
	if md.Sweep != nil {
		in.SweepItems = md.Sweep.Items
	}
	in.OutputKind = models.OutputLogits
	if md.IO != nil {
		in.OutputKind, in.Adopted, in.FixedBatch = md.IO.OutputKind, md.IO.Adopted, md.IO.Batch
	}
	return in
}

// Describe reads the model file at path and reports what a Predictor built
// from it with th would use, without loading ONNX Runtime: labels,
// preprocessing, training summary, thresholds and sweep summary. Info's
// Provider is empty.
func Describe(path string, th Thresholds) (*Info, error) {
	m, err := loadModel(path, th)
	if err != nil {
		return nil, err
	}
	return m.info(""), nil
}
