#!/usr/bin/env python3
"""Compare flatfast with OpenBLAS (numpy) and PyTorch CPU on the same shapes
and thread counts, in one run, and print the ratios.

Needs Debian's python3-numpy with OpenBLAS (apt-get install python3-numpy
libopenblas0-pthread) and python3-torch; run with /usr/bin/python3 from the
repository root:

    /usr/bin/python3 bench/compare.py gemm --rounds 5
    /usr/bin/python3 bench/compare.py conv --rounds 5

Each round runs every side once per thread count, alternating sides, so
that a slow stretch of this shared machine hits both; the table gives the
median over rounds of each side's median-of-5-batches time. Thread
settings for the anchors: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and
torch.set_num_threads together, and OMP_WAIT_POLICY=PASSIVE above one
thread (otherwise torch's OpenMP pool and OpenBLAS's pool spin against each
other).
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_lines(cmd, env=None):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def anchor_env(threads):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    if threads > 1:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def main():
    p = argparse.ArgumentParser(description="flatfast vs OpenBLAS and PyTorch")
    p.add_argument("what", choices=["gemm", "conv"])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--time", type=float, default=1.0, help="seconds per case per side per round")
    p.add_argument("--flatfast", default="", help="flatfast binary (default: go build one)")
    args = p.parse_args()

    exe = args.flatfast
    if not exe:
        exe = os.path.join(ROOT, "out", "flatfast-bench")
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        subprocess.run(["go", "build", "-o", exe, "./cmd/flatfast"], cwd=ROOT, check=True,
                       env=dict(os.environ, CGO_ENABLED="0"))
    threads = [int(t) for t in args.threads.split(",")]
    key = (lambda r: (r["m"], r["n"], r["k"])) if args.what == "gemm" else (lambda r: (r["n"], r["c"], r["h"]))
    times = collections.defaultdict(list)   # (side, shape, threads) -> [ms per round]
    info = {}
    for rnd in range(args.rounds):
        for t in threads:
            sides = [("flatfast", [exe, "bench", args.what, "-json", "-threads", str(t), "-time", f"{args.time}s"]
                      + (["-gonum=false"] if args.what == "gemm" else []), None),
                     ("anchors", [sys.executable, os.path.join(HERE, "anchors.py"), args.what,
                                  "--threads", str(t), "--time", str(args.time)]
                      + (["--torch"] if args.what == "gemm" else []), anchor_env(t))]
            if rnd % 2:
                sides.reverse()
            for name, cmd, env in sides:
                for r in run_lines(cmd, env):
                    side = "flatfast" if name == "flatfast" else r["kernel"].split("_")[0]
                    times[(side, key(r), t)].append(r["ms"])
                    if "blas" in r:
                        info["numpy BLAS"] = r["blas"]
                    if "level" in r:
                        info["flatfast level"] = r["level"]
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)

    shapes = sorted({s for (_, s, _) in times}, key=lambda s: s)
    anchors = ["numpy", "torch"] if args.what == "gemm" else ["torch"]
    print("; ".join(f"{k}: {v}" for k, v in info.items()))
    hdr = "shape" if args.what == "gemm" else "N,C,HW (3x3, fwd+bwd)"
    print(f"{hdr:24s} {'thr':>3s} {'flatfast ms':>11s} " + " ".join(f"{a + ' ms':>10s} {'ratio':>6s}" for a in anchors))
    for s in shapes:
        for t in threads:
            ff = statistics.median(times[("flatfast", s, t)])
            cells = []
            for a in anchors:
                v = times.get((a, s, t))
                if not v:
                    cells.append(f"{'-':>10s} {'-':>6s}")
                    continue
                am = statistics.median(v)
                cells.append(f"{am:10.3f} {am / ff:5.2f}x")
            name = "x".join(map(str, s))
            print(f"{name:24s} {t:3d} {ff:11.3f} " + " ".join(cells))
    print("ratio = anchor time / flatfast time (above 1: flatfast is faster); medians over "
          f"{args.rounds} interleaved rounds of medians of 5 batches")


if __name__ == "__main__":
    main()
