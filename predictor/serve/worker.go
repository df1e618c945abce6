package serve

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tagnet/tagnet/predictor"
)

// job is one request's preprocessed images, waiting for the model.
type job struct {
	ctx    context.Context
	input  []float32 // n × InputLen values
	n      int
	result chan jobResult // buffered: the worker never blocks on it
}

// jobResult is what the worker hands back for a job.
type jobResult struct {
	preds []predictor.Prediction // n predictions, when err is nil
	err   error
}

// errShuttingDown answers jobs still queued when the worker stops.
var errShuttingDown = fmt.Errorf("serve: shutting down")

// release gives back a queue slot.
func (s *Server) release() {
	<-s.slots
	s.m.queueDepth.Dec()
}

// work is the model worker: it warms the model up, reports that on
// warmed, turns the server ready, then runs queued jobs, in batches when
// batching is on, until s.stop is closed.
func (s *Server) work(warmed chan<- error) {
	defer close(s.stopped)
	if err := s.warm(); err != nil {
		warmed <- err
		return
	}
	s.state.CompareAndSwap(stateStarting, stateReady)
	warmed <- nil
	s.log.Info("ready")

	var carry *job // taken from the queue but did not fit the last batch
	for {
		j := carry
		carry = nil
		if j == nil {
			select {
			case j = <-s.queue:
				s.release()
			case <-s.stop:
				s.refuseQueued()
				return
			}
		}
		batch := []*job{j}
		if s.batching && j.n < s.chunk {
			batch, carry = s.collect(batch, j.n)
		}
		s.run(batch)
	}
}

// warm runs zero batches of the sizes the server will run most: one
// image, and a full batch when batching is on.
func (s *Server) warm() error {
	if !s.warmup {
		return nil
	}
	sizes := []int{1}
	if s.batching && s.chunk > 1 {
		sizes = append(sizes, s.chunk)
	}
	L, C := s.p.InputLen(), s.p.NumClasses()
	for _, n := range sizes {
		start := time.Now()
		if err := s.p.ForwardInto(make([]float32, n*L), n, make([]float32, n*C)); err != nil {
			return fmt.Errorf("warming up the model at batch %d: %w", n, err)
		}
		s.log.Debug("warmed up", zap.Int("batch", n), zap.Duration("took", time.Since(start)))
	}
	return nil
}

// collect adds queued jobs to batch, which holds n images, until the batch
// is full or max_delay has passed since the first job was taken. A job
// that does not fit is returned as carry, to start the next batch.
func (s *Server) collect(batch []*job, n int) (_ []*job, carry *job) {
	var timeout <-chan time.Time
	if s.maxDelay > 0 {
		t := time.NewTimer(s.maxDelay)
		defer t.Stop()
		timeout = t.C
	}
	for n < s.chunk {
		var j *job
		if timeout == nil {
			// No delay: take only what is already waiting.
			select {
			case j = <-s.queue:
			default:
				return batch, nil
			}
		} else {
			select {
			case j = <-s.queue:
			case <-timeout:
				return batch, nil
			}
		}
		s.release()
		if n+j.n > s.chunk {
			return batch, j
		}
		batch = append(batch, j)
		n += j.n
	}
	return batch, nil
}

// run runs the jobs of one batch through the model, in forward passes of
// at most s.chunk images, and hands each job its predictions. Jobs whose
// request has given up are dropped first.
func (s *Server) run(batch []*job) {
	live := batch[:0]
	n := 0
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.result <- jobResult{err: err}
			continue
		}
		live = append(live, j)
		n += j.n
	}
	if n == 0 {
		return
	}
	L, C := s.p.InputLen(), s.p.NumClasses()
	input := live[0].input
	if len(live) > 1 {
		// Gather the jobs into the worker's batch buffer, reused across
		// batches (only the worker touches it).
		if cap(s.batchBuf) < n*L {
			s.batchBuf = make([]float32, n*L)
		}
		input = s.batchBuf[:0]
		for _, j := range live {
			input = append(input, j.input...)
		}
	}
	logits := make([]float32, n*C)
	var err error
	for a := 0; a < n && err == nil; a += s.chunk {
		b := min(a+s.chunk, n)
		if s.beforeForward != nil {
			s.beforeForward(b - a)
		}
		start := time.Now()
		err = s.p.ForwardInto(input[a*L:b*L], b-a, logits[a*C:b*C])
		s.m.forward.Observe(time.Since(start).Seconds())
		s.m.batchSize.Observe(float64(b - a))
	}
	var preds []predictor.Prediction
	if err == nil {
		preds, err = s.p.Postprocess(logits, n)
	}
	if err != nil {
		s.log.Error("running the model", zap.Int("images", n), zap.Int("requests", len(live)), zap.Error(err))
	}
	off := 0
	for _, j := range live {
		if err != nil {
			j.result <- jobResult{err: err}
		} else {
			j.result <- jobResult{preds: preds[off : off+j.n : off+j.n]}
		}
		off += j.n
	}
}

// refuseQueued answers every job still queued when the worker stops.
func (s *Server) refuseQueued() {
	for {
		select {
		case j := <-s.queue:
			s.release()
			j.result <- jobResult{err: errShuttingDown}
		default:
			return
		}
	}
}
