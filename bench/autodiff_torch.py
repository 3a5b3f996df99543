#!/usr/bin/env python3
"""PyTorch CPU reference for `flatfast bench autodiff`: for the paper's
FashionMNIST MLP (784-512-512-512-512-512-10, ReLU x4, tanh, linear;
float32, cross-entropy on a fixed random batch) the time of one gradient,
one exact Hessian-vector product (torch.autograd.grad with
create_graph=True, then the gradient of g.v), and a 10-probe Hutchinson
trace with Rademacher probes that shares one recorded backward pass
(retain_graph). Prints one JSON line per case: the median of 5 batches and
the ratio to the gradient's time. Run in a fresh process per thread count
with the thread variables set before Python starts (compare.py does).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python3 bench/autodiff_torch.py --threads 1
"""
import argparse
import json

import torch
import torch.nn.functional as F

from anchors import measure
from torch_models import paper_mlp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time", type=float, default=3.0, help="seconds per case")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = paper_mlp()
    params = list(model.parameters())
    x = torch.rand(a.batch, 784)
    y = torch.randint(0, 10, (a.batch,))
    v = [torch.randn_like(q) for q in params]
    gen = torch.Generator().manual_seed(2)

    def loss():
        return F.cross_entropy(model(x), y)

    def grad():
        torch.autograd.grad(loss(), params)

    def hvp():
        g = torch.autograd.grad(loss(), params, create_graph=True)
        gv = sum((gi * vi).sum() for gi, vi in zip(g, v))
        torch.autograd.grad(gv, params)

    def hutchinson():
        g = torch.autograd.grad(loss(), params, create_graph=True)
        est = []
        for i in range(10):
            z = [torch.randint(0, 2, q.shape, generator=gen).float() * 2 - 1 for q in params]
            gz = sum((gi * zi).sum() for gi, zi in zip(g, z))
            hz = torch.autograd.grad(gz, params, retain_graph=i < 9)
            est.append(sum((hi * zi).sum() for hi, zi in zip(hz, z)).item())
        return est

    base = None
    for name, fn in [("mlp_grad", grad), ("mlp_hvp", hvp), ("mlp_hutchinson10", hutchinson)]:
        med, mn = measure(fn, a.time)
        if base is None:
            base = med
        print(json.dumps({"kernel": "torch_" + name, "batch": a.batch, "threads": a.threads,
                          "ms": med * 1e3, "min_ms": mn * 1e3, "ratio_to_grad": med / base,
                          "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
