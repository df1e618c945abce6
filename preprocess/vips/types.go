// Package vips is tagnet's binding to libvips, the image decoder: one of
// the three packages of the module that use cgo (see internal/policy). It
// turns the encoded bytes of a JPEG (baseline, progressive, arithmetic,
// CMYK/YCCK), PNG, GIF, WebP, HEIF/HEIC/AVIF, TIFF or BMP file into
// interleaved 8-bit RGB, reading the header first and, for JPEG, decoding
// at a reduced DCT scale (shrink-on-load). EXIF orientation and embedded
// ICC profiles are handled by libvips for every container.
//
// The binding is deliberately small — two calls, one C function each — and
// written for tagnet rather than taken from github.com/davidbyttow/govips:
// tagnet needs one decode pipeline with exact control of the loader options
// (shrink factor chosen from the header, fail_on, an allowlist of loaders),
// no process-wide logging or temporary profile files, and one cgo crossing
// per image. Everything else about images (resizing, cropping,
// normalisation) stays in package preprocess, in Go.
//
// libvips runs with its operation cache off and one thread per call: the
// callers decode on their own worker goroutines.
package vips

import "errors"

// ErrFormat is wrapped by errors for data that is not an image in a format
// tagnet reads.
var ErrFormat = errors.New("unsupported image format")

// DecodeError reports damaged or undecodable data, as libvips words it.
type DecodeError struct{ Msg string }

func (e *DecodeError) Error() string { return e.Msg }

// Format names an image container tagnet reads.
type Format string

// The formats, one per libvips loader tagnet allows.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
	HEIF Format = "heif" // HEIC, HEIF and AVIF
	TIFF Format = "tiff"
	BMP  Format = "bmp"
)

var loaders = map[string]Format{
	"VipsForeignLoadJpegBuffer":   JPEG,
	"VipsForeignLoadPngBuffer":    PNG,
	"VipsForeignLoadNsgifBuffer":  GIF,
	"VipsForeignLoadWebpBuffer":   WebP,
	"VipsForeignLoadHeifBuffer":   HEIF,
	"VipsForeignLoadTiffBuffer":   TIFF,
	"VipsForeignLoadMagickBuffer": BMP, // only for data with the BMP signature
}

func formatOf(loader string) (Format, bool) {
	f, ok := loaders[loader]
	return f, ok
}

// Header is what an image's header says, read without decoding pixels.
type Header struct {
	// Width and Height are the stored size of the first page or frame in
	// pixels, before EXIF orientation.
	Width, Height int
	// Pages is the number of pages or animation frames (1 for a still).
	Pages int
	// Orientation is the EXIF orientation, 1 (upright) to 8.
	Orientation int
	// HasICC reports an embedded ICC profile.
	HasICC bool
	// Format is the container.
	Format Format

	loader string
}

// FailOn says which damage makes [Decode] fail (libvips' VipsFailOn).
type FailOn int

const (
	// FailOnNone decodes whatever can be decoded.
	FailOnNone FailOn = iota
	// FailOnTruncated fails on truncated files (libvips' default is none).
	FailOnTruncated
	// FailOnError fails on any decoder error, including corrupt data
	// that a decoder would otherwise paint grey.
	FailOnError
	// FailOnWarning fails even on warnings (stray bytes, unknown tags).
	FailOnWarning
)

// Options control [Decode].
type Options struct {
	// Shrink is the JPEG DCT scale denominator (1, 2, 4 or 8; 0 means 1):
	// the image is decoded at ceil(width/Shrink)×ceil(height/Shrink), as
	// libjpeg's scaled decoding and Pillow's Image.draft do. Ignored for
	// other formats.
	Shrink int
	// AutoRotate turns the image upright by its EXIF orientation.
	AutoRotate bool
	// ToSRGB converts colours through an embedded ICC profile to sRGB.
	// CMYK is always converted (through libvips' built-in CMYK profile
	// when none is embedded).
	ToSRGB bool
	// FailOn says which damage is an error.
	FailOn FailOn
}

// Image is a decoded image: Width·Height pixels of interleaved 8-bit red,
// green and blue, row by row, len(Pix) = 3·Width·Height.
type Image struct {
	Width, Height int
	Pix           []byte
}
