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
// error naming the file and the line.
func ReadResults(path string, classes []string) ([]Row, error) {
	format, err := FormatFor(path)
	if err != nil {
		return nil, err
	}
	if path == "" || path == "-" {
		return nil, fmt.Errorf("%w: reading results needs a file, not standard output", ErrConfig)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	}
	defer f.Close()
	// A torn last line can parse as a shorter row: refuse it up front.
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	} else if size := fi.Size(); size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			return nil, fmt.Errorf("reading results: %w", err)
		}
		if last[0] != '\n' {
			return nil, fmt.Errorf("reading results %s: the last line is torn (no end of line)", path)
		}
	}
	var rows []Row
	if format == CSV {
		rows, err = readCSVRows(f, classes)
	} else {
		rows, err = readJSONRows(f, classes)
	}
	if err != nil {
		return nil, fmt.Errorf("reading results %s: %w", path, err)
	}
	return rows, nil
}

func readCSVRows(r io.Reader, classes []string) ([]Row, error) {
	cr := csv.NewReader(bufio.NewReaderSize(r, 64<<10))
	cr.FieldsPerRecord = -1
	header := slices.Concat([]string{"file", "labels"}, classes, []string{"error"})
	var rows []Row
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			if n == 1 {
				return nil, errors.New("empty file: no header row")
			}
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		if n == 1 {
			if !slices.Equal(rec, header) {
				return nil, fmt.Errorf("the header is %q, this model writes %q", rec, header)
			}
			continue
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("row %d has %d columns, the header %d", n, len(rec), len(header))
		}
		row := Row{File: rec[0], Labels: splitLabels(rec[1], LabelSeparator(classes)), Err: rec[len(rec)-1]}
		probs := rec[2 : 2+len(classes)]
		if row.Err == "" || slices.ContainsFunc(probs, func(s string) bool { return s != "" }) {
			row.Probabilities = make([]float32, len(classes))
			for i, s := range probs {
				p, err := strconv.ParseFloat(s, 32)
				if err != nil {
					return nil, fmt.Errorf("row %d, column %s: %q is not a probability", n, classes[i], s)
				}
				row.Probabilities[i] = float32(p)
			}
		}
		rows = append(rows, row)
	}
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

func readJSONRows(r io.Reader, classes []string) ([]Row, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var rows []Row
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		if line[len(line)-1] != '\n' {
			return nil, fmt.Errorf("line %d is torn (no end of line)", n)
		}
		var jr jsonResult
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		dec.UseNumber()
		if err := dec.Decode(&jr); err != nil || jr.File == nil || jr.Labels == nil {
			return nil, fmt.Errorf("line %d is not a result row", n)
		}
		row := Row{File: *jr.File, Labels: jr.Labels}
		if jr.Error != nil {
			row.Err = *jr.Error
		}
		if jr.Probabilities != nil {
			if len(jr.Probabilities) != len(classes) {
				return nil, fmt.Errorf("line %d has %d probabilities, this model has %d classes", n, len(jr.Probabilities), len(classes))
			}
			row.Probabilities = make([]float32, len(classes))
			for i, c := range classes {
				num, ok := jr.Probabilities[c]
				switch {
				case !ok:
					return nil, fmt.Errorf("line %d has no probability for class %q", n, c)
				case num == nil:
					row.Probabilities[i] = float32(math.NaN())
				default:
					p, err := strconv.ParseFloat(num.String(), 32)
					if err != nil {
						return nil, fmt.Errorf("line %d, class %s: %q is not a probability", n, c, num.String())
					}
					row.Probabilities[i] = float32(p)
				}
			}
		}
		rows = append(rows, row)
	}
}

// SortRows sorts rows by File in the order Walk lists files (byte order of
// the paths), so rows gathered from the shards of a run come out as the
// unsharded run writes them.
func SortRows(rows []Row) {
	slices.SortStableFunc(rows, func(a, b Row) int { return comparePaths(a.File, b.File) })
}
