#!/usr/bin/env python3
"""Time the comparison anchors -- numpy (OpenBLAS) and PyTorch CPU -- on the
shapes of `flatfast bench gemm` / `flatfast bench conv`, printing one JSON
object per line in the same format. Run by compare.py, once per thread
count, in a fresh process: OpenBLAS and OpenMP fix their thread pools when
they load, so the thread environment must be set before import.

    OMP_NUM_THREADS=T OPENBLAS_NUM_THREADS=T python3 anchors.py gemm --threads T
"""
import argparse
import json
import os
import statistics
import sys
import time


def measure(fn, budget, batches=5):
    """Median and minimum seconds per call over `batches` timed batches."""
    fn()
    iters = 1
    target = budget / batches
    while True:
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        dt = time.perf_counter() - t0
        if dt >= target:
            break
        iters = max(iters + 1, int(iters * 1.2 * target / max(dt, 1e-9)))
    per = []
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        per.append((time.perf_counter() - t0) / iters)
    return statistics.median(per), min(per)


def blas_library():
    """The BLAS numpy actually loaded, read from the process's mappings."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower()}
        return ", ".join(sorted(os.path.basename(l) for l in libs)) or "unknown"
    except OSError:
        return "unknown"


def openblas_core():
    """The core name OpenBLAS's DYNAMIC_ARCH picked (openblas_get_corename),
    or "" when numpy's BLAS is not OpenBLAS. A CPU that OpenBLAS does not
    recognise -- a VM that hides the model -- gets the oldest kernels
    (Prescott: SSE3), several times slower than the CPU allows;
    OPENBLAS_CORETYPE overrides the choice."""
    import ctypes
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "openblas" in line.lower()})
        if not libs:
            return ""
        lib = ctypes.CDLL(libs[0])
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return ""


def gemm(args):
    import numpy as np
    rng = np.random.default_rng(1)
    for m, n, k in args.shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), dtype=np.float32)
        med, mn = measure(lambda: np.matmul(a, b, out=c), args.time)
        print(json.dumps({"kernel": "numpy_sgemm", "m": m, "n": n, "k": k, "threads": args.threads,
                          "ms": med * 1e3, "min_ms": mn * 1e3, "gflops": 2 * m * n * k / med / 1e9,
                          "blas": blas_library()}), flush=True)
        if args.torch:
            import torch
            torch.set_num_threads(args.threads)
            ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
            med, mn = measure(lambda: torch.matmul(ta, tb, out=tc), args.time)
            print(json.dumps({"kernel": "torch_sgemm", "m": m, "n": n, "k": k, "threads": args.threads,
                              "ms": med * 1e3, "min_ms": mn * 1e3, "gflops": 2 * m * n * k / med / 1e9}), flush=True)


def conv(args):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    for n, c, hw, ks, stride, pad in args.convs:
        x = torch.randn(n, c, hw, hw, requires_grad=True)
        w = (0.1 * torch.randn(c, c, ks, ks)).requires_grad_()
        with torch.no_grad():
            gy = torch.randn_like(F.conv2d(x, w, stride=stride, padding=pad))

        def fwd_bwd():
            y = F.conv2d(x, w, stride=stride, padding=pad)
            torch.autograd.grad(y, (x, w), gy)

        med, mn = measure(fwd_bwd, args.time)
        oh = (hw + 2 * pad - ks) // stride + 1
        flops = 3 * 2 * n * c * oh * oh * c * ks * ks
        print(json.dumps({"kernel": "torch_conv2d_fwd_bwd", "n": n, "c": c, "h": hw, "w": hw, "cout": c,
                          "ksize": ks, "stride": stride, "pad": pad, "threads": args.threads,
                          "ms": med * 1e3, "min_ms": mn * 1e3, "gflops": flops / med / 1e9,
                          "mkldnn": torch.backends.mkldnn.is_available()}), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["gemm", "conv", "core"],
                   help="core: print the OpenBLAS kernel set numpy loaded, and exit")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time", type=float, default=1.0, help="seconds per case")
    p.add_argument("--torch", action="store_true", help="gemm: also time torch.matmul")
    p.add_argument("--shapes", default="256x256x256,512x512x512,1024x1024x1024,2048x2048x2048,512x512x784")
    p.add_argument("--convs", default="32x64x32x3x1x1,32x128x16x3x1x1,32x256x8x3x1x1,32x512x4x3x1x1",
                   help="NxCxHWxKxSTRIDExPAD,...")
    args = p.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if os.environ.get(var) != str(args.threads):
            sys.exit(f"anchors.py: set {var}={args.threads} before starting Python (compare.py does)")
    args.shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    args.convs = [tuple(int(v) for v in s.split("x")) for s in args.convs.split(",")]
    if args.what == "core":
        import numpy  # noqa: F401 (loads OpenBLAS)
        print(json.dumps({"kernel": "openblas_core", "openblas_core": openblas_core(), "blas": blas_library()}))
        return
    gemm(args) if args.what == "gemm" else conv(args)


if __name__ == "__main__":
    main()
