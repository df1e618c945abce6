package batch

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Results reads a results file row by row with the reader ReadResults
// uses, holding one row at a time.
type Results struct {
	path string
	f    *os.File
	rr   *rowReader
}

// OpenResults opens the results file at path, written by Output for a
// model with the given classes, and reads its header (see ReadResults for
// what is refused).
func OpenResults(path string, classes []string) (*Results, error) {
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
	rr, err := newRowReader(format, f, classes)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading results %s: %w", path, err)
	}
	return &Results{path: path, f: f, rr: rr}, nil
}

// Next returns the next row, or io.EOF after the last. Other errors name
// the file and the line.
func (r *Results) Next() (Row, error) {
	row, err := r.rr.next()
	if err != nil && !errors.Is(err, io.EOF) {
		return Row{}, fmt.Errorf("reading results %s: %w", r.path, err)
	}
	return row, err
}

// Close closes the file.
func (r *Results) Close() error { return r.f.Close() }

// ResultsSummary is what one pass over a results file finds.
type ResultsSummary struct {
	// Rows is the number of rows; Failed of those with an error.
	Rows, Failed int
	// InOrder reports whether the rows are in the order Walk lists files,
	// as a run writes them (a run resumed after files were added to its
	// inputs may not be).
	InOrder bool
}

// SummarizeResults reads the results file at path once, holding one row
// at a time.
func SummarizeResults(path string, classes []string) (ResultsSummary, error) {
	r, err := OpenResults(path, classes)
	if err != nil {
		return ResultsSummary{}, err
	}
	defer r.Close()
	s := ResultsSummary{InOrder: true}
	prev := ""
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return ResultsSummary{}, err
		}
		if s.Rows > 0 && comparePaths(row.File, prev) < 0 {
			s.InOrder = false
		}
		prev = row.File
		s.Rows++
		if row.Err != "" {
			s.Failed++
		}
	}
}

// MergeInput is one results file to merge.
type MergeInput struct {
	Path string
	// InOrder says the file's rows are in Walk's order (see
	// SummarizeResults): it is then read as the merge goes; otherwise it is
	// read whole and sorted first.
	InOrder bool
}

// MergeRows calls fn with every row of the inputs in the order Walk lists
// files — the order one unsharded run writes — and the path of the input
// it came from. The inputs are read together, holding one row of each
// (inputs not InOrder are held whole), so merging the shards of a large
// run needs little memory. Rows of the same file in several inputs come
// one after the other, in the inputs' order. An input found out of order
// although marked InOrder is an error. MergeRows returns the first error
// of reading or of fn.
func MergeRows(inputs []MergeInput, classes []string, fn func(r Row, from string) error) error {
	h := &mergeHeap{}
	defer func() {
		for _, s := range h.srcs {
			s.close()
		}
	}()
	for i, in := range inputs {
		s := &mergeSource{path: in.Path, order: i}
		if in.InOrder {
			r, err := OpenResults(in.Path, classes)
			if err != nil {
				return err
			}
			s.file = r
		} else {
			rows, err := ReadResults(in.Path, classes)
			if err != nil {
				return err
			}
			SortRows(rows)
			s.rows = rows
		}
		ok, err := s.advance()
		if err != nil {
			s.close()
			return err
		}
		if ok {
			h.srcs = append(h.srcs, s)
		} else {
			s.close()
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		s := h.srcs[0]
		if err := fn(s.row, s.path); err != nil {
			return err
		}
		ok, err := s.advance()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			s.close()
			heap.Pop(h)
		}
	}
	return nil
}

// mergeSource is one input of MergeRows: a file read as it goes, or rows
// held sorted.
type mergeSource struct {
	path  string
	order int // the input's position, to break ties
	file  *Results
	rows  []Row
	row   Row // the current row
	n     int // rows taken so far
}

// advance moves to the next row; false at the end.
func (s *mergeSource) advance() (bool, error) {
	if s.file == nil {
		if len(s.rows) == 0 {
			return false, nil
		}
		s.row, s.rows = s.rows[0], s.rows[1:]
		s.n++
		return true, nil
	}
	prev := s.row.File
	row, err := s.file.Next()
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if s.n > 0 && comparePaths(row.File, prev) < 0 {
		return false, fmt.Errorf("merging %s: row %d (%s) comes before the row above it: not in path order", s.path, s.n+1, row.File)
	}
	s.row = row
	s.n++
	return true, nil
}

func (s *mergeSource) close() {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

// mergeHeap orders sources by their current row's path, then by input.
type mergeHeap struct{ srcs []*mergeSource }

func (h *mergeHeap) Len() int { return len(h.srcs) }
func (h *mergeHeap) Less(i, j int) bool {
	a, b := h.srcs[i], h.srcs[j]
	if c := comparePaths(a.row.File, b.row.File); c != 0 {
		return c < 0
	}
	return a.order < b.order
}
func (h *mergeHeap) Swap(i, j int) { h.srcs[i], h.srcs[j] = h.srcs[j], h.srcs[i] }
func (h *mergeHeap) Push(x any)    { h.srcs = append(h.srcs, x.(*mergeSource)) }
func (h *mergeHeap) Pop() any {
	s := h.srcs[len(h.srcs)-1]
	h.srcs = slices.Delete(h.srcs, len(h.srcs)-1, len(h.srcs))
	return s
}
