// Command tagnet-train trains multi-label image classifiers and exports them
// as self-describing ONNX models for tagnet-predict.
//
//	tagnet-train init --arch resnet18 --classes 20 --size 224 -o model.onnx
//
// writes a random-initialised model (for tests, benchmarks and smoke runs);
// train, lr-find, eval, sweep and adopt are the training workflow, data
// writes built-in data sets.
//
// Every setting is a configuration key (see package config and
// config/examples/train.yaml), read from defaults, --config FILE, TAGNET_*
// environment variables and flags, in increasing order of precedence.
// --config and --log-format/--log-level belong to every subcommand; each
// subcommand has flags for the keys it uses only.
//
// Exit status: 0 done; 1 failed while running; 2 usage, configuration or
// set-up errors; 130 interrupted.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/cmd/internal/cli"
	"github.com/tagnet/tagnet/config"
	"github.com/tagnet/tagnet/internal/clilog"
)

// version is the tagnet version written into exported models.
const version = cli.Version

// usage marks err as the caller's to fix: a usage, configuration or
// set-up error (exit 2).
func usage(err error) error { return cli.Usage(err) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// app carries what every subcommand shares: the configuration, loaded
// before the command runs (--config, the environment, the command's
// flags), the logger built from its log section, and the output streams.
type app struct {
	cfg            *config.Train
	flags          *pflag.FlagSet // the running command's, for messages naming its flags
	log            *zap.Logger
	stdout, stderr io.Writer
}

// load loads the configuration for cmd (file, environment, the flags cmd
// has) and builds the logger from its log section; errors are usage errors.
// Commands without keys of their own (init, data) take only the log
// section from it.
func (a *app) load(cmd *cobra.Command) error {
	cfg, err := config.LoadTrain(cli.ConfigFile(cmd), cmd.Flags())
	if err != nil {
		return usage(err)
	}
	l, err := clilog.New(cfg.Log.Format, cfg.Log.Level, a.stderr)
	if err != nil {
		return usage(fmt.Errorf("log: %w", err))
	}
	a.cfg, a.log, a.flags = cfg, l, cmd.Flags()
	return nil
}

func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return nil
}

// newRoot builds the command tree writing to stdout and stderr.
func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tagnet-train",
		Short: "Train multi-label image classifiers and export them as ONNX models",
		Long: `Train multi-label image classifiers and export them as ONNX models.

Settings are configuration keys (config/examples/train.yaml lists them all),
read from defaults, --config FILE, TAGNET_<SECTION>_<KEY> environment
variables and flags, in increasing order of precedence. Each subcommand
has flags for the keys it uses only; its config file may hold the others.

Exit status: 0 done, 1 failed while running, 2 usage, configuration or
set-up error, 130 interrupted (train: continue with --resume).`,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.load(cmd) },
	}
	cli.AddRootFlags(root, "config/examples/train.yaml", func(fs *pflag.FlagSet) { config.AddTrainFlagsFor(fs, "log") })
	root.AddCommand(a.initCmd(), a.trainCmd(), a.dataCmd(), a.evalCmd(), a.sweepCmd(), a.lrFindCmd(), a.adoptCmd())
	return root
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{log: zap.NewNop(), stdout: stdout, stderr: stderr}
	code := cli.Execute(ctx, a.newRoot(), args, stdout, stderr)
	_ = a.log.Sync()
	return code
}
