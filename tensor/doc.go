// Package tensor holds flatfast's dense arrays and the numerical kernels
// built on them. It knows nothing of automatic differentiation (autodiff
// records these operations; tensor only computes them).
//
// Tensors. A Tensor is a dense, row-major, contiguous array of float32
// (the SIMD fast path) or float64 (for precision-sensitive work and
// gradient checks) with up to MaxDims dimensions; New, Full, Scalar,
// FromFloat32 and FromFloat64 make one. Reshape, Rows and Split return
// views that share storage; every other operation writes into a
// destination tensor, allocated when the caller passes nil, so a training
// step can reuse its buffers (Pool recycles them step after step).
//
// Operations. Elementwise arithmetic with NumPy broadcasting (Add, Sub,
// Mul, Div, Maximum, Minimum, and scalar forms), unary functions (Exp,
// Log, Sqrt, Tanh, Sigmoid, ReLU, and the backward rules ReLUMask,
// TanhBackward and SigmoidBackward, ...), reductions along an
// axis (Sum, Mean, Max, ArgMax, SumAll, and SumTo, the adjoint of
// BroadcastTo), shape operations (Transpose, Permute, Concat, BroadcastTo,
// Gather and ScatterAdd, OneHot), and LogSoftmax.
//
// Random numbers. RNG is an explicit, seeded generator passed in by the
// caller; its stream depends on the seed and the sequence of calls only,
// and its state can be saved for checkpoints.
//
// Matrix products. Gemm is a BLAS-style float32 GEMM: panels packed to
// the cache sizes, a register-blocked micro-kernel from package simd, the
// outer loops split over threads. Gemm64 is its float64 counterpart
// (gonum's pure-Go BLAS). MatMul and BatchMatMul apply them to tensors;
// Pack makes a PackedMatrix, an operand packed once for many products.
// Design notes: docs/gemm.md.
//
// Convolution and pooling. Conv2d (NCHW, cross-correlation as in PyTorch)
// and its two backward passes, Conv2dBackwardInput and
// Conv2dBackwardWeight, run in float32 as implicit GEMMs that read the
// image in place (no im2col matrix is stored); ConvGeom describes the
// geometry. MaxPool2d (whose backward is ScatterAdd over the indices it
// returns) and AvgPool2d (AvgPool2dBackward) pool. Design notes:
// docs/conv.md.
//
// Batch normalisation. BatchNormForward and BatchNormBackward are the
// fused per-channel loops of batch norm in training mode (the statistics
// of the batch, the normalisation and its gradients), which autodiff's
// BatchNorm2d records.
//
// Threads and determinism. GEMM and convolution use Threads() goroutines
// (SetThreads changes it; ParallelFor runs other loops on the same
// workers). Work is split by a fixed partition and every output element
// is summed in a fixed order, so results are bitwise the same for any
// thread count or GOMAXPROCS.
package tensor
