// Package layers will hold modules with parameters (Linear, Conv2d,
// BatchNorm2d, activations, pooling, Sequential) and the paper's models:
// the FashionMNIST MLP, ResNet-18 (CIFAR variant) and the UV model.
package layers
