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
// --config and --log-format/--log-level belong to every subcommand; each
// subcommand has flags for the keys it uses only (info: model, thresholds;
// predict: model, runtime, thresholds, predict; serve: model, runtime,
// thresholds, server), while its config file and the environment may hold
// every key of tagnet-predict.
//
// Exit status: 0 when every file was predicted; 1 when a file failed or the
// run was interrupted; 2 for usage, configuration or set-up errors (bad
// flags or keys, a model or runtime that cannot be loaded, an unusable
// output), reported before any file is predicted.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/config"
)

// usage wraps err as a usage, configuration or set-up error (exit 2).
func usage(err error) error { return cli.Usage(err) }

// failed wraps err as a failure while running (exit 1).
func failed(err error) error { return cli.Failed(err) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// newRoot builds the command tree.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tagnet-predict",
		Short: "Label images with a tagnet model on ONNX Runtime",
		Long: `Label images with a multi-label classifier written by tagnet-train.

Settings are configuration keys (config/examples/deploy.yaml lists them all),
read from defaults, --config FILE, TAGNET_<SECTION>_<KEY> environment
variables and flags, in increasing order of precedence. Each subcommand
has flags for the keys it uses only; its config file may hold the others.

Exit status: 0 all files predicted, 1 some file failed or the run was
interrupted, 2 usage, configuration or set-up error.`,
	}
	cli.AddRootFlags(root, "config/examples/deploy.yaml", func(fs *pflag.FlagSet) { config.AddPredictFlagsFor(fs, "log") })
	root.AddCommand(infoCmd(), predictCmd(), serveCmd(), mergeCmd())
	return root
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Execute(ctx, newRoot(), args, stdout, stderr)
}
