package ort

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	onnxruntime "github.com/yalue/onnxruntime_go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
)

func TestFixtureLogits(t *testing.T) {
	got, err := testSession.Run(fixtureIn, 2)
	if err != nil {
		t.Fatal(err)
	}
	d := maxAbsDiff(t, got, fixtureWant)
	t.Logf("max abs error against PyTorch: %.3g", d)
	if d >= 1e-4 {
		t.Errorf("max abs error %.3g, want < 1e-4", d)
	}

	// One sample at a time gives the same logits.
	n := len(fixtureIn) / 2
	for i := range 2 {
		one, err := testSession.Run(fixtureIn[i*n:(i+1)*n], 1)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(t, one, fixtureWant[i*20:(i+1)*20]); d >= 1e-4 {
			t.Errorf("sample %d alone: max abs error %.3g", i, d)
		}
	}
}

func TestSessionShape(t *testing.T) {
	s := testSession
	if s.InputName() != "input" {
		t.Errorf("InputName = %q, want input", s.InputName())
	}
	if got := s.InputShape(); !slices.Equal(got, []int64{-1, 3, 224, 224}) {
		t.Errorf("InputShape = %v, want [-1 3 224 224]", got)
	}
	if got := s.OutputNames(); !slices.Equal(got, []string{"output"}) {
		t.Errorf("OutputNames = %v, want [output]", got)
	}
	if s.LogitsName() != "output" || s.NumClasses() != 20 {
		t.Errorf("logits %q with %d classes, want output with 20", s.LogitsName(), s.NumClasses())
	}
	if Provider(s.Provider()) != ProviderCPU {
		t.Errorf("Provider = %q, want cpu", s.Provider())
	}
	// Callers get copies.
	s.InputShape()[1] = 99
	if s.InputShape()[1] != 3 {
		t.Error("InputShape exposes the session's slice")
	}
}

func TestRunValidation(t *testing.T) {
	s := testSession
	n := len(fixtureIn) / 2
	for _, tc := range []struct {
		name  string
		input []float32
		batch int
		want  string
	}{
		{"zero batch", fixtureIn, 0, "batch 0, want at least 1"},
		{"negative batch", fixtureIn, -3, "batch -3, want at least 1"},
		{"short input", fixtureIn[:n+1], 2, "batch 2 of [2 3 224 224] needs 301056 values, got 150529"},
		{"long input", fixtureIn, 1, "batch 1 of [1 3 224 224] needs 150528 values, got 301056"},
		{"no input", nil, 1, "needs 150528 values, got 0"},
		{"huge batch", fixtureIn, 1 << 40, "too large"},
	} {
		_, err := s.Run(tc.input, tc.batch)
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrInput mentioning %q", tc.name, err, tc.want)
		}
	}
	err := s.RunInto(fixtureIn, 2, make([]float32, 39))
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "output buffer holds 39 values, batch 2 needs 40") {
		t.Errorf("short output buffer: err = %v", err)
	}
	if err := s.Warmup(0); !errors.Is(err, ErrInput) {
		t.Errorf("Warmup(0) err = %v, want ErrInput", err)
	}
}

func TestRunInto(t *testing.T) {
	out := make([]float32, 40)
	if err := testSession.RunInto(fixtureIn, 2, out); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, out, fixtureWant); d >= 1e-4 {
		t.Errorf("max abs error %.3g", d)
	}
	if err := testSession.Warmup(3); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentRun runs the fixture from 16 goroutines at once; each must
// get what a serial run gets. Run it with -race.
func TestConcurrentRun(t *testing.T) {
	want, err := testSession.Run(fixtureIn, 2)
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, runs = 16, 2
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*runs)
	results := make([][]float32, goroutines*runs)
	for g := range goroutines {
		wg.Go(func() {
			for r := range runs {
				out, err := testSession.Run(fixtureIn, 2)
				if err != nil {
					errs <- err
					return
				}
				results[g*runs+r] = out
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, got := range results {
		if !slices.Equal(got, want) {
			t.Errorf("run %d differs from the serial run (max abs %.3g)", i, maxAbsDiff(t, got, want))
		}
	}
}

// TestSessionFromBytes opens the fixture from memory with non-default
// options, and checks Close.
func TestSessionFromBytes(t *testing.T) {
	model, err := os.ReadFile(filepath.Join(fixtureDir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSessionFromBytes(testRuntime, model, SessionOptions{
		IntraOpThreads: 1, InterOpThreads: 1, GraphOptimization: "basic", Providers: []Provider{"cpu"},
		Logger: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(fixtureIn, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, got, fixtureWant); d >= 1e-4 {
		t.Errorf("max abs error %.3g", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Run(fixtureIn, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close err = %v, want ErrClosed", err)
	}
}

// TestLogitsOutputChosen uses a model whose outputs are probabilities, then
// logits: the session must run logits.
func TestLogitsOutputChosen(t *testing.T) {
	s, err := NewSessionFromBytes(testRuntime, flattenModel(-1), SessionOptions{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.OutputNames(); !slices.Equal(got, []string{"probabilities", "logits"}) {
		t.Errorf("OutputNames = %v", got)
	}
	if s.LogitsName() != "logits" || s.NumClasses() != 12 || s.InputName() != "images" {
		t.Errorf("input %q, logits %q, %d classes", s.InputName(), s.LogitsName(), s.NumClasses())
	}
	in := make([]float32, 3*12)
	for i := range in {
		in[i] = float32(i) - 10
	}
	got, err := s.Run(in, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, in) {
		t.Errorf("logits = %v, want the flattened input %v", got, in)
	}
}

func TestFixedBatch(t *testing.T) {
	s, err := NewSessionFromBytes(testRuntime, flattenModel(2), SessionOptions{IntraOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Run(make([]float32, 24), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(make([]float32, 12), 1); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "fixed batch of 2") {
		t.Errorf("batch 1 on a fixed batch of 2: err = %v", err)
	}
}

func TestUnsupportedModels(t *testing.T) {
	identity := func(in, out valueInfo) []byte {
		return onnxModel([]valueInfo{in}, []node{{op: "Identity", inputs: []string{in.name}, outputs: []string{out.name}, nodeName: "id"}},
			[]valueInfo{out})
	}
	for _, tc := range []struct {
		name  string
		model []byte
		want  string
	}{
		{"dynamic height", identity(valueInfo{"x", []dim{-1, 3, -1, 4}}, valueInfo{"logits", []dim{-1, 3, -1, 4}}),
			"only the batch axis may be dynamic"},
		{"rank 4 output", identity(valueInfo{"x", []dim{-1, 3, 2, 2}}, valueInfo{"logits", []dim{-1, 3, 2, 2}}),
			"want [N,C] with C fixed"},
		{"scalar input", identity(valueInfo{"x", []dim{4}}, valueInfo{"logits", []dim{4}}),
			"want a batch axis and at least one more"},
	} {
		_, err := NewSessionFromBytes(testRuntime, tc.model, SessionOptions{})
		if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrModel mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewSessionFromBytes(testRuntime, []byte("not a model"), SessionOptions{}); err == nil {
		t.Error("garbage bytes opened")
	}
	if _, err := NewSession(testRuntime, filepath.Join(t.TempDir(), "missing.onnx"), SessionOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []SessionOptions{
		{},
		{IntraOpThreads: 4, InterOpThreads: 1, GraphOptimization: "Extended", Providers: []Provider{"CUDA", "cpu"},
			OnUnavailable: "fallback", CUDA: CUDAOptions{DeviceID: 1, CudnnConvAlgoSearch: "exhaustive", MemLimit: 1 << 30}},
	} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for _, tc := range []struct {
		o    SessionOptions
		want string
	}{
		{SessionOptions{IntraOpThreads: -1}, "intra-op threads -1"},
		{SessionOptions{InterOpThreads: -2}, "inter-op threads -2"},
		{SessionOptions{GraphOptimization: "max"}, `graph optimisation "max"`},
		{SessionOptions{Providers: []Provider{"tpu"}}, `unknown execution provider "tpu"`},
		{SessionOptions{Providers: []Provider{"cpu", "CPU"}}, "listed twice"},
		{SessionOptions{OnUnavailable: "ignore"}, `on-unavailable policy "ignore"`},
		{SessionOptions{CUDA: CUDAOptions{DeviceID: -1}}, "cuda device id -1"},
		{SessionOptions{CUDA: CUDAOptions{CudnnConvAlgoSearch: "fast"}}, `cudnn conv algo search "fast"`},
	} {
		err := tc.o.Validate()
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want ErrOptions mentioning %q", tc.o, err, tc.want)
		}
		if _, err := NewSessionFromBytes(testRuntime, flattenModel(-1), tc.o); !errors.Is(err, ErrOptions) {
			t.Errorf("NewSession with %+v: err = %v, want ErrOptions", tc.o, err)
		}
	}
}

// cudaPresent reports whether the CUDA provider libraries sit beside the
// loaded library.
func cudaPresent() bool { return cudaLibrariesPresent(testRuntime.LibraryPath()) == nil }

func TestCUDAFallback(t *testing.T) {
	if cudaPresent() {
		t.Skip("CUDA provider libraries are installed; the fallback is tested where they are not")
	}
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := NewSession(testRuntime, filepath.Join(fixtureDir, "model.onnx"), SessionOptions{
		Providers: []Provider{"cuda", "cpu"}, OnUnavailable: OnUnavailableFallback, Logger: zap.New(core),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if Provider(s.Provider()) != ProviderCPU {
		t.Errorf("Provider = %q, want cpu", s.Provider())
	}
	got, err := s.Run(fixtureIn, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, got, fixtureWant); d >= 1e-4 {
		t.Errorf("max abs error %.3g", d)
	}
	warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if len(warns) != 1 {
		t.Fatalf("got %d warnings, want 1: %v", len(warns), logs.All())
	}
	reason, _ := warns[0].ContextMap()["reason"].(string)
	if !strings.Contains(warns[0].Message, "falling back to cpu") || !strings.Contains(reason, cudaProviderLibrary) {
		t.Errorf("warning %q with reason %q should say it falls back and why", warns[0].Message, reason)
	}
	t.Logf("warning: %s: %s", warns[0].Message, reason)
}

func TestCUDAFail(t *testing.T) {
	if cudaPresent() {
		t.Skip("CUDA provider libraries are installed; the failure is tested where they are not")
	}
	for _, policy := range []Policy{"", OnUnavailableFail} {
		_, err := NewSessionFromBytes(testRuntime, flattenModel(-1), SessionOptions{
			Providers: []Provider{"cuda"}, OnUnavailable: policy,
		})
		if !errors.Is(err, ErrProviderUnavailable) {
			t.Fatalf("policy %q: err = %v, want ErrProviderUnavailable", policy, err)
		}
		t.Logf("policy %q: %v", policy, err)
		for _, want := range []string{"cuda", cudaProviderLibrary, filepath.Dir(testRuntime.LibraryPath()), "scripts/setup.sh --cuda"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
}

// TestCUDAReasonFromORT skips the file check and lets ONNX Runtime refuse
// the provider itself: its reason must come through.
func TestCUDAReasonFromORT(t *testing.T) {
	if cudaPresent() {
		t.Skip("CUDA provider libraries are installed; ONNX Runtime would not refuse them")
	}
	so, err := onnxruntime.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	err = appendCUDAProvider(so, CUDAOptions{CudnnConvAlgoSearch: "heuristic", MemLimit: 1 << 30})
	if err == nil || !strings.Contains(err.Error(), sharedProviderLibrary) {
		t.Errorf("err = %v, want ONNX Runtime's reason naming %s", err, sharedProviderLibrary)
	}
}

// TestCUDA runs the fixture on the GPU where the provider libraries and a
// GPU are present (the GPU machine of gpu.md); elsewhere it skips.
func TestCUDA(t *testing.T) {
	if !cudaPresent() {
		t.Skip("CUDA provider libraries not installed beside " + testRuntime.LibraryPath() + " (scripts/setup.sh --cuda); CUDA run not tested")
	}
	if _, err := os.Stat("/dev/nvidia0"); err != nil {
		t.Skip("no NVIDIA GPU (/dev/nvidia0); CUDA run not tested")
	}
	s, err := NewSession(testRuntime, filepath.Join(fixtureDir, "model.onnx"), SessionOptions{
		Providers: []Provider{"cuda"}, OnUnavailable: OnUnavailableFail, Logger: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if Provider(s.Provider()) != ProviderCUDA {
		t.Errorf("Provider = %q, want cuda", s.Provider())
	}
	if err := s.Warmup(2); err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(fixtureIn, 2)
	if err != nil {
		t.Fatal(err)
	}
	d := maxAbsDiff(t, got, fixtureWant)
	t.Logf("cuda: max abs error against PyTorch: %.3g", d)
	if d >= 1e-2 {
		t.Errorf("cuda: max abs error %.3g, want < 1e-2", d)
	}
}

// TestCPUPreferred: with the CPU listed first, CUDA is never tried.
func TestCPUPreferred(t *testing.T) {
	s, err := NewSessionFromBytes(testRuntime, flattenModel(-1), SessionOptions{
		Providers: []Provider{"cpu", "cuda"}, OnUnavailable: OnUnavailableFail,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if Provider(s.Provider()) != ProviderCPU {
		t.Errorf("Provider = %q, want cpu", s.Provider())
	}
}

// TestMaxRunBatch checks that a batch longer than MaxRunBatch runs as
// several runs whose rows land in place: seven images (the fixture's two,
// repeated) with runs of at most 3 give PyTorch's logits for every row.
func TestMaxRunBatch(t *testing.T) {
	s, err := NewSession(testRuntime, filepath.Join(fixtureDir, "model.onnx"), SessionOptions{MaxRunBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := len(fixtureIn) / 2
	const batch = 7
	in := make([]float32, 0, batch*n)
	want := make([]float32, 0, batch*20)
	for i := range batch {
		in = append(in, fixtureIn[(i%2)*n:(i%2+1)*n]...)
		want = append(want, fixtureWant[(i%2)*20:(i%2+1)*20]...)
	}
	got, err := s.Run(in, batch)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(t, got, want); d >= 1e-4 {
		t.Errorf("max abs error %.3g over 7 rows in runs of 3", d)
	}
	if err := s.Warmup(32); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSession(testRuntime, filepath.Join(fixtureDir, "model.onnx"), SessionOptions{MaxRunBatch: -1}); !errors.Is(err, ErrOptions) {
		t.Errorf("MaxRunBatch -1: got %v, want ErrOptions", err)
	}
}
