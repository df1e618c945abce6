//go:build !cgo

package vips

import "errors"

var errNoCgo = errors.New("vips: tagnet was built without cgo, so it has no image decoder (build with CGO_ENABLED=1 and libvips-dev)")

// Start fails: decoding needs libvips through cgo.
func Start() error { return errNoCgo }

// ReturnFreedMemory does nothing: without cgo there is no C allocator to
// tune.
func ReturnFreedMemory() {}

// ReadHeader fails: decoding needs libvips through cgo.
func ReadHeader(data []byte) (Header, error) { return Header{}, errNoCgo }

// Decode fails: decoding needs libvips through cgo.
func Decode(data []byte, h Header, opt Options) (*Image, error) { return nil, errNoCgo }
