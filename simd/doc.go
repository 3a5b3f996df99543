// Package simd holds the float32 kernels that the rest of flatfast spends its
// time in, each behind one Go function, with one pure-Go reference
// implementation and assembly per architecture:
//
//   - amd64: an AVX-512 variant (zmm registers, opmask tails) and an AVX2+FMA
//     variant (ymm registers, VMASKMOVPS tails);
//   - arm64: a NEON variant;
//   - everywhere: the generic pure-Go code, which is also what the `purego`
//     build tag leaves (no assembly is compiled under that tag).
//
// # Dispatch
//
// The implementation is chosen once, when the package is initialised, from
// the CPU features reported by golang.org/x/sys/cpu (which honours
// GODEBUG=cpu.avx512f=off style overrides): the highest level whose every
// instruction the CPU has. The AVX-512 level needs AVX512F, AVX2 and FMA;
// the AVX2 level needs AVX2 and FMA; NEON needs ASIMD. Level reports the
// choice. The environment variable FLATFAST_SIMD (generic, avx2, avx512 or
// neon) forces a level; naming a level this CPU lacks, or an unknown name,
// leaves the automatic choice in place and is reported by ConfigError, which
// the flatfast command checks before doing anything else. Use switches the
// level at run time (for tests and benchmarks; it must not race with kernel
// calls). Implementations lists every level this machine can run, so one
// test loop can check each against the generic reference.
//
// # Cache sizes
//
// Caches and Cache report the L1d, L2 and L3 sizes that package tensor sizes
// its GEMM blocks from: cpuid's, with defaults for what it cannot tell, or
// those that the environment variable FLATFAST_CACHE gives (for example
// l1d=32K,l2=1M,l3=32M; l3=0 for no L3), so that one machine can be tuned
// or tested as another. A malformed FLATFAST_CACHE leaves cpuid's sizes in
// use and is reported by ConfigError, as a bad FLATFAST_SIMD is.
//
// # Conventions
//
// Slice arguments must have equal lengths; a mismatch is a programmer error
// and panics with the lengths in the message. Outputs may alias an input
// exactly (z and x the same slice) but must not partially overlap it.
// Assembly does not yield to the Go scheduler, so the exported functions
// split long slices into chunks of at most 32768 elements per assembly call;
// reductions add the chunk results in order, so results are deterministic
// for a given level and length, and independent of the alignment of the
// slices.
//
// Floating-point results of elementwise kernels (Add, Sub, Mul, Scale, ReLU,
// ReLUBackward, TanhBackward, SigmoidBackward) are bitwise identical across
// levels. Axpy may differ in the last bit (assembly fuses the multiply-add).
// Reductions (Dot, Sum) add in a different order at each level, so they
// agree to within the usual error bound of recursive summation,
// n*2^-24*sum|terms|. Exp, Tanh and Sigmoid are accurate to a few units in
// the last place at every level, measured over every float32 input against
// the correctly rounded result: Exp and Tanh within 1 ulp, Sigmoid within 2
// (the tests enforce these bounds; the last bit may differ between levels).
//
// Tanh and Sigmoid are built on Exp's algorithm. Tanh(x), with a = |x|, is
// a + a^3*q(a^2) for a < 0.8 (q a fitted degree-5 polynomial: no
// cancellation near 0) and 1 - 2/(e^(2a)+1) above, with x's sign put back.
// Sigmoid(x) is 1/(1+e) for x >= 0 and e/(1+e) for x < 0, e = e^-|x|, so
// nothing overflows. TanhBackward(g, y) = g*((1-y)*(1+y)) and
// SigmoidBackward(g, y) = g*(y*(1-y)) take the forward output y.
//
// # Special values
//
//   - Sum and Dot follow IEEE arithmetic: a NaN anywhere gives NaN, +Inf and
//     -Inf together give NaN.
//   - Max returns NaN if any element is NaN (as torch.max does), otherwise the
//     largest element; -Inf for an empty slice. Between +0 and -0 either may
//     be returned.
//   - ReLU(x) is x unless x < 0, in which case it is +0: NaN stays NaN and -0
//     stays -0.
//   - ReLUBackward(g, x) is g where x > 0 and 0 elsewhere, including where x
//     is NaN (the mask is an ordered compare); a NaN in g survives only where
//     x > 0.
//   - Exp(+Inf) = +Inf, Exp(-Inf) = 0, Exp(NaN) = NaN; results overflow to
//     +Inf above 88.72 and are subnormal between -87.34 and -103.97.
//   - Tanh is odd bit for bit: Tanh(-0) = -0, Tanh(±Inf) = ±1, Tanh(NaN) =
//     NaN; Tanh(x) = x exactly for |x| < 2^-12 (subnormals included), and
//     ±1 for |x| >= 9.02 (where tanh rounds to 1).
//   - Sigmoid(±0) = 0.5, Sigmoid(+Inf) = 1, Sigmoid(-Inf) = 0, Sigmoid(NaN)
//     = NaN; it is 0.5 for |x| < 2^-26, 1 from 17.33 on (where it rounds to
//     1), subnormal (e^x) between -87.34 and -103.97 and 0 below.
//   - TanhBackward and SigmoidBackward are IEEE arithmetic on g and y (NaN
//     or Inf in either propagate as the products do).
//
// # GEMM micro-kernel
//
// GemmKernel is the inner kernel of the packed GEMM in package tensor:
// C[mr x nr] += A_panel * B_panel over kc steps, where the panels are packed
// as follows (GemmTile gives mr and nr):
//
//	a[p*mr + i] = A[i, p]   for i < mr, p < kc   (kc columns of mr floats)
//	b[p*nr + j] = B[p, j]   for j < nr, p < kc   (kc rows of nr floats)
//	C[i*ldc + j]            row-major with leading dimension ldc
//
// The tile shapes are 12x32 for AVX-512 (24 zmm accumulators, two vectors of
// B and two broadcast registers: 28 of the 32 registers), 6x16 for AVX2 (12
// ymm accumulators out of 16 registers, the classic Haswell shape), 12x8 for
// NEON (24 of 32 registers) and 4x4 for the generic Go code. Edge tiles are
// computed in full into a scratch tile and only their valid corner added to
// C (GemmKernelEdge), so the SIMD kernel also covers ragged matrix sizes.
//
// Package simd is not a general array library: it has no strides, no
// float64, and no allocation. Package tensor builds on it.
package simd
