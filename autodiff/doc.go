// Package autodiff will hold the reverse-mode graph over tensors: gradients
// of any order (every backward rule is written with differentiable ops),
// exact Hessian-vector products and Hessian-trace estimators.
package autodiff
