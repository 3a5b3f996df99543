// Package tensor will hold flatfast's dense row-major tensors (float32 on
// the SIMD fast path, float64 where precision needs it), the packed,
// parallel GEMM built on the simd micro-kernel, convolution and pooling,
// reductions, and the explicit seeded random generator. It knows nothing of
// automatic differentiation.
package tensor
