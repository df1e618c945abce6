package data

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/tagnet/tagnet/models"
	"github.com/tagnet/tagnet/preprocess"
)

// BadItemPolicy says what [LoadCSV] does with a bad row or image: the
// value set is models.BadItemPolicies (data.on_bad_item spells it the
// same).
type BadItemPolicy = models.BadItemPolicy

const (
	// Skip drops each bad item, describing it in the [Report].
	Skip = models.BadItemSkip
	// Fail makes loading return a [*LoadError] listing every problem.
	Fail = models.BadItemFail
)

// ParseBadItemPolicy parses "skip" or "fail".
func ParseBadItemPolicy(s string) (BadItemPolicy, error) {
	p := BadItemPolicy(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(models.BadItemPolicies(), p) {
		return p, nil
	}
	return "", fmt.Errorf("unknown bad-item policy %q (want one of %q)", s, models.BadItemPolicies())
}

// Defaults of [CSVOptions].
const (
	DefaultFnColumn    = "fname"
	DefaultLabelColumn = "labels"
	DefaultValidColumn = "is_valid"
	DefaultValidPct    = 0.2
)

// CSVOptions describe a multi-label data set in fastai's CSV layout.
type CSVOptions struct {
	// CSVPath is the labels CSV. It must be set. A relative path is read
	// from ImageDir when ImageDir is set, as fastai's from_csv(path,
	// csv_fname) and the book's path/'train.csv' do; only when no such
	// file exists there but the path exists as given (relative to the
	// working directory) is that one read.
	CSVPath string
	// ImageDir is the folder the file names are relative to. Empty means
	// the CSV's folder.
	ImageDir string
	// Prefix is a sub-folder of ImageDir holding the images (fastai's
	// ColReader pref, "train" for PASCAL 2007). Empty means none.
	Prefix string
	// FnColumn names the file-name column. Empty means "fname".
	FnColumn string
	// LabelColumn names the labels column. Empty means "labels".
	LabelColumn string
	// ValidColumn names the column that marks validation rows (True, False,
	// 1 or 0, in any case). Empty means "is_valid". When the header has no
	// such column, rows are split at random (see ValidPct).
	ValidColumn string
	// LabelDelim separates labels within the labels field. Empty means a
	// space. Empty tokens (from repeated delimiters) are ignored.
	LabelDelim string
	// Delimiter separates the CSV fields. Zero means a comma.
	Delimiter rune
	// ValidPct is the fraction of rows put in the validation set when the
	// CSV has no valid column, as fastai's RandomSplitter: int(ValidPct·rows)
	// rows chosen by a permutation seeded with Seed. Zero means 0.2;
	// negative means no validation rows. It must be below 1.
	ValidPct float64
	// Seed seeds the random split.
	Seed uint64
	// OnBadItem is the bad-item policy. Empty means Skip.
	OnBadItem BadItemPolicy
	// Labels, when set, fixes the vocabulary and its order (to fine-tune or
	// evaluate a model with known outputs): a row with any other label is a
	// bad item. Nil means the sorted set of labels of the kept rows.
	Labels []string
	// Limits bounds the images accepted, checked from their headers. The
	// zero value means the preprocess package's defaults (the predictor's:
	// preprocess.DefaultMaxPixels).
	Limits preprocess.Limits
	// Decode, when set, makes LoadCSV decode every usable image in full,
	// in parallel, with the options Decode returns for its split (pass the
	// loader's: [Augmenter.DecodeOptions], called with true for training
	// rows), so that a file damaged after its header (a cut JPEG scan, a
	// short PNG) is a bad item named at load instead of an item dropped
	// from some batches mid-training. Nil checks headers only.
	Decode func(train bool) preprocess.DecodeOptions
}

func (o CSVOptions) withDefaults() CSVOptions {
	o.CSVPath = o.resolveCSV()
	if o.ImageDir == "" {
		o.ImageDir = filepath.Dir(o.CSVPath)
	}
	if o.FnColumn == "" {
		o.FnColumn = DefaultFnColumn
	}
	if o.LabelColumn == "" {
		o.LabelColumn = DefaultLabelColumn
	}
	if o.ValidColumn == "" {
		o.ValidColumn = DefaultValidColumn
	}
	if o.LabelDelim == "" {
		o.LabelDelim = " "
	}
	if o.Delimiter == 0 {
		o.Delimiter = ','
	}
	if o.ValidPct == 0 {
		o.ValidPct = DefaultValidPct
	}
	if o.OnBadItem == "" {
		o.OnBadItem = Skip
	}
	return o
}

// resolveCSV returns CSVPath resolved as its documentation says.
func (o CSVOptions) resolveCSV() string {
	p := o.CSVPath
	if p == "" || o.ImageDir == "" || filepath.IsAbs(p) {
		return p
	}
	in := filepath.Join(o.ImageDir, p)
	if _, err := os.Stat(in); err != nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return in
}

func (o CSVOptions) validate() error {
	if o.CSVPath == "" {
		return errors.New("no labels CSV given")
	}
	if o.ValidPct >= 1 || o.ValidPct != o.ValidPct {
		return fmt.Errorf("valid fraction %v must be below 1", o.ValidPct)
	}
	if _, err := ParseBadItemPolicy(string(o.OnBadItem)); err != nil {
		return err
	}
	if o.Delimiter == '"' || o.Delimiter == '\r' || o.Delimiter == '\n' {
		return fmt.Errorf("CSV delimiter %q is not usable", o.Delimiter)
	}
	if o.Labels != nil {
		if len(o.Labels) == 0 {
			return errors.New("the given label vocabulary is empty")
		}
		seen := map[string]bool{}
		for i, l := range o.Labels {
			if strings.TrimSpace(l) == "" || l != strings.TrimSpace(l) {
				return fmt.Errorf("given label %d (%q) is empty or has surrounding spaces", i, l)
			}
			if seen[l] {
				return fmt.Errorf("given label %q appears twice", l)
			}
			seen[l] = true
		}
	}
	return nil
}

// Item is one image and its multi-hot targets.
type Item struct {
	// Path is the image file.
	Path string
	// Target has one value per label of the data set: 1 where the image
	// shows the label, else 0.
	Target []float32
	// Line is the item's line in the CSV, for messages.
	Line int
}

// Dataset is a loaded, split data set.
type Dataset struct {
	// Labels is the vocabulary, in output order.
	Labels []string
	// Train and Valid are the items of each split, in CSV order.
	Train, Valid []Item
	// TrainCounts and ValidCounts are, per label (in Labels order), the
	// number of items of each split that carry it.
	TrainCounts, ValidCounts []int
	// Report describes what was wrong with the data.
	Report Report
}

// Problem is one thing wrong with a row or its image.
type Problem struct {
	// CSV is the labels file.
	CSV string
	// Line is the 1-based line of the row in CSV.
	Line int
	// File is the item's file name as the CSV gives it; empty when the row
	// could not be read.
	File string
	// Msg says what is wrong.
	Msg string
}

// String formats p as "file.csv:12: 000005.jpg: message".
func (p Problem) String() string {
	if p.File == "" {
		return fmt.Sprintf("%s:%d: %s", p.CSV, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.CSV, p.Line, p.File, p.Msg)
}

// Report summarises a load: how many rows were read and kept, and what was
// wrong with the others.
type Report struct {
	// Rows is the number of data rows in the CSV (malformed ones included).
	Rows int
	// Skipped is the number of rows dropped, one per problem row.
	Skipped int
	// Problems describes each dropped row, in line order.
	Problems []Problem
	// Warnings describe usable but suspicious labels: a label seen in one
	// split only (it is never trained, or its threshold is swept on no
	// positives), and labels that differ only in case ("Circle",
	// "circle"), which become separate classes.
	Warnings []string
}

// ErrBadData is wrapped by a [*LoadError].
var ErrBadData = errors.New("bad data")

// LoadError is returned by [LoadCSV] under the fail policy when any row or
// image is bad. It lists every problem, not only the first.
type LoadError struct {
	CSV      string    // the labels file
	Problems []Problem // every problem, in line order
}

// Error lists every problem, one per line.
func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "loading %s: %d bad item(s):", e.CSV, len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns [ErrBadData].
func (e *LoadError) Unwrap() error { return ErrBadData }

// row is one data row of the CSV, as read.
type row struct {
	line    int
	fname   string
	labels  []string
	valid   bool
	path    string
	bad     string // the problem, "" when the row is usable
	missing bool   // the image file does not exist
}

// LoadCSV reads a multi-label data set in fastai's CSV layout: it parses
// every row, checks each image exists and has a readable header within
// opt.Limits, splits the rows and builds the vocabulary and multi-hot
// targets. Rows with no labels are kept (an image without objects is valid
// multi-label data).
//
// Each bad row (malformed CSV, wrong column count, bad is_valid value, empty
// file name, duplicate file, label outside a given vocabulary, missing or
// undecodable image) is one [Problem]. Under the skip policy the row is
// dropped and reported; under the fail policy LoadCSV returns a [*LoadError]
// listing them all. A missing header column, an unreadable CSV or a data set
// with no usable training row is an error under either policy.
func LoadCSV(opt CSVOptions) (*Dataset, error) {
	opt = opt.withDefaults()
	if err := opt.validate(); err != nil {
		return nil, fmt.Errorf("loading data: %w", err)
	}
	rows, hasValid, err := readRows(opt)
	if err != nil {
		return nil, err
	}
	name := opt.CSVPath

	if !hasValid {
		splitRows(rows, opt.ValidPct, opt.Seed)
	}
	checkRows(rows, opt)
	checkImages(rows, opt.Limits, opt.Decode)
	if err := folderHint(rows, opt); err != nil {
		return nil, err
	}

	ds := &Dataset{Report: Report{Rows: len(rows)}}
	for _, r := range rows {
		if r.bad != "" {
			ds.Report.Problems = append(ds.Report.Problems, Problem{CSV: name, Line: r.line, File: r.fname, Msg: r.bad})
		}
	}
	ds.Report.Skipped = len(ds.Report.Problems)
	if opt.OnBadItem == Fail && len(ds.Report.Problems) > 0 {
		return nil, &LoadError{CSV: name, Problems: ds.Report.Problems}
	}

	ds.Labels = opt.Labels
	if ds.Labels == nil {
		ds.Labels = vocabulary(rows)
	} else {
		ds.Labels = slices.Clone(ds.Labels)
	}
	index := make(map[string]int, len(ds.Labels))
	for i, l := range ds.Labels {
		index[l] = i
	}
	for _, r := range rows {
		if r.bad != "" {
			continue
		}
		it := Item{Path: r.path, Target: make([]float32, len(ds.Labels)), Line: r.line}
		for _, l := range r.labels {
			it.Target[index[l]] = 1
		}
		if r.valid {
			ds.Valid = append(ds.Valid, it)
		} else {
			ds.Train = append(ds.Train, it)
		}
	}
	if len(ds.Train) == 0 {
		msg := fmt.Sprintf("loading %s: no usable training items (%d rows, %d skipped)", name, len(rows), ds.Report.Skipped)
		if len(ds.Report.Problems) > 0 {
			msg += "; first problem: " + ds.Report.Problems[0].String()
		}
		return nil, errors.New(msg)
	}
	if len(ds.Labels) == 0 {
		return nil, fmt.Errorf("loading %s: no labels in any usable row", name)
	}
	ds.TrainCounts, ds.ValidCounts = counts(ds.Train, len(ds.Labels)), counts(ds.Valid, len(ds.Labels))
	ds.Report.Warnings = labelWarnings(ds)
	return ds, nil
}

// counts returns, per label, the number of items carrying it.
func counts(items []Item, n int) []int {
	c := make([]int, n)
	for _, it := range items {
		for j, v := range it.Target {
			if v != 0 {
				c[j]++
			}
		}
	}
	return c
}

// labelWarnings describes the labels of ds seen in one split only and the
// labels that differ only in case.
func labelWarnings(ds *Dataset) []string {
	var out []string
	for j, l := range ds.Labels {
		nt, nv := ds.TrainCounts[j], ds.ValidCounts[j]
		switch {
		case nt == 0 && nv == 0:
			out = append(out, fmt.Sprintf("label %q is on no usable item (0 training, 0 validation)", l))
		case nt == 0:
			out = append(out, fmt.Sprintf("label %q is only on validation items (0 training, %d validation): the model never learns it and its threshold is swept on an untrained class", l, nv))
		case nv == 0 && len(ds.Valid) > 0:
			out = append(out, fmt.Sprintf("label %q is only on training items (%d training, 0 validation): its threshold is swept on no positives", l, nt))
		}
	}
	byFold := map[string][]string{}
	var folds []string
	for _, l := range ds.Labels {
		k := strings.ToLower(l)
		if byFold[k] == nil {
			folds = append(folds, k)
		}
		byFold[k] = append(byFold[k], l)
	}
	for _, k := range folds {
		if ls := byFold[k]; len(ls) > 1 {
			q := make([]string, len(ls))
			for i, l := range ls {
				q[i] = fmt.Sprintf("%q", l)
			}
			out = append(out, fmt.Sprintf("labels %s differ only in case and are separate classes", strings.Join(q, ", ")))
		}
	}
	return out
}

// readRows parses the CSV. It reports whether the header has the valid
// column; each malformed row comes back as a bad row.
func readRows(opt CSVOptions) (rows []*row, hasValid bool, err error) {
	f, err := os.Open(opt.CSVPath)
	if err != nil {
		return nil, false, fmt.Errorf("opening labels CSV: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = opt.Delimiter
	r.FieldsPerRecord = -1

	header, err := r.Read()
	if err == io.EOF {
		return nil, false, fmt.Errorf("reading %s: empty file, no header", opt.CSVPath)
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s header: %w", opt.CSVPath, err)
	}
	cols := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // byte-order mark
		}
		h = strings.TrimSpace(h)
		if _, dup := cols[h]; !dup {
			cols[h] = i
		}
		header[i] = h
	}
	var missing []string
	for _, c := range []string{opt.FnColumn, opt.LabelColumn} {
		if _, ok := cols[c]; !ok {
			missing = append(missing, fmt.Sprintf("%q", c))
		}
	}
	if len(missing) > 0 {
		return nil, false, fmt.Errorf("reading %s: header has no %s column (it has %s)",
			opt.CSVPath, strings.Join(missing, " or "), strings.Join(header, ", "))
	}
	fnCol, labelCol := cols[opt.FnColumn], cols[opt.LabelColumn]
	validCol, hasValid := cols[opt.ValidColumn]

	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, false, fmt.Errorf("reading %s: %w", opt.CSVPath, err)
			}
			rows = append(rows, &row{line: pe.StartLine, bad: fmt.Sprintf("malformed CSV: %v", pe.Err)})
			continue
		}
		line, _ := r.FieldPos(0)
		rw := &row{line: line}
		rows = append(rows, rw)
		if len(rec) != len(header) {
			if fnCol < len(rec) {
				rw.fname = strings.TrimSpace(rec[fnCol])
			}
			rw.bad = fmt.Sprintf("has %d fields, the header has %d", len(rec), len(header))
			continue
		}
		rw.fname = strings.TrimSpace(rec[fnCol])
		if rw.fname == "" {
			rw.bad = "empty file name"
			continue
		}
		for _, tok := range strings.Split(rec[labelCol], opt.LabelDelim) {
			if tok = strings.TrimSpace(tok); tok != "" && !slices.Contains(rw.labels, tok) {
				rw.labels = append(rw.labels, tok)
			}
		}
		if hasValid {
			switch v := strings.ToLower(strings.TrimSpace(rec[validCol])); v {
			case "true", "1":
				rw.valid = true
			case "false", "0":
			default:
				rw.bad = fmt.Sprintf("bad %s value %q (want True, False, 1 or 0)", opt.ValidColumn, rec[validCol])
			}
		}
	}
	return rows, hasValid, nil
}

// checkRows marks duplicate files and labels outside a given vocabulary,
// and sets each row's image path.
func checkRows(rows []*row, opt CSVOptions) {
	var vocab map[string]bool
	if opt.Labels != nil {
		vocab = map[string]bool{}
		for _, l := range opt.Labels {
			vocab[l] = true
		}
	}
	first := map[string]int{}
	for _, r := range rows {
		if r.bad != "" {
			continue
		}
		r.path = filepath.Join(opt.ImageDir, opt.Prefix, filepath.FromSlash(r.fname))
		key := filepath.Clean(r.path)
		if line, dup := first[key]; dup {
			r.bad = fmt.Sprintf("duplicate row, the file is already listed on line %d", line)
			continue
		}
		first[key] = r.line
		if vocab != nil {
			var unknown []string
			for _, l := range r.labels {
				if !vocab[l] {
					unknown = append(unknown, fmt.Sprintf("%q", l))
				}
			}
			if len(unknown) > 0 {
				r.bad = fmt.Sprintf("label %s not in the given vocabulary", strings.Join(unknown, ", "))
			}
		}
	}
}

// checkImages reads the header of each usable row's image, in parallel, and
// marks the rows whose image is missing, unreadable, of a format tagnet
// does not read, or over the pixel limit (the predictor's: the same
// preprocess default unless limits says otherwise). With decode, each image
// that passes is then decoded in full with decode's options for its split.
func checkImages(rows []*row, limits preprocess.Limits, decode func(train bool) preprocess.DecodeOptions) {
	todo := make(chan *row)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for r := range todo {
				r.bad, r.missing = checkImage(r.path, limits)
				if r.bad == "" && decode != nil {
					if _, err := preprocess.DecodeFile(r.path, decode(!r.valid)); err != nil {
						r.bad = fmt.Sprintf("cannot decode image %s: %v", r.path, err)
					}
				}
			}
		})
	}
	for _, r := range rows {
		if r.bad == "" {
			todo <- r
		}
	}
	close(todo)
	wg.Wait()
}

// checkImage returns what is wrong with the image at path, or "", and
// whether the file does not exist.
func checkImage(path string, limits preprocess.Limits) (string, bool) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("image %s not found", path), true
	}
	if err != nil {
		return fmt.Sprintf("cannot open image: %v", err), false
	}
	if st.IsDir() {
		return fmt.Sprintf("%s is a folder, not an image", path), false
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("cannot open image: %v", err), false
	}
	defer f.Close()
	data, err := preprocess.ReadAll(f, limits)
	if err != nil {
		return fmt.Sprintf("image %s: %v", path, err), false
	}
	cfg, err := preprocess.DecodeConfig(data, limits)
	var le *preprocess.LimitError
	if errors.As(err, &le) {
		return fmt.Sprintf("image %s has %dx%d pixels, over the limit of %d", path, cfg.Width, cfg.Height, le.Limit), false
	}
	if err != nil {
		return fmt.Sprintf("cannot decode image header of %s: %v", path, err), false
	}
	return "", false
}

// folderHint, when no listed image exists but the first one does exist in a
// sub-folder of the image folder, returns an error saying to set
// data.folder to it; else nil.
func folderHint(rows []*row, opt CSVOptions) error {
	var first *row
	for _, r := range rows {
		if r.path == "" {
			continue // malformed, no file name
		}
		if !r.missing {
			return nil
		}
		if first == nil {
			first = r
		}
	}
	if first == nil {
		return nil
	}
	base := filepath.Join(opt.ImageDir, opt.Prefix)
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(base, e.Name(), filepath.FromSlash(first.fname))); err == nil {
			folder := e.Name()
			if opt.Prefix != "" {
				folder = filepath.Join(opt.Prefix, folder)
			}
			return fmt.Errorf("loading %s: none of the listed images is in %s, but %s is in its sub-folder %s: set --data.folder %s (data.folder)",
				opt.CSVPath, base, first.fname, e.Name(), folder)
		}
	}
	return nil
}

// splitRows marks int(pct·len(rows)) rows, chosen by a seeded permutation,
// as validation rows. Malformed rows take part, so a broken row does not
// move the others between splits.
func splitRows(rows []*row, pct float64, seed uint64) {
	if pct <= 0 {
		return
	}
	nValid := int(pct * float64(len(rows)))
	perm := newRand(seed, streamSplit).Perm(len(rows))
	for _, i := range perm[:nValid] {
		rows[i].valid = true
	}
}

// vocabulary returns the sorted labels of the usable rows.
func vocabulary(rows []*row) []string {
	set := map[string]bool{}
	for _, r := range rows {
		if r.bad == "" {
			for _, l := range r.labels {
				set[l] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for l := range set {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}
