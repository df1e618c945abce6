package benchmarks

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tagnet/tagnet/internal/digest"
	"github.com/tagnet/tagnet/predictor/ort"
)

// Where scripts/setup.sh --node-peer installs onnxruntime-node, and the
// library its binding loads, relative to this package's folder.
const (
	nodePeerModules = "../.native/node-peer/node_modules"
	nodePeerLibrary = nodePeerModules + "/onnxruntime-node/bin/napi-v6/linux/x64/" + ort.LibraryName
	nodePeerScript  = "peer/peer.js"
)

// nodePeer is a running peer/peer.js: ONNX Runtime's own Node.js binding
// timing InferenceSession.run on request.
type nodePeer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr bytes.Buffer
}

// startNodePeer starts peer.js, installing onnxruntime-node through
// scripts/setup.sh --node-peer first when npm can. It returns nil, after
// logging why, when the peer cannot run here (no node or npm, or
// TAGNET_BENCH_PEER=0); the benchmarks then report no peer metrics.
func startNodePeer(b *testing.B) *nodePeer {
	b.Helper()
	if os.Getenv("TAGNET_BENCH_PEER") == "0" {
		b.Log("node peer: off (TAGNET_BENCH_PEER=0)")
		return nil
	}
	if predProvider() != ort.ProviderCPU {
		b.Logf("node peer: off (it runs on the CPU; TAGNET_BENCH_PROVIDER=%s)", predProvider())
		return nil
	}
	node, err := exec.LookPath("node")
	if err != nil {
		b.Log("node peer skipped: node is not installed (Debian packages nodejs and npm)")
		return nil
	}
	if _, err := os.Stat(nodePeerLibrary); err != nil {
		if _, err := exec.LookPath("npm"); err != nil {
			b.Log("node peer skipped: onnxruntime-node is not installed and npm is absent; install npm, then run scripts/setup.sh --node-peer")
			return nil
		}
		b.Log("node peer: installing onnxruntime-node with scripts/setup.sh --node-peer")
		if out, err := exec.Command("bash", "../scripts/setup.sh", "--node-peer").CombinedOutput(); err != nil {
			b.Logf("node peer skipped: scripts/setup.sh --node-peer: %v\n%s", err, out)
			return nil
		}
	}
	// The comparison means something only if both sides run the same
	// ONNX Runtime build.
	if sum, err := digest.File(nodePeerLibrary); err != nil || sum != ort.LibrarySHA256 {
		b.Fatalf("node peer: %s is not the ONNX Runtime build tagnet uses (sha256 %s, %v); rerun scripts/setup.sh --node-peer", nodePeerLibrary, sum, err)
	}
	modules, err := filepath.Abs(nodePeerModules)
	if err != nil {
		b.Fatal(err)
	}
	p := &nodePeer{cmd: exec.Command(node, nodePeerScript)}
	p.cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	p.cmd.Stderr = &p.stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	p.stdout = bufio.NewReaderSize(out, 1<<20)
	if err := p.cmd.Start(); err != nil {
		b.Fatalf("starting the node peer: %v", err)
	}
	b.Cleanup(func() {
		p.stdin.Close() // peer.js exits at the end of its input
		if err := p.cmd.Wait(); err != nil {
			b.Errorf("node peer: %v\n%s", err, p.stderr.String())
		}
	})
	return p
}

// call sends one request and decodes its answer into answer.
func (p *nodePeer) call(req, answer any) error {
	line, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("node peer: writing a request: %w\n%s", err, p.stderr.String())
	}
	resp, err := p.stdout.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("node peer: reading an answer: %w\n%s", err, p.stderr.String())
	}
	var status struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(resp, &status); err != nil {
		return fmt.Errorf("node peer: answer %.200q: %w", resp, err)
	}
	if !status.OK {
		return fmt.Errorf("node peer: %s", status.Error)
	}
	if answer == nil {
		return nil
	}
	return json.Unmarshal(resp, answer)
}

// load opens model in the peer with threads intra-op threads and checks
// the binding's version.
func (p *nodePeer) load(model string, threads int) error {
	var a struct {
		Version string `json:"version"`
	}
	if err := p.call(map[string]any{"op": "load", "model": model, "threads": threads}, &a); err != nil {
		return err
	}
	if a.Version != ort.LibraryVersion {
		return fmt.Errorf("node peer: onnxruntime-node %s, want %s", a.Version, ort.LibraryVersion)
	}
	return nil
}

// peerRun is one timed request to the peer: input is a float32 file of the
// given shape.
type peerRun struct {
	model, input string
	shape        []int
}

// run runs warmup untimed and iters timed session runs in the peer, each
// timed run after a pause, and returns their durations, and the logits of
// the last run when wantOutput is set.
func (p *nodePeer) run(r peerRun, warmup, iters int, pause time.Duration, wantOutput bool) (latencies, []float32, error) {
	var a struct {
		NS     []int64   `json:"ns"`
		Values []float32 `json:"values"`
	}
	err := p.call(map[string]any{
		"op": "run", "model": r.model, "input": r.input, "shape": r.shape, "output": ort.LogitsOutput,
		"warmup": warmup, "iters": iters, "pause_ms": pause.Milliseconds(), "return_output": wantOutput,
	}, &a)
	if err != nil {
		return nil, nil, err
	}
	if len(a.NS) != iters {
		return nil, nil, fmt.Errorf("node peer: %d timings for %d runs", len(a.NS), iters)
	}
	l := make(latencies, len(a.NS))
	for i, ns := range a.NS {
		l[i] = time.Duration(ns)
	}
	return l, a.Values, nil
}

// writeF32 writes x as little-endian float32 to a new file in dir.
func writeF32(dir, name string, x []float32) (string, error) {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, b, 0o600)
}

// maxAbsDiff returns the largest absolute difference of two equally long
// slices, or an error when their lengths differ.
func maxAbsDiff(a, b []float32) (float64, error) {
	if len(a) != len(b) {
		return 0, errors.New("lengths differ")
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m, nil
}
