package config

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"
)

// AddPredictFlagsFor registers the selected sections and keys only; the
// configuration still loads every key from the environment.
func TestAddFlagsFor(t *testing.T) {
	isolateEnv(t)
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	AddPredictFlagsFor(fs, "server.batching", "model.path")
	var names []string
	fs.VisitAll(func(fl *pflag.Flag) { names = append(names, fl.Name) })
	want := []string{"model.path", "server.batching.enabled", "server.batching.max-batch", "server.batching.max-delay"}
	if slices.Sort(names); !slices.Equal(names, want) {
		t.Errorf("flags %q, want %q", names, want)
	}
	if err := fs.Parse([]string{"--server.listen=:1"}); err == nil {
		t.Error("--server.listen parsed though server.listen was not selected")
	}
	t.Setenv("TAGNET_SERVER_LISTEN", ":9")
	if err := fs.Parse([]string{"--server.batching.max-batch=3"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadPredict("", fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != ":9" || cfg.Server.Batching.MaxBatch != 3 {
		t.Errorf("server.listen %q, server.batching.max_batch %d; want :9 (environment) and 3 (flag)", cfg.Server.Listen, cfg.Server.Batching.MaxBatch)
	}

	defer func() {
		if recover() == nil {
			t.Error("a selector of no key did not panic")
		}
	}()
	AddTrainFlagsFor(pflag.NewFlagSet("x", pflag.ContinueOnError), "data.no_such_key")
}

// AddAlias registers a flag of the key's type and default, hides the
// dotted one, which keeps working, and FlagKey maps both to the key.
func TestAddAlias(t *testing.T) {
	isolateEnv(t)
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	AddTrainFlagsFor(fs, "train")
	if err := AddAlias(fs, "epochs", "e", "train.epochs", "epochs (train.epochs)"); err != nil {
		t.Fatal(err)
	}
	if err := AddAlias(fs, "x", "", "train.no_such_key", ""); err == nil {
		t.Error("an alias of an unknown key: no error")
	}
	alias, dotted := fs.Lookup("epochs"), fs.Lookup("train.epochs")
	if alias.DefValue != "3" || alias.Value.Type() != "int" || alias.Shorthand != "e" || alias.Hidden || !dotted.Hidden {
		t.Errorf("--epochs: default %q, type %s, shorthand %q, hidden %v; --train.epochs hidden %v",
			alias.DefValue, alias.Value.Type(), alias.Shorthand, alias.Hidden, dotted.Hidden)
	}
	for _, fl := range []*pflag.Flag{alias, dotted} {
		if key, ok := FlagKey(fl); !ok || key != "train.epochs" {
			t.Errorf("FlagKey(--%s) = %q, %v", fl.Name, key, ok)
		}
	}
	fs.Bool("json", false, "")
	if key, ok := FlagKey(fs.Lookup("json")); ok {
		t.Errorf("FlagKey(--json) = %q", key)
	}
	for _, args := range [][]string{{"-e", "7"}, {"--train.epochs=7"}} {
		fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
		AddTrainFlagsFor(fs, "train")
		if err := AddAlias(fs, "epochs", "e", "train.epochs", ""); err != nil {
			t.Fatal(err)
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadTrain("", fs)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Train.Epochs != 7 {
			t.Errorf("%q: train.epochs %d, want 7", args, cfg.Train.Epochs)
		}
	}
}
