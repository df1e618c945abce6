package clilog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := New("json", "info", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.With(zap.String("component", "server")).Info("listening", zap.String("addr", ":8080"))
	log.Warn("slow", zap.Int("ms", 12))
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2 (debug suppressed at info):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("line 1 is not JSON: %v\n%s", err, lines[0])
	}
	for k, want := range map[string]any{"level": "info", "msg": "listening", "addr": ":8080", "component": "server"} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %v", k, rec[k], want)
		}
	}
	for _, k := range []string{"ts", "caller"} {
		if _, ok := rec[k]; !ok {
			t.Errorf("record has no %q: %v", k, rec)
		}
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || rec["level"] != "warn" || rec["ms"] != 12.0 {
		t.Errorf("line 2 = %v (%v)", rec, err)
	}
}

func TestConsole(t *testing.T) {
	var buf bytes.Buffer
	log, err := New("console", "debug", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("loading", zap.String("file", "model.onnx"))
	log.Error("failed")
	lines := readLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "\tDEBUG\tloading\t") || !strings.Contains(lines[0], `{"file": "model.onnx"}`) {
		t.Errorf("line 1 = %q", lines[0])
	}
	if !strings.Contains(lines[1], "\tERROR\tfailed") {
		t.Errorf("line 2 = %q", lines[1])
	}
	if strings.Contains(buf.String(), "\x1b[") {
		t.Errorf("colour codes written to a non-terminal: %q", buf.String())
	}
	if json.Valid([]byte(lines[0])) {
		t.Errorf("console line is JSON: %q", lines[0])
	}
}

func TestTerminalChoices(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger("console", "info", &buf, true)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello")
	if !strings.Contains(buf.String(), "\x1b[34mINFO\x1b[0m") {
		t.Errorf("no coloured level on a terminal: %q", buf.String())
	}

	// "" means console on a terminal, JSON otherwise.
	for _, tty := range []bool{true, false} {
		buf.Reset()
		log, err := newLogger("", "", &buf, tty)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello")
		if isJSON := json.Valid(bytes.TrimSpace(buf.Bytes())); isJSON == tty {
			t.Errorf("format \"\", terminal %v: got %q", tty, buf.String())
		}
	}
}

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a bytes.Buffer is a terminal")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file is a terminal")
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct{ format, level, want string }{
		{"xml", "info", `log format "xml": must be console or json`},
		{"json", "verbose", `log level "verbose": must be debug, info, warn or error`},
		{"console", "INFO", `log level "INFO"`},
	} {
		_, err := New(tc.format, tc.level, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %q) error = %v, want %q", tc.format, tc.level, err, tc.want)
		}
	}
	if _, err := New("json", "info", nil); err == nil {
		t.Error("New with a nil writer: no error")
	}
}

func readLines(t *testing.T, buf *bytes.Buffer) []string {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
