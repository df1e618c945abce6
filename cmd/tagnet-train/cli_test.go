package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/cmd/internal/cli/clitest"
	"github.com/tagnet/tagnet/config"
)

// runResult is one in-process run of tagnet-train.
type runResult struct {
	code           int
	stdout, stderr string
}

func runIn(t *testing.T, args ...string) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return runResult{code, stdout.String(), stderr.String()}
}

// Each subcommand's --help lists the configuration sections it uses and
// each key once: eval and sweep take the architecture from the model (no
// model.* keys, no schedule), lr-find runs its own schedule, init and data
// have the log section only; --config and the log flags are the root's.
func TestHelpListsUsedKeys(t *testing.T) {
	for _, tc := range []struct {
		cmd      string
		sections []string
		without  []string // keys of those sections the command does not list
	}{
		{"train", []string{"data", "log", "model", "output", "sweep", "train"}, nil},
		{"lr-find", []string{"data", "log", "model", "output", "train"}, []string{"train.epochs", "train.lr", "train.schedule", "output.model"}},
		{"eval", []string{"data", "log", "output", "runtime", "train"}, []string{"train.epochs", "train.lr", "train.schedule", "data.resize", "data.prefetch"}},
		{"sweep", []string{"data", "log", "output", "runtime", "sweep", "train"}, []string{"train.epochs", "train.lr", "train.threshold", "data.resize"}},
		{"adopt", []string{"data", "log", "runtime", "sweep", "train"}, []string{"train.epochs", "train.batch_size", "data.valid_pct", "data.workers"}},
		{"init", []string{"log"}, nil},
		{"data synth", []string{"log"}, nil},
		{"data fashion-mnist", []string{"log"}, nil},
	} {
		cmds := clitest.Commands((&app{log: zap.NewNop()}).newRoot())
		c := cmds[tc.cmd]
		if c == nil {
			t.Fatalf("no command %q", tc.cmd)
		}
		r := runIn(t, append(strings.Fields(tc.cmd), "--help")...)
		if r.code != 0 {
			t.Fatalf("%s --help: exit %d: %s", tc.cmd, r.code, r.stderr)
		}
		keys, _ := clitest.HelpKeys(c, r.stdout)
		sections := map[string]bool{}
		for key, flags := range keys {
			sections[clitest.Section(key)] = true
			if len(flags) > 1 {
				t.Errorf("%s --help lists %s %d times: %q", tc.cmd, key, len(flags), flags)
			}
		}
		if got := slices.Sorted(maps.Keys(sections)); !slices.Equal(got, tc.sections) {
			t.Errorf("%s --help lists the sections %q, want %q", tc.cmd, got, tc.sections)
		}
		for _, key := range tc.without {
			if keys[key] != nil {
				t.Errorf("%s --help lists %s (%q)", tc.cmd, key, keys[key])
			}
		}
		if tc.without == nil {
			for _, key := range config.TrainKeys() {
				if slices.Contains(tc.sections, clitest.Section(key)) && keys[key] == nil {
					t.Errorf("%s --help does not list %s", tc.cmd, key)
				}
			}
		}
		if !slices.Contains(clitest.HelpFlags(r.stdout), "config") {
			t.Errorf("%s --help does not list --config", tc.cmd)
		}
	}
	// Every command is in the table above.
	if n := len(clitest.Commands((&app{log: zap.NewNop()}).newRoot())); n != 8 {
		t.Errorf("%d commands; the table has 8", n)
	}
	// The README's spellings are the ones shown; the dotted ones are hidden.
	r := runIn(t, "train", "--help")
	for _, shown := range []string{"--data ", "--csv ", "--arch ", "--size ", "--epochs ", "--batch-size ", "--lr ", "--output ", "--resume", "--log-format "} {
		if !strings.Contains(r.stdout, shown) {
			t.Errorf("train --help does not show %s", shown)
		}
	}
	for _, hidden := range []string{"--data.dir", "--model.arch", "--train.epochs", "--log.format", "--output.dir"} {
		if strings.Contains(r.stdout, hidden) {
			t.Errorf("train --help shows %s", hidden)
		}
	}
}

// Exit codes: 0 done, 1 a failure while running, 2 usage and
// configuration errors (an unknown command, a flag of another command,
// --size where the image side is --image-size, a bad key from a flag, a
// file or the environment, a bad argument count).
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	r := runIn(t, "init", "--arch", "resnet-tiny", "--classes", "2", "--size", "32", "-o", model, "--log-format", "json")
	if r.code != cli.ExitOK || !strings.Contains(r.stderr, `"msg":"wrote random-initialised model"`) {
		t.Errorf("init: exit %d, stderr %q", r.code, r.stderr)
	}

	// A failure while running: the output folder is a file.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = runIn(t, "init", "--arch", "resnet-tiny", "--classes", "2", "--size", "32", "-o", filepath.Join(blocker, "m.onnx"))
	if r.code != cli.ExitFailed || !strings.Contains(r.stderr, "tagnet-train: ") {
		t.Errorf("init into a file's sub-folder: exit %d, want %d: %s", r.code, cli.ExitFailed, r.stderr)
	}

	yaml := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(yaml, []byte("train:\n  epochs: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"no-such-command"}, `unknown command "no-such-command"`},
		{[]string{"eval", "--arch", "resnet18"}, "unknown flag: --arch (not a flag of eval; init, lr-find and train have it)"},
		{[]string{"sweep", "--epochs", "3"}, "unknown flag: --epochs (not a flag of sweep; train has it)"},
		{[]string{"eval", "--lr", "0.1"}, "unknown flag: --lr"},
		{[]string{"data", "synth", "-o", dir, "--size", "32"}, "unknown flag: --size (not a flag of data synth; adopt, init, lr-find and train have it)"},
		{[]string{"train", "--data", dir, "--epochs", "0"}, "flag --epochs: train.epochs"},
		{[]string{"train", "--config", yaml, "--data", dir}, "bad.yaml:2: train.epochs"},
		{[]string{"init", "extra-argument"}, "unknown command"},
		{[]string{"eval", "--data", dir, "--model", filepath.Join(dir, "missing.onnx")}, "missing.onnx"},
		{[]string{"init", "--log-level", "loud", "-o", model}, "log.level"},
	} {
		r := runIn(t, tc.args...)
		if r.code != cli.ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, cli.ExitUsage, tc.want)
		}
	}

	// The environment's log section reaches a command without keys of its
	// own, and a config file with every section is accepted by it.
	t.Setenv("TAGNET_LOG_FORMAT", "json")
	r = runIn(t, "data", "synth", "-o", filepath.Join(dir, "d"), "--train", "4", "--valid", "2", "--image-size", "16",
		"--config", "../../config/examples/train.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "labels: ") || !strings.Contains(r.stderr, `"msg":"wrote data set"`) {
		t.Errorf("data synth: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	t.Setenv("TAGNET_LOG_FORMAT", "")
	t.Setenv("TAGNET_TRAIN_EPOCHS", "-2")
	if r = runIn(t, "init", "-o", model); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "TAGNET_TRAIN_EPOCHS") {
		t.Errorf("init with a bad TAGNET_TRAIN_EPOCHS: exit %d: %s", r.code, r.stderr)
	}
}

// --version names the program and version; completion works but help does
// not list it.
func TestRootFlags(t *testing.T) {
	clitest.RootFlags(t, "tagnet-train", func(args ...string) (int, string) {
		r := runIn(t, args...)
		return r.code, r.stdout
	})
}
