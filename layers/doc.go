// Package layers holds modules with parameters and the paper's models.
//
// A Module maps a Value to a Value on an autodiff.Graph and lists its
// parameters and buffers under the names PyTorch's state_dict gives them,
// so that Save and Load (the safetensors format) move weights between
// flatfast and PyTorch. Initialisation follows PyTorch's defaults (Linear
// and Conv2d uniform in +-1/sqrt(fan_in), batch norm gamma 1, beta 0)
// drawn from an explicit tensor.RNG; the draws differ from PyTorch's, the
// distributions do not.
//
// The modules: Linear, Conv2d, BatchNorm2d, ReLU, Tanh, MaxPool2d,
// AvgPool2d, GlobalAvgPool, Flatten, Sequential. The models: NewMLP (any
// widths and activations) and NewPaperMLP (the paper's FashionMNIST
// network); ResNet in the CIFAR variant with NewResNet (ResNet18Config is
// ResNet-18 itself, 11,173,962 parameters; a width multiplier and blocks
// per stage make CPU-sized versions); UV, the paper's two-layer model
// f(x) = U act(V x)/sqrt(n), and VectorUV, many vector UV models stepped in
// lockstep.
//
// Not here: layers the paper's experiments do not need (dropout,
// embeddings, recurrent cells), or a training loop (package optim has one).
package layers
