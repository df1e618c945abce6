package learn

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tagnet/tagnet/trainer/blas"
)

// TestResolvePrecision: auto picks bf16-mixed only where the CPU has native
// bf16, and fp32 when that capability is forced off; an explicit
// bf16-mixed on such a CPU is an error naming what is missing.
func TestResolvePrecision(t *testing.T) {
	if blas.BF16Supported() {
		if p, name, err := ResolvePrecision("auto"); err != nil || p != blas.BF16 || name != PrecisionBF16 {
			t.Errorf("auto with native bf16 = %v %q %v, want bf16 bf16-mixed", p, name, err)
		}
	}
	blas.DisableBF16(true)
	defer blas.DisableBF16(false)
	for _, in := range []string{"auto", ""} {
		if p, name, err := ResolvePrecision(in); err != nil || p != blas.FP32 || name != PrecisionFP32 {
			t.Errorf("%q without bf16 = %v %q %v, want fp32", in, p, name, err)
		}
	}
	if p, name, err := ResolvePrecision("fp32"); err != nil || p != blas.FP32 || name != PrecisionFP32 {
		t.Errorf("fp32 = %v %q %v", p, name, err)
	}
	if _, _, err := ResolvePrecision("bf16-mixed"); err == nil || !strings.Contains(err.Error(), "AVX512_BF16") || !strings.Contains(err.Error(), "train.precision") {
		t.Errorf("bf16-mixed without bf16: err = %v, want one naming train.precision and AVX512_BF16", err)
	}
	if _, _, err := ResolvePrecision("fp16"); err == nil || !strings.Contains(err.Error(), `"fp16"`) {
		t.Errorf("fp16: err = %v", err)
	}
	// The learner itself: auto trains in fp32 and says so.
	ds, aug := tinySet(t)
	core, logs := observer.New(zap.InfoLevel)
	l := tinyLearnerPrec(t, ds, aug, "", Hooks{}, "auto", zap.New(core))
	if l.Precision() != PrecisionFP32 || l.Net().Precision() != blas.FP32 {
		t.Errorf("auto without bf16 trains in %s (%v)", l.Precision(), l.Net().Precision())
	}
	if e := logs.FilterMessage("precision").All(); len(e) != 1 || e[0].ContextMap()["precision"] != PrecisionFP32 {
		t.Errorf("precision log: %+v", e)
	}
}

// TestResumeInOtherPrecision: a checkpoint records its precision; resuming
// it in the other precision continues with a warning that says so, and the
// new checkpoint records the new precision.
func TestResumeInOtherPrecision(t *testing.T) {
	if !blas.BF16Supported() {
		t.Skip("no native bf16 on this CPU")
	}
	ds, aug := tinySet(t)
	plan := FineTunePlan(1, 3e-3, 1)
	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	cut := tinyLearnerPrec(t, ds, aug, dir, Hooks{OnEpoch: func(EpochStats) { cancel() }}, PrecisionBF16, nil)
	if err := cut.Fit(ctx, plan, false); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted fit returned %v", err)
	}
	ck, err := loadCheckpoint(filepath.Join(dir, lastCkpt))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Precision != PrecisionBF16 {
		t.Fatalf("checkpoint precision %q, want %q", ck.Precision, PrecisionBF16)
	}
	core, logs := observer.New(zap.InfoLevel)
	again := tinyLearnerPrec(t, ds, aug, dir, Hooks{}, PrecisionFP32, zap.New(core))
	if err := again.Fit(context.Background(), plan, true); err != nil {
		t.Fatal(err)
	}
	warn := logs.FilterLevelExact(zap.WarnLevel).All()
	if len(warn) != 1 || !strings.Contains(warn[0].Message, "another precision") ||
		warn[0].ContextMap()["checkpoint"] != PrecisionBF16 || warn[0].ContextMap()["now"] != PrecisionFP32 {
		t.Errorf("warnings on resuming in fp32: %+v", warn)
	}
	if ck, err = loadCheckpoint(filepath.Join(dir, lastCkpt)); err != nil || ck.Precision != PrecisionFP32 || ck.Epoch != 2 {
		t.Errorf("checkpoint after the fp32 epoch: precision %q, epoch %d, %v", ck.Precision, ck.Epoch, err)
	}
}

// TestEvaluateExportedIsFP32: a bf16-mixed learner's final evaluation runs
// its weights in fp32, as the exported ONNX model does — its logits equal
// an fp32 learner's on the same weights bit for bit — while Evaluate
// validates in bf16, as autocast does during training.
func TestEvaluateExportedIsFP32(t *testing.T) {
	if !blas.BF16Supported() {
		t.Skip("no native bf16 on this CPU")
	}
	ds, aug := tinySet(t)
	bf := tinyLearnerPrec(t, ds, aug, t.TempDir(), Hooks{}, PrecisionBF16, zap.NewNop())
	fp := tinyLearnerPrec(t, ds, aug, t.TempDir(), Hooks{}, PrecisionFP32, zap.NewNop())
	ctx := context.Background()
	exported, err := bf.EvaluateExported(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := fp.Evaluate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(exported.Logits, want.Logits) || exported.Loss != want.Loss {
		t.Errorf("bf16 learner's exported evaluation differs from fp32's: loss %v vs %v", exported.Loss, want.Loss)
	}
	inBF16, err := bf.Evaluate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(inBF16.Logits, want.Logits) {
		t.Error("Evaluate of a bf16-mixed learner gave fp32's logits exactly: it did not run in bf16")
	}
}
