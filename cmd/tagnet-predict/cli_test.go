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

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/cmd/internal/cli/clitest"
	"github.com/tagnet/tagnet/config"
)

// runIn runs tagnet-predict's run in-process.
func runIn(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// Each subcommand's --help lists the configuration sections it uses,
// every key of them, each key once; --config and the log flags are the
// root's and every subcommand has them.
func TestHelpListsUsedKeys(t *testing.T) {
	want := map[string][]string{
		"info":    {"log", "model", "thresholds"},
		"predict": {"log", "model", "predict", "runtime", "thresholds"},
		"serve":   {"log", "model", "runtime", "server", "thresholds"},
		"merge":   {"log"},
	}
	cmds := clitest.Commands(newRoot())
	for name := range cmds {
		if want[name] == nil {
			t.Errorf("command %q is not in this test's table", name)
		}
	}
	for name, sections := range want {
		c := cmds[name]
		if c == nil {
			t.Errorf("no command %q", name)
			continue
		}
		r := runIn(t, name, "--help")
		if r.code != 0 {
			t.Fatalf("%s --help: exit %d: %s", name, r.code, r.stderr)
		}
		keys, _ := clitest.HelpKeys(c, r.stdout)
		got := map[string]bool{}
		for key, flags := range keys {
			got[clitest.Section(key)] = true
			if len(flags) > 1 {
				t.Errorf("%s --help lists %s %d times: %q", name, key, len(flags), flags)
			}
		}
		if gs := slices.Sorted(maps.Keys(got)); !slices.Equal(gs, sections) {
			t.Errorf("%s --help lists the sections %q, want %q", name, gs, sections)
		}
		for _, key := range config.PredictKeys() {
			if slices.Contains(sections, clitest.Section(key)) && key != "thresholds.overrides" && keys[key] == nil {
				t.Errorf("%s --help does not list %s", name, key)
			}
		}
		flags := clitest.HelpFlags(r.stdout)
		if !slices.Contains(flags, "config") {
			t.Errorf("%s --help does not list --config", name)
		}
	}
	// The warm-up is predict's too: its help does not say "before serving".
	if r := runIn(t, "predict", "--help"); strings.Contains(r.stdout, "serving") {
		t.Errorf("predict --help speaks of serving:\n%s", r.stdout)
	}
	// The short spellings are the ones shown.
	r := runIn(t, "predict", "--help")
	for _, shown := range []string{"--model", "--strategy", "-o, --output", "--batch-size", "--workers", "--shard", "--resume", "--log-format", "--log-level"} {
		if !strings.Contains(r.stdout, shown+" ") {
			t.Errorf("predict --help does not show %s", shown)
		}
	}
}

// A flag of another subcommand's section is a usage error naming the flag
// and the subcommands that take it; the hidden dotted spelling of a key
// with a short one still works, and a config file and the environment may
// hold sections the command does not use.
func TestFlagsOfOtherCommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"predict", "--server.listen", ":1", "--model", modelPath, "."}, []string{"unknown flag: --server.listen", "serve has it"}},
		{[]string{"info", "--runtime.library", "x", modelPath}, []string{"unknown flag: --runtime.library", "predict and serve have it"}},
		{[]string{"serve", "--model", modelPath, "--predict.output", "x.csv"}, []string{"unknown flag: --predict.output", "predict has it"}},
		{[]string{"serve", "--model", modelPath, "--batch-size", "4"}, []string{"unknown flag: --batch-size", "predict has it"}},
		{[]string{"merge", "--strategy", "f1", "x.jsonl"}, []string{"unknown flag: --strategy"}},
		{[]string{"info", "-o", "x.csv", modelPath}, []string{"unknown shorthand flag: 'o' in -o", "merge and predict have it"}},
	} {
		r := runIn(t, tc.args...)
		if r.code != cli.ExitUsage {
			t.Errorf("%q: exit %d, want %d", tc.args, r.code, cli.ExitUsage)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%q: stderr %q does not say %q", tc.args, r.stderr, w)
			}
		}
	}

	// --model.path is hidden behind --model, and works.
	if r := runIn(t, "info", "--model.path", modelPath, "--log-format", "json"); r.code != 0 || !strings.Contains(r.stdout, "animal") {
		t.Errorf("info --model.path: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A shared deploy.yaml with every section: info uses two of them.
	yaml := filepath.Join(t.TempDir(), "deploy.yaml")
	if err := os.WriteFile(yaml, []byte("model:\n  path: "+modelPath+"\nruntime:\n  intra_op_threads: 1\n"+
		"predict:\n  batch_size: 4\nserver:\n  listen: \":9\"\nlog:\n  format: json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TAGNET_SERVER_QUEUE_SIZE", "3")
	for _, args := range [][]string{
		{"info", "--config", yaml},
		{"--config", yaml, "info"}, // a root flag before the subcommand
		{"info", "-c", yaml, "--strategy", "fixed:0.3"},
	} {
		if r := runIn(t, args...); r.code != 0 || !strings.Contains(r.stdout, "animal") {
			t.Errorf("%q: exit %d:\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	// The file's and the environment's keys are still checked.
	t.Setenv("TAGNET_SERVER_QUEUE_SIZE", "-1")
	if r := runIn(t, "info", "--config", yaml); r.code != cli.ExitUsage || !strings.Contains(r.stderr, "TAGNET_SERVER_QUEUE_SIZE") {
		t.Errorf("info with a bad TAGNET_SERVER_QUEUE_SIZE: exit %d: %s", r.code, r.stderr)
	}
}

// --version prints the version on both the root and a subcommand's line;
// completion still works but help does not list it; the log flags are the
// root's for every subcommand, merge included.
func TestRootFlags(t *testing.T) {
	// The built binary, so that --version is checked as users run it.
	clitest.RootFlags(t, "tagnet-predict", func(args ...string) (int, string) {
		r := tp(t, nil, args...)
		return r.code, r.stdout
	})

	// merge logs its summary as the log flags say.
	dir := t.TempDir()
	part := filepath.Join(dir, "part.jsonl")
	if r := tp(t, nil, "predict", "--model", modelPath, "-o", part, "--log-format", "json", photosDir); r.code != 0 {
		t.Fatalf("predict: exit %d: %s", r.code, r.stderr)
	}
	r := runIn(t, "--log-format", "json", "merge", "-o", filepath.Join(dir, "all.csv"), part)
	if r.code != 0 || !strings.Contains(r.stderr, `"msg":"merge finished"`) {
		t.Errorf("merge --log-format json: exit %d:\n%s", r.code, r.stderr)
	}
	r = runIn(t, "merge", "--log-format", "xml", "-o", filepath.Join(dir, "all2.csv"), part)
	if r.code != cli.ExitUsage || !strings.Contains(r.stderr, "log.format") {
		t.Errorf("merge --log-format xml: exit %d: %s", r.code, r.stderr)
	}
}
