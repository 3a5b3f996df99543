#!/usr/bin/env python3
"""Compare flatfast with OpenBLAS (numpy) and PyTorch CPU on the same shapes
and thread counts, in one run, and print the ratios.

Needs Debian's python3-numpy with OpenBLAS (apt-get install python3-numpy
libopenblas0-pthread) and python3-torch; run with /usr/bin/python3 from the
repository root:

    /usr/bin/python3 bench/compare.py gemm --rounds 5
    /usr/bin/python3 bench/compare.py conv --rounds 5
    /usr/bin/python3 bench/compare.py autodiff --rounds 5
    /usr/bin/python3 bench/compare.py train --rounds 5 [--models mlp:512,resnet18:32,resnet18:128]

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
import functools
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


# OpenBLAS core names whose kernels predate AVX2 (OpenBLAS's fallbacks for
# a CPU it does not recognise).
OLD_CORES = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
             "Northwood", "Banias", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Sandybridge"}


@functools.lru_cache(maxsize=None)
def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return tuple(next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), []))
    except OSError:
        return ()


def fair_coretype(core):
    """The OPENBLAS_CORETYPE to run the anchors with when OpenBLAS chose
    kernels older than this CPU's AVX2 (it did not recognise the CPU:
    OpenBLAS 0.3.21 takes an Intel Xeon of family 6 model 207 for a
    Prescott), or None when its own choice stands."""
    flags = cpu_flags()
    if core not in OLD_CORES or "avx2" not in flags:
        return None
    return "SkylakeX" if "avx512f" in flags else "Haswell"


def warn_old_openblas_core(core):
    """Warn when OpenBLAS runs kernels older than this CPU's AVX2: the
    anchor would then be several times slower than OpenBLAS can be here,
    and every ratio against it (and against torch's matmul, which calls the
    same library) would flatter flatfast."""
    best = fair_coretype(core)
    if best:
        avx512 = " and AVX-512" if best == "SkylakeX" else ""
        print(f"WARNING: OpenBLAS chose its {core} kernels on a CPU with AVX2{avx512}: "
              f"numpy's and torch's matmul are far slower than they can be here, and every "
              f"ratio flatters flatfast. Rerun with OPENBLAS_CORETYPE={best} for a fair anchor.",
              file=sys.stderr)


def query_core():
    return run_lines([sys.executable, os.path.join(HERE, "anchors.py"), "core"], anchor_env(1))[0]["openblas_core"]


def main():
    p = argparse.ArgumentParser(description="flatfast vs OpenBLAS and PyTorch")
    p.add_argument("what", choices=["gemm", "conv", "autodiff", "train"])
    p.add_argument("--models", default="mlp:512,resnet18:32",
                   help="train: comma-separated model:batch (mlp, resnet18)")
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
    # numpy's matmul and torch's (linear layers included) call the same
    # OpenBLAS: say which kernels it runs, before the rounds and after.
    core = query_core()
    best = fair_coretype(core)
    if best and "OPENBLAS_CORETYPE" not in os.environ:
        # OpenBLAS did not recognise this CPU: run the anchors on the
        # kernels it has for it (anchor_env copies os.environ), unless the
        # caller chose a core type.
        os.environ["OPENBLAS_CORETYPE"] = best
        print(f"OpenBLAS chose its {core} kernels on this CPU (it does not recognise it); "
              f"the anchors run with OPENBLAS_CORETYPE={best} (set OPENBLAS_CORETYPE to choose).",
              file=sys.stderr)
        core = query_core()
    warn_old_openblas_core(core)
    if args.what in ("autodiff", "train"):
        compare_steps(args, exe, threads)
    else:
        compare_kernels(args, exe, threads)
    print(f"OpenBLAS core (numpy's and torch's matmul): {core or 'not OpenBLAS'}")
    warn_old_openblas_core(core)


def compare_kernels(args, exe, threads):
    """gemm and conv: `flatfast bench gemm|conv` against bench/anchors.py,
    interleaved over rounds."""
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


def compare_steps(args, exe, threads):
    """autodiff and train: flatfast's `bench autodiff|train` against the torch
    twins bench/autodiff_torch.py and bench/train_torch.py, each in a fresh
    process per (case, thread count), interleaved over rounds."""
    cases = [("mlp", 512)] if args.what == "autodiff" else \
        [(m.split(":")[0], int(m.split(":")[1])) for m in args.models.split(",")]
    ms = collections.defaultdict(list)      # (side, case, kernel, threads) -> [ms]
    extra = collections.defaultdict(list)   # (side, case, field, threads) -> [value]
    for rnd in range(args.rounds):
        for model, batch in cases:
            for t in threads:
                if args.what == "autodiff":
                    sides = [("flatfast", [exe, "bench", "autodiff", "-json", "-threads", str(t), "-batch", str(batch),
                                           "-time", f"{3 * args.time}s"], None),
                             ("torch", [sys.executable, os.path.join(HERE, "autodiff_torch.py"), "--threads", str(t),
                                        "--batch", str(batch), "--time", str(3 * args.time)], anchor_env(t))]
                else:
                    sides = [("flatfast", [exe, "bench", "train", "-json", "-threads", str(t), "-model", model,
                                           "-batch", str(batch)], None),
                             ("torch", [sys.executable, os.path.join(HERE, "train_torch.py"), "--threads", str(t),
                                        "--model", model, "--batch", str(batch)], anchor_env(t))]
                if rnd % 2:
                    sides.reverse()
                for side, cmd, env in sides:
                    for r in run_lines(cmd, env):
                        kern = r["kernel"].removeprefix("torch_")
                        ms[(side, (model, batch), kern, t)].append(r["ms"])
                        for f in ("allocs_per_step", "peak_rss_mib_over_baseline", "ratio_to_grad"):
                            if f in r:
                                extra[(side, (model, batch), kern + ":" + f, t)].append(r[f])
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
    med = lambda v: statistics.median(v) if v else float("nan")
    kernels = sorted({k for (_, _, k, _) in ms})
    print(f"{'case':18s} {'kernel':18s} {'thr':>3s} {'flatfast ms':>11s} {'torch ms':>10s} {'ratio':>6s}  notes")
    for c in cases:
        for k in kernels:
            for t in threads:
                ff, tt = med(ms.get(("flatfast", c, k, t), [])), med(ms.get(("torch", c, k, t), []))
                if ff != ff:
                    continue
                notes = []
                if args.what == "autodiff":
                    notes.append(f"gradients: flatfast {med(extra[('flatfast', c, k + ':ratio_to_grad', t)]):.2f}, "
                                 f"torch {med(extra[('torch', c, k + ':ratio_to_grad', t)]):.2f}")
                else:
                    notes.append(f"allocs/step {med(extra[('flatfast', c, k + ':allocs_per_step', t)]):.1f}; "
                                 f"peak RSS +MiB flatfast {med(extra[('flatfast', c, k + ':peak_rss_mib_over_baseline', t)]):.0f}, "
                                 f"torch {med(extra[('torch', c, k + ':peak_rss_mib_over_baseline', t)]):.0f}")
                print(f"{c[0] + ' b' + str(c[1]):18s} {k:18s} {t:3d} {ff:11.2f} {tt:10.2f} {tt / ff:5.2f}x  " + "; ".join(notes))
    print("ratio = torch time / flatfast time (above 1: flatfast is faster); medians over "
          f"{args.rounds} interleaved rounds, each a fresh process per side")


if __name__ == "__main__":
    main()
