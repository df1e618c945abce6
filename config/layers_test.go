package config

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/postprocess"
)

// predictFlags returns a flag set with the predict flags, parsed from args.
func predictFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("tagnet-predict", pflag.ContinueOnError)
	AddPredictFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, "deploy.yaml", "server:\n  queue_size: 10\nmodel:\n  path: file.onnx\n")
	dir := filepath.Dir(path)
	for _, tc := range []struct {
		name      string
		file      bool
		env       bool
		flag      bool
		wantQueue int
		wantModel string
	}{
		{name: "default", wantQueue: 64, wantModel: ""},
		{name: "file", file: true, wantQueue: 10, wantModel: filepath.Join(dir, "file.onnx")},
		{name: "env over file", file: true, env: true, wantQueue: 20, wantModel: "env.onnx"},
		{name: "flag over env", file: true, env: true, flag: true, wantQueue: 30, wantModel: "flag.onnx"},
		{name: "flag over default", flag: true, wantQueue: 30, wantModel: "flag.onnx"},
		{name: "env over default", env: true, wantQueue: 20, wantModel: "env.onnx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateEnv(t)
			p := ""
			if tc.file {
				p = path
			}
			if tc.env {
				t.Setenv("TAGNET_SERVER_QUEUE_SIZE", "20")
				t.Setenv("TAGNET_MODEL_PATH", "env.onnx")
			}
			var args []string
			if tc.flag {
				args = []string{"--server.queue-size=30", "--model.path", "flag.onnx"}
			}
			cfg, err := LoadPredict(p, predictFlags(t, args...))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Server.QueueSize != tc.wantQueue {
				t.Errorf("server.queue_size = %d, want %d", cfg.Server.QueueSize, tc.wantQueue)
			}
			// Paths from the file resolve against its directory; paths from
			// the environment and flags are left as given.
			if cfg.Model.Path != tc.wantModel {
				t.Errorf("model.path = %q, want %q", cfg.Model.Path, tc.wantModel)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	isolateEnv(t)
	for k, v := range map[string]string{
		"TAGNET_SERVER_LISTEN":              ":7000",
		"TAGNET_RUNTIME_INTRA_OP_THREADS":   "3",
		"TAGNET_RUNTIME_PROVIDERS":          "cuda, cpu",
		"TAGNET_RUNTIME_WARMUP":             "false",
		"TAGNET_RUNTIME_CUDA_MEM_LIMIT":     "1_000_000",
		"TAGNET_SERVER_BATCHING_MAX_DELAY":  "1ms",
		"TAGNET_SERVER_BATCHING_ENABLED":    "true",
		"TAGNET_THRESHOLDS_STRATEGY":        "fixed:0.3",
		"TAGNET_PREDICT_EXTENSIONS":         ".png",
		"TAGNET_PREDICT_SHARD":              "1/3",
		"TAGNET_SERVER_AUTH_BEARER_TOKEN":   "s3cret",
		"TAGNET_LOG_LEVEL":                  "debug",
		"TAGNET_SERVER_BATCHING_MAX_BATCH":  "16",
		"TAGNET_RUNTIME_GRAPH_OPTIMIZATION": "basic",
	} {
		t.Setenv(k, v)
	}
	got, err := LoadPredict("testdata/minimal.predict.good.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultPredict()
	want.Model.Path = filepath.Join("testdata", "model.onnx")
	want.Server.Listen = ":7000"
	want.Runtime.IntraOpThreads = 3
	want.Runtime.Providers = []ort.Provider{"cuda", "cpu"}
	want.Runtime.Warmup = false
	want.Runtime.CUDAMemLimit = 1_000_000
	want.Runtime.GraphOptimization = "basic"
	want.Server.Batching = Batching{Enabled: true, MaxBatch: 16, MaxDelay: time.Millisecond}
	want.Thresholds.Strategy = postprocess.Strategy{Kind: postprocess.KindFixed, Value: 0.3}
	want.Predict.Extensions = []string{".png"}
	want.Predict.Shard = Shard{Index: 1, Count: 3}
	want.Server.Auth.BearerToken = "s3cret"
	want.Log.Level = "debug"
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}

	// The train binary reads its own sections from TAGNET_* as well.
	t.Setenv("TAGNET_TRAIN_EPOCHS", "7")
	t.Setenv("TAGNET_TRAIN_LR", "0.01")
	t.Setenv("TAGNET_DATA_LABEL_DELIM", ";")
	tr, err := LoadTrain("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Train.Epochs != 7 || tr.Train.LR != 0.01 || tr.Data.LabelDelim != ";" || tr.Log.Level != "debug" {
		t.Errorf("train from env: got %+v", tr)
	}
}

func TestEnvAndFlagErrorsNameTheirSource(t *testing.T) {
	isolateEnv(t)
	t.Setenv("TAGNET_SERVER_QUEUE_SIZE", "abc")
	t.Setenv("TAGNET_SERVER_READ_TIMEOUT", "soon")
	_, err := LoadPredict("testdata/minimal.predict.good.yaml", nil)
	wantErrors(t, err,
		`config env TAGNET_SERVER_QUEUE_SIZE: server.queue_size: "abc" is invalid: must be an integer`,
		`config env TAGNET_SERVER_READ_TIMEOUT: server.read_timeout: "soon" is invalid: must be a duration`)

	isolateEnv(t)
	t.Setenv("TAGNET_RUNTIME_PROVIDERS", "cpu,opencl")
	_, err = LoadPredict("testdata/minimal.predict.good.yaml", predictFlags(t, "--server.queue-size=0"))
	wantErrors(t, err,
		`config flag --server.queue-size: server.queue_size: 0 is invalid: must be >= 1`,
		`config env TAGNET_RUNTIME_PROVIDERS: runtime.providers[1]: "opencl" is invalid: must be one of cpu, cuda`)

	// A value left at its default but made invalid by another key is blamed
	// on the file.
	path := writeFile(t, "train.yaml", "sweep:\n  start: 0.97\n")
	_, err = LoadTrain(path, nil)
	wantErrors(t, err, "config "+path+": sweep.stop: 0.95 is invalid: must be greater than sweep.start (0.97)")

	// Without a file, such errors still say they are about configuration.
	t.Setenv("TAGNET_SWEEP_START", "0.97")
	_, err = LoadTrain("", nil)
	wantErrors(t, err, "config: sweep.stop: 0.95 is invalid")
}

func TestFlagTypes(t *testing.T) {
	isolateEnv(t)
	cfg, err := LoadPredict("", predictFlags(t,
		"--runtime.providers=cuda,cpu",
		"--server.read-timeout=2s",
		"--runtime.warmup=false",
		"--runtime.cuda-mem-limit=1024",
		"--thresholds.strategy=recall>=0.8",
		"--predict.shard=0/2",
		"--predict.extensions=.jpg",
		"--predict.extensions=.png",
	))
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Runtime
	if !reflect.DeepEqual(r.Providers, []ort.Provider{"cuda", "cpu"}) || r.Warmup || r.CUDAMemLimit != 1024 {
		t.Errorf("runtime = %+v", r)
	}
	if cfg.Server.ReadTimeout != 2*time.Second {
		t.Errorf("server.read_timeout = %v", cfg.Server.ReadTimeout)
	}
	if cfg.Thresholds.Strategy != (postprocess.Strategy{Kind: postprocess.KindRecall, Value: 0.8}) {
		t.Errorf("thresholds.strategy = %+v", cfg.Thresholds.Strategy)
	}
	if cfg.Predict.Shard != (Shard{Index: 0, Count: 2}) {
		t.Errorf("predict.shard = %+v", cfg.Predict.Shard)
	}
	if !reflect.DeepEqual(cfg.Predict.Extensions, []string{".jpg", ".png"}) {
		t.Errorf("predict.extensions = %q", cfg.Predict.Extensions)
	}

	fs := pflag.NewFlagSet("tagnet-train", pflag.ContinueOnError)
	AddTrainFlags(fs)
	if err := fs.Parse([]string{"--train.lr=0.05", "--output.plots=false", "--data.seed=9", "--model.width=2"}); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadTrain("testdata/minimal.train.good.yaml", fs)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Train.LR != 0.05 || tr.Output.Plots || tr.Data.Seed != 9 || tr.Model.Width != 2 || tr.Data.Dir != filepath.Join("testdata", "images") {
		t.Errorf("train from flags: %+v", tr)
	}
}

func TestFlagsCoverEveryKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  func(*pflag.FlagSet)
		keys []string
	}{
		{"train", AddTrainFlags, TrainKeys()},
		{"predict", AddPredictFlags, PredictKeys()},
	} {
		fs := pflag.NewFlagSet(tc.name, pflag.ContinueOnError)
		tc.add(fs)
		for _, k := range tc.keys {
			fl := fs.Lookup(FlagName(k))
			if k == "thresholds.overrides" {
				if fl != nil {
					t.Errorf("%s: thresholds.overrides has a flag", tc.name)
				}
				continue
			}
			if fl == nil {
				t.Errorf("%s: no flag --%s for %s", tc.name, FlagName(k), k)
				continue
			}
			if fl.Usage == "" {
				t.Errorf("%s: flag --%s has no usage (help tag)", tc.name, fl.Name)
			}
		}
	}
	// The flag defaults print the config defaults in --help.
	fs := predictFlags(t)
	for name, want := range map[string]string{
		"server.listen":         "127.0.0.1:8080",
		"server.read-timeout":   "30s",
		"runtime.providers":     "[cpu]",
		"thresholds.strategy":   "f1",
		"server.max-body-bytes": "20971520",
	} {
		if got := fs.Lookup(name).DefValue; got != want {
			t.Errorf("--%s default = %q, want %q", name, got, want)
		}
	}
}

func TestBindFlag(t *testing.T) {
	isolateEnv(t)
	fs := pflag.NewFlagSet("tagnet-predict", pflag.ContinueOnError)
	AddPredictFlags(fs)
	fs.String("shard", "", "short for --predict.shard")
	if err := BindFlag(fs, "shard", "predict.shard"); err != nil {
		t.Fatal(err)
	}
	if err := BindFlag(fs, "shard", "predict.no_such_key"); err == nil {
		t.Error("BindFlag to an unknown key: no error")
	}
	if err := BindFlag(fs, "no-such-flag", "predict.shard"); err == nil {
		t.Error("BindFlag of an unknown flag: no error")
	}
	if err := BindFlag(fs, "shard", "thresholds.overrides"); err == nil {
		t.Error("BindFlag to a map key: no error")
	}
	if err := fs.Parse([]string{"--shard", "3/4"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TAGNET_PREDICT_SHARD", "0/4")
	cfg, err := LoadPredict("", fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Predict.Shard != (Shard{Index: 3, Count: 4}) {
		t.Errorf("predict.shard = %+v, want 3/4 from --shard", cfg.Predict.Shard)
	}

	// With the alias unset, the canonical flag still works.
	fs = pflag.NewFlagSet("tagnet-predict", pflag.ContinueOnError)
	AddPredictFlags(fs)
	fs.String("shard", "", "short for --predict.shard")
	if err := BindFlag(fs, "shard", "predict.shard"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--predict.shard=1/4"}); err != nil {
		t.Fatal(err)
	}
	if cfg, err = LoadPredict("", fs); err != nil {
		t.Fatal(err)
	}
	if cfg.Predict.Shard != (Shard{Index: 1, Count: 4}) {
		t.Errorf("predict.shard = %+v, want 1/4 from --predict.shard", cfg.Predict.Shard)
	}
}

func TestShardAuto(t *testing.T) {
	isolateEnv(t)
	path := writeFile(t, "deploy.yaml", "predict:\n  shard: auto/4\n")

	t.Setenv(JobCompletionIndexEnv, "3")
	cfg, err := LoadPredict(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Predict.Shard != (Shard{Index: 3, Count: 4}) {
		t.Errorf("predict.shard = %+v, want 3/4", cfg.Predict.Shard)
	}

	t.Setenv(JobCompletionIndexEnv, "4")
	_, err = LoadPredict(path, nil)
	wantErrors(t, err, path+`:2: predict.shard: "auto/4" is invalid: JOB_COMPLETION_INDEX=4 is outside [0, 4)`)

	t.Setenv(JobCompletionIndexEnv, "")
	_, err = LoadPredict(path, nil)
	wantErrors(t, err, `predict.shard: "auto/4" is invalid: JOB_COMPLETION_INDEX is not set`)
}

func TestKeyNames(t *testing.T) {
	for key, want := range map[string][2]string{
		"server.listen":                 {"TAGNET_SERVER_LISTEN", "server.listen"},
		"runtime.intra_op_threads":      {"TAGNET_RUNTIME_INTRA_OP_THREADS", "runtime.intra-op-threads"},
		"server.batching.max_batch":     {"TAGNET_SERVER_BATCHING_MAX_BATCH", "server.batching.max-batch"},
		"server.auth.bearer_token":      {"TAGNET_SERVER_AUTH_BEARER_TOKEN", "server.auth.bearer-token"},
		"train.early_stopping_patience": {"TAGNET_TRAIN_EARLY_STOPPING_PATIENCE", "train.early-stopping-patience"},
	} {
		if got := EnvName(key); got != want[0] {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want[0])
		}
		if got := FlagName(key); got != want[1] {
			t.Errorf("FlagName(%q) = %q, want %q", key, got, want[1])
		}
	}
	if n := len(TrainKeys()); n != 49 {
		t.Errorf("len(TrainKeys()) = %d, want 49", n)
	}
	if n := len(PredictKeys()); n != 36 {
		t.Errorf("len(PredictKeys()) = %d, want 36", n)
	}
}
