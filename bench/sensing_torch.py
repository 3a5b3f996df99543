#!/usr/bin/env python3
"""PyTorch CPU reference for one training step of `flatfast repro sensing`
(the paper's matrix-sensing model, Fig. 3): R runs, each X = U V with
U, V [d, d], predictions Tr(A_i X) for P fixed Gaussian measurement
matrices (one [P, d*d] operator shared by all runs), loss
(1/(dP)) sum_i (y_i + eps xi_i - Tr(A_i X))^2 with fresh label noise,
its gradient by autograd, and heavy-ball momentum in the paper's form.
float32, the quick preset's shapes (d = 100, P = 2500). Prints one JSON
line per run count: ms per step (median of 5 batches) and steps/s.

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \\
        python3 bench/sensing_torch.py --threads 2 --runs 1,30

Compare with perf.json of `flatfast repro sensing` (steps_per_second for
all runs of the sweep stepped together; `-seeds 1 -betas 0.996` gives a
single run).
"""
import argparse
import json
import statistics
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", default="1,30")
    p.add_argument("--d", type=int, default=100)
    p.add_argument("--P", type=int, default=2500)
    p.add_argument("--time", type=float, default=3.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    d, P, eta, eps = a.d, a.P, 0.1, 0.1 ** 0.5
    A = torch.randn(P, d * d)
    y = torch.randn(P)
    for R in [int(r) for r in a.runs.split(",")]:
        U = torch.eye(d).repeat(R, 1, 1).requires_grad_()
        V = torch.eye(d).repeat(R, 1, 1).requires_grad_()
        beta = torch.full((R, 1, 1), 0.996)
        piU, piV = torch.zeros_like(U), torch.zeros_like(V)

        def step():
            yn = y + eps * torch.randn(R, P)
            X = torch.bmm(U, V).reshape(R, d * d)
            pred = X @ A.T
            loss = ((pred - yn) ** 2).sum() / (d * P)
            gU, gV = torch.autograd.grad(loss, (U, V))
            with torch.no_grad():
                piU.mul_(beta).sub_(gU)
                piV.mul_(beta).sub_(gV)
                U.add_(piU, alpha=eta)
                V.add_(piV, alpha=eta)

        step()
        t0 = time.perf_counter()
        step()
        one = time.perf_counter() - t0
        n = max(1, int(a.time / 5 / one))
        per = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            per.append((time.perf_counter() - t0) / n)
        med = statistics.median(per)
        flops = 4 * R * P * d * d + 6 * R * d ** 3
        print(json.dumps({"kernel": "torch_sensing_step", "runs": R, "threads": a.threads, "ms": med * 1e3,
                          "steps_per_second": 1 / med, "run_steps_per_second": R / med,
                          "effective_gflops": flops / med / 1e9, "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
