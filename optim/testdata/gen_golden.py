#!/usr/bin/env python3
"""Writes golden.json: trajectories of torch.optim.SGD(momentum, dampening=0)
and torch.optim.Adam on the quadratic L(w) = 0.5 w^T A w - b^T w, in float64,
for optim/golden_test.go. Run with Debian's torch from this directory:

    /usr/bin/python3 gen_golden.py
"""
import json

import torch

torch.manual_seed(3)
D = torch.float64
n = 4
r = torch.randn(n, n, dtype=D)
A = r @ r.T / n + torch.eye(n, dtype=D)
b = torch.randn(n, dtype=D)
w0 = torch.randn(n, dtype=D)


def run(make_opt, steps=25):
    w = w0.clone().requires_grad_()
    opt = make_opt([w])
    traj = []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * w @ A @ w - b @ w
        loss.backward()
        opt.step()
        traj.append([float(v) for v in w.detach()])
    return traj


out = {
    "generator": "gen_golden.py", "torch": torch.__version__,
    "A": [float(v) for v in A.flatten()], "b": [float(v) for v in b], "w0": [float(v) for v in w0],
    "sgd": {"lr": 0.1, "momentum": 0.9, "traj": run(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0))},
    "adam": {"lr": 0.05, "traj": run(lambda p: torch.optim.Adam(p, lr=0.05))},
}
with open("golden.json", "w") as f:
    json.dump(out, f)
