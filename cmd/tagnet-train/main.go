// Command tagnet-train trains multi-label image classifiers and exports them
// as self-describing ONNX models for tagnet-predict.
//
//	tagnet-train init --arch resnet18 --classes 20 --size 224 -o model.onnx
//
// writes a random-initialised model (for tests, benchmarks and smoke runs).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/tagnet/tagnet/cmd/internal/clilog"
)

// exitUsage is the exit code for bad flags, configuration or arguments.
const exitUsage = 2

// version is the tagnet version written into exported models.
const version = "0.1.0"

// exitCode is an error that only sets the process exit code (the message
// was already printed).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError marks errors that are the caller's to fix (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// app carries what every subcommand shares: the logger, built once per
// command from its log flags (or, for commands with a configuration, from
// the log section).
type app struct {
	log *zap.Logger
}

// setLogger builds the logger once the command knows its log settings.
func (a *app) setLogger(format, level string) error {
	l, err := clilog.New(format, level, os.Stderr)
	if err != nil {
		return usageError{fmt.Errorf("log: %w", err)}
	}
	a.log = l
	return nil
}

// addLogFlags gives a command without a configuration file its log flags.
func (a *app) addLogFlags(cmd *cobra.Command) {
	var format, level string
	cmd.Flags().StringVar(&format, "log-format", "", "log format: console or json (default: console on a terminal, json otherwise)")
	cmd.Flags().StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	cmd.PreRunE = func(*cobra.Command, []string) error { return a.setLogger(format, level) }
}

func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	return nil
}

func run(ctx context.Context, args []string) int {
	a := &app{log: zap.NewNop()}
	root := &cobra.Command{
		Use:           "tagnet-train",
		Short:         "Train multi-label image classifiers and export them as ONNX models",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(a.initCmd(), a.trainCmd(), a.dataCmd(), a.evalCmd(), a.sweepCmd(), a.lrFindCmd(), a.adoptCmd())
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	_ = a.log.Sync()
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	fmt.Fprintln(os.Stderr, "tagnet-train:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return 1
}
