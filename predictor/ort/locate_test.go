package ort

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRepo makes a folder that looks like a tagnet checkout with an
// installed library (an empty file: Locate does not read it).
func fakeRepo(t *testing.T) (root, lib string) {
	t.Helper()
	root = t.TempDir()
	writeFile(t, filepath.Join(root, "go.mod"), "// tagnet\nmodule github.com/tagnet/tagnet\n\ngo 1.26.0\n")
	lib = filepath.Join(root, filepath.FromSlash(ProjectLibrary))
	writeFile(t, lib, "")
	return root, lib
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLocateOrder(t *testing.T) {
	root, projectLib := fakeRepo(t)
	sub := filepath.Join(root, "predictor", "ort")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)

	envLib := filepath.Join(t.TempDir(), LibraryName)
	writeFile(t, envLib, "")
	confDir := t.TempDir()
	confLib := filepath.Join(confDir, LibraryName)
	writeFile(t, confLib, "")

	t.Setenv(EnvLibrary, envLib)
	for _, tc := range []struct {
		name, configured, want string
	}{
		{"configured file beats environment", confLib, confLib},
		{"configured folder beats environment", confDir, confLib},
		{"environment beats project", "", envLib},
	} {
		got, err := Locate(tc.configured)
		if err != nil || got != tc.want {
			t.Errorf("%s: Locate(%q) = %q, %v; want %q", tc.name, tc.configured, got, err, tc.want)
		}
	}

	t.Setenv(EnvLibrary, "")
	got, err := Locate("")
	if err != nil || got != projectLib {
		t.Errorf("project folder: Locate = %q, %v; want %q (found walking up from %s)", got, err, projectLib, sub)
	}

	// Relative settings are taken from the working directory.
	t.Setenv(EnvLibrary, "../../"+ProjectLibrary)
	if got, err := Locate(""); err != nil || got != projectLib {
		t.Errorf("relative environment path: Locate = %q, %v; want %q", got, err, projectLib)
	}
}

func TestLocateExplicitMissing(t *testing.T) {
	_, projectLib := fakeRepo(t)
	t.Chdir(filepath.Dir(projectLib))
	missing := filepath.Join(t.TempDir(), "nope", LibraryName)

	t.Setenv(EnvLibrary, "")
	_, err := Locate(missing)
	checkNotFound(t, err, missing, "configuration key "+ConfigKey)

	t.Setenv(EnvLibrary, missing)
	_, err = Locate("")
	checkNotFound(t, err, missing, "environment variable "+EnvLibrary)
}

func checkNotFound(t *testing.T, err error, wants ...string) {
	t.Helper()
	if !errors.Is(err, ErrLibraryNotFound) {
		t.Fatalf("err = %v, want ErrLibraryNotFound", err)
	}
	msg := err.Error()
	for _, w := range append(wants, "scripts/setup.sh", "run from the repository root") {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

func TestLocateNothingFound(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	t.Setenv(EnvLibrary, "")
	_, err := Locate("")
	exe, _ := os.Executable()
	if r, rerr := filepath.EvalSymlinks(exe); rerr == nil {
		exe = r
	}
	checkNotFound(t, err,
		"configuration key runtime.library (not set)",
		"environment variable TAGNET_ORT_LIBRARY (not set)",
		ProjectLibrary, "no go.mod of github.com/tagnet/tagnet",
		filepath.Join(filepath.Dir(filepath.Dir(exe)), "lib", LibraryName),
		ImageLibrary)
	t.Log(err)

	// A go.mod of another module is not the repository root.
	writeFile(t, filepath.Join(wd, "go.mod"), "module example.com/other\n")
	_, err = Locate("")
	checkNotFound(t, err, "no go.mod of github.com/tagnet/tagnet")
}

func TestLocateRepositoryWithoutLibrary(t *testing.T) {
	root, lib := fakeRepo(t)
	if err := os.Remove(lib); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	t.Setenv(EnvLibrary, "")
	_, err := Locate("")
	checkNotFound(t, err, lib+" (repository: missing)")
}

func TestLocateBesideExecutable(t *testing.T) {
	base := t.TempDir()
	lib := filepath.Join(base, "lib", LibraryName)
	writeFile(t, lib, "")
	fixed := filepath.Join(t.TempDir(), LibraryName)
	writeFile(t, fixed, "")

	l := locator{wd: t.TempDir(), exeDir: filepath.Join(base, "bin"), fixed: fixed}
	if got, err := l.locate(); err != nil || got != lib {
		t.Errorf("beside executable: locate = %q, %v; want %q", got, err, lib)
	}
	l.exeDir = t.TempDir()
	if got, err := l.locate(); err != nil || got != fixed {
		t.Errorf("container path: locate = %q, %v; want %q", got, err, fixed)
	}
}

func TestIsTagnetModule(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]bool{
		"module github.com/tagnet/tagnet\n":                    true,
		"module \"github.com/tagnet/tagnet\" // quoted\n":      true,
		"// module github.com/tagnet/tagnet\nmodule x.org/y\n": false,
		"module github.com/tagnet/tagnet/v2\n":                 false,
		"go 1.26\n":                                            false,
	} {
		p := filepath.Join(dir, "go.mod")
		writeFile(t, p, content)
		if got := isTagnetModule(p); got != want {
			t.Errorf("isTagnetModule(%q) = %v, want %v", content, got, want)
		}
	}
}
