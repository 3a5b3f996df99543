#!/usr/bin/env python3
"""Writes PyTorch goldens for layers/golden_test.go:

  mlp.safetensors, resnet.safetensors  state dicts (safetensors format,
                                       written here byte by byte: Debian has
                                       no safetensors package)
  golden.json                          inputs and PyTorch's outputs

The ResNet is the CIFAR ResNet of kuangliu/pytorch-cifar (the one the paper
cites) at width 1/8 with one BasicBlock per stage; its batch-norm running
statistics are first moved by three training-mode passes so that
evaluation mode is a real test. Run with Debian's torch from this
directory:  /usr/bin/python3 gen_golden.py
"""
import json
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(11)


def save_safetensors(path, state):
    header, blobs, off = {}, [], 0
    for name, t in state.items():
        t = t.detach().contiguous()
        if t.dtype == torch.float32:
            dt, raw = "F32", struct.pack("<%df" % t.numel(), *t.flatten().tolist())
        elif t.dtype == torch.int64:
            dt, raw = "I64", struct.pack("<%dq" % t.numel(), *t.flatten().tolist())
        else:
            raise ValueError(t.dtype)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header).encode()
    hj += b" " * (-len(hj) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


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


class ResNet(nn.Module):
    def __init__(self, widths, blocks, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        inp, stages = widths[0], []
        for s, (w, n) in enumerate(zip(widths, blocks)):
            layers = []
            for b in range(n):
                layers.append(BasicBlock(inp, w, 2 if s > 0 and b == 0 else 1))
                inp = w
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(inp, classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        h = F.adaptive_avg_pool2d(h, 1).flatten(1)
        return self.linear(h)


def enc(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().flatten()]}


mlp = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
xm = torch.randn(7, 6)
save_safetensors("mlp.safetensors", mlp.state_dict())

net = ResNet([8, 16, 32, 64], [1, 1, 1, 1])
for _ in range(3):
    with torch.no_grad():
        net(torch.randn(4, 3, 16, 16) * 2 + 0.5)
save_safetensors("resnet.safetensors", net.state_dict())
xr = torch.randn(2, 3, 16, 16)
net.eval()
eval_out = net(xr)
net.train()
train_out = net(xr)
print("full ResNet-18 parameters:", sum(p.numel() for p in ResNet([64, 128, 256, 512], [2, 2, 2, 2]).parameters()))
with open("golden.json", "w") as f:
    json.dump({"generator": "gen_golden.py", "torch": torch.__version__,
               "mlp": {"x": enc(xm), "y": enc(mlp(xm))},
               "resnet": {"x": enc(xr), "eval": enc(eval_out), "train": enc(train_out),
                          "bn1_running_mean": enc(net.bn1.running_mean),
                          "bn1_running_var": enc(net.bn1.running_var)}}, f)
