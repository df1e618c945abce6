// Command tagnet-predict runs multi-label image classifiers written by
// tagnet-train, on ONNX Runtime (CPU or CUDA).
//
//	tagnet-predict info model.onnx
//	tagnet-predict predict --model model.onnx --output results.csv photos/
//
// info prints what a model file says about itself and the thresholds the
// predictor would use; predict labels every image under the given
// directories into a CSV or JSON-lines file (standard output by default).
// The server subcommand, serve, is wired in serve.go; merge combines the
// results files of a sharded run into one (merge.go).
//
// Every setting is a configuration key (see package config and
// config/examples/deploy.yaml), read from defaults, --config FILE, TAGNET_*
// environment variables and flags, in increasing order of precedence.
//
// Exit status: 0 when every file was predicted; 1 when a file failed or the
// run was interrupted; 2 for usage, configuration or set-up errors (bad
// flags or keys, a model or runtime that cannot be loaded, an unusable
// output), reported before any file is predicted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// exitError carries an exit code and the error to print (none when err is
// nil: the reason was already reported).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usage wraps err as a usage, configuration or set-up error (exit 2).
func usage(err error) error { return &exitError{code: exitUsage, err: err} }

// failed wraps err as a failure while running (exit 1).
func failed(err error) error { return &exitError{code: exitFailed, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:   "tagnet-predict",
		Short: "Label images with a tagnet model on ONNX Runtime",
		Long: `Label images with a multi-label classifier written by tagnet-train.

Settings are configuration keys (config/examples/deploy.yaml lists them all),
read from defaults, --config FILE, TAGNET_<SECTION>_<KEY> environment
variables and --section.key flags, in increasing order of precedence.

Exit status: 0 all files predicted, 1 some file failed or the run was
interrupted, 2 usage, configuration or set-up error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	root.AddCommand(infoCmd(), predictCmd(), serveCmd(), mergeCmd())
	root.SetArgs(args)

	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Cobra's own errors: unknown command, bad arguments.
		ee = &exitError{code: exitUsage, err: err}
	}
	if ee.err != nil {
		fmt.Fprintln(stderr, "tagnet-predict:", ee.err)
	}
	return ee.code
}
