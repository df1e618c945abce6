// Package batch predicts every image under a set of directories with a
// tagnet model and writes one result row per file: the predictor's
// directory mode, behind `tagnet-predict predict`.
//
//	Walk ──► Shard ──► skip rows already in the output (resume)
//	     ──► batcher ──► decode workers ──► predictor.Run ──► writer
//
// The stages run at once, joined by bounded channels: while the session
// runs one batch, the decode workers fill the next ones straight into the
// slots of reused predictor.Batch values, and the writer writes and flushes
// the previous one. Each batch goes through the predictor's one batch
// primitive, predictor.Run (pack the decoded images, forward, postprocess,
// scatter), as PredictBytes and the HTTP service do.
// Rows come out in the sorted order of the file paths, so a run's output
// does not depend on timing.
//
// A file that cannot be predicted (empty, truncated, not an image, over
// the pixel limit, an unsupported format, unreadable) gets a row with its
// error and the run goes on. The output is flushed after every batch, so a
// killed run leaves at most one torn last line, which resuming cuts off
// before appending. A run that has written a row for every file of its
// shard leaves a completion record beside the results file (Completion),
// which `tagnet-predict merge` requires of every shard.
package batch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/predictor"
)

// ErrConfig is wrapped by errors in what a run was asked to do (missing
// inputs, an unusable output, an output that cannot be resumed), as opposed
// to failures while it ran.
var ErrConfig = errors.New("invalid batch configuration")

// Config configures Predict.
type Config struct {
	// Roots are the directories (or single files) to predict.
	Roots []string
	// Walk configures the directory walk.
	Walk WalkOptions
	// Output configures the results file; Classes is filled in from the
	// predictor.
	Output OutputOptions
	// ShardIndex and ShardCount select one shard of the files (see
	// InShard); ShardCount 0 or 1 means all files.
	ShardIndex, ShardCount int
	// Run configures the pipeline.
	Run Options
}

// Predict walks cfg.Roots, keeps this shard's files, skips those already in
// the output when resuming, and predicts the rest into the output. It
// returns the summary of the run; an error wrapping ErrConfig means nothing
// was predicted because the configuration is unusable.
func Predict(ctx context.Context, p *predictor.Predictor, cfg Config) (Summary, error) {
	logger := cfg.Run.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	if cfg.ShardCount < 0 || (cfg.ShardCount > 0 && (cfg.ShardIndex < 0 || cfg.ShardIndex >= cfg.ShardCount)) {
		return Summary{}, fmt.Errorf("%w: shard %d/%d", ErrConfig, cfg.ShardIndex, cfg.ShardCount)
	}
	if cfg.Walk.Logger == nil {
		cfg.Walk.Logger = logger
	}
	files, err := Walk(cfg.Roots, cfg.Walk)
	if err != nil {
		return Summary{}, err
	}
	found := len(files)
	if found == 0 {
		logger.Warn("no image files found", zap.Strings("inputs", cfg.Roots), zap.Strings("extensions", cfg.Walk.Extensions))
	}
	files = Shard(files, cfg.ShardIndex, cfg.ShardCount)

	cfg.Output.Classes = p.Labels()
	if cfg.Output.Logger == nil {
		cfg.Output.Logger = logger
	}
	out, done, err := OpenOutput(cfg.Output)
	if err != nil {
		return Summary{}, err
	}
	todo := files[:0:0]
	for _, f := range files {
		if !done[f.Path] {
			todo = append(todo, f)
		}
	}
	logger.Info("inputs listed",
		zap.Int("found", found),
		zap.Int("in_shard", len(files)),
		zap.String("shard", fmt.Sprintf("%d/%d", cfg.ShardIndex, max(cfg.ShardCount, 1))),
		zap.Int("already_done", len(files)-len(todo)),
		zap.Int("to_predict", len(todo)))

	sum, err := Run(ctx, p, todo, out, cfg.Run)
	sum.Skipped = len(files) - len(todo)
	if cerr := out.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil && out.file != nil {
		err = writeCompletion(cfg.Output.Path, Completion{
			Rows:           len(done) + sum.OK + sum.Failed,
			Files:          len(files),
			Format:         out.format,
			Shard:          CompletionShard{Index: cfg.ShardIndex, Count: cfg.ShardCount},
			Model:          p.Info().SHA256,
			Labels:         cfg.Output.Classes,
			Thresholds:     p.Thresholds(),
			Inputs:         cfg.Roots,
			Extensions:     cfg.Walk.Extensions,
			FollowSymlinks: cfg.Walk.FollowSymlinks,
		})
	}
	return sum, err
}

// Sink receives the rows of each batch, in order. Output is one.
type Sink interface {
	Write(rows []Row) error
}

// Options configures Run. The zero value uses batches of the predictor's
// MaxBatch and one decode worker per CPU. Images are decoded within the
// predictor's own limits (predictor.Options.MaxPixels and MaxBytes).
type Options struct {
	// BatchSize is the number of files per batch; 0 means the predictor's
	// MaxBatch. A batch larger than MaxBatch runs in several forward
	// passes.
	BatchSize int
	// Workers is the number of decoding goroutines; 0 means one per CPU.
	Workers int
	// Buffers is the number of batch buffers in flight (one in the
	// session, the others being filled); 0 means enough to keep every
	// worker busy, at least 3.
	Buffers int
	// OnProgress, when set, is called once before the first batch and
	// after each batch is written, from one goroutine.
	OnProgress func(Progress)
	// Logger receives a line per failed file. Nil means none.
	Logger *zap.Logger
}

// Progress is the state of a run.
type Progress struct {
	// Total is the number of files the run predicts.
	Total int
	// OK and Failed count the rows written so far.
	OK, Failed int
}

// Summary is the outcome of a run.
type Summary struct {
	// Files is the number of files the run was given; Skipped the number
	// left out because the output already had them (Predict only).
	Files, Skipped int
	// OK and Failed count the rows written.
	OK, Failed int
	// Elapsed is the run's wall time.
	Elapsed time.Duration
}

// batchJob is one batch moving through the pipeline.
type batchJob struct {
	files   []File
	batch   *predictor.Batch // a pooled batch of up to BatchSize slots
	pending atomic.Int32
	decoded chan struct{} // closed when every slot is done
}

// slot is one file of a batch for a decode worker.
type slot struct {
	b *batchJob
	i int
}

// Run predicts files, in order, writing one row per file to sink after
// each batch. Decoding, inference and writing overlap. A file that cannot
// be read or decoded gets an error row; an inference or write error stops
// the run and is returned, as is ctx's error when it is cancelled. Rows
// written before an error stay written.
func Run(ctx context.Context, p *predictor.Predictor, files []File, sink Sink, opt Options) (Summary, error) {
	start := time.Now()
	logger := opt.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	B := opt.BatchSize
	if B <= 0 {
		B = p.MaxBatch()
	}
	W := opt.Workers
	if W <= 0 {
		W = runtime.GOMAXPROCS(0)
	}
	K := opt.Buffers
	if K <= 0 {
		K = max(3, 2+(W+B-1)/B)
	}
	sum := Summary{Files: len(files)}
	progress := func() {
		if opt.OnProgress != nil {
			opt.OnProgress(Progress{Total: len(files), OK: sum.OK, Failed: sum.Failed})
		}
	}
	progress()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	free := make(chan *predictor.Batch, K)
	for range K {
		free <- p.NewBatch(B)
	}
	ready := make(chan *batchJob, K)
	slots := make(chan slot, B*K)
	results := make(chan []Row, 2)

	var wg sync.WaitGroup
	// Batcher: cuts the file list into batches, hands each a free buffer
	// and its slots to the workers, in order.
	wg.Go(func() {
		defer close(ready)
		defer close(slots)
		for lo := 0; lo < len(files); lo += B {
			var pb *predictor.Batch
			select {
			case pb = <-free:
			case <-ctx.Done():
				return
			}
			b := &batchJob{files: files[lo:min(lo+B, len(files))], batch: pb, decoded: make(chan struct{})}
			pb.Reset(len(b.files))
			b.pending.Store(int32(len(b.files)))
			ready <- b // never blocks: at most K batches hold buffers
			for i := range b.files {
				slots <- slot{b, i}
			}
		}
	})
	// Decode workers: each file straight into its slot of the batch.
	for range W {
		wg.Go(func() {
			for s := range slots {
				f := s.b.files[s.i]
				if f.Err != nil {
					s.b.batch.Fail(s.i, f.Err)
				} else if ctx.Err() != nil {
					s.b.batch.Fail(s.i, context.Cause(ctx))
				} else {
					s.b.batch.DecodeFile(s.i, f.Path)
				}
				if s.b.pending.Add(-1) == 0 {
					close(s.b.decoded)
				}
			}
		})
	}
	// Inference: batches in order, through predictor.Run, into rows.
	var runErr error
	wg.Go(func() {
		defer close(results)
		for b := range ready {
			<-b.decoded
			if ctx.Err() != nil {
				free <- b.batch
				continue
			}
			rows, err := infer(ctx, p, b)
			free <- b.batch
			if err != nil && ctx.Err() != nil {
				continue // cancelled while it ran: ctx's error is the run's
			}
			if err != nil {
				runErr = err
				cancel(err)
				continue
			}
			results <- rows
		}
	})
	// Writer: here, so rows are written in order by one goroutine.
	var writeErr error
	for rows := range results {
		if writeErr != nil {
			continue
		}
		if err := sink.Write(rows); err != nil {
			writeErr = err
			cancel(err)
			continue
		}
		for _, r := range rows {
			if r.Err == "" {
				sum.OK++
			} else {
				sum.Failed++
				logger.Warn("cannot predict", zap.String("file", r.File), zap.String("error", r.Err))
			}
		}
		progress()
	}
	wg.Wait()
	sum.Elapsed = time.Since(start)
	switch {
	case runErr != nil:
		return sum, runErr
	case writeErr != nil:
		return sum, writeErr
	}
	return sum, ctx.Err()
}

// infer runs one decoded batch through predictor.Run; every file gets a
// row, a bad one its error.
func infer(ctx context.Context, p *predictor.Predictor, b *batchJob) ([]Row, error) {
	if err := p.Run(ctx, predictor.RunOptions{}, b.batch); err != nil {
		return nil, fmt.Errorf("batch starting at %s: %w", b.files[0].Path, err)
	}
	rows := make([]Row, len(b.files))
	for i, f := range b.files {
		rows[i].File = f.Path
		pred, err := b.batch.Result(i)
		if err != nil {
			rows[i].Err = err.Error()
			rows[i].Labels = []string{}
			continue
		}
		rows[i].Labels, rows[i].Probabilities = pred.Labels, pred.Probabilities
	}
	return rows, nil
}
