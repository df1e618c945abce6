package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tagnet/tagnet/config"
)

// tree is a two-command program: "fail" returns its argument's kind of
// error, "serve" has --server.listen.
func tree() *cobra.Command {
	root := &cobra.Command{Use: "prog"}
	AddRootFlags(root, "example.yaml", func(fs *pflag.FlagSet) { config.AddPredictFlagsFor(fs, "log") })
	fail := &cobra.Command{
		Use:  "fail KIND",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			switch args[0] {
			case "plain":
				return errors.New("disk full")
			case "usage":
				return Usage(errors.New("bad model"))
			case "silent":
				return Code(ExitFailed)
			}
			return nil
		},
	}
	serve := &cobra.Command{Use: "serve", RunE: func(*cobra.Command, []string) error { return nil }}
	config.AddPredictFlagsFor(serve.Flags(), "server.listen")
	if err := config.AddAlias(serve.Flags(), "listen", "l", "server.listen", "address (server.listen)"); err != nil {
		panic(err)
	}
	root.AddCommand(fail, serve)
	return root
}

func TestExecute(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"fail", "ok"}, ExitOK, ""},
		{[]string{"fail", "plain"}, ExitFailed, "prog: disk full\n"},
		{[]string{"fail", "usage"}, ExitUsage, "prog: bad model\n"},
		{[]string{"fail", "silent"}, ExitFailed, ""},
		{[]string{"fail"}, ExitUsage, "prog: accepts 1 arg(s), received 0\n"},
		{[]string{"nothing"}, ExitUsage, `prog: unknown command "nothing" for "prog"` + "\n"},
		{[]string{"fail", "--server.listen=:1", "ok"}, ExitUsage, "prog: unknown flag: --server.listen (not a flag of fail; serve has it)\n"},
		{[]string{"fail", "--no-such", "ok"}, ExitUsage, "prog: unknown flag: --no-such\n"},
		{[]string{"fail", "-l", ":1", "ok"}, ExitUsage, "prog: unknown shorthand flag: 'l' in -l (not a flag of fail; serve has it)\n"},
		{[]string{"fail", "-z", "ok"}, ExitUsage, "prog: unknown shorthand flag: 'z' in -z\n"},
		{[]string{"fail", "ok", "--log-format", "json", "-c", "x.yaml"}, ExitOK, ""},
	} {
		var stdout, stderr bytes.Buffer
		if code := Execute(context.Background(), tree(), tc.args, &stdout, &stderr); code != tc.code || stderr.String() != tc.stderr {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
	}
}

// --log-format and --log-level are the help's; --log.format is hidden and
// both set the key; completion is hidden; --version prints the version.
func TestRootFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Execute(context.Background(), tree(), []string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	help := stdout.String()
	for _, want := range []string{"--log-format", "--log-level", "-c, --config", "--version"} {
		if !strings.Contains(help, want) {
			t.Errorf("help does not list %s", want)
		}
	}
	for _, not := range []string{"--log.format", "--log.level", "completion"} {
		if strings.Contains(help, not) {
			t.Errorf("help lists %s", not)
		}
	}
	stdout.Reset()
	if code := Execute(context.Background(), tree(), []string{"--version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "prog "+Version) {
		t.Errorf("--version: exit %d, %q", code, stdout.String())
	}

	root := tree()
	var got *config.Predict
	root.Commands()[1].RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := config.LoadPredict(ConfigFile(cmd), cmd.Flags())
		got = cfg
		return err
	}
	if code := Execute(context.Background(), root, []string{"--log-level", "warn", "serve", "--log.format", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("serve: exit %d: %s", code, stderr.String())
	}
	if got.Log.Level != "warn" || got.Log.Format != "json" {
		t.Errorf("log section %+v, want warn and json", got.Log)
	}
}
