package digest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFile: the SHA-256 of "abc" is FIPS 180-2's first example; a missing
// file is an error naming it.
func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "abc")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := File(p)
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; err != nil || got != want {
		t.Errorf("File(abc) = %s, %v; want %s", got, err, want)
	}
	if _, err := File(p + ".missing"); err == nil {
		t.Error("a missing file has a digest")
	}
}
