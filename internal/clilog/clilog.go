// Package clilog builds the zap logger of tagnet's command-line programs,
// tagnet-train and tagnet-predict, from the log section of their
// configuration (config.Log). The mains build one logger here and pass it
// down; library packages never build or keep a global logger.
package clilog

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// Log formats (log.format): the configuration validates through
// [Formats], so the two cannot list different values.
const (
	// Console is human-readable lines; the level is coloured only on a
	// terminal.
	Console = "console"
	// JSON is one JSON object per line, for log collectors.
	JSON = "json"
)

// Formats returns the log formats New takes ("" also: console on a
// terminal, JSON otherwise).
func Formats() []string { return []string{Console, JSON} }

// levels are the levels New takes, in increasing severity; "" means info.
var levels = []struct {
	name  string
	level zapcore.Level
}{{"debug", zapcore.DebugLevel}, {"info", zapcore.InfoLevel}, {"warn", zapcore.WarnLevel}, {"error", zapcore.ErrorLevel}}

// Levels returns the log levels New takes (log.level), in increasing
// severity; "" also, meaning info.
func Levels() []string {
	out := make([]string, len(levels))
	for i, l := range levels {
		out[i] = l.name
	}
	return out
}

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
		format = JSON
		if tty {
			format = Console
		}
	}
	var (
		enc  zapcore.Encoder
		opts []zap.Option
	)
	switch format {
	case Console:
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		ec.EncodeLevel = zapcore.CapitalLevelEncoder
		if tty {
			ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		ec.CallerKey = zapcore.OmitKey
		ec.StacktraceKey = zapcore.OmitKey
		enc = zapcore.NewConsoleEncoder(ec)
	case JSON:
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
		opts = append(opts, zap.AddCaller())
	default:
		return nil, fmt.Errorf("log format %q: must be %s", format, strings.Join(Formats(), " or "))
	}
	ws := zapcore.Lock(zapcore.AddSync(w))
	opts = append(opts, zap.ErrorOutput(ws))
	return zap.New(zapcore.NewCore(enc, ws, lvl), opts...), nil
}

// parseLevel accepts [Levels] and "" (info).
func parseLevel(level string) (zapcore.Level, error) {
	if level == "" {
		return zapcore.InfoLevel, nil
	}
	for _, l := range levels {
		if l.name == level {
			return l.level, nil
		}
	}
	names := Levels()
	return 0, fmt.Errorf("log level %q: must be %s or %s", level, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}
