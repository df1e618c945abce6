package ort

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tagnet/tagnet/internal/digest"
)

// Facts about the ONNX Runtime build tagnet uses; see the design document
// runtime.md and scripts/setup.sh, which installs it.
const (
	// LibraryName is the file name of the ONNX Runtime shared library.
	LibraryName = "libonnxruntime.so.1"
	// LibraryVersion is the ONNX Runtime release tagnet is built and tested
	// against. Init accepts any 1.29.x library.
	LibraryVersion = "1.29.0"
	// LibrarySHA256 is the sha256 of libonnxruntime.so.1 from the npm package
	// onnxruntime-node@1.29.0, the build that can load the CUDA provider.
	LibrarySHA256 = "89688f5cf51c7e31befbb7b9101bc027799009b18d1baa9a5b1146a72e69538d"
	// EnvLibrary names the environment variable Locate reads second.
	EnvLibrary = "TAGNET_ORT_LIBRARY"
	// ConfigKey is the configuration key whose value is passed to Locate
	// and InitOptions.Library.
	ConfigKey = "runtime.library"
	// ProjectLibrary is where scripts/setup.sh installs the library,
	// relative to the repository root.
	ProjectLibrary = ".native/onnxruntime-" + LibraryVersion + "/" + LibraryName
	// ImageLibrary is where the container image installs the library.
	ImageLibrary = "/opt/tagnet/lib/" + LibraryName
	// modulePath identifies the repository root: the folder whose go.mod
	// declares this module.
	modulePath = "github.com/tagnet/tagnet"
)

// Locate returns the absolute path of the ONNX Runtime library to load. It
// takes the first of:
//
//  1. configured, the value of the configuration key runtime.library (a file,
//     or a folder holding libonnxruntime.so.1), when not empty;
//  2. the environment variable TAGNET_ORT_LIBRARY (same forms), when set;
//  3. .native/onnxruntime-1.29.0/libonnxruntime.so.1 in the repository root,
//     the nearest folder at or above the working directory whose go.mod
//     declares module github.com/tagnet/tagnet (where scripts/setup.sh puts
//     it);
//  4. <executable's folder>/../lib/libonnxruntime.so.1, for an installed
//     layout such as bin/tagnet-predict beside lib/ (symbolic links to the
//     executable are resolved first);
//  5. /opt/tagnet/lib/libonnxruntime.so.1, where the container image puts it.
//
// An explicit setting (1 or 2) that names a missing file is an error: it is
// never silently passed over for a library found further down. When nothing
// is set and nothing is found, the one error wraps ErrLibraryNotFound and
// names every place looked at and the install command. Locate only looks for
// the file; Init checks its checksum and version.
func Locate(configured string) (string, error) {
	l := locator{configured: configured, fixed: ImageLibrary}
	l.env, l.envSet = os.LookupEnv(EnvLibrary)
	if wd, err := os.Getwd(); err == nil {
		l.wd = wd
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		l.exeDir = filepath.Dir(exe)
	}
	return l.locate()
}

// locator holds Locate's inputs, so tests can set each place.
type locator struct {
	configured string
	env        string
	envSet     bool
	wd         string // working directory; "" if unknown
	exeDir     string // folder of the running executable; "" if unknown
	fixed      string // the container image path
}

func (l locator) locate() (string, error) {
	if l.configured != "" {
		return explicit(l.configured, "configuration key "+ConfigKey, l.wd)
	}
	if l.envSet && l.env != "" {
		return explicit(l.env, "environment variable "+EnvLibrary, l.wd)
	}

	var looked []string
	seen := map[string]bool{}
	try := func(path, what string) (string, bool) {
		if seen[path] {
			return "", false
		}
		seen[path] = true
		ok, why := isFile(path)
		if ok {
			return path, true
		}
		looked = append(looked, fmt.Sprintf("%s (%s: %s)", path, what, why))
		return "", false
	}

	looked = append(looked, "configuration key "+ConfigKey+" (not set)")
	looked = append(looked, "environment variable "+EnvLibrary+" (not set)")
	switch root, err := projectRoot(l.wd); {
	case err != nil:
		looked = append(looked, fmt.Sprintf("the repository's %s (no go.mod of %s at or above %q)",
			ProjectLibrary, modulePath, l.wd))
	default:
		if p, ok := try(filepath.Join(root, filepath.FromSlash(ProjectLibrary)), "repository"); ok {
			return p, nil
		}
	}
	if l.exeDir != "" {
		if p, ok := try(filepath.Join(filepath.Dir(l.exeDir), "lib", LibraryName), "beside the executable"); ok {
			return p, nil
		}
	} else {
		looked = append(looked, "<executable's folder>/../lib/"+LibraryName+" (executable path unknown)")
	}
	if l.fixed != "" {
		if p, ok := try(l.fixed, "container image"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w; looked at: %s; %s", ErrLibraryNotFound, strings.Join(looked, "; "), installHint)
}

// explicit resolves a library path given by configuration or environment:
// a file, or a folder holding LibraryName. Relative paths are taken from wd.
func explicit(path, source, wd string) (string, error) {
	if !filepath.IsAbs(path) && wd != "" {
		path = filepath.Join(wd, path)
	}
	path = filepath.Clean(path)
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, LibraryName)
	}
	ok, why := isFile(path)
	if !ok {
		return "", fmt.Errorf("%w; looked at: %s (%s: %s); %s, or correct the setting",
			ErrLibraryNotFound, path, source, why, installHint)
	}
	return path, nil
}

// isFile reports whether path names a regular file (after links), and if
// not, why not in a few words.
func isFile(path string) (bool, string) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, "missing"
	case err != nil:
		return false, err.Error()
	case !fi.Mode().IsRegular():
		return false, "not a regular file"
	}
	return true, ""
}

// projectRoot returns the nearest folder at or above dir whose go.mod
// declares the tagnet module.
func projectRoot(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("working directory unknown")
	}
	for {
		if isTagnetModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s at or above the working directory", modulePath)
		}
		dir = parent
	}
}

// isTagnetModule reports whether the go.mod file at path declares module
// github.com/tagnet/tagnet.
func isTagnetModule(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], "\"`") == modulePath
		}
	}
	return false
}

// sumCache remembers the sha256 of each library file hashed in this
// process, keyed by path, size and modification time, so a library is
// hashed once per process.
var sumCache struct {
	mu   sync.Mutex
	sums map[sumKey]string
}

type sumKey struct {
	path  string
	size  int64
	mtime time.Time
}

// verifyChecksum checks that the file at path is the ONNX Runtime build
// tagnet expects. The error wraps ErrChecksum and names the file, both
// checksums and the install command.
func verifyChecksum(path string) error {
	got, err := fileSHA256(path)
	if err != nil {
		return err
	}
	if got != LibrarySHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, want %s (ONNX Runtime %s from onnxruntime-node@%s); %s, or skip the checksum to use your own %s build",
			ErrChecksum, path, got, LibrarySHA256, LibraryVersion, LibraryVersion, installHint, versionPrefix+"x")
	}
	return nil
}

// fileSHA256 returns the hex sha256 of the file at path, from the cache when
// the file has not changed since it was last hashed.
func fileSHA256(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("checking onnx runtime library: %w", err)
	}
	key := sumKey{path: path, size: fi.Size(), mtime: fi.ModTime()}
	sumCache.mu.Lock()
	defer sumCache.mu.Unlock()
	if s, ok := sumCache.sums[key]; ok {
		return s, nil
	}
	s, err := digest.File(path)
	if err != nil {
		return "", fmt.Errorf("checking onnx runtime library: %w", err)
	}
	if sumCache.sums == nil {
		sumCache.sums = map[sumKey]string{}
	}
	sumCache.sums[key] = s
	return s, nil
}
