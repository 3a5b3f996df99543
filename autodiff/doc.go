// Package autodiff is flatfast's reverse-mode automatic differentiation:
// a tape of operations on Values, gradients of any order, exact
// Hessian-vector products and Hessian-trace estimators.
//
// # Model
//
// A Graph records operations (Graph methods such as MatMul, Conv2d, ReLU,
// SoftCrossEntropy) on Values: parameters and constants (leaves, made with
// NewParam and NewConst, which survive across steps) and the results of
// operations (owned by the Graph, recycled by Graph.Reset). An operation is
// recorded only when recording is on and some input requires a gradient,
// so evaluation and optimizer updates (SetRecording(false), NoGrad) cost
// nothing beyond the arithmetic.
//
// Every operation's backward rule is written with the Graph's own
// differentiable operations. Grad runs the backward pass unrecorded: plain
// gradients, no extra cost. GradGraph records it (PyTorch's
// create_graph=True), so the gradients can be differentiated again; HVP
// differentiates <grad L, v> this way, exactly, and HessianTrace and
// TopEigenvalue build on it. Batch normalisation keeps a fused loop for
// the plain backward pass and switches to the composed form when recorded.
//
// # Errors
//
// Operations never panic on bad input: a Value carries the first error of
// the computation that produced it (shape and dtype mismatches name the
// shapes), operations on it pass the error on, and Grad returns it.
//
// # Memory
//
// Results come from the Graph's tensor.Pool; a training step that builds
// the same graph every time allocates nothing after the first step (Grad
// returns a new slice; GradInto does not). Values from before a Reset must
// not be used after it (ErrStale).
//
// Not here: forward-mode, sparse gradients, in-place operations on
// recorded values, or sharing a Graph between goroutines.
package autodiff
