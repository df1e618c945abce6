#!/usr/bin/env node
// photos.js is the pipeline a Node.js user writes to classify a folder of
// photographs with a tagnet model: sharp (libvips, with its shrink-on-load
// and EXIF rotation) squishes each image to the model's resize size and
// centre-crops it, the pixels are normalised into an NCHW float32 batch,
// and onnxruntime-node (the same libonnxruntime.so.1 build as tagnet's)
// runs it. The next batch is decoded while the session runs the current
// one. benchmarks/photos_bench_test.go runs it beside tagnet-predict.
//
//   NODE_PATH=.native/node-peer/node_modules node benchmarks/peer/photos.js \
//     --model m.onnx --size 224 --resize 256 --batch 32 --threads 2 FILE...
//
// It prints one JSON line: {"ok":N,"failed":N,"seconds":S,"images_per_second":R}
// where seconds run from the first decode to the last session output
// (model loading excluded, as tagnet-predict's own figure excludes it).
// Mean and std are ImageNet's, as in tagnet's default preprocessing.
'use strict';

const sharp = require('sharp');
const ort = require('onnxruntime-node');

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

function parseArgs(argv) {
  const o = { batch: 32, threads: 0, size: 224, resize: 256, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const v = argv[++i];
      o[a.slice(2)] = a === '--model' ? v : Number(v);
    } else {
      o.files.push(a);
    }
  }
  if (!o.model || o.files.length === 0) throw new Error('usage: photos.js --model M [--size S --resize R --batch B --threads T] FILE...');
  return o;
}

// prep decodes one file into its slot of batch (CHW planes at offset).
async function prep(file, o, batch, offset) {
  const off = (o.resize - o.size) >> 1;
  const { data } = await sharp(file, { failOn: 'error' })
    .rotate() // EXIF orientation
    .resize(o.resize, o.resize, { fit: 'fill', kernel: 'linear' })
    .extract({ left: off, top: off, width: o.size, height: o.size })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const plane = o.size * o.size;
  for (let c = 0; c < 3; c++) {
    const mul = 1 / (255 * STD[c]);
    const add = -MEAN[c] / STD[c];
    const dst = offset + c * plane;
    for (let i = 0; i < plane; i++) batch[dst + i] = data[3 * i + c] * mul + add;
  }
}

// prepBatch decodes files[lo, hi) in parallel (sharp's thread pool) into
// one batch holding the ones that decoded.
async function prepBatch(files, lo, hi, o) {
  const L = 3 * o.size * o.size;
  const staged = new Float32Array((hi - lo) * L);
  const ok = await Promise.all(files.slice(lo, hi).map((f, k) =>
    prep(f, o, staged, k * L).then(() => true, () => false)));
  let n = 0;
  for (let k = 0; k < ok.length; k++) {
    if (!ok[k]) continue;
    if (n !== k) staged.copyWithin(n * L, k * L, (k + 1) * L);
    n++;
  }
  return { data: staged.subarray(0, n * L), n, failed: ok.length - n };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  sharp.cache(false);
  const opts = { executionMode: 'sequential', graphOptimizationLevel: 'all' };
  if (o.threads > 0) opts.intraOpNumThreads = o.threads;
  const session = await ort.InferenceSession.create(o.model, opts);
  const input = session.inputNames[0];
  const files = o.files;
  let ok = 0, failed = 0;
  const start = process.hrtime.bigint();
  let next = prepBatch(files, 0, Math.min(o.batch, files.length), o);
  for (let lo = 0; lo < files.length; lo += o.batch) {
    const cur = await next;
    const nlo = lo + o.batch;
    if (nlo < files.length) next = prepBatch(files, nlo, Math.min(nlo + o.batch, files.length), o);
    failed += cur.failed;
    if (cur.n > 0) {
      await session.run({ [input]: new ort.Tensor('float32', cur.data, [cur.n, 3, o.size, o.size]) });
      ok += cur.n;
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({ ok, failed, seconds, images_per_second: (ok + failed) / seconds }) + '\n');
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
