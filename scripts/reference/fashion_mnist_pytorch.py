#!/usr/bin/env python3
"""Cross-check: issue 5's PyTorch reference recipe on tagnet's own files.

Trains torchvision's ResNet-18 (torchvision stem) from scratch on a folder
written by `tagnet-train data fashion-mnist -o DIR`, with the recipe of the
reference table: 64 px, batch 64, AdamW (betas 0.9/0.99, eps 1e-5, wd 0.01),
OneCycleLR (max 3e-3, pct 0.25, div 25, final div 1e5), BCE-with-logits,
ImageNet normalisation, no augmentation, 8 epochs. Prints per epoch the
metrics tagnet prints: accuracy_multi at 0.2, macro F1 at 0.5
(zero_division 0) and mAP (average precision with tied scores grouped).

Not part of the build or the tests. Needs Debian's python3-torch and
python3-torchvision (apt-get install python3-torch python3-torchvision
python3-pil) and runs on the CPU:

    /usr/bin/python3 scripts/reference/fashion_mnist_pytorch.py fmnist/ 42
"""
import csv
import sys
import time

import numpy as np
import torch
import torchvision
from PIL import Image


def f1_macro(p, y, t=0.5):
    out = []
    for c in range(y.shape[1]):
        pr, tr = p[:, c] > t, y[:, c] > 0.5
        tp, fp, fn = (pr & tr).sum(), (pr & ~tr).sum(), (~pr & tr).sum()
        out.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(out))


def mean_ap(p, y):
    aps = []
    for c in range(y.shape[1]):
        order = np.argsort(-p[:, c], kind="mergesort")
        s, t = p[order, c], y[order, c] > 0.5
        last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # end of each tie group
        tps = np.cumsum(t)[last]
        prec, rec = tps / (last + 1), tps / max(t.sum(), 1)
        aps.append(float(np.sum(np.diff(np.r_[0, rec]) * prec)))
    return float(np.mean(aps))


def main():
    root, seed = sys.argv[1], int(sys.argv[2])
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = list(csv.DictReader(open(f"{root}/labels.csv")))
    labels = sorted({l for r in rows for l in r["labels"].split()})
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)

    def load(valid):
        rs = [r for r in rows if (r["is_valid"].lower() in ("true", "1")) == valid]
        x = np.stack([(np.asarray(Image.open(f"{root}/images/{r['fname']}").convert("RGB"), np.float32) / 255 - mean) / std for r in rs])
        y = np.zeros((len(rs), len(labels)), np.float32)
        for i, r in enumerate(rs):
            for l in r["labels"].split():
                y[i, labels.index(l)] = 1
        return torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)

    xt, yt = load(False)
    xv, yv = load(True)
    model = torchvision.models.resnet18(num_classes=len(labels))
    epochs, bs = 8, 64
    per_epoch = len(xt) // bs
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * per_epoch,
                                                pct_start=0.25, div_factor=25, final_div_factor=1e5)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for ep in range(epochs):
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(xt))
        total = 0.0
        for i in range(per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            loss = loss_fn(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        model.eval()
        with torch.no_grad():
            pv = torch.cat([torch.sigmoid(model(xv[i:i + 256])) for i in range(0, len(xv), 256)]).numpy()
        yn = yv.numpy()
        acc = ((pv > 0.2) == (yn > 0.5)).mean()
        print(f"epoch {ep} train_loss {total / per_epoch:.4f} accuracy_multi@0.2 {acc:.4f} "
              f"f1_macro {f1_macro(pv, yn):.4f} mAP {mean_ap(pv, yn):.4f} {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
