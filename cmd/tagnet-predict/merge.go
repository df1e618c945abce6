package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/predictor/batch"
)

// maxListed is how many duplicate files a refused merge names.
const maxListed = 10

func mergeCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "merge [flags] SHARD_OUTPUT...",
		Short: "Combine the results files of the shards of a run into one, sorted by path",
		Long: `Combine the results files written by the shards of one sharded run
(predict --shard i/n, or auto/n in a Kubernetes Indexed Job) into one file
sorted by path, exactly as one unsharded run would have written it. The
shard files may be CSV or JSON lines; the output's extension chooses its
format (.csv, .jsonl or .ndjson; - for JSON lines on standard output).

Each shard's run leaves a completion record beside its results file
(FILE.done.json) once it has a row for every file of its shard; a path to a
record stands for its results file. Nothing is written, and every reason is
named, when a shard is missing or given twice, a shard's run did not finish
(no record, or a results file changed since), a file was predicted twice, or
the shards were made with different models, thresholds, inputs, walk
settings (extensions, symbolic links) or shard counts. The output is written to a temporary file and renamed into place.

Exit status: 0 merged (rows of files that failed are merged like the others
and counted on standard error; predict already reported them); 1 writing the
output failed; 2 nothing merged: a usage error or shards that cannot be
merged.`,
		Example: `  tagnet-predict merge -o results.jsonl out/part-0.jsonl out/part-1.jsonl out/part-2.jsonl
  tagnet-predict merge -o results.csv out/part-*.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd) // the log section only
			if err != nil {
				return err
			}
			logger, err := newLogger(cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer func() { _ = logger.Sync() }()
			if len(args) == 0 {
				return usage(errors.New("merge: give the results file of every shard"))
			}
			m, err := mergeShards(args, output)
			if err != nil {
				return usage(err)
			}
			if err := m.write(output, cmd.OutOrStdout()); err != nil {
				return failed(err)
			}
			where := output
			if where == "" || where == "-" {
				where = "standard output"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "merged %d shard(s) of %d: %d rows (%d failed) into %s\n",
				len(m.shards), max(m.count, 1), m.rows, m.failed, where)
			logger.Info("merge finished", zap.Int("shards", len(m.shards)), zap.Int("shard_count", max(m.count, 1)),
				zap.Int("rows", m.rows), zap.Int("failed", m.failed), zap.String("output", where))
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "-", "merged results file: .csv, .jsonl, or - for standard output")
	return cmd
}

// shardFile is one shard's results file and its completion record.
type shardFile struct {
	path string
	rec  *batch.Completion
}

// merged is a checked set of shards, ready to be merged.
type merged struct {
	shards []shardFile
	inputs []batch.MergeInput
	count  int // the shards' common shard count; 0 for an unsharded run
	labels []string
	rows   int // rows in all
	failed int // rows of files that failed
}

// mergeShards reads and checks the shards' results files (paths as given,
// a completion record standing for its results file) for merging into
// output. Every problem found is in the one error returned.
func mergeShards(paths []string, output string) (*merged, error) {
	if _, err := batch.FormatFor(output); err != nil {
		return nil, err
	}
	var files []string
	for _, p := range paths {
		p = filepath.Clean(strings.TrimSuffix(p, batch.CompletionSuffix))
		if !slices.Contains(files, p) {
			files = append(files, p)
		}
	}
	if output != "" && output != "-" && slices.Contains(files, filepath.Clean(output)) {
		return nil, fmt.Errorf("merge: the output %s is one of the shards", output)
	}

	var problems []error
	m := &merged{}
	for _, p := range files {
		rec, err := batch.ReadCompletion(p)
		if err != nil {
			if _, serr := os.Stat(p); errors.Is(serr, fs.ErrNotExist) {
				err = fmt.Errorf("%s does not exist: its shard has not run, or the path is wrong", p)
			} else if serr != nil {
				err = serr
			} else if errors.Is(err, batch.ErrNotFinished) {
				err = fmt.Errorf("%s: its run did not finish (no completion record %s): run the shard again with --resume", p, batch.CompletionPath(p))
			}
			problems = append(problems, err)
			continue
		}
		m.shards = append(m.shards, shardFile{path: p, rec: rec})
	}
	if len(m.shards) == 0 {
		return nil, errors.Join(problems...)
	}

	// Every shard must come from the same run as the first one.
	first := m.shards[0]
	m.count, m.labels = first.rec.Shard.Count, first.rec.Labels
	for _, s := range m.shards[1:] {
		a, b := first.rec, s.rec
		differ := func(what, x, y string) {
			problems = append(problems, fmt.Errorf("%s was made with %s %s, %s with %s", s.path, what, y, first.path, x))
		}
		switch {
		case a.Model != b.Model:
			differ("the model", short(a.Model), short(b.Model))
		case !slices.Equal(a.Labels, b.Labels):
			differ("the classes", fmt.Sprint(a.Labels), fmt.Sprint(b.Labels))
		case !slices.Equal(a.Thresholds, b.Thresholds):
			differ("the thresholds", fmt.Sprint(a.Thresholds), fmt.Sprint(b.Thresholds))
		}
		if a.Shard.Count != b.Shard.Count {
			differ("the shard count", shardCount(a.Shard.Count), shardCount(b.Shard.Count))
		}
		if !slices.Equal(a.Inputs, b.Inputs) {
			differ("the inputs", fmt.Sprintf("%q", a.Inputs), fmt.Sprintf("%q", b.Inputs))
		}
		if !slices.Equal(a.Extensions, b.Extensions) || a.FollowSymlinks != b.FollowSymlinks {
			differ("the walk settings", walkSettings(a), walkSettings(b))
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}

	// Exactly one results file per shard.
	n := max(m.count, 1)
	byIndex := make([][]string, n)
	for _, s := range m.shards {
		i := s.rec.Shard.Index
		if i < 0 || i >= n {
			problems = append(problems, fmt.Errorf("%s: its completion record names shard %d of %d", s.path, i, n))
			continue
		}
		byIndex[i] = append(byIndex[i], s.path)
	}
	for i, ps := range byIndex {
		switch {
		case len(ps) == 0:
			problems = append(problems, fmt.Errorf("shard %d/%d is missing: none of the files given is its results file", i, n))
		case len(ps) > 1:
			problems = append(problems, fmt.Errorf("shard %d/%d is given %d times: %s", i, n, len(ps), strings.Join(ps, ", ")))
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}

	// Every file exactly once. The shards are read as they are merged,
	// one row of each at a time (a run of millions of files merges in
	// little memory): once here to check, once more to write.
	for _, s := range m.shards {
		sum, err := batch.SummarizeResults(s.path, m.labels)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if sum.Rows != s.rec.Rows {
			problems = append(problems, fmt.Errorf("%s has %d rows, its completion record says %d", s.path, sum.Rows, s.rec.Rows))
		}
		m.inputs = append(m.inputs, batch.MergeInput{Path: s.path, InOrder: sum.InOrder})
		m.rows += sum.Rows
		m.failed += sum.Failed
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	var dups []string
	prev, prevFrom := "", ""
	err := batch.MergeRows(m.inputs, m.labels, func(r batch.Row, from string) error {
		if r.File == prev && prevFrom != "" {
			dups = append(dups, fmt.Sprintf("%s (in %s and %s)", r.File, prevFrom, from))
		}
		prev, prevFrom = r.File, from
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(dups) > 0 {
		more := ""
		if len(dups) > maxListed {
			more = fmt.Sprintf(", and %d more", len(dups)-maxListed)
			dups = dups[:maxListed]
		}
		return nil, fmt.Errorf("%d file(s) predicted more than once: %s%s", len(dups), strings.Join(dups, "; "), more)
	}
	return m, nil
}

// walkSettings describes the walk of a shard's run.
func walkSettings(c *batch.Completion) string {
	return fmt.Sprintf("extensions %q, follow_symlinks %t", c.Extensions, c.FollowSymlinks)
}

// short abbreviates a model's sha256 as its version.
func short(sha string) string { return sha[:min(len(sha), 12)] }

func shardCount(n int) string {
	if n == 0 {
		return "no sharding"
	}
	return fmt.Sprint(n, " shards")
}

// write writes the merged rows to output (standard output for "" or "-")
// through a temporary file renamed into place.
func (m *merged) write(output string, stdout io.Writer) error {
	opt := batch.OutputOptions{Classes: m.labels}
	toFile := output != "" && output != "-"
	tmp := output
	if toFile {
		// Same folder and extension, so the rename stays on one file system
		// and the format is the output's.
		ext := filepath.Ext(output)
		tmp = filepath.Join(filepath.Dir(output), "."+strings.TrimSuffix(filepath.Base(output), ext)+".merging"+ext)
		opt.Path = tmp
	} else {
		opt.Stdout = stdout
	}
	out, _, err := batch.OpenOutput(opt)
	if err != nil {
		return err
	}
	// Rows go out in chunks: Output.Write flushes each call.
	const chunk = 1024
	rows := make([]batch.Row, 0, chunk)
	err = batch.MergeRows(m.inputs, m.labels, func(r batch.Row, _ string) error {
		if rows = append(rows, r); len(rows) < chunk {
			return nil
		}
		err := out.Write(rows)
		rows = rows[:0]
		return err
	})
	if err == nil {
		err = out.Write(rows)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && toFile {
		err = os.Rename(tmp, output)
	}
	if err == nil && toFile {
		// A record left by a predict run that wrote this path once is
		// not the merged file's.
		if rerr := os.Remove(batch.CompletionPath(output)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}
	if err != nil && toFile {
		_ = os.Remove(tmp)
	}
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	return nil
}
