// Package cli is what tagnet's two command-line programs, tagnet-train and
// tagnet-predict, share around their cobra command trees: the version, the
// exit-code scheme, the root flags every subcommand has (--config,
// --log-format, --log-level) and the error handling that turns a command's
// error into an exit code. Each main builds its tree and calls [Execute]
// from a run(ctx, args, stdout, stderr) int of its own, which tests call
// in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tagnet/tagnet/config"
)

// Version is tagnet's version: printed by --version and written into the
// models tagnet-train exports (their producer_version).
const Version = "0.1.0"

// Exit codes of both programs.
const (
	// ExitOK: the command did what it was asked.
	ExitOK = 0
	// ExitFailed: the command failed while running (a file that did not
	// predict, a training run that stopped on an error, a write that
	// failed).
	ExitFailed = 1
	// ExitUsage: nothing was done because of the caller's input: an unknown
	// command or flag, a wrong number of arguments, a bad configuration
	// key, a model or runtime that cannot be loaded.
	ExitUsage = 2
	// ExitInterrupted: tagnet-train stopped cleanly on SIGINT or SIGTERM
	// (128 + SIGINT, as a shell reports it).
	ExitInterrupted = 130
)

// ExitError carries an exit code and the error to print; Err nil means
// the reason was already reported and nothing more is printed.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Usage marks err as a usage, configuration or set-up error (exit 2).
func Usage(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// Failed marks err as a failure while running (exit 1).
func Failed(err error) error { return &ExitError{Code: ExitFailed, Err: err} }

// Code is an error that only sets the exit code: the reason was already
// reported.
func Code(code int) error { return &ExitError{Code: code} }

// flags of the root command.
const (
	configFlag    = "config"
	logFormatFlag = "log-format"
	logLevelFlag  = "log-level"
)

// AddRootFlags registers on root the persistent flags every subcommand
// has: --config/-c, the YAML configuration file, and --log-format and
// --log-level, which set the keys log.format and log.level. addLog
// registers the log section's own flags on the persistent flag set
// (config.AddTrainFlagsFor or config.AddPredictFlagsFor with "log"); the
// short spellings are aliases ([config.AddAlias]), which hides the dotted
// ones from help. example names the example
// configuration file in --config's help.
func AddRootFlags(root *cobra.Command, example string, addLog func(*pflag.FlagSet)) {
	fs := root.PersistentFlags()
	fs.StringP(configFlag, "c", "", "YAML configuration file (every key: "+example+"); it may hold sections this command does not use")
	addLog(fs)
	for _, a := range []struct{ flag, key, usage string }{
		{logFormatFlag, "log.format", "log format: console or json (log.format; default: console on a terminal, json otherwise)"},
		{logLevelFlag, "log.level", "log level: debug, info, warn or error (log.level)"},
	} {
		if err := config.AddAlias(fs, a.flag, "", a.key, a.usage); err != nil {
			panic(err) // fixed at compile time; every test of the command catches it
		}
	}
}

// ConfigFile is the --config of the running command: "" for none.
func ConfigFile(cmd *cobra.Command) string {
	path, _ := cmd.Flags().GetString(configFlag)
	return path
}

// Execute runs root with args, writing to stdout and stderr, and returns
// the exit code. It sets what both programs share: --version (with the
// build's commit when known), a hidden completion command, and the exit
// codes: an [*ExitError] gives its own; any other error returned by a
// command's RunE is a failure (1); cobra's own errors (an unknown command
// or flag, wrong arguments) are usage errors (2). An unknown flag that
// is a setting of another subcommand is named with the subcommands that
// take it.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.Version = version()
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SilenceUsage, root.SilenceErrors = true, true
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return Usage(flagError(root, c, err)) })
	wrapRunE(root)
	root.SetArgs(args)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		// Not from a command's RunE (wrapRunE marks those): cobra's own.
		ee = &ExitError{Code: ExitUsage, Err: err}
	}
	if ee.Err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", root.Name(), ee.Err)
	}
	return ee.Code
}

// wrapRunE makes every error that a command of the tree returns without an
// exit code a failure (exit 1).
func wrapRunE(c *cobra.Command) {
	for _, sub := range c.Commands() {
		wrapRunE(sub)
	}
	if c.RunE == nil {
		return
	}
	run := c.RunE
	c.RunE = func(cmd *cobra.Command, args []string) error {
		err := run(cmd, args)
		var ee *ExitError
		if err != nil && !errors.As(err, &ee) {
			return Failed(err)
		}
		return err
	}
}

// flagError explains an unknown flag that other commands of the tree take:
// "unknown flag: --server.listen (not a flag of predict; serve has it)".
func flagError(root, c *cobra.Command, err error) error {
	has := func(*cobra.Command) bool { return false }
	if name, ok := strings.CutPrefix(err.Error(), "unknown flag: --"); ok {
		has = func(x *cobra.Command) bool { return x.LocalFlags().Lookup(name) != nil }
	} else if msg, ok := strings.CutPrefix(err.Error(), "unknown shorthand flag: '"); ok && len(msg) > 1 && msg[1] == '\'' {
		// "unknown shorthand flag: 'o' in -o"
		has = func(x *cobra.Command) bool { return x.LocalFlags().ShorthandLookup(msg[:1]) != nil }
	}
	var users []string
	var walk func(*cobra.Command)
	walk = func(x *cobra.Command) {
		if x != c && x.Runnable() && has(x) {
			users = append(users, subPath(root, x))
		}
		for _, sub := range x.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(users) == 0 {
		return err
	}
	slices.Sort(users)
	verb := "has"
	if len(users) > 1 {
		verb = "have"
		users = append(users[:len(users)-2], users[len(users)-2]+" and "+users[len(users)-1])
	}
	return fmt.Errorf("%w (not a flag of %s; %s %s it)", err, subPath(root, c), strings.Join(users, ", "), verb)
}

// subPath is c's command path below root ("data synth"), or root's name.
func subPath(root, c *cobra.Command) string {
	if c == root {
		return root.Name()
	}
	return strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
}

// version is Version with the commit the binary was built from, when the
// build recorded one.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+modified"
			}
		}
	}
	v := Version
	if rev != "" {
		v += fmt.Sprintf(" (commit %.12s%s)", rev, modified)
	}
	return v + " " + bi.GoVersion
}
