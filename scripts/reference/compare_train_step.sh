#!/usr/bin/env bash
# Same-run comparison of tagnet's training step with PyTorch's on this CPU:
# the four workloads of issue 11 (ResNet-18 128 px batch 64 and 32,
# ResNet-50 128 px batch 32, ResNet-18 64 px batch 64), tagnet's
# BenchmarkTrainStep* and scripts/reference/train_step_pytorch.py
# interleaved workload by workload, ROUNDS times (default 3), so that both
# see the same machine load. Prints benchstat-format lines (and the load
# average before each round); the ratios are what to read.
#
#   scripts/reference/compare_train_step.sh | tee compare.txt
#
# Needs Debian's python3-torch and python3-torchvision. Not part of the
# tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/nn.test" ./trainer/nn
py() { STEPS=3 THREADS=2 /usr/bin/python3 scripts/reference/train_step_pytorch.py "$@" | grep '^Benchmark'; }
tg() { (cd trainer/nn && "$tmp/nn.test" -test.run '^$' -test.bench "$1" -test.benchtime 3x | grep '^Benchmark'); }
for r in $(seq "$rounds"); do
  echo "# round $r: $(uptime)"
  tg 'TrainStep$/resnet18/128px/batch64'
  py r18-128-64 fp32 bf16 bf16-cl
  tg 'TrainStep$/resnet18/128px/batch32/fp32'
  py r18-128-32 fp32
  tg 'TrainStepResNet50/fp32'
  py r50-128-32 fp32
  tg 'TrainStep64px'
  py r18-64-64 fp32 bf16-cl
done
echo "# end: $(uptime)"
