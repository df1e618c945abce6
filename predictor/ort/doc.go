// Package ort is tagnet's binding to ONNX Runtime: the forward stage of the
// predictor.
//
// In the predictor's flow (decode → preprocess → forward → postprocess) this
// package takes a preprocessed float32 batch in the model's input layout and
// returns the model's logits. It knows nothing about labels, thresholds or
// images; the model's metadata and postprocessing live elsewhere.
//
// Three steps, in order:
//
//  1. [Locate] finds the ONNX Runtime 1.29.0 shared library (configuration,
//     the TAGNET_ORT_LIBRARY environment variable, the repository's .native
//     folder, the folder beside the executable, the container image path).
//  2. [Init] checks the library's checksum, loads it and creates the one ONNX
//     Runtime environment of the process; it returns a shared [Runtime].
//  3. [NewSession] opens a model on the CPU or CUDA execution provider. A
//     [Session] is safe for concurrent use: many goroutines may call
//     [Session.Run] at once.
//
// All native code is reached through github.com/yalue/onnxruntime_go; this
// package itself does not use cgo.
package ort

import "errors"

// Errors returned by this package. They are wrapped with context; test for
// them with errors.Is.
var (
	// ErrLibraryNotFound means that no ONNX Runtime library was found at any
	// of the places Locate looks at.
	ErrLibraryNotFound = errors.New("ort: onnx runtime library not found")
	// ErrChecksum means that the library file is not the ONNX Runtime build
	// tagnet expects (see LibrarySHA256).
	ErrChecksum = errors.New("ort: onnx runtime library checksum mismatch")
	// ErrVersion means that the loaded library reports a version other than
	// 1.29.x.
	ErrVersion = errors.New("ort: wrong onnx runtime version")
	// ErrOtherLibrary means that Init was called with a library other than
	// the one already loaded in this process.
	ErrOtherLibrary = errors.New("ort: onnx runtime already initialised with another library")
	// ErrShutdown means that the process's ONNX Runtime environment was
	// destroyed by the last Close; it cannot be created again.
	ErrShutdown = errors.New("ort: onnx runtime environment already shut down in this process")
	// ErrClosed means that the Runtime or Session was closed.
	ErrClosed = errors.New("ort: closed")
	// ErrProviderUnavailable means that a requested execution provider
	// could not be set up and the policy said to fail.
	ErrProviderUnavailable = errors.New("ort: execution provider unavailable")
	// ErrOptions means that SessionOptions holds an invalid value.
	ErrOptions = errors.New("ort: invalid session options")
	// ErrModel means that the model's inputs or outputs are not what a
	// Session can run: one float32 input with only the batch axis dynamic,
	// and a float32 [N,C] output.
	ErrModel = errors.New("ort: unsupported model")
	// ErrInput means that the batch passed to Run does not match the model's
	// input shape.
	ErrInput = errors.New("ort: invalid input")
)

// installHint is appended to every error a user fixes by installing the
// library.
const installHint = "install it with scripts/setup.sh (run from the repository root)"
