//go:build amd64 && !purego

package simd

import "golang.org/x/sys/cpu"

// The assembly in kernels_amd64.s is written by _gen; see its doc comment.

//go:noescape
func dotAVX512(x, y []float32) float32

//go:noescape
func sumAVX512(x []float32) float32

//go:noescape
func maxAVX512(x []float32) float32

//go:noescape
func axpyAVX512(a float32, x, y []float32)

//go:noescape
func scaleAVX512(a float32, x []float32)

//go:noescape
func addAVX512(z, x, y []float32)

//go:noescape
func subAVX512(z, x, y []float32)

//go:noescape
func mulAVX512(z, x, y []float32)

//go:noescape
func reluAVX512(z, x []float32)

//go:noescape
func reluBackwardAVX512(z, g, x []float32)

//go:noescape
func expAVX512(z, x []float32)

//go:noescape
func tanhAVX512(z, x []float32)

//go:noescape
func sigmoidAVX512(z, x []float32)

//go:noescape
func tanhBackwardAVX512(z, g, y []float32)

//go:noescape
func sigmoidBackwardAVX512(z, g, y []float32)

//go:noescape
func gemmAVX512(k int, a, b, c []float32, ldc, acc int)

//go:noescape
func dotAVX2(x, y []float32) float32

//go:noescape
func sumAVX2(x []float32) float32

//go:noescape
func maxAVX2(x []float32) float32

//go:noescape
func axpyAVX2(a float32, x, y []float32)

//go:noescape
func scaleAVX2(a float32, x []float32)

//go:noescape
func addAVX2(z, x, y []float32)

//go:noescape
func subAVX2(z, x, y []float32)

//go:noescape
func mulAVX2(z, x, y []float32)

//go:noescape
func reluAVX2(z, x []float32)

//go:noescape
func reluBackwardAVX2(z, g, x []float32)

//go:noescape
func expAVX2(z, x []float32)

//go:noescape
func tanhAVX2(z, x []float32)

//go:noescape
func sigmoidAVX2(z, x []float32)

//go:noescape
func tanhBackwardAVX2(z, g, y []float32)

//go:noescape
func sigmoidBackwardAVX2(z, g, y []float32)

//go:noescape
func gemmAVX2(k int, a, b, c []float32, ldc, acc int)

//go:noescape
func affineAVX512(z, x []float32, a, b float32)

//go:noescape
func affine2AVX512(z, x, y []float32, a, b, c float32)

//go:noescape
func sqdevAVX512(x []float32, c float32) float32

//go:noescape
func affineAVX2(z, x []float32, a, b float32)

//go:noescape
func affine2AVX2(z, x, y []float32, a, b, c float32)

//go:noescape
func sqdevAVX2(x []float32, c float32) float32

//go:noescape
func gemmIndirectAVX512(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirectPFAVX512(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirectP4AVX512(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirectP4PFAVX512(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirectP4R8AVX512(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirectP4R4AVX512(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirectPFAVX2(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemmIndirectAVX2(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemm8AVX512(k int, a, b, c []float32, ldc, acc int)

//go:noescape
func gemmIndirect8AVX512(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemm4AVX512(k int, a, b, c []float32, ldc, acc int)

//go:noescape
func gemmIndirect4AVX512(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemm4AVX2(k int, a, b, c []float32, ldc, acc int)

//go:noescape
func gemmIndirect4AVX2(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func gemm2AVX2(k int, a, b, c []float32, ldc, acc int)

//go:noescape
func gemmIndirect2AVX2(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)

//go:noescape
func transpose8AVX2(dst []float32, ldd int, src []float32, lds int, rb, cb int)

//go:noescape
func transpose4AVX2(dst []float32, ldd int, src []float32, lds int, rb, cb int)

//go:noescape
func transpose6AVX2(dst []float32, ldd int, src []float32, lds int, cb int)

// transposeAVX transposes tall matrices in few calls: whole 8-row strips
// of at least 8 columns in one call to transpose8AVX2, whole 4-row strips
// of 4 to 7 columns in one call to transpose4AVX2 (a call per block cost
// more than the block on tall, narrow matrices such as a row block of
// kernels or a row of a 4x4 image's channels), and anything else a strip
// at a time with transposeStripAVX.
func transposeAVX(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	switch {
	case rows >= 16 && cols >= 8:
		r8, c8 := rows/8*8, cols/8*8
		if ldd > lds {
			// The kernel runs the blocks of 8 source rows outside, so each
			// block writes 32 bytes into each of its 8 dst rows; where dst
			// rows lie farther apart than src rows (a channels-last tile
			// into NCHW planes, often a multiple of 4 KiB apart, so that
			// they share L1 sets), the lines were evicted between their
			// halves. A call per 8 columns writes each dst row's r8 floats
			// one after the other. On the Zen 5 VM, the 64-channel 32x32
			// Winograd forward went from 13.8 to 13.0 ms on one thread and from
			// 9.6 to 8.9 on two (AVX2, alternated, medians of 5).
			for c := 0; c < c8; c += 8 {
				transpose8AVX2(dst[c*ldd:], ldd, src[c:], lds, r8/8, 1)
			}
		} else {
			transpose8AVX2(dst, ldd, src, lds, r8/8, cols/8)
		}
		if c8 < cols {
			transposeGeneric(dst[c8*ldd:], ldd, src[c8:], lds, r8, cols-c8)
		}
		if r8 < rows {
			transposeStripAVX(dst[r8:], ldd, src[r8*lds:], lds, rows-r8, cols)
		}
	case rows >= 8 && cols >= 4 && cols < 8:
		r4 := rows / 4 * 4
		transpose4AVX2(dst, ldd, src, lds, r4/4, 1)
		if cols > 4 {
			transposeGeneric(dst[4*ldd:], ldd, src[4:], lds, r4, cols-4)
		}
		if r4 < rows {
			transposeGeneric(dst[r4:], ldd, src[r4*lds:], lds, rows-r4, cols)
		}
	default:
		for r := 0; r < rows; r += 8 {
			transposeStripAVX(dst[r:], ldd, src[r*lds:], lds, min(8, rows-r), cols)
		}
	}
}

// transposeStripAVX transposes up to 8 rows: full 8x8 blocks, or a 4-row
// strip in 4x4 blocks, in registers, and the ragged rest in Go.
func transposeStripAVX(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	done := 0
	switch {
	case rows == 8 && cols >= 8:
		done = cols / 8 * 8
		transpose8AVX2(dst, ldd, src, lds, 1, cols/8)
	case rows == 6 && cols >= 8:
		// The A panels of the 6x16 GEMM tile: a 4x4 strip and two rows
		// in Go took 4% of the paper's MLP step on two threads (AMD Zen
		// 3, CPU profile).
		done = cols / 8 * 8
		transpose6AVX2(dst, ldd, src, lds, cols/8)
	case rows >= 4 && cols >= 4:
		done = cols / 4 * 4
		transpose4AVX2(dst, ldd, src, lds, 1, cols/4)
		switch {
		case rows == 8:
			// Two 4-row strips (8 rows of 4 to 7 columns: the
			// batch-innermost copies of 4x4 images).
			transpose4AVX2(dst[4:], ldd, src[4*lds:], lds, 1, cols/4)
		case rows > 4:
			transposeGeneric(dst[4:], ldd, src[4*lds:], lds, rows-4, done)
		}
	}
	if done < cols {
		transposeGeneric(dst[done*ldd:], ldd, src[done:], lds, rows, cols-done)
	}
}

//go:noescape
func winoIn4AVX512(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoOut4AVX512(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoKer4AVX512(dst []float32, ds int, g0, g1, g2 []float32)

//go:noescape
func winoKer4AVX2(dst []float32, ds int, g0, g1, g2 []float32)

//go:noescape
func winoIn4AVX2(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoOut4AVX2(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoOutAdj4AVX512(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoKerAdj4AVX512(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoOutAdj4AVX2(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func winoKerAdj4AVX2(dst []float32, ds int, src []float32, ss int, n int)

//go:noescape
func copyStrips4AVX(dst []float32, stride int, src []float32, ld, kb, count int)

//go:noescape
func copyStrips6AVX(dst []float32, stride int, src []float32, ld, kb, count int)

//go:noescape
func copyStrips8AVX(dst []float32, stride int, src []float32, ld, kb, count int)

//go:noescape
func copyStrips12AVX(dst []float32, stride int, src []float32, ld, kb, count int)

//go:noescape
func copyStrips16AVX(dst []float32, stride int, src []float32, ld, kb, count int)

//go:noescape
func copyStrips32AVX(dst []float32, stride int, src []float32, ld, kb, count int)

// copyStripsAVX moves the rows of the tile widths in assembly (VEX moves,
// so both levels use it) and leaves other widths to Go.
func copyStripsAVX(dst []float32, stride int, src []float32, ld, kb, w, count int) {
	if w < len(stripsAVX) && stripsAVX[w] != nil {
		stripsAVX[w](dst, stride, src, ld, kb, count)
		return
	}
	copyStripsGeneric(dst, stride, src, ld, kb, w, count)
}

// stripsAVX holds the assembly strip copy of each width that has one.
var stripsAVX = [...]func(dst []float32, stride int, src []float32, ld, kb, count int){
	4: copyStrips4AVX, 6: copyStrips6AVX, 8: copyStrips8AVX,
	12: copyStrips12AVX, 16: copyStrips16AVX, 32: copyStrips32AVX,
}

var avx2Impl = &Impl{
	level: AVX2, mr: 6, nr: 16,
	dot: dotAVX2, sum: sumAVX2, max: maxAVX2,
	axpy: axpyAVX2, scale: scaleAVX2,
	add: addAVX2, sub: subAVX2, mul: mulAVX2,
	relu: reluAVX2, reluBackward: reluBackwardAVX2,
	exp: expAVX2, gemm: gemmAVX2, transpose: transposeAVX, copyStrips: copyStripsAVX,
	tanh: tanhAVX2, sigmoid: sigmoidAVX2, tanhBackward: tanhBackwardAVX2, sigmoidBackward: sigmoidBackwardAVX2,
	gemmIndirect: gemmIndirectAVX2, gemmIndirectPF: gemmIndirectPFAVX2, nv: 2,
	short:  []shortKernel{{2, gemm2AVX2, gemmIndirect2AVX2, nil}, {4, gemm4AVX2, gemmIndirect4AVX2, nil}},
	affine: affineAVX2, affine2: affine2AVX2, sqdev: sqdevAVX2,
	winoIn4: winoIn4AVX2, winoOut4: winoOut4AVX2, winoKer4: winoKer4AVX2,
	winoOutAdj4: winoOutAdj4AVX2, winoKerAdj4: winoKerAdj4AVX2, lanes: 8,
}

var avx512Impl = &Impl{
	level: AVX512, mr: 12, nr: 32,
	dot: dotAVX512, sum: sumAVX512, max: maxAVX512,
	axpy: axpyAVX512, scale: scaleAVX512,
	add: addAVX512, sub: subAVX512, mul: mulAVX512,
	relu: reluAVX512, reluBackward: reluBackwardAVX512,
	exp: expAVX512, gemm: gemmAVX512, transpose: transposeAVX, copyStrips: copyStripsAVX,
	tanh: tanhAVX512, sigmoid: sigmoidAVX512, tanhBackward: tanhBackwardAVX512, sigmoidBackward: sigmoidBackwardAVX512,
	gemmIndirect: gemmIndirectAVX512, gemmIndirectPF: gemmIndirectPFAVX512, nv: 2,
	p4: gemmIndirectP4AVX512, p4PF: gemmIndirectP4PFAVX512,
	short: []shortKernel{{4, gemm4AVX512, gemmIndirect4AVX512, gemmIndirectP4R4AVX512},
		{8, gemm8AVX512, gemmIndirect8AVX512, gemmIndirectP4R8AVX512}},
	affine: affineAVX512, affine2: affine2AVX512, sqdev: sqdevAVX512,
	winoIn4: winoIn4AVX512, winoOut4: winoOut4AVX512, winoKer4: winoKer4AVX512,
	winoOutAdj4: winoOutAdj4AVX512, winoKerAdj4: winoKerAdj4AVX512, lanes: 16,
}

// archImpls gates each level on every ISA bit its instructions use: VEX
// ymm arithmetic and VFMADD need AVX2 and FMA; the AVX-512 kernels use only
// AVX512F instructions on zmm and opmask registers (no DQ/BW/VL forms), plus
// VEX code for the final horizontal reductions. x/sys/cpu already folds in
// the OS's XSAVE support and any GODEBUG=cpu.X=off override.
func archImpls() []*Impl {
	var l []*Impl
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		l = append(l, avx2Impl)
		if cpu.X86.HasAVX512F {
			l1, l2, _ := Caches()
			avx512Impl.band, avx512Impl.bandLo, avx512Impl.bandHi = avx2Impl, l1, l2/4
			l = append(l, avx512Impl)
		}
	}
	return l
}
