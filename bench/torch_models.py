"""Models shared by the PyTorch anchor scripts."""
import torch.nn as nn


def paper_mlp():
    """The MLP of flatfast's autodiff and training benchmarks:
    784-512-512-512-512-512-10, ReLU after the first four layers and tanh
    after the fifth."""
    w = [784, 512, 512, 512, 512, 512, 10]
    layers = []
    for i in range(6):
        layers.append(nn.Linear(w[i], w[i + 1]))
        if i < 4:
            layers.append(nn.ReLU())
        elif i == 4:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)
