#!/usr/bin/env python3
"""PyTorch CPU reference for the speed of the UV training loop: one run of
the vector UV model (n = 10, P = 5, float64) trained by autograd with
heavy-ball momentum and fresh label noise each step, as flatfast's
repro uv does. Prints steps per second (median of 5 batches).

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/uv_torch.py [--steps 20000]
"""
import argparse
import json
import statistics
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=20000)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)
D = torch.float64
n, P, eps, eta, beta = 10, 5, 0.5, 1e-4, 0.99
x = torch.randn(P, dtype=D)
u = torch.randn(n, dtype=D, requires_grad=True)
v = torch.randn(n, dtype=D, requires_grad=True)
pu, pv = torch.zeros(n, dtype=D), torch.zeros(n, dtype=D)


def step():
    y = eps * torch.randn(P, dtype=D)
    f = (u[:, None] * (v[:, None] * x[None, :])).sum(0) / n ** 0.5
    loss = ((f - y) ** 2).sum() / (2 * P)
    gu, gv = torch.autograd.grad(loss, (u, v))
    with torch.no_grad():
        pu.mul_(beta).sub_(gu)
        pv.mul_(beta).sub_(gv)
        u.add_(eta * pu)
        v.add_(eta * pv)


for _ in range(200):
    step()
per = []
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(a.steps // 5):
        step()
    per.append((time.perf_counter() - t0) / (a.steps // 5))
med = statistics.median(per)
print(json.dumps({"kernel": "torch_uv_step", "threads": a.threads, "us_per_step": med * 1e6, "steps_per_s": 1 / med,
                  "torch": torch.__version__}))
