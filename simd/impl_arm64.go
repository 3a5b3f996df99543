//go:build arm64 && !purego

package simd

import "golang.org/x/sys/cpu"

// The assembly in kernels_arm64.s is written by _gen (see _gen/arm64.go).

//go:noescape
func dotNEON(x, y []float32) float32

//go:noescape
func sumNEON(x []float32) float32

//go:noescape
func maxNEON(x []float32) float32

//go:noescape
func axpyNEON(a float32, x, y []float32)

//go:noescape
func scaleNEON(a float32, x []float32)

//go:noescape
func addNEON(z, x, y []float32)

//go:noescape
func subNEON(z, x, y []float32)

//go:noescape
func mulNEON(z, x, y []float32)

//go:noescape
func reluNEON(z, x []float32)

//go:noescape
func reluBackwardNEON(z, g, x []float32)

//go:noescape
func expNEON(z, x []float32)

//go:noescape
func tanhNEON(z, x []float32)

//go:noescape
func sigmoidNEON(z, x []float32)

//go:noescape
func tanhBackwardNEON(z, g, y []float32)

//go:noescape
func sigmoidBackwardNEON(z, g, y []float32)

//go:noescape
func gemmNEON(k int, a, b, c []float32, ldc, acc int)

//go:noescape
func gemm8NEON(k int, a, b, c []float32, ldc, acc int)

//go:noescape
func gemm4NEON(k int, a, b, c []float32, ldc, acc int)

//go:noescape
func gemmIndirectNEON(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirectPFNEON(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirect8NEON(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirect4NEON(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func affineNEON(z, x []float32, a, b float32)

//go:noescape
func affine2NEON(z, x, y []float32, a, b, c float32)

//go:noescape
func sqdevNEON(x []float32, c float32) float32

//go:noescape
func transpose4NEON(dst []float32, ldd int, src []float32, lds int, rb, cb int)

// transposeNEON hands the whole 4x4 blocks of the matrix to
// transpose4NEON in one call (every 4-row strip, every whole block of
// it) and the ragged right columns and bottom rows to the generic code.
// Transpose bounds each call to about 8K floats.
func transposeNEON(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	if rows < 4 || cols < 4 {
		transposeGeneric(dst, ldd, src, lds, rows, cols)
		return
	}
	r4, c4 := rows/4*4, cols/4*4
	transpose4NEON(dst, ldd, src, lds, r4/4, c4/4)
	if c4 < cols {
		transposeGeneric(dst[c4*ldd:], ldd, src[c4:], lds, r4, cols-c4)
	}
	if r4 < rows {
		transposeGeneric(dst[r4:], ldd, src[r4*lds:], lds, rows-r4, cols)
	}
}

// neonImpl: a 12x8 tile, so that B is read in place in two pieces of one
// vector (4 floats) each, which covers every output row of 4 or more
// pixels in a multiple of 4 (ResNet's 32x32 to 4x4 stages all take the
// padded in-place path); short kernels of 4 and 8 rows for the last row
// panel.
//
//go:noescape
func winoIn4NEON(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoOut4NEON(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoKer4NEON(dst []float32, ds int, g0, g1, g2 []float32)

//go:noescape
func winoOutAdj4NEON(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoKerAdj4NEON(dst []float32, ds int, src []float32, ss int, n int)

var neonImpl = &Impl{
	level: NEON, mr: 12, nr: 8,
	dot: dotNEON, sum: sumNEON, max: maxNEON,
	axpy: axpyNEON, scale: scaleNEON,
	add: addNEON, sub: subNEON, mul: mulNEON,
	relu: reluNEON, reluBackward: reluBackwardNEON,
	exp: expNEON, gemm: gemmNEON, transpose: transposeNEON,
	tanh: tanhNEON, sigmoid: sigmoidNEON, tanhBackward: tanhBackwardNEON, sigmoidBackward: sigmoidBackwardNEON,
	gemmIndirect: gemmIndirectNEON, gemmIndirectPF: gemmIndirectPFNEON, nv: 2,
	short:  []shortKernel{{4, gemm4NEON, gemmIndirect4NEON, nil}, {8, gemm8NEON, gemmIndirect8NEON, nil}},
	affine: affineNEON, affine2: affine2NEON, sqdev: sqdevNEON,
	winoIn4: winoIn4NEON, winoOut4: winoOut4NEON, winoKer4: winoKer4NEON,
	winoOutAdj4: winoOutAdj4NEON, winoKerAdj4: winoKerAdj4NEON, lanes: 4,
}

// archImpls gates the NEON level on ASIMD, the Advanced SIMD extension of
// ARMv8.0: the kernels use only its single-precision vector instructions
// (no FP16, dot-product or SVE forms). ASIMD is part of every ARMv8-A
// profile that Go supports, so HasASIMD is false only where the feature
// has been switched off with GODEBUG=cpu.asimd=off, which x/sys/cpu
// honours; the level then falls back to generic.
func archImpls() []*Impl {
	if cpu.ARM64.HasASIMD {
		return []*Impl{neonImpl}
	}
	return nil
}
