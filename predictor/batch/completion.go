package batch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// CompletionSuffix is appended to a results file's path to name its
// completion record: results.csv → results.csv.done.json.
const CompletionSuffix = ".done.json"

// CompletionSchema is the version of the completion record's layout.
const CompletionSchema = 1

// Completion is the record a run leaves beside its results file when, and
// only when, it has written a row for every file of its shard. It is how a
// shard of a sharded run (an Indexed Job's pod) says that it finished, and
// what `tagnet-predict merge` checks before combining shards.
//
// The record's life follows the results file's:
//   - OpenOutput removes it before it changes the results file in any way
//     (truncating it, or cutting a torn line when resuming), so a run that
//     is killed (even with SIGKILL) or fails leaves no record;
//   - Predict writes it, atomically (a temporary file renamed over it and
//     the folder synced), after the results file is complete, flushed,
//     synced and closed;
//   - a resumed run that finds nothing left to do writes it again, so a
//     kill between the last row and the record is repaired by --resume.
//
// It holds the size and sha256 of the results file as written, so a
// results file changed afterwards no longer matches its record.
type Completion struct {
	// Schema is CompletionSchema.
	Schema int `json:"schema"`
	// Output is the base name of the results file.
	Output string `json:"output"`
	// Format is the results file's layout.
	Format Format `json:"format"`
	// Bytes and SHA256 (hex) describe the results file as it was finished.
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	// Rows is the number of result rows in the file (the CSV header not
	// counted), rows of earlier resumed runs included.
	Rows int `json:"rows"`
	// Files is the number of files in the shard when the run finished.
	Files int `json:"files"`
	// Shard is the part of the input this run predicted; Count 0 means the
	// run was not sharded.
	Shard CompletionShard `json:"shard"`
	// Model identifies the weights: the hex sha256 of the model file.
	Model string `json:"model_sha256"`
	// Labels are the model's classes, in output order, and Thresholds the
	// per-class thresholds the run used, in the same order.
	Labels     []string  `json:"labels"`
	Thresholds []float64 `json:"thresholds"`
	// Inputs are the directories (or files) the run walked, as given, and
	// Extensions and FollowSymlinks the walk's settings (WalkOptions).
	Inputs         []string `json:"inputs"`
	Extensions     []string `json:"extensions"`
	FollowSymlinks bool     `json:"follow_symlinks"`
	// Finished is when the record was written, in UTC.
	Finished time.Time `json:"finished"`
}

// CompletionShard is the shard of a Completion: Index of Count.
type CompletionShard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// CompletionPath returns the path of the completion record of the results
// file at output.
func CompletionPath(output string) string { return output + CompletionSuffix }

// ErrNotFinished is wrapped by ReadCompletion's error when a results file
// has no completion record: its run has not finished, or was killed.
var ErrNotFinished = errors.New("no completion record: the run that writes it has not finished")

// ReadCompletion reads the completion record of the results file at output
// and checks it against the file: its schema, its base name, and the
// file's size and sha256. A missing record is an error wrapping
// ErrNotFinished; a record that does not match is an error saying how.
func ReadCompletion(output string) (*Completion, error) {
	rec := CompletionPath(output)
	b, err := os.ReadFile(rec)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", output, ErrNotFinished)
	}
	if err != nil {
		return nil, fmt.Errorf("reading completion record: %w", err)
	}
	var c Completion
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("completion record %s: %w", rec, err)
	}
	if c.Schema != CompletionSchema {
		return nil, fmt.Errorf("completion record %s: schema %d, this version reads %d", rec, c.Schema, CompletionSchema)
	}
	if c.Output != filepath.Base(output) {
		return nil, fmt.Errorf("completion record %s is for %q, not %q", rec, c.Output, filepath.Base(output))
	}
	size, sum, err := fileDigest(output)
	if err != nil {
		return nil, fmt.Errorf("completion record %s: %w", rec, err)
	}
	if size != c.Bytes || sum != c.SHA256 {
		return nil, fmt.Errorf("%s changed after its run finished: %d bytes with sha256 %.12s…, the completion record says %d bytes with %.12s…",
			output, size, sum, c.Bytes, c.SHA256)
	}
	return &c, nil
}

// removeCompletion deletes the completion record of output, if any.
func removeCompletion(output string) error {
	if err := os.Remove(CompletionPath(output)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the completion record of %s: %w", output, err)
	}
	return nil
}

// writeCompletion fills in c's file fields from the finished results file
// at output and writes the record atomically.
func writeCompletion(output string, c Completion) error {
	size, sum, err := fileDigest(output)
	if err != nil {
		return fmt.Errorf("writing the completion record: %w", err)
	}
	c.Schema = CompletionSchema
	c.Output = filepath.Base(output)
	c.Bytes, c.SHA256 = size, sum
	c.Finished = time.Now().UTC().Truncate(time.Second)
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("writing the completion record: %w", err)
	}
	b = append(b, '\n')
	if err := writeFileAtomic(CompletionPath(output), b); err != nil {
		return fmt.Errorf("writing the completion record of %s: %w", output, err)
	}
	return nil
}

// fileDigest returns the size and hex sha256 of the file at path.
func fileDigest(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// writeFileAtomic writes b to path through a synced temporary file in the
// same folder renamed over it, then syncs the folder, so path holds either
// its old content or b, even after a crash.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
