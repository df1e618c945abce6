package batch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// Format is the layout of a results file.
type Format string

// Output formats.
const (
	// CSV has a header row "file,labels,<one column per class>,error" and
	// one row per image; labels are joined with the model's
	// [LabelSeparator] (a single space unless a class name has one), so
	// the column splits back into exactly the labels written.
	CSV Format = "csv"
	// JSONL has one object per line: {"file": …, "labels": […],
	// "probabilities": {label: p, …}, "error": …}; probabilities is null
	// and error a string for a failed image, error is null otherwise.
	JSONL Format = "jsonl"
)

// FormatFor returns the format an output path asks for by its extension,
// case-insensitively: .csv for CSV, .jsonl or .ndjson for JSON lines. ""
// and "-" mean standard output, in JSON lines. Any other extension is an
// error wrapping ErrConfig.
func FormatFor(path string) (Format, error) {
	if path == "" || path == "-" {
		return JSONL, nil
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".csv":
		return CSV, nil
	case ".jsonl", ".ndjson":
		return JSONL, nil
	default:
		return "", fmt.Errorf("%w: output %s: unknown extension %q (want .csv, .jsonl or .ndjson, or - for standard output)", ErrConfig, path, ext)
	}
}

// labelSeparators are the candidates of LabelSeparator, in order.
var labelSeparators = []string{" ", ";", "|", "\t"}

// LabelSeparator returns the separator of the CSV labels column for a
// model with classes: a space, or, when a class name contains one (labels
// such as "traffic light", trained with data.label_delim ';'), the first
// of ";", "|" and a tab that no class name contains. Writer and reader
// derive it from the classes alone, so any label text round-trips. It
// returns "" when every candidate appears in some class name; CSV output
// is then refused (JSON lines hold any label).
func LabelSeparator(classes []string) string {
	for _, sep := range labelSeparators {
		if !slices.ContainsFunc(classes, func(c string) bool { return strings.Contains(c, sep) }) {
			return sep
		}
	}
	return ""
}

// Row is one line of results.
type Row struct {
	// File is the image's path as walked.
	File string
	// Labels are the classes present, in output order.
	Labels []string
	// Probabilities holds one probability per class, in output order; nil
	// for a failed image.
	Probabilities []float32
	// Err says why the image failed; "" when it did not.
	Err string
}

// Output writes result rows to a file or to standard output, flushing
// after every Write so that a crash leaves at most one torn last line.
type Output struct {
	format  Format
	classes []string
	file    *os.File // nil for standard output
	w       *bufio.Writer
	csv     *csv.Writer
	sep     string // LabelSeparator(classes), for CSV
	line    []byte // reused JSON line
	rec     []string
}

// OutputOptions configures OpenOutput.
type OutputOptions struct {
	// Path is the results file; "" or "-" means Stdout. Its extension
	// chooses the format (see FormatFor). Missing parent directories are
	// created.
	Path string
	// Classes are the model's labels, in output order.
	Classes []string
	// Resume keeps the rows already in Path and reports their files as
	// done. A torn last line (from a crash) is cut off first. Without
	// Resume an existing file is truncated. Either way Path's completion
	// record (see Completion) is removed before the file is changed.
	Resume bool
	// Stdout is where "" and "-" write; nil means os.Stdout.
	Stdout io.Writer
	// Logger receives a line about what resuming found. Nil means none.
	Logger *zap.Logger
}

// OpenOutput opens the results file and, when resuming, returns the set of
// files it already holds. Problems with the path, or an existing file that
// is not a results file of this model, are errors wrapping ErrConfig.
func OpenOutput(opt OutputOptions) (*Output, map[string]bool, error) {
	logger := opt.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	format, err := FormatFor(opt.Path)
	if err != nil {
		return nil, nil, err
	}
	o := &Output{format: format, classes: opt.Classes, sep: LabelSeparator(opt.Classes)}
	if format == CSV && o.sep == "" {
		return nil, nil, fmt.Errorf("%w: output %s: every labels-column separator (space, ';', '|', tab) appears in a class name, so CSV labels could not be split back; write .jsonl", ErrConfig, opt.Path)
	}
	if opt.Path == "" || opt.Path == "-" {
		if opt.Resume {
			return nil, nil, fmt.Errorf("%w: resuming needs an output file, not standard output", ErrConfig)
		}
		out := opt.Stdout
		if out == nil {
			out = os.Stdout
		}
		o.w = bufio.NewWriterSize(out, 64<<10)
		return o, map[string]bool{}, nil
	}

	if dir := filepath.Dir(opt.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("%w: output: %w", ErrConfig, err)
		}
	}
	flags := os.O_RDWR | os.O_CREATE
	if !opt.Resume {
		flags |= os.O_TRUNC
		// The file is about to be truncated: it stops being finished.
		if err := removeCompletion(opt.Path); err != nil {
			return nil, nil, fmt.Errorf("%w: output: %w", ErrConfig, err)
		}
	}
	f, err := os.OpenFile(opt.Path, flags, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: output: %w", ErrConfig, err)
	}
	o.file = f
	done := map[string]bool{}
	var keep int64
	if opt.Resume {
		var torn int64
		done, keep, torn, err = o.scan(f)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%w: resuming %s: %w", ErrConfig, opt.Path, err)
		}
		// From here on the file changes: it is finished again only when
		// this run writes a new completion record.
		if err := removeCompletion(opt.Path); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%w: output: %w", ErrConfig, err)
		}
		if err := f.Truncate(keep); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("resuming %s: %w", opt.Path, err)
		}
		if torn > 0 {
			logger.Warn("cut off a torn last line left by an interrupted run", zap.String("output", opt.Path), zap.Int64("bytes", torn))
		}
		logger.Info("resuming", zap.String("output", opt.Path), zap.Int("files_done", len(done)))
	}
	if _, err := f.Seek(keep, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("output %s: %w", opt.Path, err)
	}
	o.w = bufio.NewWriterSize(f, 64<<10)
	if format == CSV && keep == 0 {
		if err := o.writeCSV(o.header()); err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := o.flush(); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return o, done, nil
}

// header returns the CSV header row.
func (o *Output) header() []string { return csvHeader(o.classes) }

// Write writes rows and flushes them to the file.
func (o *Output) Write(rows []Row) error {
	for _, r := range rows {
		var err error
		if o.format == CSV {
			err = o.writeCSVRow(r)
		} else {
			err = o.writeJSONRow(r)
		}
		if err != nil {
			return err
		}
	}
	return o.flush()
}

func (o *Output) flush() error {
	if o.csv != nil {
		o.csv.Flush()
		if err := o.csv.Error(); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
	}
	if err := o.w.Flush(); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

// Close flushes, syncs and closes the file (standard output is only
// flushed).
func (o *Output) Close() error {
	err := o.flush()
	if o.file != nil {
		if serr := o.file.Sync(); serr != nil && err == nil {
			err = fmt.Errorf("syncing results: %w", serr)
		}
		if cerr := o.file.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing results: %w", cerr)
		}
	}
	return err
}

func (o *Output) writeCSV(rec []string) error {
	if o.csv == nil {
		o.csv = csv.NewWriter(o.w)
	}
	if err := o.csv.Write(rec); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

func (o *Output) writeCSVRow(r Row) error {
	rec := append(o.rec[:0], r.File, strings.Join(r.Labels, o.sep))
	for i := range o.classes {
		if i < len(r.Probabilities) {
			rec = append(rec, strconv.FormatFloat(float64(r.Probabilities[i]), 'g', -1, 32))
		} else {
			rec = append(rec, "")
		}
	}
	rec = append(rec, r.Err)
	o.rec = rec
	return o.writeCSV(rec)
}

// writeJSONRow writes one JSON line with probabilities in class order
// (encoding/json would sort map keys).
func (o *Output) writeJSONRow(r Row) error {
	b := append(o.line[:0], `{"file":`...)
	b = appendJSONString(b, r.File)
	b = append(b, `,"labels":[`...)
	for i, l := range r.Labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, l)
	}
	b = append(b, `],"probabilities":`...)
	if r.Probabilities == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, c := range o.classes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, c)
			b = append(b, ':')
			var p float64
			if i < len(r.Probabilities) {
				p = float64(r.Probabilities[i])
			}
			if math.IsNaN(p) || math.IsInf(p, 0) {
				b = append(b, "null"...)
			} else {
				b = strconv.AppendFloat(b, p, 'g', -1, 32)
			}
		}
		b = append(b, '}')
	}
	b = append(b, `,"error":`...)
	if r.Err == "" {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, r.Err)
	}
	b = append(b, "}\n"...)
	o.line = b
	if _, err := o.w.Write(b); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // a string always marshals
		return strconv.AppendQuote(b, s)
	}
	return append(b, q...)
}

// scan reads an existing results file with the row reader ReadResults
// uses: the files of its complete rows, the length of that part, and the
// length of the torn line after it. Anything else after the complete rows
// (a line that is not a row of this model) is an error naming it: the file
// is not this run's to cut.
func (o *Output) scan(f *os.File) (done map[string]bool, keep, torn int64, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, 0, err
	}
	size := fi.Size()
	done = map[string]bool{}
	var stop error // why reading rows stopped before the end
	rr, err := newRowReader(o.format, f, o.classes)
	switch {
	case err == nil:
		for {
			row, err := rr.next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					stop = err
				}
				break
			}
			done[row.File] = true
		}
		keep = rr.end
	case errors.Is(err, errNoHeader) || errors.Is(err, errTorn):
		// Nothing, or a header cut short: start again.
		stop = err
	default:
		return nil, 0, 0, err
	}
	// What follows the complete rows must be one torn line: no newline in
	// it (a newline would mean damage inside the file, not a crash).
	tail := make([]byte, size-keep)
	if _, err := f.ReadAt(tail, keep); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, 0, err
	}
	if bytes.IndexByte(tail, '\n') >= 0 {
		if stop == nil || errors.Is(stop, errTorn) {
			stop = errors.New("unreadable data")
		}
		return nil, 0, 0, fmt.Errorf("%w at byte %d, which is not a torn last line", stop, keep)
	}
	return done, keep, size - keep, nil
}
