#!/usr/bin/env python3
"""A PyTorch-trained checkpoint for issue 10's transfer-learning check.

Trains torchvision's ResNet-18 (torchvision stem, 10 classes) single-label
on Fashion-MNIST *training-split* items, each drawn like tagnet's
multi-label canvases (one 28 px item at a random place on a 64 px canvas
with a dark random background and a random tint), ImageNet normalisation,
Adam, and saves its state_dict with torch.save: a .pth file that
`tagnet-train train --model.weights FILE` starts from. tagnet's
multi-label validation canvases are drawn from the test split, so the
checkpoint has never seen them.

Not part of the build or the tests. Needs Debian's python3-torch,
python3-torchvision and dataset-fashion-mnist (scripts/setup.sh
--fashion-mnist):

    /usr/bin/python3 scripts/reference/pretrain_fashion_mnist_pytorch.py OUT.pth [ITEMS] [EPOCHS]
"""
import gzip
import sys
import time

import numpy as np
import torch
import torchvision

IDX = "/usr/share/datasets/fashion-mnist"


def idx(name):
    with gzip.open(f"{IDX}/{name}", "rb") as f:
        data = f.read()
    if name.endswith("idx3-ubyte.gz"):
        return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8)


def canvases(rng, images, n, size=64):
    x = np.empty((n, size, size, 3), np.float32)
    picks = rng.integers(0, len(images), n)
    for i, k in enumerate(picks):
        bg = rng.integers(0, 64, 3).astype(np.float32)
        cv = np.broadcast_to(bg, (size, size, 3)).copy()
        x0, y0 = rng.integers(0, size - 27, 2)
        tint = 255 * (0.5 + 0.5 * rng.random(3))
        a = images[k].astype(np.float32)[..., None] / 255
        patch = cv[y0:y0 + 28, x0:x0 + 28]
        cv[y0:y0 + 28, x0:x0 + 28] = patch * (1 - a) + tint * a
        x[i] = cv
    return x, picks


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 12000
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    images, labels = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    x, picks = canvases(rng, images, n)
    x = torch.from_numpy(((x / 255 - mean) / std).transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(labels[picks].astype(np.int64))
    model = torchvision.models.resnet18(num_classes=10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(n)
        t0, total, correct = time.time(), 0.0, 0
        for b in range(0, n, 64):
            idx_b = perm[b:b + 64]
            logits = model(x[idx_b])
            loss = loss_fn(logits, y[idx_b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx_b)
            correct += (logits.argmax(1) == y[idx_b]).sum().item()
            if (b // 64) % 20 == 19:
                print(f"  {b + len(idx_b)}/{n} images, {(b + len(idx_b)) / (time.time() - t0):.1f} img/s", flush=True)
        print(f"epoch {ep + 1}: loss {total / n:.4f} train accuracy {correct / n:.4f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    torch.save(model.state_dict(), out)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
