// Package digest computes the SHA-256 of files, the one way tagnet checks
// what it downloaded or found (pretrained weights, the ONNX Runtime
// library, the peers' packages).
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// File returns the lower-case hex SHA-256 of the file at path, read in
// one streaming pass (constant memory whatever the size). Errors (opening
// or reading) name path.
func File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
