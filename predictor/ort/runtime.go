package ort

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
	"go.uber.org/zap"
)

// versionPrefix is what the loaded library's version must start with.
const versionPrefix = "1.29."

// InitOptions configures Init. The zero value locates the library as Locate
// does, checks its checksum and logs nothing.
type InitOptions struct {
	// Library is the configured library path (configuration key
	// runtime.library): a file, or a folder holding libonnxruntime.so.1.
	// Empty means search as Locate describes.
	Library string
	// SkipChecksum skips the sha256 check of the library, for users who
	// bring their own 1.29.x build. The version check still applies.
	// False (the default) requires the exact build scripts/setup.sh
	// installs.
	SkipChecksum bool
	// Logger receives the runtime's log lines and is the default logger of
	// its sessions. Nil means no logging.
	Logger *zap.Logger
}

// Runtime is the process's ONNX Runtime environment. There is at most one:
// every successful Init returns the same *Runtime. It is safe for concurrent
// use.
type Runtime struct {
	path    string
	info    os.FileInfo
	version string
	logger  *zap.Logger
}

// proc is the process-wide ONNX Runtime state. ONNX Runtime allows one
// environment per process, and onnxruntime_go keeps it in package globals.
var proc struct {
	mu       sync.Mutex
	rt       *Runtime
	refs     int  // Init calls not yet matched by Close, plus open sessions
	shutdown bool // the environment was created and destroyed
}

// Init returns the process's ONNX Runtime environment, creating it on the
// first call. It locates the library (see Locate), checks its sha256 unless
// opts.SkipChecksum is set (before loading anything), loads it, and checks
// that it reports version 1.29.x.
//
// Later calls that resolve to the same library file return the same
// *Runtime; a call that resolves to another file fails with ErrOtherLibrary,
// since a process can hold only one. The options of later calls are
// otherwise ignored. A failed Init leaves nothing loaded and may be retried.
//
// Each successful Init takes a reference that one Runtime.Close gives back.
// The environment is destroyed when the last reference goes (open sessions
// hold one each), after which Init fails with ErrShutdown: a process creates
// its environment once. Servers need not call Close at all.
func Init(opts InitOptions) (*Runtime, error) {
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	logger = logger.With(zap.String("component", "ort"))

	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.shutdown {
		return nil, ErrShutdown
	}

	path, err := Locate(opts.Library)
	if err != nil {
		return nil, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("opening onnx runtime library: %w", err)
	}
	if proc.rt != nil && os.SameFile(info, proc.rt.info) {
		proc.refs++
		return proc.rt, nil
	}
	if !opts.SkipChecksum {
		if err := verifyChecksum(path); err != nil {
			return nil, err
		}
	}
	if proc.rt != nil {
		return nil, fmt.Errorf("%w: %s is loaded, %s was asked for", ErrOtherLibrary, proc.rt.path, path)
	}
	if onnxruntime.IsInitialized() {
		return nil, errors.New("ort: onnx runtime environment was initialised outside package ort")
	}

	onnxruntime.SetSharedLibraryPath(path)
	if err := onnxruntime.InitializeEnvironment(); err != nil {
		return nil, fmt.Errorf("loading onnx runtime library %s: %w", path, err)
	}
	// GetVersion reads memory inside the library: ask only while it is
	// loaded, and keep the answer.
	version := onnxruntime.GetVersion()
	if err := checkVersion(path, version); err != nil {
		if derr := onnxruntime.DestroyEnvironment(); derr != nil {
			logger.Warn("unloading the rejected onnx runtime library", zap.Error(derr))
		}
		return nil, err
	}
	proc.rt = &Runtime{path: path, info: info, version: version, logger: logger}
	proc.refs = 1
	logger.Info("onnx runtime loaded", zap.String("library", path), zap.String("version", version),
		zap.Bool("checksum_verified", !opts.SkipChecksum))
	return proc.rt, nil
}

// checkVersion checks the version a loaded library reports.
func checkVersion(path, version string) error {
	if !strings.HasPrefix(version, versionPrefix) {
		if version == "" {
			version = "unknown"
		}
		return fmt.Errorf("%w: %s is version %s, want %sx (%s); %s",
			ErrVersion, path, version, versionPrefix, LibraryVersion, installHint)
	}
	return nil
}

// Version returns the version the loaded library reports, such as "1.29.0".
// It stays valid after Close.
func (r *Runtime) Version() string { return r.version }

// LibraryPath returns the absolute path of the loaded library.
func (r *Runtime) LibraryPath() string { return r.path }

// Close gives back the reference one Init took. When no Init and no open
// Session holds one any more, the environment is destroyed and the library
// unloaded; the process can then not create another. Call it once per
// successful Init, in tests and at shutdown only. Closing more often than
// Init was called returns ErrClosed.
func (r *Runtime) Close() error {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	return r.releaseLocked()
}

// acquire takes a reference for a session.
func (r *Runtime) acquire() error {
	if r == nil {
		return errors.New("ort: nil runtime")
	}
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.rt != r || proc.refs == 0 {
		return fmt.Errorf("using onnx runtime: %w", ErrClosed)
	}
	proc.refs++
	return nil
}

// release gives back a session's reference.
func (r *Runtime) release() error {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	return r.releaseLocked()
}

func (r *Runtime) releaseLocked() error {
	if proc.rt != r || proc.refs == 0 {
		return fmt.Errorf("closing onnx runtime: %w", ErrClosed)
	}
	proc.refs--
	if proc.refs > 0 {
		return nil
	}
	proc.rt = nil
	proc.shutdown = true
	if err := onnxruntime.DestroyEnvironment(); err != nil {
		return fmt.Errorf("destroying onnx runtime environment: %w", err)
	}
	r.logger.Info("onnx runtime unloaded", zap.String("library", r.path))
	return nil
}
