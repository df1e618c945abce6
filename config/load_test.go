package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/tagnet/tagnet/predictor/ort"
	"github.com/tagnet/tagnet/predictor/postprocess"
)

// badFiles maps each testdata/*.bad.yaml file to substrings its error must
// contain; each names the key (and, where the file has one, its line).
var badFiles = map[string][]string{
	"unknown-top.predict.bad.yaml":          {`unknown-top.predict.bad.yaml:3: sever: unknown key (did you mean "server"?)`},
	"unknown-nested.predict.bad.yaml":       {`unknown-nested.predict.bad.yaml:3: server.queue_sise: unknown key (did you mean "queue_size"?)`},
	"upper-case.predict.bad.yaml":           {`:2: server.Listen: unknown key (did you mean "listen"?)`},
	"duplicate.predict.bad.yaml":            {`:3: server.queue_size: duplicate key (first at line 2)`},
	"wrong-type-int.predict.bad.yaml":       {`:2: server.queue_size: "lots" is invalid: must be an integer`},
	"wrong-type-bool.predict.bad.yaml":      {`:2: runtime.warmup: "maybe" is invalid: must be true or false`},
	"wrong-type-float-int.predict.bad.yaml": {`:2: predict.batch_size: 2.5 is invalid: must be an integer`},
	"wrong-type-string.predict.bad.yaml":    {`:2: server.listen: 8080 is invalid: must be a string (quote it in YAML)`},
	"section-as-value.predict.bad.yaml":     {`:1: server: must be a section with keys listen, max_body_bytes, max_pixels, read_timeout, write_timeout, request_timeout, shutdown_timeout, queue_size, batching, auth, got the value 8080`},
	"list-as-value.predict.bad.yaml":        {`:2: server.listen: must be a single value, got a list`},
	"bad-enum.predict.bad.yaml":             {`:2: runtime.graph_optimization: "max" is invalid: must be one of disable, basic, extended, all`},
	"out-of-range.predict.bad.yaml":         {`config testdata/out-of-range.predict.bad.yaml:2: server.queue_size: -1 is invalid: must be >= 1`},
	"bad-duration.predict.bad.yaml":         {`:2: server.read_timeout: "30 seconds" is invalid: must be a duration such as "30s"`},
	"duration-no-unit.predict.bad.yaml":     {`:2: server.write_timeout: 30 is invalid: must be a duration with a unit`},
	"negative-duration.predict.bad.yaml":    {`:3: server.batching.max_delay: "-1ms" is invalid: must be >= 0`},
	"bad-strategy.predict.bad.yaml":         {`:2: thresholds.strategy: "precision>=1.5" is invalid: precision value must be in (0, 1)`},
	"bad-strategy-name.predict.bad.yaml":    {`:2: thresholds.strategy: "best" is invalid: must be one of f1, accuracy, precision>=P`},
	"bad-override.predict.bad.yaml":         {`:3: thresholds.overrides["Cloudy"]: 1.5 is invalid: must be in (0, 1)`},
	"bad-override-type.predict.bad.yaml":    {`:3: thresholds.overrides["Cloudy"]: "high" is invalid: must be a number`},
	"bad-shard.predict.bad.yaml":            {`:2: predict.shard: "5/5" is invalid: must be "", "i/n" with 0 <= i < n, or "auto/n"`},
	"bad-shard-syntax.predict.bad.yaml":     {`:2: predict.shard: "half" is invalid: must be "", "i/n"`},
	"both-tokens.predict.bad.yaml":          {`:4: server.auth.bearer_token_file: "` + filepath.Join("testdata", "token.txt") + `" is invalid: must not be set together with server.auth.bearer_token`},
	"bad-provider.predict.bad.yaml":         {`:2: runtime.providers[1]: "tensorrt" is invalid: must be one of cpu, cuda`},
	"duplicate-provider.predict.bad.yaml":   {`:2: runtime.providers[2]: "cuda" is invalid: duplicate of runtime.providers[0]`},
	"no-provider.predict.bad.yaml":          {`:2: runtime.providers: [] is invalid: must list at least one of cpu, cuda`},
	"bad-extension.predict.bad.yaml":        {`:2: predict.extensions[0]: "jpg" is invalid: must be a dot and a name`},
	"bad-listen.predict.bad.yaml":           {`:2: server.listen: "localhost" is invalid: must be host:port`},
	"bad-batch-size.predict.bad.yaml":       {`:2: predict.batch_size: 5000 is invalid: must be between 1 and 4096`},
	"bad-log-level.predict.bad.yaml":        {`:2: log.level: "verbose" is invalid: must be one of debug, info, warn, error`},
	"top-level-list.predict.bad.yaml":       {`top-level-list.predict.bad.yaml:1: top level must be a mapping of sections (model, runtime, thresholds, predict, server, log), got a list`},
	"not-yaml.predict.bad.yaml":             {`parsing YAML file testdata/not-yaml.predict.bad.yaml: yaml: line`},
	"train-section.predict.bad.yaml":        {`:1: train: unknown key (train is a section of the tagnet-train configuration)`},

	"bad-arch.train.bad.yaml":        {`:2: model.arch: "vgg16" is invalid: must be one of resnet-tiny, resnet18, resnet34, resnet50`},
	"bad-size.train.bad.yaml":        {`:2: model.size: 8 is invalid: must be between 16 and 4096`},
	"bad-width.train.bad.yaml":       {`:2: model.width: 0 is invalid: must be in (0, 8]`},
	"bad-weights.train.bad.yaml":     {`:2: model.weights: "` + filepath.Join("testdata", "imagenet.h5") + `" is invalid: must be empty, a weights name`},
	"bad-valid-pct.train.bad.yaml":   {`:2: data.valid_pct: 1 is invalid: must be in (0, 1)`},
	"bad-on-bad-item.train.bad.yaml": {`:2: data.on_bad_item: "ignore" is invalid: must be one of skip, fail`},
	"bad-csv-delim.train.bad.yaml":   {`:2: data.csv_delim: ";;" is invalid: must be a single character`},
	"bad-sweep.train.bad.yaml":       {`:3: sweep.stop: 0.1 is invalid: must be greater than sweep.start (0.9)`},
	"bad-sweep-steps.train.bad.yaml": {`:2: sweep.steps: 1 is invalid: must be >= 2`},
	"bad-lr.train.bad.yaml":          {`:2: train.lr: NaN is invalid: must be > 0`},
	"bad-schedule.train.bad.yaml":    {`:2: train.schedule: "cosine" is invalid: must be one of fine_tune, one_cycle`},
	"bad-epochs.train.bad.yaml":      {`:2: train.epochs: 0 is invalid: must be >= 1`},
	"bad-aug.train.bad.yaml":         {`:2: train.aug: "flip" is invalid: must be one of none, crop, crop+flip`},
	"bad-precision.train.bad.yaml":   {`:2: train.precision: "bf16" is invalid: must be one of auto, fp32, bf16-mixed`},
	"server-section.train.bad.yaml":  {`:1: server: unknown key (server is a section of the tagnet-predict configuration)`},
	"many-errors.train.bad.yaml": {
		`:2: model.arch: "vgg16" is invalid`,
		`:3: model.size: 8192 is invalid`,
		`:5: train.epochs: 0 is invalid`,
		`:6: train.min_scale: 0 is invalid: must be in (0, 1]`,
		`:8: log.format: "xml" is invalid: must be one of console, json`,
	},
}

// loadFile loads a testdata file as train or predict config, from its name.
func loadFile(path string, fs *pflag.FlagSet) (any, error) {
	if strings.Contains(filepath.Base(path), ".train.") {
		return LoadTrain(path, fs)
	}
	return LoadPredict(path, fs)
}

func TestBadFiles(t *testing.T) {
	isolateEnv(t)
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		want, ok := badFiles[name]
		if !ok {
			t.Errorf("%s has no entry in badFiles", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			cfg, err := loadFile(path, nil)
			wantErrors(t, err, want...)
			if !reflect.ValueOf(cfg).IsNil() {
				t.Errorf("got a config along with the error")
			}
			if n := len(splitErrors(err)); n != len(want) {
				t.Errorf("got %d errors, want %d:\n%v", n, len(want), err)
			}
		})
	}
	for name := range badFiles {
		if !slices.Contains(files, filepath.Join("testdata", name)) {
			t.Errorf("badFiles lists %s, which is not in testdata", name)
		}
	}
}

func TestGoodFiles(t *testing.T) {
	isolateEnv(t)
	files, err := filepath.Glob("testdata/*.good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d good files, want at least 4", len(files))
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			if _, err := loadFile(path, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFullPredict(t *testing.T) {
	isolateEnv(t)
	got, err := LoadPredict("testdata/full.deploy.good.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultPredict()
	want.Model.Path = filepath.Join("testdata", "models", "planet.onnx")
	want.Runtime = Runtime{
		Library:             filepath.Join("testdata", "lib", "libonnxruntime.so.1"),
		IntraOpThreads:      4,
		InterOpThreads:      1,
		GraphOptimization:   "extended",
		Providers:           []ort.Provider{"cuda", "cpu"},
		CUDADeviceID:        1,
		CUDNNConvAlgoSearch: "EXHAUSTIVE",
		CUDAMemLimit:        8_000_000_000,
		OnUnavailable:       "fallback",
		Warmup:              false,
	}
	want.Thresholds = Thresholds{
		Strategy:  postprocess.Strategy{Kind: postprocess.KindPrecision, Value: 0.9},
		Overrides: map[string]float64{"Cloudy": 0.4, "haze": 0.25},
	}
	want.Predict = Prediction{
		BatchSize:      128,
		Workers:        8,
		Extensions:     []string{".jpg", ".tif"},
		FollowSymlinks: true,
		Output:         "/data/out/predictions.jsonl",
		Resume:         true,
		Shard:          Shard{Index: 2, Count: 5},
		MaxPixels:      1_000_000,
	}
	want.Server = Server{
		Listen:          ":9090",
		MaxBodyBytes:    1 << 20,
		MaxPixels:       4_000_000,
		ReadTimeout:     time.Minute,
		WriteTimeout:    90 * time.Second,
		RequestTimeout:  0,
		ShutdownTimeout: 5 * time.Second,
		QueueSize:       16,
		Batching:        Batching{Enabled: true, MaxBatch: 32, MaxDelay: 2 * time.Millisecond},
		Auth:            Auth{BearerTokenFile: filepath.Join("testdata", "secrets", "token")},
	}
	want.Log = Log{Format: "", Level: "warn"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

// TestWeightsName: a weights name in a config file is kept as written, a
// file path resolves against the file's folder.
func TestWeightsName(t *testing.T) {
	isolateEnv(t)
	got, err := LoadTrain("testdata/weights-name.train.good.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Model.Weights != "IMAGENET1K_V1" {
		t.Errorf("model.weights = %q, want IMAGENET1K_V1 as written", got.Model.Weights)
	}
}

func TestFullTrain(t *testing.T) {
	isolateEnv(t)
	got, err := LoadTrain("testdata/full.train.good.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Train{
		Data: Data{
			Dir: filepath.Join("testdata", "planet"), CSV: "/abs/labels.csv", Folder: "train-jpg",
			FnCol: "image_name", LabelCol: "tags", ValidCol: "", LabelDelim: " ", CSVDelim: "\t",
			ValidPct: 0.1, Seed: 7, OnBadItem: "fail", Workers: 2, Prefetch: 0, Resize: "squish",
		},
		Model: Architecture{
			Arch: "resnet-tiny", Stem: "small", Width: 0.5, Head: "linear",
			Weights: "start.pth", WeightsURL: "http://mirror.example/models", Size: 64, ZeroInitResidual: true,
		},
		Train: Training{
			Schedule: "one_cycle", Epochs: 10, FreezeEpochs: 0, BatchSize: 16, LR: 1e-3, WD: 0, WDBNBias: true,
			PctStart: 0.3, Div: 10, DivFinal: 1e5, Aug: "crop+flip", MinScale: 1, Threshold: 0.5,
			EarlyStoppingPatience: 2, Threads: 2, Seed: 1, Precision: "fp32",
		},
		Sweep:   Sweep{Start: 0.1, Stop: 0.9, Steps: 9},
		Output:  Output{Dir: filepath.Join("testdata", "results"), Model: "planet.onnx", Plots: false, Resume: true},
		Runtime: TrainRuntime{Library: "/opt/ort/libonnxruntime.so.1"},
		Log:     Log{Format: "json", Level: "debug"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if p, w := got.ModelPath(), filepath.Join("testdata", "results", "planet.onnx"); p != w {
		t.Errorf("ModelPath() = %q, want %q", p, w)
	}
}

func TestDefaults(t *testing.T) {
	isolateEnv(t)
	if err := DefaultTrain().Validate(); err != nil {
		t.Errorf("DefaultTrain().Validate() = %v", err)
	}
	if err := DefaultPredict().Validate(); err != nil {
		t.Errorf("DefaultPredict().Validate() = %v", err)
	}
	// No file, no environment, no flags: exactly the defaults.
	tr, err := LoadTrain("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tr, DefaultTrain()) {
		t.Errorf("LoadTrain(\"\", nil) = %+v, want the defaults", tr)
	}
	pr, err := LoadPredict("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pr, DefaultPredict()) {
		t.Errorf("LoadPredict(\"\", nil) = %+v, want the defaults", pr)
	}
	// An empty file changes nothing either.
	pr, err = LoadPredict("testdata/empty.predict.good.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pr, DefaultPredict()) {
		t.Errorf("empty file: got %+v, want the defaults", pr)
	}
}

func TestMissingFile(t *testing.T) {
	isolateEnv(t)
	_, err := LoadPredict("testdata/no-such-file.yaml", nil)
	wantErrors(t, err, "config: open testdata/no-such-file.yaml")
}

func TestRequire(t *testing.T) {
	isolateEnv(t)
	p := DefaultPredict()
	wantErrors(t, p.RequireModel(nil), "model.path: is required", "TAGNET_MODEL_PATH", "--model.path")
	p.Model.Path = "m.onnx"
	if err := p.RequireModel(nil); err != nil {
		t.Errorf("RequireModel with a path: %v", err)
	}
	tr := DefaultTrain()
	wantErrors(t, tr.RequireData(nil), "data.dir: is required", "TAGNET_DATA_DIR", "--data.dir")
	tr.Data.Dir = "images"
	if err := tr.RequireData(nil); err != nil {
		t.Errorf("RequireData with a dir: %v", err)
	}
	// With the command's flags, the error names the spelling its help
	// shows, not the hidden dotted one.
	fs := pflag.NewFlagSet("predict", pflag.ContinueOnError)
	AddPredictFlags(fs)
	if err := AddAlias(fs, "model", "m", "model.path", "model file"); err != nil {
		t.Fatal(err)
	}
	err := DefaultPredict().RequireModel(fs)
	if err == nil || !strings.HasSuffix(err.Error(), " or --model") {
		t.Errorf("RequireModel with an alias: %v; want it to name --model", err)
	}
}

func TestValidateCollectsAll(t *testing.T) {
	p := DefaultPredict()
	p.Server.QueueSize = 0
	p.Predict.BatchSize = 0
	p.Runtime.Providers = []ort.Provider{"gpu"}
	p.Thresholds.Strategy = postprocess.Strategy{Kind: postprocess.KindFixed, Value: 1.5}
	p.Thresholds.Overrides = map[string]float64{"a": 0.5, "b": 2}
	err := p.Validate()
	wantErrors(t, err,
		"server.queue_size: 0 is invalid: must be >= 1",
		"predict.batch_size: 0 is invalid: must be between 1 and 4096",
		`runtime.providers[0]: "gpu" is invalid: must be one of cpu, cuda`,
		`thresholds.strategy: "fixed:1.5" is invalid: fixed value must be in (0, 1), got 1.5`,
		`thresholds.overrides["b"]: 2 is invalid: must be in (0, 1)`,
	)
	if n := len(keyErrors(err)); n != 5 {
		t.Errorf("got %d KeyErrors, want 5:\n%v", n, err)
	}
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Source != "" {
		t.Errorf("Validate errors should carry no source, got %#v", ke)
	}
}

// writeFile writes a config file into a temporary directory.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
