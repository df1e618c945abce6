#!/usr/bin/env bash
# demo.sh runs tagnet's main job on built-in demo data, end to end:
# synthetic multi-label images → train a small ResNet → export ONNX (with
# labels, preprocessing and the threshold sweep) → predict a folder with
# tagnet-predict through ONNX Runtime. `make demo` builds the binaries and
# calls it; it needs nothing beyond scripts/setup.sh.
set -euo pipefail

out=${1:-out/demo}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/bin"
mkdir -p "$out"
out=$(cd "$out" && pwd)

echo "== 1/4 synthetic data → $out/data"
"$bin/tagnet-train" data synth -o "$out/data" --seed 1 --log-format json 2>"$out/data.log" >/dev/null

echo "== 2/4 training resnet-tiny (small stem, 64 px) → $out/train"
"$bin/tagnet-train" train --config "$root/config/examples/demo-train.yaml" \
  --data "$out/data" --output "$out/train" --log-format json 2>"$out/train.log"

echo "== 3/4 the exported model through ONNX Runtime"
"$bin/tagnet-train" eval --config "$root/config/examples/demo-train.yaml" \
  --data "$out/data" --output "$out/train" --log-format json 2>>"$out/train.log"

echo "== 4/4 predicting a folder of new images with tagnet-predict"
"$bin/tagnet-train" data synth -o "$out/new" --train 40 --valid 0 --seed 7 --log-format json 2>>"$out/data.log" >/dev/null
"$bin/tagnet-predict" predict --model "$out/train/model.onnx" --output "$out/predictions.csv" \
  --log-format json "$out/new/images" 2>"$out/predict.log" || {
  echo "tagnet-predict reported failures; see $out/predict.log" >&2; exit 1; }
head -n 4 "$out/predictions.csv" | cut -c1-160
# How many predicted label sets equal the true ones (labels.csv)?
awk -F, 'function norm(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }; s = ""; for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") a[i]; return s }
         NR==FNR { if (FNR > 1) truth["images/" $1] = norm($2); next }
         FNR > 1 { n = split($1, p, "/"); key = p[n-1] "/" p[n]; total++; if (norm($2) == truth[key]) ok++ }
         END { printf "exact label sets: %d of %d new images\n", ok, total }' \
  "$out/new/labels.csv" "$out/predictions.csv"

cat <<MSG

model:        $out/train/model.onnx
plots:        $out/train/training.png, $out/train/sweep.png
sweep:        $out/train/sweep.csv
metrics log:  $out/train/metrics.jsonl
predictions:  $out/predictions.csv
logs:         $out/*.log
MSG
