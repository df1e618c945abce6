package batch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

// tree makes files (slash paths) under a new directory and returns it.
func tree(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func rels(files []File) []string {
	var out []string
	for _, f := range files {
		s := f.Rel
		if f.Err != nil {
			s += " !"
		}
		out = append(out, s)
	}
	return out
}

func TestWalkFiltersAndSorts(t *testing.T) {
	dir := tree(t, "b.jpg", "a.PNG", "c/d.Jpeg", "c/e.txt", "c/f/g.webp", "noext", "z.gif")
	files, err := Walk([]string{dir}, WalkOptions{Extensions: []string{".jpg", ".jpeg", ".png", ".webp"}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.PNG", "b.jpg", "c/d.Jpeg", "c/f/g.webp"}
	if got := rels(files); !slices.Equal(got, want) {
		t.Errorf("walk: %v, want %v", got, want)
	}
	for _, f := range files {
		if f.Path != filepath.Join(dir, filepath.FromSlash(f.Rel)) {
			t.Errorf("path %s for rel %s", f.Path, f.Rel)
		}
	}
	// A file root, a repeated root and no extensions filter.
	files, err = Walk([]string{filepath.Join(dir, "c"), filepath.Join(dir, "b.jpg"), filepath.Join(dir, "c")}, WalkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rels(files); !slices.Equal(got, []string{"b.jpg", "d.Jpeg", "e.txt", "f/g.webp"}) {
		t.Errorf("walk with a file root: %v", got)
	}
	if _, err := Walk([]string{filepath.Join(dir, "missing")}, WalkOptions{}); !errors.Is(err, ErrConfig) {
		t.Errorf("missing root: %v, want ErrConfig", err)
	}
	if _, err := Walk(nil, WalkOptions{}); !errors.Is(err, ErrConfig) {
		t.Errorf("no roots: %v, want ErrConfig", err)
	}
}

func TestWalkSymlinks(t *testing.T) {
	dir := tree(t, "real/a.jpg", "real/deep/b.jpg", "other/c.jpg")
	link := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	link("../other", "real/to-other")      // a directory outside the root
	link("..", "real/deep/loop")           // a loop back to real/
	link("../other/c.jpg", "real/c.jpg")   // a file
	link("missing.jpg", "real/broken.jpg") // dangling
	root := filepath.Join(dir, "real")
	opt := WalkOptions{Extensions: []string{".jpg"}, Logger: zaptest.NewLogger(t)}

	files, err := Walk([]string{root}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := rels(files); !slices.Equal(got, []string{"a.jpg", "deep/b.jpg"}) {
		t.Errorf("links not followed: %v", got)
	}

	opt.FollowSymlinks = true
	files, err = Walk([]string{root}, opt)
	if err != nil {
		t.Fatal(err)
	}
	// The loop is walked once (deep/loop is real/, already walked); the
	// dangling link is an error row.
	want := []string{"a.jpg", "broken.jpg !", "c.jpg", "deep/b.jpg", "to-other/c.jpg"}
	if got := rels(files); !slices.Equal(got, want) {
		t.Errorf("links followed: %v, want %v", got, want)
	}
	// A root given as a link is followed even without FollowSymlinks.
	link("real", "root-link")
	files, err = Walk([]string{filepath.Join(dir, "root-link")}, WalkOptions{Extensions: []string{".jpg"}})
	if err != nil || !slices.Equal(rels(files), []string{"a.jpg", "deep/b.jpg"}) {
		t.Errorf("root link: %v %v", rels(files), err)
	}
}

func TestWalkUnreadableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any directory")
	}
	dir := tree(t, "ok/a.jpg", "locked/b.jpg")
	locked := filepath.Join(dir, "locked")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	files, err := Walk([]string{dir}, WalkOptions{Extensions: []string{".jpg"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rels(files); !slices.Equal(got, []string{"locked !", "ok/a.jpg"}) {
		t.Errorf("walk: %v", got)
	}
	if !strings.Contains(files[0].Err.Error(), "permission denied") {
		t.Errorf("error %v", files[0].Err)
	}
}

func TestShardsAreDisjointCoverAllAndStable(t *testing.T) {
	var files []File
	for i := range 1000 {
		files = append(files, File{Rel: fmt.Sprintf("dir%d/img%04d.jpg", i%7, i)})
	}
	const n = 4
	seen := map[string]int{}
	for i := range n {
		part := Shard(files, i, n)
		if len(part) < 150 || len(part) > 350 {
			t.Errorf("shard %d/%d has %d of 1000 files", i, n, len(part))
		}
		for _, f := range part {
			seen[f.Rel]++
		}
	}
	if len(seen) != len(files) {
		t.Errorf("shards cover %d of %d files", len(seen), len(files))
	}
	for rel, k := range seen {
		if k != 1 {
			t.Errorf("%s is in %d shards", rel, k)
		}
	}
	// FNV-1a 64 of the relative path, computed independently.
	for _, g := range []struct {
		rel        string
		mod7, mod3 int
	}{
		{"a.jpg", 6, 2}, {"photos/2024/cat.png", 0, 0}, {"x/y/z.webp", 6, 1}, {"dog.jpg", 0, 2},
	} {
		if !InShard(g.rel, g.mod7, 7) || !InShard(g.rel, g.mod3, 3) {
			t.Errorf("%s: not in shards %d/7 and %d/3", g.rel, g.mod7, g.mod3)
		}
	}
	if got := Shard(files, 0, 1); len(got) != len(files) {
		t.Errorf("one shard has %d files", len(got))
	}
}
