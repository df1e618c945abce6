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
	"slices"
	"strconv"
	"strings"
)

// ReadResults reads every row of a complete results file written by Output
// for a model with the given classes (in output order): CSV or JSON lines
// by the path's extension (see FormatFor). Probabilities come back exactly
// as written (float32, shortest form); a JSON null probability reads as
// NaN. Anything that is not a row of this model (a wrong header, a wrong
// number of columns, unknown or missing classes, a torn last line) is an
// error naming the file and the line. Resuming (OpenOutput) reads a file
// with the same row reader, so what it keeps is what ReadResults reads.
func ReadResults(path string, classes []string) ([]Row, error) {
	r, err := OpenResults(path, classes)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var rows []Row
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
}

// errTorn is a last line without its end of line: what a crash in the
// middle of writing a row leaves.
var errTorn = errors.New("torn (no end of line)")

// errNoHeader is an empty CSV results file.
var errNoHeader = errors.New("empty file: no header row")

// rowReader reads the rows of a results file one at a time: the one parser
// of the formats Output writes, used by ReadResults and by resuming.
type rowReader struct {
	classes []string
	size    int64 // the file's size in bytes
	newline bool  // whether the file ends with an end of line
	line    int   // the line (JSONL) or record (CSV) last read, from 1
	end     int64 // the byte offset just after the last row returned
	csv     *csv.Reader
	sep     string // CSV labels separator
	jsonl   *bufio.Reader
}

// newRowReader starts reading the results file f from its current offset,
// which must be its start: for CSV it reads and checks the header (an
// empty file has none: an error).
func newRowReader(format Format, f *os.File, classes []string) (*rowReader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	rr := &rowReader{classes: classes, size: fi.Size()}
	if rr.size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, rr.size-1); err != nil {
			return nil, err
		}
		rr.newline = last[0] == '\n'
	}
	if format != CSV {
		rr.jsonl = bufio.NewReaderSize(f, 64<<10)
		return rr, nil
	}
	rr.csv = csv.NewReader(bufio.NewReaderSize(f, 64<<10))
	rr.csv.FieldsPerRecord = -1
	rr.sep = LabelSeparator(classes)
	rec, err := rr.readCSV()
	if errors.Is(err, io.EOF) {
		return nil, errNoHeader
	}
	if err != nil {
		return nil, err
	}
	if header := csvHeader(classes); !slices.Equal(rec, header) {
		return nil, fmt.Errorf("the header is %q, this model writes %q", rec, header)
	}
	rr.end = rr.csv.InputOffset()
	return rr, nil
}

// csvHeader is the CSV header row for classes.
func csvHeader(classes []string) []string {
	return slices.Concat([]string{"file", "labels"}, classes, []string{"error"})
}

// next returns the next row; io.EOF after the last. An error names the
// line; a torn last line is an error wrapping errTorn.
func (rr *rowReader) next() (Row, error) {
	if rr.csv != nil {
		return rr.nextCSV()
	}
	return rr.nextJSON()
}

// readCSV reads one record; a record that ends the file without an end of
// line is torn.
func (rr *rowReader) readCSV() ([]string, error) {
	rr.line++
	rec, err := rr.csv.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if rr.csv.InputOffset() >= rr.size {
			// A quoted field cut by the end of the file.
			return nil, fmt.Errorf("row %d is %w", rr.line, errTorn)
		}
		return nil, fmt.Errorf("row %d: %w", rr.line, err)
	}
	if rr.csv.InputOffset() == rr.size && !rr.newline {
		return nil, fmt.Errorf("row %d is %w", rr.line, errTorn)
	}
	return rec, nil
}

func (rr *rowReader) nextCSV() (Row, error) {
	rec, err := rr.readCSV()
	if err != nil {
		return Row{}, err
	}
	n, classes := rr.line, rr.classes
	if want := len(classes) + 3; len(rec) != want {
		return Row{}, fmt.Errorf("row %d has %d columns, the header %d", n, len(rec), want)
	}
	row := Row{File: rec[0], Labels: splitLabels(rec[1], rr.sep), Err: rec[len(rec)-1]}
	probs := rec[2 : 2+len(classes)]
	if row.Err == "" || slices.ContainsFunc(probs, func(s string) bool { return s != "" }) {
		row.Probabilities = make([]float32, len(classes))
		for i, s := range probs {
			p, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return Row{}, fmt.Errorf("row %d, column %s: %q is not a probability", n, classes[i], s)
			}
			row.Probabilities[i] = float32(p)
		}
	}
	rr.end = rr.csv.InputOffset()
	return row, nil
}

// splitLabels splits the CSV labels column at sep; "" is no label.
func splitLabels(s, sep string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, sep)
}

// jsonResult is one JSON line as Output writes it.
type jsonResult struct {
	File          *string                 `json:"file"`
	Labels        []string                `json:"labels"`
	Probabilities map[string]*json.Number `json:"probabilities"`
	Error         *string                 `json:"error"`
}

func (rr *rowReader) nextJSON() (Row, error) {
	rr.line++
	n, classes := rr.line, rr.classes
	line, err := rr.jsonl.ReadBytes('\n')
	if len(line) == 0 && errors.Is(err, io.EOF) {
		return Row{}, io.EOF
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return Row{}, err
	}
	if line[len(line)-1] != '\n' {
		return Row{}, fmt.Errorf("line %d is %w", n, errTorn)
	}
	var jr jsonResult
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&jr); err != nil || jr.File == nil || jr.Labels == nil || dec.More() {
		return Row{}, fmt.Errorf("line %d is not a result row", n)
	}
	row := Row{File: *jr.File, Labels: jr.Labels}
	if jr.Error != nil {
		row.Err = *jr.Error
	}
	if jr.Probabilities != nil {
		if len(jr.Probabilities) != len(classes) {
			return Row{}, fmt.Errorf("line %d has %d probabilities, this model has %d classes", n, len(jr.Probabilities), len(classes))
		}
		row.Probabilities = make([]float32, len(classes))
		for i, c := range classes {
			num, ok := jr.Probabilities[c]
			switch {
			case !ok:
				return Row{}, fmt.Errorf("line %d has no probability for class %q", n, c)
			case num == nil:
				row.Probabilities[i] = float32(math.NaN())
			default:
				p, err := strconv.ParseFloat(num.String(), 32)
				if err != nil {
					return Row{}, fmt.Errorf("line %d, class %s: %q is not a probability", n, c, num.String())
				}
				row.Probabilities[i] = float32(p)
			}
		}
	}
	rr.end += int64(len(line))
	return row, nil
}

// SortRows sorts rows by File in the order Walk lists files (byte order of
// the paths), so rows gathered from the shards of a run come out as the
// unsharded run writes them.
func SortRows(rows []Row) {
	slices.SortStableFunc(rows, func(a, b Row) int { return comparePaths(a.File, b.File) })
}
