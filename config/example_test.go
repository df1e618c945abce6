package config_test

import (
	"fmt"

	"github.com/spf13/pflag"
	"github.com/tagnet/tagnet/config"
)

// A main registers the flags, parses them, then loads the file named by
// its own --config flag; flags that were set win over the file.
func ExampleLoadPredict() {
	fs := pflag.NewFlagSet("tagnet-predict", pflag.ContinueOnError)
	configFile := fs.String("config", "", "configuration file")
	config.AddPredictFlags(fs)
	args := []string{"--config", "examples/deploy.yaml", "--server.queue-size=128", "--runtime.providers=cuda,cpu"}
	if err := fs.Parse(args); err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := config.LoadPredict(*configFile, fs)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Model.Path, cfg.Server.Listen, cfg.Server.QueueSize, cfg.Runtime.Providers, cfg.Thresholds.Strategy)
	// Output: examples/model.onnx 127.0.0.1:8080 128 [cuda cpu] f1
}

func ExampleParseShard() {
	s, _ := config.ParseShard("2/8")
	fmt.Println(s.Index, s.Count, s.Enabled())
	// Output: 2 8 true
}
