//go:build cgo

package vips

// #cgo pkg-config: vips
// #include <stdlib.h>
// #include "tagnet_vips.h"
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"strings"
	"sync"
	"unsafe"
)

var (
	initOnce sync.Once
	initErr  error
)

// Start initialises libvips once per process; decoding does it on first
// use. It returns the same error on every call when libvips cannot start.
func Start() error { return start() }

// ReturnFreedMemory fixes glibc's mmap threshold at 128 KiB for the whole
// process (mallopt(3); nothing on other C libraries), so that every
// buffer of 128 KiB or more — libvips' decoded images, a native
// library's model and activations — is mapped on its own and goes back
// to the system when freed. glibc's default raises the threshold after
// the first large free and keeps later buffers in its heap: a ResNet-50
// predictor peaked at 0.55 GB RSS that way, at 0.37 GB with the threshold
// fixed, at the same speed. Call it before loading such libraries' data.
//
// It is a process-wide choice for programs that serve models, not for
// training: oneDNN allocates its packing buffers (hundreds of KiB) on
// every matrix product, and with the threshold fixed each one is mapped,
// faulted in and unmapped again — 11,800 page faults per ResNet-18 step
// at 64 px, batch 64, and 1.4–1.7× slower steps (trainer/nn
// BenchmarkTrainStep64px with and without it, same run).
func ReturnFreedMemory() { C.tn_return_freed_memory() }

func start() error {
	initOnce.Do(func() {
		var cerr *C.char
		if C.tn_init(&cerr) != 0 {
			initErr = fmt.Errorf("starting libvips: %s", takeString(cerr))
		}
	})
	return initErr
}

func takeString(s *C.char) string {
	if s == nil {
		return ""
	}
	defer C.tn_free(unsafe.Pointer(s))
	return strings.TrimSpace(C.GoString(s))
}

// formatsRead ends the error for data of another format.
const formatsRead = "not a JPEG, PNG, GIF, WebP, HEIC/AVIF, TIFF or BMP image"

// bmpSignature starts every BMP file. libvips reads BMP only through
// ImageMagick, which understands hundreds of other formats too; it is
// used only for data that starts with this signature.
var bmpSignature = []byte("BM")

// ReadHeader reads the size, page count, orientation and format of the
// encoded image in data without decoding its pixels. Data of a format
// tagnet does not read gives an error wrapping [ErrFormat].
func ReadHeader(data []byte) (Header, error) {
	if err := start(); err != nil {
		return Header{}, err
	}
	if len(data) == 0 {
		return Header{}, fmt.Errorf("%w: empty input", ErrFormat)
	}
	p := unsafe.Pointer(&data[0])
	cloader := C.tn_find_loader(p, C.size_t(len(data)))
	if cloader == nil {
		return Header{}, fmt.Errorf("%w: %s", ErrFormat, formatsRead)
	}
	loader := C.GoString(cloader)
	format, ok := formatOf(loader)
	if !ok || (format == BMP && !bytes.HasPrefix(data, bmpSignature)) {
		name := strings.TrimSuffix(strings.TrimPrefix(loader, "VipsForeignLoad"), "Buffer")
		return Header{}, fmt.Errorf("%w: %s (libvips would load it with %s)", ErrFormat, formatsRead, strings.ToLower(name))
	}
	var h C.tn_header
	var cerr *C.char
	if C.tn_read_header(p, C.size_t(len(data)), cloader, &h, &cerr) != 0 {
		return Header{}, &DecodeError{Msg: takeString(cerr)}
	}
	return Header{
		Width: int(h.width), Height: int(h.height), Pages: int(h.pages),
		Orientation: int(h.orientation), HasICC: h.has_icc != 0,
		Format: format, loader: loader,
	}, nil
}

// Decode decodes the first page or frame of the encoded image in data,
// whose header h came from [ReadHeader], into interleaved 8-bit RGB.
// It fails with a [*DecodeError] on damage that opt.FailOn covers.
func Decode(data []byte, h Header, opt Options) (*Image, error) {
	if err := start(); err != nil {
		return nil, err
	}
	if len(data) == 0 || h.loader == "" {
		return nil, errors.New("vips: decode needs the data's header from ReadHeader")
	}
	shrink := opt.Shrink
	if shrink == 0 || h.Format != JPEG {
		shrink = 1
	}
	if shrink != 1 && shrink != 2 && shrink != 4 && shrink != 8 {
		return nil, fmt.Errorf("vips: JPEG shrink %d is not 1, 2, 4 or 8", shrink)
	}
	o := C.tn_options{
		shrink:     C.int(shrink),
		autorotate: cBool(opt.AutoRotate),
		to_srgb:    cBool(opt.ToSRGB),
		fail_on:    C.int(opt.FailOn),
	}
	loader := C.CString(h.loader)
	defer C.free(unsafe.Pointer(loader))
	var img C.tn_image
	var cerr *C.char
	// data stays referenced only during the call: libvips caches nothing
	// (see tn_init) and the whole pipeline runs before tn_decode returns.
	if C.tn_decode(unsafe.Pointer(&data[0]), C.size_t(len(data)), loader, &o, &img, &cerr) != 0 {
		return nil, &DecodeError{Msg: takeString(cerr)}
	}
	defer C.tn_free_pixels(unsafe.Pointer(img.pix))
	w, ht := int(img.width), int(img.height)
	out := &Image{Width: w, Height: ht, Pix: make([]byte, 3*w*ht)}
	copy(out.Pix, unsafe.Slice((*byte)(unsafe.Pointer(img.pix)), len(out.Pix)))
	if h.Format == GIF {
		if frame, bg, ok := gifFirstFrame(data); ok && !image.Rect(0, 0, w, ht).In(frame) {
			fillOutside(out, frame, bg)
		}
	}
	return out, nil
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
