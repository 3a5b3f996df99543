// Package optim holds the optimizers and training helpers of flatfast:
//
//   - Momentum: heavy-ball SGD in the paper's form (eq. 1),
//     pi <- beta*pi - g, w <- w + eta*pi, the same trajectory as PyTorch's
//     SGD(momentum=beta, dampening=0) with its buffer v = -pi;
//   - the scaling rule of the paper (eq. 2), beta = 1 - C*eta^gamma with
//     gamma = 2/3 by default, and the UV model's C (eq. 10);
//   - label noise: additive Gaussian noise on regression targets, random
//     wrong labels for classification, and the expected (noise-averaged)
//     targets for the noise-free phases;
//   - Adam (for the paper's projection phase) and learning-rate schedules;
//   - Loop, a small training loop that reports divergence by step.
//
// Optimizers update parameter tensors in place from gradient tensors of
// the same shapes; a step allocates nothing. Hyperparameters are checked
// when an optimizer is made, and bad ones are errors.
package optim
