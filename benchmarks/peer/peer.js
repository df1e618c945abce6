#!/usr/bin/env node
// peer.js times InferenceSession.run of ONNX Runtime's own Node.js binding
// (onnxruntime-node 1.29.0, whose prebuilt binding loads the same
// libonnxruntime.so.1 build as tagnet's predictor), so that the Go
// benchmarks can compare the predictor's forward pass with ONNX Runtime
// called as directly as its authors ship it.
//
// Install the binding with `scripts/setup.sh --node-peer` (into
// .native/node-peer, git-ignored) and run with NODE_PATH pointing at its
// node_modules.
//
// Two modes:
//
//   Server mode (no arguments), used by benchmarks/predict_bench_test.go:
//   one JSON request per line on stdin, one JSON answer per line on stdout.
//     {"op":"load","model":PATH,"threads":N}
//         → {"ok":true,"version":"1.29.0","inputs":[...],"outputs":[...]}
//     {"op":"run","model":PATH,"input":F32FILE,"shape":[N,3,H,W],
//      "output":"logits","warmup":W,"iters":K,"pause_ms":P,"return_output":BOOL}
//         → {"ok":true,"ns":[K durations of session.run, in nanoseconds],
//            "values":[the output of the last run, when return_output]}
//   Each timed run follows a pause of P milliseconds (default 0), as the Go
//   side pauses before its own runs: see benchmarks/predict_bench_test.go.
//   Any failure answers {"ok":false,"error":MESSAGE}.
//
//   Stand-alone mode, for a quick look without Go:
//     NODE_PATH=.native/node-peer/node_modules node benchmarks/peer/peer.js \
//       --model m.onnx --size 224 --batch 1,8,32 --threads 2 --iters 20
//   prints benchstat-format lines (random input).
//
// Sessions use the settings the predictor's benchmarks give ONNX Runtime:
// intra-op threads as asked, sequential execution, all graph
// optimisations; ONNX Runtime's defaults otherwise (memory arena and
// pattern on).
'use strict';

const fs = require('node:fs');
const readline = require('node:readline');
const ort = require('onnxruntime-node');

const sessions = new Map(); // model path → InferenceSession
const inputs = new Map(); // f32 file → Float32Array

async function load(model, threads) {
  let s = sessions.get(model);
  if (!s) {
    const opts = {
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    };
    if (threads > 0) opts.intraOpNumThreads = threads;
    s = await ort.InferenceSession.create(model, opts);
    sessions.set(model, s);
  }
  return s;
}

function readF32(path) {
  let a = inputs.get(path);
  if (!a) {
    const b = fs.readFileSync(path);
    if (b.length % 4 !== 0) throw new Error(`${path}: ${b.length} bytes is not a whole number of float32`);
    // Copy into an aligned buffer; the file is little-endian float32, as
    // is every machine this runs on.
    a = new Float32Array(b.length / 4);
    new Uint8Array(a.buffer).set(b);
    inputs.set(path, a);
  }
  return a;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// timeRuns runs the session warmup times untimed, then iters times timed,
// each after a pause of pauseMs. It returns the durations and the output
// of the last run.
async function timeRuns(s, data, shape, output, warmup, iters, pauseMs = 0) {
  const name = s.inputNames[0];
  const out = output || s.outputNames[0];
  const feeds = { [name]: new ort.Tensor('float32', data, shape) };
  const fetches = [out];
  let last = null;
  for (let i = 0; i < warmup; i++) last = await s.run(feeds, fetches);
  const ns = [];
  for (let i = 0; i < iters; i++) {
    if (pauseMs > 0) await sleep(pauseMs);
    const t0 = process.hrtime.bigint();
    last = await s.run(feeds, fetches);
    ns.push(Number(process.hrtime.bigint() - t0));
  }
  return { ns, values: last ? last[out].data : null };
}

async function handle(req) {
  switch (req.op) {
    case 'load': {
      const s = await load(req.model, req.threads | 0);
      return { ok: true, version: ort.env.versions.common, inputs: s.inputNames, outputs: s.outputNames };
    }
    case 'run': {
      const s = sessions.get(req.model);
      if (!s) throw new Error(`model ${req.model} is not loaded`);
      const data = readF32(req.input);
      const want = req.shape.reduce((a, b) => a * b, 1);
      if (data.length !== want) throw new Error(`input holds ${data.length} values, shape [${req.shape}] needs ${want}`);
      const r = await timeRuns(s, data, req.shape, req.output, req.warmup | 0, req.iters | 0, Number(req.pause_ms) || 0);
      const answer = { ok: true, ns: r.ns };
      if (req.return_output && r.values) answer.values = Array.from(r.values);
      return answer;
    }
    default:
      throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }
}

async function serve() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    let answer;
    try {
      answer = await handle(JSON.parse(line));
    } catch (e) {
      answer = { ok: false, error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}

function median(ns) {
  const s = [...ns].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

async function standalone(argv) {
  const arg = (name, def) => {
    const i = argv.indexOf('--' + name);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
  };
  const model = arg('model');
  if (!model) throw new Error('--model is required');
  const size = Number(arg('size', '224'));
  const threads = Number(arg('threads', '0'));
  const iters = Number(arg('iters', '10'));
  const s = await load(model, threads);
  for (const n of String(arg('batch', '1')).split(',').map(Number)) {
    const data = new Float32Array(n * 3 * size * size);
    for (let i = 0; i < data.length; i++) data[i] = Math.random() * 4 - 2;
    const { ns } = await timeRuns(s, data, [n, 3, size, size], null, 2, iters);
    const mean = ns.reduce((a, b) => a + b, 0) / ns.length;
    console.log(`BenchmarkPeerNode/batch=${n}\t${iters}\t${Math.round(mean)} ns/op\t${(median(ns) / 1e6).toFixed(3)} p50-ms`);
  }
}

const main = process.argv.length > 2 ? standalone(process.argv.slice(2)) : serve();
main.catch((e) => {
  process.stderr.write(`peer.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
