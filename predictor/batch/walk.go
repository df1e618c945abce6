package batch

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// File is one input of a batch run.
type File struct {
	// Path is the file's path as walked: its root joined with Rel. It is
	// the file column of the output and the key --resume matches.
	Path string
	// Rel is the slash-separated path relative to its root (the base name
	// for a root that is a file). It decides the file's shard, so shards do
	// not depend on where the tree is mounted.
	Rel string
	// Err is set when the walk could not read this path (an unreadable
	// directory, a dangling link); the run reports it as a failed row.
	Err error
}

// WalkOptions configures Walk.
type WalkOptions struct {
	// Extensions lists the extensions taken as images, with their dot,
	// compared case-insensitively. Empty means every regular file.
	Extensions []string
	// FollowSymlinks follows symbolic links to files and directories.
	// False skips them (roots given on the command line are always
	// followed). A directory reached twice, as through a link loop, is
	// walked once.
	FollowSymlinks bool
	// Logger receives a line for each path skipped. Nil means none.
	Logger *zap.Logger
}

// Walk lists the image files under roots, each a directory walked
// recursively or a single file, sorted by Path with duplicates removed. A
// root that does not exist is an error wrapping ErrConfig; a directory or
// link that cannot be read inside a root is reported as a File with Err
// set, and the walk goes on.
func Walk(roots []string, opt WalkOptions) ([]File, error) {
	logger := opt.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	w := &walker{opt: opt, logger: logger, visited: map[string]bool{}, exts: map[string]bool{}}
	for _, e := range opt.Extensions {
		w.exts[strings.ToLower(e)] = true
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("%w: no input directories", ErrConfig)
	}
	for _, root := range roots {
		fi, err := os.Stat(root)
		if err != nil {
			return nil, fmt.Errorf("%w: input %w", ErrConfig, err)
		}
		if !fi.IsDir() {
			if fi.Mode().IsRegular() {
				w.files = append(w.files, File{Path: root, Rel: filepath.Base(root)})
			} else {
				return nil, fmt.Errorf("%w: input %s is neither a directory nor a regular file", ErrConfig, root)
			}
			continue
		}
		w.dir(root, root)
	}
	slices.SortFunc(w.files, func(a, b File) int { return comparePaths(a.Path, b.Path) })
	w.files = slices.CompactFunc(w.files, func(a, b File) bool { return a.Path == b.Path })
	return w.files, nil
}

type walker struct {
	opt     WalkOptions
	logger  *zap.Logger
	exts    map[string]bool
	visited map[string]bool // real paths of directories walked
	files   []File
}

func (w *walker) wanted(name string) bool {
	return len(w.exts) == 0 || w.exts[strings.ToLower(filepath.Ext(name))]
}

func (w *walker) rel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		r = path
	}
	return filepath.ToSlash(r)
}

// dir walks the directory path under root, entries in name order.
func (w *walker) dir(root, path string) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		w.fail(root, path, err)
		return
	}
	if w.visited[real] {
		w.logger.Debug("directory already walked, skipping", zap.String("path", path), zap.String("real_path", real))
		return
	}
	w.visited[real] = true
	entries, err := os.ReadDir(path)
	if err != nil {
		w.fail(root, path, err)
		// ReadDir returns what it read before the error; go on with it.
	}
	for _, e := range entries {
		p := filepath.Join(path, e.Name())
		mode := e.Type()
		if mode&fs.ModeSymlink != 0 {
			if !w.opt.FollowSymlinks {
				w.logger.Debug("symbolic link not followed", zap.String("path", p))
				continue
			}
			fi, err := os.Stat(p)
			if err != nil {
				if w.wanted(p) {
					w.fail(root, p, err)
				} else {
					w.logger.Debug("dangling link skipped", zap.String("path", p), zap.Error(err))
				}
				continue
			}
			mode = fi.Mode().Type()
		}
		switch {
		case mode.IsDir():
			w.dir(root, p)
		case mode.IsRegular():
			if w.wanted(p) {
				w.files = append(w.files, File{Path: p, Rel: w.rel(root, p)})
			}
		default:
			w.logger.Debug("not a regular file, skipping", zap.String("path", p))
		}
	}
}

func (w *walker) fail(root, path string, err error) {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the row already
	}
	w.logger.Warn("cannot read input path", zap.String("path", path), zap.Error(err))
	w.files = append(w.files, File{Path: path, Rel: w.rel(root, path), Err: fmt.Errorf("walking: %w", err)})
}

// InShard reports whether the file with slash-separated relative path rel
// belongs to shard index of count: the FNV-1a 64-bit hash of rel modulo
// count. The split depends only on rel, so every machine computes the same
// one, the shards are disjoint and together cover every file. count <= 1
// means not sharded.
func InShard(rel string, index, count int) bool {
	if count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(rel))
	return h.Sum64()%uint64(count) == uint64(index)
}

// Shard returns the files of shard index of count (see InShard), keeping
// their order.
func Shard(files []File, index, count int) []File {
	if count <= 1 {
		return files
	}
	var out []File
	for _, f := range files {
		if InShard(f.Rel, index, count) {
			out = append(out, f)
		}
	}
	return out
}

// comparePaths is the order of Walk's output (and so of a run's rows): the
// byte order of the paths as walked.
func comparePaths(a, b string) int { return strings.Compare(a, b) }
