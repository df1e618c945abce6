package ort

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

func TestRuntimeVersion(t *testing.T) {
	if v := testRuntime.Version(); !strings.HasPrefix(v, "1.29.") {
		t.Errorf("Version() = %q, want 1.29.x", v)
	}
	t.Logf("onnx runtime %s from %s", testRuntime.Version(), testRuntime.LibraryPath())
}

func TestInitSameLibrary(t *testing.T) {
	rt, err := Init(InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rt != testRuntime {
		t.Error("second Init returned another Runtime")
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}

	// A symbolic link to the loaded file is the same library.
	link := filepath.Join(t.TempDir(), LibraryName)
	if err := os.Symlink(testRuntime.LibraryPath(), link); err != nil {
		t.Fatal(err)
	}
	rt, err = Init(InitOptions{Library: link})
	if err != nil {
		t.Fatal(err)
	}
	if rt != testRuntime {
		t.Error("Init through a symbolic link returned another Runtime")
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestInitOtherLibrary(t *testing.T) {
	// A byte-identical copy passes the checksum but is another file.
	dst := filepath.Join(t.TempDir(), LibraryName)
	copyFile(t, testRuntime.LibraryPath(), dst)
	_, err := Init(InitOptions{Library: dst})
	if !errors.Is(err, ErrOtherLibrary) {
		t.Fatalf("Init(copy) err = %v, want ErrOtherLibrary", err)
	}
	if !strings.Contains(err.Error(), dst) || !strings.Contains(err.Error(), testRuntime.LibraryPath()) {
		t.Errorf("error %q should name both libraries", err)
	}
}

func TestInitChecksumMismatch(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), LibraryName)
	writeFile(t, garbage, "this is not a shared library")
	_, err := Init(InitOptions{Library: garbage})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("Init(garbage) err = %v, want ErrChecksum", err)
	}
	t.Log(err)
	for _, want := range []string{garbage, LibrarySHA256, "1.29.0", "scripts/setup.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// The shared runtime is untouched.
	if _, err := testSession.Run(fixtureIn, 2); err != nil {
		t.Errorf("running after a rejected Init: %v", err)
	}
}

func TestCheckVersion(t *testing.T) {
	if err := checkVersion("/x/lib.so", "1.29.3"); err != nil {
		t.Errorf("1.29.3: %v", err)
	}
	for _, v := range []string{"1.28.1", "1.290.0", "", "2.29.0"} {
		err := checkVersion("/x/lib.so", v)
		if !errors.Is(err, ErrVersion) {
			t.Errorf("%q: err = %v, want ErrVersion", v, err)
			continue
		}
		for _, want := range []string{"/x/lib.so", "1.29.x", "scripts/setup.sh"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
}

func TestChecksumCached(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	writeFile(t, p, "abc")
	a, err := fileSHA256(p)
	if err != nil {
		t.Fatal(err)
	}
	if a != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("sha256(abc) = %s", a)
	}
	fi, _ := os.Stat(p)
	sumCache.mu.Lock()
	_, cached := sumCache.sums[sumKey{p, fi.Size(), fi.ModTime()}]
	sumCache.mu.Unlock()
	if !cached {
		t.Error("checksum not cached")
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFreshProcess checks, in a new process that has loaded nothing, that a
// bad library is rejected before loading and that the environment lives
// exactly once: until the last Close, and never again after it.
func TestFreshProcess(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFreshProcess$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestFreshProcess") {
			t.Fatalf("fresh process: %v\n%s", err, out)
		}
		return
	}

	garbage := filepath.Join(t.TempDir(), LibraryName)
	writeFile(t, garbage, "this is not a shared library")
	if _, err := Init(InitOptions{Library: garbage}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("Init(garbage) err = %v, want ErrChecksum", err)
	}
	if onnxruntime.IsInitialized() {
		t.Fatal("a library that failed its checksum was loaded")
	}
	_, err := Init(InitOptions{Library: garbage, SkipChecksum: true})
	if err == nil || errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "loading onnx runtime library "+garbage) {
		t.Fatalf("Init(garbage, SkipChecksum) err = %v, want a load error naming the file", err)
	}
	if onnxruntime.IsInitialized() {
		t.Fatal("environment initialised from garbage")
	}

	// A failed Init may be retried; the real library loads.
	rt, err := Init(InitOptions{SkipChecksum: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSessionFromBytes(rt, flattenModel(-1), SessionOptions{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if !onnxruntime.IsInitialized() {
		t.Fatal("environment destroyed while a session is open")
	}
	if _, err := s.Run(make([]float32, 12), 1); err != nil {
		t.Fatalf("running after Runtime.Close with the session open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if onnxruntime.IsInitialized() {
		t.Fatal("environment alive after the last Close")
	}
	if v := rt.Version(); !strings.HasPrefix(v, "1.29.") {
		t.Errorf("Version after Close = %q", v)
	}
	if _, err := Init(InitOptions{}); !errors.Is(err, ErrShutdown) {
		t.Errorf("Init after shutdown err = %v, want ErrShutdown", err)
	}
	if err := rt.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close err = %v, want ErrClosed", err)
	}
	if _, err := NewSessionFromBytes(rt, flattenModel(-1), SessionOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("NewSession after shutdown err = %v, want ErrClosed", err)
	}
}
