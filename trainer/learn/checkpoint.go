package learn

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tagnet/tagnet/models"
)

// Checkpoint file names in Config.Dir.
const (
	lastCkpt    = "last.ckpt"
	bestCkpt    = "best.ckpt"
	metricsFile = "metrics.jsonl"
)

// checkpointMagic starts every checkpoint file; the digit is the format
// version.
const checkpointMagic = "tagnet-checkpoint-1\n"

// checkpoint is the state after a completed epoch: enough to continue
// exactly where the run stood.
type checkpoint struct {
	Fingerprint string
	Epoch       int // epochs completed
	Best        float64
	BestEpoch   int
	Names       []string
	Values      [][]float32
	Optimizer   []byte
	History     []EpochStats
	// Precision is the train.precision the epochs ran in ("fp32" or
	// "bf16-mixed"; "" in files from before it existed: fp32). It is not
	// part of the fingerprint: a run may resume in the other precision.
	Precision string
}

func (c *checkpoint) weights() models.Weights {
	w := make(models.Weights, len(c.Names))
	for i, n := range c.Names {
		w[n] = &models.Tensor{Data: c.Values[i]}
	}
	return w
}

func (l *Learner) ckptPath(name string) string { return filepath.Join(l.cfg.Dir, name) }

// fingerprint identifies what a checkpoint may be resumed into: the
// architecture, the labels, the plan, the seed, the batch size and the
// training items.
func (l *Learner) fingerprint(plan Plan) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(l.net.Graph().Spec)
	_ = enc.Encode(l.labels)
	_ = enc.Encode(plan)
	_ = enc.Encode([]any{l.cfg.Seed, l.cfg.BatchSize, l.cfg.WD, l.cfg.Augment})
	if l.cfg.WDBNBias { // only when set, so older checkpoints still match
		_ = enc.Encode("wd_bn_bias")
	}
	for _, it := range l.train.Items() {
		_ = enc.Encode(it.Path)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (l *Learner) restore(ck *checkpoint) error {
	if err := l.setWeights(ck); err != nil {
		return err
	}
	return l.opt.UnmarshalBinary(ck.Optimizer)
}

// setWeights sets the network's parameters from ck.
func (l *Learner) setWeights(ck *checkpoint) error {
	w := ck.weights()
	for _, p := range l.net.Params() {
		t, ok := w[p.Name]
		if !ok {
			return fmt.Errorf("checkpoint has no parameter %s", p.Name)
		}
		t.Shape = p.Shape
	}
	return l.net.SetWeights(w)
}

// saveEpoch writes last.ckpt (and best.ckpt) and appends the epoch's stats
// to metrics.jsonl. Nothing is written without a Dir.
func (l *Learner) saveEpoch(fp string, epochsDone int, best float64, bestEpoch int, improved bool, st EpochStats) error {
	if l.cfg.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(l.cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint folder: %w", err)
	}
	line, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding metrics: %w", err)
	}
	f, err := os.OpenFile(l.ckptPath(metricsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("metrics log: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("metrics log: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("metrics log: %w", err)
	}
	ck := &checkpoint{Fingerprint: fp, Epoch: epochsDone, Best: best, BestEpoch: bestEpoch, History: l.history, Precision: l.precision}
	for _, p := range l.net.Params() {
		ck.Names = append(ck.Names, p.Name)
		ck.Values = append(ck.Values, p.Value)
	}
	if ck.Optimizer, err = l.opt.MarshalBinary(); err != nil {
		return fmt.Errorf("saving optimiser state: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(checkpointMagic)
	if err := gob.NewEncoder(&buf).Encode(ck); err != nil {
		return fmt.Errorf("encoding checkpoint: %w", err)
	}
	if err := models.WriteFileAtomic(l.ckptPath(lastCkpt), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if improved {
		if err := models.WriteFileAtomic(l.ckptPath(bestCkpt), buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing checkpoint: %w", err)
		}
	}
	return nil
}

// rewriteMetrics replaces metrics.jsonl with the history.
func (l *Learner) rewriteMetrics() error {
	var buf bytes.Buffer
	for _, st := range l.history {
		line, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encoding metrics: %w", err)
		}
		buf.Write(append(line, '\n'))
	}
	if err := models.WriteFileAtomic(l.ckptPath(metricsFile), buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("metrics log: %w", err)
	}
	return nil
}

func loadCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint: %w", err)
	}
	if !bytes.HasPrefix(b, []byte(checkpointMagic)) {
		return nil, fmt.Errorf("reading checkpoint %s: not a tagnet checkpoint of this version", path)
	}
	ck := &checkpoint{}
	if err := gob.NewDecoder(bytes.NewReader(b[len(checkpointMagic):])).Decode(ck); err != nil {
		return nil, fmt.Errorf("reading checkpoint %s: %w", path, err)
	}
	if len(ck.Names) != len(ck.Values) {
		return nil, fmt.Errorf("reading checkpoint %s: %d names for %d tensors", path, len(ck.Names), len(ck.Values))
	}
	return ck, nil
}
