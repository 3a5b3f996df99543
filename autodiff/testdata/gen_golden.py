#!/usr/bin/env python3
"""Writes golden.json: PyTorch gradients and Hessian-vector products of two
small models with fixed weights and data, in float64, for
autodiff/golden_test.go:

  mlp:     x[6,5] -> Linear(5,4) -> tanh -> Linear(4,4) -> ReLU -> Linear(4,3),
           cross-entropy with hard labels;
  convnet: x[4,2,6,6] -> Conv2d(2,3,3,pad=1,bias=False) -> BatchNorm2d(3)
           (training mode, batch statistics) -> ReLU -> MaxPool2d(2) ->
           flatten -> Linear(27,2), cross-entropy.

HVPs use torch.autograd.grad(..., create_graph=True) and then the gradient
of <g, v>. Run with Debian's torch from this directory:

    /usr/bin/python3 gen_golden.py
"""
import json

import torch
import torch.nn.functional as F

torch.manual_seed(7)
D = torch.float64


def enc(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().flatten()]}


def grads_and_hvp(loss_fn, params):
    loss = loss_fn()
    gs = torch.autograd.grad(loss, params, create_graph=True)
    vs = [torch.randn_like(p) for p in params]
    dot = sum((g * v).sum() for g, v in zip(gs, vs))
    hvs = torch.autograd.grad(dot, params)
    return loss, gs, vs, hvs


def mlp():
    x = torch.randn(6, 5, dtype=D)
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    w1, b1 = torch.randn(4, 5, dtype=D) * 0.7, torch.randn(4, dtype=D) * 0.1
    w2, b2 = torch.randn(4, 4, dtype=D) * 0.7, torch.randn(4, dtype=D) * 0.1
    w3, b3 = torch.randn(3, 4, dtype=D) * 0.7, torch.randn(3, dtype=D) * 0.1
    params = [p.requires_grad_() for p in (w1, b1, w2, b2, w3, b3)]

    def loss_fn():
        h = torch.tanh(F.linear(x, w1, b1))
        h = torch.relu(F.linear(h, w2, b2))
        return F.cross_entropy(F.linear(h, w3, b3), labels)

    loss, gs, vs, hvs = grads_and_hvp(loss_fn, params)
    return {"x": enc(x), "labels": labels.tolist(), "params": [enc(p) for p in params],
            "loss": float(loss), "grads": [enc(g) for g in gs], "v": [enc(v) for v in vs],
            "hv": [enc(h) for h in hvs]}


def convnet():
    x = torch.randn(4, 2, 6, 6, dtype=D)
    labels = torch.tensor([1, 0, 1, 1])
    w = torch.randn(3, 2, 3, 3, dtype=D) * 0.5
    gamma = 1 + 0.2 * torch.randn(3, dtype=D)
    beta = 0.1 * torch.randn(3, dtype=D)
    wl, bl = torch.randn(2, 27, dtype=D) * 0.3, torch.randn(2, dtype=D) * 0.1
    params = [p.requires_grad_() for p in (w, gamma, beta, wl, bl)]

    def loss_fn():
        h = F.conv2d(x, w, padding=1)
        h = F.batch_norm(h, None, None, gamma, beta, training=True, eps=1e-5)
        h = F.max_pool2d(torch.relu(h), 2)
        return F.cross_entropy(F.linear(h.flatten(1), wl, bl), labels)

    loss, gs, vs, hvs = grads_and_hvp(loss_fn, params)
    return {"x": enc(x), "labels": labels.tolist(), "params": [enc(p) for p in params],
            "loss": float(loss), "grads": [enc(g) for g in gs], "v": [enc(v) for v in vs],
            "hv": [enc(h) for h in hvs]}


with open("golden.json", "w") as f:
    json.dump({"generator": "gen_golden.py", "torch": torch.__version__, "mlp": mlp(), "convnet": convnet()}, f)
