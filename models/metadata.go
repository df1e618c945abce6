package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SchemaVersion is the version of the metadata schema this build writes.
// Readers accept any minor version of the same major version: minor versions
// only add fields.
//
// 1.1 added tagnet.io (models adopted from elsewhere); 1.2 added
// tagnet.label_delim, the training summary's data-quality and
// early-stopping fields and the sweep's per-class train_support.
const SchemaVersion = "1.2"

// Metadata keys in the ONNX file's metadata_props. Each value is JSON
// except the schema version.
const (
	KeySchema     = "tagnet.schema"      // "major.minor"
	KeySpec       = "tagnet.spec"        // Spec
	KeyLabels     = "tagnet.labels"      // []string, in output order
	KeyPreprocess = "tagnet.preprocess"  // the preprocess package's Spec
	KeyTraining   = "tagnet.training"    // Training
	KeySweep      = "tagnet.sweep"       // Sweep
	KeyIO         = "tagnet.io"          // IO
	KeyLabelDelim = "tagnet.label_delim" // string, Metadata.LabelDelim
)

// Output kinds of [IO.OutputKind].
const (
	OutputLogits        = "logits"        // scores; the predictor applies the sigmoid
	OutputProbabilities = "probabilities" // already in [0,1]; used as they are
)

// ArchExternal is [Spec.Arch] of an adopted model whose architecture tagnet
// does not recognise.
const ArchExternal = "external"

// IO describes the graph's input and output when they are not tagnet's own
// (input "images" with a dynamic batch, output "logits"): models trained
// elsewhere and adopted with `tagnet-train adopt`.
type IO struct {
	// Input and Output name the graph's image input [N,3,H,W] and its
	// class-score output [N,C].
	Input  string `json:"input"`
	Output string `json:"output"`
	// OutputKind is OutputLogits or OutputProbabilities.
	OutputKind string `json:"output_kind"`
	// Batch is the input's fixed batch size; 0 when the batch axis is
	// dynamic.
	Batch int `json:"batch,omitempty"`
	// Adopted is true for a model trained elsewhere. Its Spec may then
	// name ArchExternal; only NumClasses and InputSize are required.
	Adopted bool `json:"adopted"`
	// Source is the file the model was adopted from, as given.
	Source string `json:"source,omitempty"`
}

// validate checks the fields.
func (io *IO) validate() error {
	if io.Input == "" || io.Output == "" {
		return fmt.Errorf("metadata io: input %q and output %q must be named", io.Input, io.Output)
	}
	if io.OutputKind != OutputLogits && io.OutputKind != OutputProbabilities {
		return fmt.Errorf("metadata io: output_kind %q must be %s or %s", io.OutputKind, OutputLogits, OutputProbabilities)
	}
	if io.Batch < 0 {
		return fmt.Errorf("metadata io: batch %d is negative", io.Batch)
	}
	return nil
}

// ErrSchema is wrapped by errors about missing or unsupported metadata.
var ErrSchema = errors.New("unsupported tagnet metadata")

// Metadata is what a tagnet model file says about itself beyond its graph.
type Metadata struct {
	// Schema is the metadata schema version, "major.minor".
	Schema string
	// Spec is the architecture the graph was built from.
	Spec Spec
	// Labels names the outputs, in order; len(Labels) == Spec.NumClasses.
	Labels []string
	// Preprocess is the JSON of the preprocess package's Spec: how an
	// image becomes the [3,H,W] input. It is kept as raw JSON here so that
	// this package stays free of image code; the preprocess package
	// decodes and validates it.
	Preprocess json.RawMessage
	// Training summarises how the weights were made; nil for a
	// random-initialised model.
	Training *Training
	// Sweep is the validation threshold sweep; nil when none was run.
	Sweep *Sweep
	// IO describes input and output of an adopted model; nil for models
	// tagnet built (input InputName, output OutputName, logits, dynamic
	// batch).
	IO *IO
	// LabelDelim separates labels in one text field, as the training CSV
	// did (data.label_delim): no label contains it, so labels joined with
	// it split back exactly. "" (models from before schema 1.2, adopted
	// models) means a space, which Validate does not check.
	LabelDelim string
}

// Delim returns m's label delimiter: LabelDelim, or a space.
func (m *Metadata) Delim() string {
	if m.LabelDelim == "" {
		return " "
	}
	return m.LabelDelim
}

// Training summarises a training run.
type Training struct {
	Arch     string   `json:"arch"`
	Epochs   int      `json:"epochs"`
	Schedule Schedule `json:"schedule,omitempty"`
	Dataset  string   `json:"dataset,omitempty"`
	Train    int      `json:"train_items,omitempty"`
	Valid    int      `json:"valid_items,omitempty"`
	Seed     uint64   `json:"seed,omitempty"`
	// Precision is the train.precision the weights were trained in:
	// "fp32" or "bf16-mixed" (the model itself is fp32 either way); ""
	// in models from before it was recorded.
	Precision Precision          `json:"precision,omitempty"`
	Finished  string             `json:"finished,omitempty"` // RFC 3339
	Metrics   map[string]float64 `json:"metrics,omitempty"`  // final validation metrics by name
	// BadItems counts the data set's items left out of training
	// (data.on_bad_item: skip): at load, and the distinct ones that failed
	// during training; BadItemList names them ("file.csv:12: name:
	// problem", or "path: error").
	BadItems    int      `json:"bad_items,omitempty"`
	BadItemList []string `json:"bad_item_list,omitempty"`
	// EarlyStopped is true when early stopping ended the run; the weights
	// are then those of BestEpoch (from 1), the epoch with the lowest
	// validation loss (fastai's SaveModelCallback).
	EarlyStopped bool `json:"early_stopped,omitempty"`
	BestEpoch    int  `json:"best_epoch,omitempty"`
}

// Sweep holds validation metrics over a grid of decision thresholds, per
// class and overall, so a predictor can choose per-class thresholds
// without retraining.
type Sweep struct {
	// Thresholds is the grid, strictly increasing, each in (0,1).
	Thresholds []float64 `json:"thresholds"`
	// Items is the number of validation items the sweep was computed on.
	Items int `json:"items"`
	// Classes has one entry per label, in output order.
	Classes []ClassSweep `json:"classes"`
	// AccuracyMulti is fastai's accuracy_multi (mean over all items and
	// classes of (p > t) == y) at each threshold.
	AccuracyMulti []float64 `json:"accuracy_multi"`
}

// ClassSweep is one class's metrics at each threshold of the grid. Slices
// are indexed like [Sweep.Thresholds]. Precision is 1 where nothing was
// predicted positive (no false positives); Recall is 0 where the class has
// no positives; F1 is 0 where precision + recall is 0.
type ClassSweep struct {
	Label   string `json:"label"`
	Support int    `json:"support"` // positives among the items
	// TrainSupport is the number of training items with the class; nil
	// when not recorded (models before schema 1.2). 0 means the class was
	// never trained: its sweep measures an untrained output.
	TrainSupport *int      `json:"train_support,omitempty"`
	Precision    []float64 `json:"precision"`
	Recall       []float64 `json:"recall"`
	F1           []float64 `json:"f1"`
	Accuracy     []float64 `json:"accuracy"`
}

// OneSided says when the class was seen on one side of the split only:
// "never trained (0 training items)" or "no validation positives", or ""
// when it was seen on both (or TrainSupport is not recorded and Support
// is positive).
func (c *ClassSweep) OneSided() string {
	if c.TrainSupport != nil && *c.TrainSupport == 0 {
		return fmt.Sprintf("never trained (0 training items, %d validation)", c.Support)
	}
	if c.Support == 0 {
		if c.TrainSupport != nil {
			return fmt.Sprintf("no validation positives (%d training items)", *c.TrainSupport)
		}
		return "no validation positives"
	}
	return ""
}

// Validate checks the sweep's shape and values against labels.
func (s *Sweep) Validate(labels []string) error {
	n := len(s.Thresholds)
	if n == 0 {
		return fmt.Errorf("sweep: no thresholds")
	}
	for i, t := range s.Thresholds {
		if !(t > 0 && t < 1) {
			return fmt.Errorf("sweep: threshold[%d] = %v is outside (0,1)", i, t)
		}
		if i > 0 && t <= s.Thresholds[i-1] {
			return fmt.Errorf("sweep: thresholds are not increasing at index %d", i)
		}
	}
	if len(s.AccuracyMulti) != n {
		return fmt.Errorf("sweep: accuracy_multi has %d values, want %d", len(s.AccuracyMulti), n)
	}
	if len(s.Classes) != len(labels) {
		return fmt.Errorf("sweep: %d classes, model has %d labels", len(s.Classes), len(labels))
	}
	for i, c := range s.Classes {
		if c.Label != labels[i] {
			return fmt.Errorf("sweep: class %d is %q, label %d is %q", i, c.Label, i, labels[i])
		}
		for name, v := range map[string][]float64{"precision": c.Precision, "recall": c.Recall, "f1": c.F1, "accuracy": c.Accuracy} {
			if len(v) != n {
				return fmt.Errorf("sweep: class %q %s has %d values, want %d", c.Label, name, len(v), n)
			}
			for j, x := range v {
				if !(x >= 0 && x <= 1) {
					return fmt.Errorf("sweep: class %q %s[%d] = %v is outside [0,1]", c.Label, name, j, x)
				}
			}
		}
	}
	return nil
}

// Grid returns n thresholds evenly spaced from start to stop inclusive, as
// numpy's linspace (the book's sweep is Grid(0.05, 0.95, 29)).
func Grid(start, stop float64, n int) []float64 {
	if n < 2 {
		return []float64{start}
	}
	g := make([]float64, n)
	step := (stop - start) / float64(n-1)
	for i := range g {
		g[i] = start + float64(i)*step
	}
	g[n-1] = stop
	return g
}

// Validate checks that the metadata is complete and consistent.
func (m *Metadata) Validate() error {
	if err := checkSchema(m.Schema); err != nil {
		return err
	}
	if m.IO != nil {
		if err := m.IO.validate(); err != nil {
			return err
		}
	}
	if m.IO != nil && m.IO.Adopted {
		if m.Spec.NumClasses < 1 || m.Spec.InputSize < 1 || m.Spec.Arch == "" {
			return fmt.Errorf("metadata spec: an adopted model needs arch, num_classes and input_size, got %+v", m.Spec)
		}
	} else if err := m.Spec.Validate(); err != nil {
		return fmt.Errorf("metadata spec: %w", err)
	}
	if len(m.Labels) != m.Spec.NumClasses {
		return fmt.Errorf("metadata: %d labels for %d classes", len(m.Labels), m.Spec.NumClasses)
	}
	seen := map[string]bool{}
	for i, l := range m.Labels {
		if strings.TrimSpace(l) == "" {
			return fmt.Errorf("metadata: label %d is empty", i)
		}
		if m.LabelDelim != "" && strings.Contains(l, m.LabelDelim) {
			return fmt.Errorf("metadata: label %q contains the label delimiter %q", l, m.LabelDelim)
		}
		if seen[l] {
			return fmt.Errorf("metadata: label %q appears twice", l)
		}
		seen[l] = true
	}
	if len(m.Preprocess) > 0 {
		var obj map[string]any
		if err := json.Unmarshal(m.Preprocess, &obj); err != nil {
			return fmt.Errorf("metadata: preprocess is not a JSON object: %w", err)
		}
	}
	if m.Sweep != nil {
		if err := m.Sweep.Validate(m.Labels); err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
	}
	return nil
}

func checkSchema(v string) error {
	if v == "" {
		return fmt.Errorf("%w: no %s entry (not a tagnet model?)", ErrSchema, KeySchema)
	}
	major, _, ok := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if !ok || err != nil {
		return fmt.Errorf("%w: schema version %q is not major.minor", ErrSchema, v)
	}
	want, _, _ := strings.Cut(SchemaVersion, ".")
	if strconv.Itoa(n) != want {
		return fmt.Errorf("%w: schema version %s, this build reads major version %s (upgrade tagnet)", ErrSchema, v, want)
	}
	return nil
}

// props encodes m as metadata_props entries.
func (m *Metadata) props() (map[string]string, error) {
	out := map[string]string{KeySchema: m.Schema}
	if out[KeySchema] == "" {
		out[KeySchema] = SchemaVersion
	}
	put := func(key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", key, err)
		}
		out[key] = string(b)
		return nil
	}
	spec := m.Spec.Normalized()
	if m.IO != nil && m.IO.Adopted {
		spec = m.Spec // stem, head and width mean nothing for a foreign graph
	}
	if err := put(KeySpec, spec); err != nil {
		return nil, err
	}
	if err := put(KeyLabels, m.Labels); err != nil {
		return nil, err
	}
	if len(m.Preprocess) > 0 {
		out[KeyPreprocess] = string(m.Preprocess)
	}
	if m.Training != nil {
		if err := put(KeyTraining, sanitizeMetrics(m.Training)); err != nil {
			return nil, err
		}
	}
	if m.Sweep != nil {
		if err := put(KeySweep, m.Sweep); err != nil {
			return nil, err
		}
	}
	if m.IO != nil {
		if err := put(KeyIO, m.IO); err != nil {
			return nil, err
		}
	}
	if m.LabelDelim != "" {
		if err := put(KeyLabelDelim, m.LabelDelim); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sanitizeMetrics drops non-finite metrics, which JSON cannot hold.
func sanitizeMetrics(t *Training) *Training {
	c := *t
	c.Metrics = map[string]float64{}
	for k, v := range t.Metrics {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			c.Metrics[k] = v
		}
	}
	return &c
}

// metadataFromProps decodes and validates metadata_props entries.
func metadataFromProps(props map[string]string) (*Metadata, error) {
	m := &Metadata{Schema: props[KeySchema]}
	if err := checkSchema(m.Schema); err != nil {
		return nil, err
	}
	get := func(key string, v any, required bool) error {
		s, ok := props[key]
		if !ok {
			if required {
				return fmt.Errorf("%w: missing %s", ErrSchema, key)
			}
			return nil
		}
		if err := json.Unmarshal([]byte(s), v); err != nil {
			return fmt.Errorf("decoding %s: %w", key, err)
		}
		return nil
	}
	if err := get(KeySpec, &m.Spec, true); err != nil {
		return nil, err
	}
	if err := get(KeyLabels, &m.Labels, true); err != nil {
		return nil, err
	}
	if s, ok := props[KeyPreprocess]; ok {
		m.Preprocess = json.RawMessage(s)
	}
	if _, ok := props[KeyTraining]; ok {
		m.Training = &Training{}
		if err := get(KeyTraining, m.Training, false); err != nil {
			return nil, err
		}
	}
	if _, ok := props[KeySweep]; ok {
		m.Sweep = &Sweep{}
		if err := get(KeySweep, m.Sweep, false); err != nil {
			return nil, err
		}
	}
	if _, ok := props[KeyIO]; ok {
		m.IO = &IO{}
		if err := get(KeyIO, m.IO, false); err != nil {
			return nil, err
		}
	}
	if err := get(KeyLabelDelim, &m.LabelDelim, false); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
