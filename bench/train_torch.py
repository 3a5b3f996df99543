#!/usr/bin/env python3
"""PyTorch CPU reference for `flatfast bench train`: one full training step
(forward, backward, SGD with momentum) of the paper's FashionMNIST MLP or of
ResNet-18 (CIFAR variant, kuangliu/pytorch-cifar layout), on a fixed random
batch, float32. Prints one JSON line: ms per step (median of 5 batches
after 2 warm-up steps) and peak RSS over the baseline taken after importing
torch and before building the model. Run in a fresh process per setting,
with the thread variables set before Python starts (compare.py does).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 bench/train_torch.py --model mlp --batch 512 --threads 1
"""
import argparse
import json
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_models import paper_mlp


def rss_mib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class BasicBlock(nn.Module):
    def __init__(self, inp, out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.shortcut = nn.Sequential()
        if stride != 1 or inp != out:
            self.shortcut = nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + self.shortcut(x))


class ResNet18(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        inp, stages = 64, []
        for s, w in enumerate([64, 128, 256, 512]):
            blocks = []
            for b in range(2):
                blocks.append(BasicBlock(inp, w, 2 if s > 0 and b == 0 else 1))
                inp = w
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(512, classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.linear(F.adaptive_avg_pool2d(h, 1).flatten(1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "resnet18"], default="mlp")
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    batch = a.batch or {"mlp": 512, "resnet18": 32}[a.model]
    steps = a.steps or {"mlp": 50, "resnet18": 10}[a.model]
    base = rss_mib("VmRSS")
    if a.model == "mlp":
        model = paper_mlp()
        x = torch.randn(batch, 784)
    else:
        model = ResNet18()
        x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(2):
        step()
    per = []
    for _ in range(5):
        t0 = time.perf_counter()
        n = max(1, steps // 5)
        for _ in range(n):
            step()
        per.append((time.perf_counter() - t0) / n)
    print(json.dumps({"kernel": "torch_train_step", "model": a.model, "batch": batch, "threads": a.threads,
                      "ms": statistics.median(per) * 1e3, "min_ms": min(per) * 1e3,
                      "peak_rss_mib_over_baseline": rss_mib("VmHWM") - base, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
