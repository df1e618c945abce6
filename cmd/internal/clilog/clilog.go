// Package clilog builds the zap logger of tagnet's command-line programs,
// tagnet-train and tagnet-predict, from the log section of their
// configuration (config.Log). The mains build one logger here and pass it
// down; library packages never build or keep a global logger.
package clilog

import (
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// New returns a logger writing to w at the given level.
//
// format is "console" (human-readable lines; the level is coloured only when
// w is a terminal), "json" (one JSON object per line, for log collectors),
// or "" for console when w is a terminal and JSON otherwise. level is
// "debug", "info", "warn" or "error"; "" means "info".
//
// Writes to w are serialised, so w need not be safe for concurrent use.
// Callers should run logger.Sync before exiting; on a terminal its error may
// be ignored.
func New(format, level string, w io.Writer) (*zap.Logger, error) {
	return newLogger(format, level, w, isTerminal(w))
}

// isTerminal reports whether w is a file descriptor open on a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// newLogger is New with the terminal test done by the caller.
func newLogger(format, level string, w io.Writer, tty bool) (*zap.Logger, error) {
	if w == nil {
		return nil, errors.New("clilog: nil writer")
	}
	lvl, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	if format == "" {
		format = "json"
		if tty {
			format = "console"
		}
	}
	var (
		enc  zapcore.Encoder
		opts []zap.Option
	)
	switch format {
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		if tty {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		ec.CallerKey = zapcore.OmitKey
		ec.StacktraceKey = zapcore.OmitKey
		enc = zapcore.NewConsoleEncoder(ec)
	case "json":
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
		opts = append(opts, zap.AddCaller())
	default:
		return nil, fmt.Errorf("log format %q: must be console or json", format)
	}
	ws := zapcore.Lock(zapcore.AddSync(w))
	opts = append(opts, zap.ErrorOutput(ws))
	return zap.New(zapcore.NewCore(enc, ws, lvl), opts...), nil
}

// parseLevel accepts the four levels the configuration allows.
func parseLevel(level string) (zapcore.Level, error) {
	switch level {
	case "debug":
		return zapcore.DebugLevel, nil
	case "", "info":
		return zapcore.InfoLevel, nil
	case "warn":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	}
	return 0, fmt.Errorf("log level %q: must be debug, info, warn or error", level)
}
