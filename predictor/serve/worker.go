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
	batch  *predictor.Batch // the request's images, decoded into its slots
	n      int              // the slots that decoded: the images to run
	result chan error       // buffered: the worker never blocks on it
}

// errShuttingDown answers jobs still queued when the worker stops.
var errShuttingDown = fmt.Errorf("serve: shutting down")

// release gives back a queue slot.
func (s *Server) release() {
	<-s.slots
	s.m.queueDepth.Dec()
}

// work is the model worker: it turns the server ready (the predictor was
// warmed up when it was opened), then runs queued jobs, in batches when
// batching is on, until s.stop is closed.
func (s *Server) work() {
	defer close(s.stopped)
	s.state.CompareAndSwap(stateStarting, stateReady)
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

// run runs the jobs of one batch through the model with predictor.Run (in
// forward passes of at most the predictor's MaxBatch images) and hands each
// job its result; the predictions are in the jobs' own batches. Jobs whose
// request has given up are dropped first.
func (s *Server) run(batch []*job) {
	live := batch[:0]
	batches := make([]*predictor.Batch, 0, len(batch))
	n := 0
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.result <- err
			continue
		}
		live = append(live, j)
		batches = append(batches, j.batch)
		n += j.n
	}
	if n == 0 {
		return
	}
	err := s.p.Run(context.Background(), s.runOpts, batches...)
	if err != nil {
		s.log.Error("running the model", zap.Int("images", n), zap.Int("requests", len(live)), zap.Error(err))
	}
	for _, j := range live {
		j.result <- err
	}
}

// refuseQueued answers every job still queued when the worker stops.
func (s *Server) refuseQueued() {
	for {
		select {
		case j := <-s.queue:
			s.release()
			j.result <- errShuttingDown
		default:
			return
		}
	}
}
