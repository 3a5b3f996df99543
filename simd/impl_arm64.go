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
func gemmNEON(k int, a, b, c []float32, ldc, acc int)

var neonImpl = &Impl{
	level: NEON, mr: 8, nr: 12,
	dot: dotNEON, sum: sumNEON, max: maxNEON,
	axpy: axpyNEON, scale: scaleNEON,
	add: addNEON, sub: subNEON, mul: mulNEON,
	relu: reluNEON, reluBackward: reluBackwardNEON,
	exp: expNEON, gemm: gemmNEON,
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
