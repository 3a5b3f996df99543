#!/usr/bin/env python3
"""Writes conv_golden.json: PyTorch's conv2d forward and both backward passes
(input and weight gradients) on small random cases, in float64, for
tensor/conv_golden_test.go. Run from this directory with Debian's torch:

    /usr/bin/python3 gen_conv_golden.py
"""
import json

import torch

torch.manual_seed(20261126)
cases = []
for n, cin, h, w, cout, k, stride, pad in [
    (2, 3, 6, 6, 4, 3, 1, 1),
    (1, 2, 7, 5, 3, 3, 2, 1),
    (2, 4, 5, 5, 3, 1, 2, 0),
    (1, 3, 4, 4, 2, 3, 1, 0),
    (2, 2, 5, 6, 3, 3, 1, 2),
]:
    x = torch.randn(n, cin, h, w, dtype=torch.float64, requires_grad=True)
    wt = torch.randn(cout, cin, k, k, dtype=torch.float64, requires_grad=True)
    y = torch.nn.functional.conv2d(x, wt, stride=stride, padding=pad)
    gy = torch.randn_like(y)
    gx, gw = torch.autograd.grad(y, (x, wt), gy)

    def enc(t):
        return {"shape": list(t.shape), "data": [float(v) for v in t.detach().flatten()]}

    cases.append({"stride": stride, "pad": pad, "x": enc(x), "w": enc(wt), "y": enc(y),
                  "gy": enc(gy), "gx": enc(gx), "gw": enc(gw)})
with open("conv_golden.json", "w") as f:
    json.dump({"generator": "gen_conv_golden.py", "torch": torch.__version__, "cases": cases}, f)
