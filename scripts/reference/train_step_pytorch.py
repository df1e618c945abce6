#!/usr/bin/env python3
"""PyTorch's CPU training step, for side-by-side figures with tagnet's
BenchmarkTrainStep* (go test ./trainer/nn -bench TrainStep).

The workloads of issue 11: torchvision ResNets with a 20-class linear head
(10 classes and the small-image stem are not modelled here: the 64 px row
is the torchvision stem, as the issue's table), BCE-with-logits on random
0/1 targets, Adam, random N(0,1) input. One step is
`opt.zero_grad(); loss.backward(); opt.step()` after the forward pass.
Precisions: fp32, and bf16 autocast (`torch.autocast("cpu",
dtype=torch.bfloat16)` around the forward pass, loss in fp32) in NCHW and
channels_last. One warm-up step, then STEPS timed steps; prints one
benchstat-format line per workload and precision with images/s.

Not part of the build or the tests. Needs Debian's python3-torch and
python3-torchvision (apt-get install python3-torch python3-torchvision):

    /usr/bin/python3 scripts/reference/train_step_pytorch.py            # all rows
    /usr/bin/python3 scripts/reference/train_step_pytorch.py r18-128-64 fp32 bf16-cl
    THREADS=2 STEPS=3 /usr/bin/python3 scripts/reference/train_step_pytorch.py

Workload names: r18-128-64, r18-128-32, r50-128-32, r18-64-64.
Precision names: fp32, bf16 (NCHW autocast), bf16-cl (channels_last).
"""
import os
import sys
import time

import torch
import torchvision

WORKLOADS = {
    "r18-128-64": ("resnet18", 128, 64),
    "r18-128-32": ("resnet18", 128, 32),
    "r50-128-32": ("resnet50", 128, 32),
    "r18-64-64": ("resnet18", 64, 64),
}
PRECISIONS = ("fp32", "bf16", "bf16-cl")


def step_rate(arch, size, batch, precision, steps):
    torch.manual_seed(1)
    model = getattr(torchvision.models, arch)(num_classes=20)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 2, (batch, 20)).float()
    if precision == "bf16-cl":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step():
        opt.zero_grad()
        if precision == "fp32":
            out = model(x)
        else:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = model(x)
        loss = loss_fn(out.float(), y)
        loss.backward()
        opt.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sec = (time.perf_counter() - t0) / steps
    return sec, batch / sec


def main():
    threads = int(os.environ.get("THREADS", "2"))
    steps = int(os.environ.get("STEPS", "3"))
    torch.set_num_threads(threads)
    args = sys.argv[1:]
    loads = [a for a in args if a in WORKLOADS] or list(WORKLOADS)
    precs = [a for a in args if a in PRECISIONS] or list(PRECISIONS)
    bad = [a for a in args if a not in WORKLOADS and a not in PRECISIONS]
    if bad:
        sys.exit(f"unknown argument(s) {bad}: workloads {list(WORKLOADS)}, precisions {list(PRECISIONS)}")
    print(f"# torch {torch.__version__}, {threads} threads, {steps} timed steps; "
          f"mkldnn bf16 supported: {torch.backends.mkldnn.is_available()}", flush=True)
    for name in loads:
        arch, size, batch = WORKLOADS[name]
        for p in precs:
            sec, ips = step_rate(arch, size, batch, p, steps)
            print(f"BenchmarkPyTorchTrainStep/{name}/{p} {steps} {sec * 1e9:.0f} ns/op {ips:.2f} images/s", flush=True)


if __name__ == "__main__":
    main()
