package main

// The arm64 NEON kernels.
//
// Go's arm64 assembler knows the NEON load/store, integer and bitwise
// instructions (VLD1, VST1, VDUP, VADD, VSUB, VSHL, VAND, VBIT, VEXT, ...)
// and the fused multiply-add VFMLA, but none of the floating-point vector
// arithmetic, compares or conversions (FADD, FMUL, FMAX, FCMGT, FRINTN,
// FCVTZS, ...), nor the signed shift SSHR or the by-element form of FMLA.
// Those are emitted as WORD directives, each encoded below from its
// register numbers and commented with the instruction in Arm syntax.
//
// Every kernel walks its slices with post-incremented pointers, one pointer
// per stream (an in-place stream such as y in axpy gets a read and a write
// pointer), in three loops: an unrolled one over several vectors, one over
// single vectors of 4 lanes, and a scalar one over the last 0-3 elements.
// The scalar loop loads with FMOVS, which zeroes lanes 1-3, runs the same
// vector instructions as the main loops and stores lane 0 with FMOVS, so
// tails are computed by exactly the same arithmetic.

import (
	"fmt"
	"strings"
)

// a64 is one A64 instruction that Go's assembler lacks: its encoding and
// its spelling in Arm syntax (as llvm-objdump prints it).
type a64 struct {
	enc uint32
	asm string
}

// vreg checks that v names a NEON register V0-V31.
func vreg(v int) uint32 {
	if v < 0 || v > 31 {
		panic(fmt.Sprintf("no register V%d", v))
	}
	return uint32(v)
}

// fp3 encodes an "Advanced SIMD three same" floating-point instruction on
// four single-precision lanes (Q=1, sz=0):
//
//	0 Q U 01110 a sz 1 Rm opcode 1 Rn Rd
func fp3(mn string, u, a, opcode uint32, d, n, m int) a64 {
	enc := 1<<30 | u<<29 | 0b01110<<24 | a<<23 | 1<<21 | vreg(m)<<16 | opcode<<11 | 1<<10 | vreg(n)<<5 | vreg(d)
	return a64{enc, fmt.Sprintf("%s v%d.4s, v%d.4s, v%d.4s", mn, d, n, m)}
}

func fadd(d, n, m int) a64 { return fp3("fadd", 0, 0, 0b11010, d, n, m) } // d = n + m
func fsub(d, n, m int) a64 { return fp3("fsub", 0, 1, 0b11010, d, n, m) } // d = n - m
func fmul(d, n, m int) a64 { return fp3("fmul", 1, 0, 0b11011, d, n, m) } // d = n * m
func fmax(d, n, m int) a64 { return fp3("fmax", 0, 0, 0b11110, d, n, m) } // NaN if either is NaN
func fmin(d, n, m int) a64 { return fp3("fmin", 0, 1, 0b11110, d, n, m) } // NaN if either is NaN

// fp2 encodes an "Advanced SIMD two-register miscellaneous" floating-point
// instruction on four single-precision lanes (Q=1, sz=0):
//
//	0 Q U 01110 a sz 10000 opcode 10 Rn Rd
func fp2(mn string, u, a, opcode uint32, d, n int, suffix string) a64 {
	enc := 1<<30 | u<<29 | 0b01110<<24 | a<<23 | 0b10000<<17 | opcode<<12 | 0b10<<10 | vreg(n)<<5 | vreg(d)
	return a64{enc, fmt.Sprintf("%s v%d.4s, v%d.4s%s", mn, d, n, suffix)}
}

func frintn(d, n int) a64 { return fp2("frintn", 0, 0, 0b11000, d, n, "") }      // round to nearest, ties to even
func fcvtzs(d, n int) a64 { return fp2("fcvtzs", 0, 1, 0b11011, d, n, "") }      // to int32, toward zero; NaN gives 0
func fcmgt0(d, n int) a64 { return fp2("fcmgt", 0, 1, 0b01100, d, n, ", #0.0") } // all ones where n > 0 (false for NaN)
func fcmlt0(d, n int) a64 { return fp2("fcmlt", 0, 1, 0b01110, d, n, ", #0.0") } // all ones where n < 0 (false for NaN)

// sshr encodes SSHR Vd.4S, Vn.4S, #shift, an "Advanced SIMD shift by
// immediate" with 32-bit lanes, where immh:immb = 64 - shift:
//
//	0 Q U 011110 immh immb 00000 1 Rn Rd
func sshr(d, n, shift int) a64 {
	if shift < 1 || shift > 32 {
		panic(fmt.Sprintf("sshr: shift %d out of range", shift))
	}
	enc := 1<<30 | 0b011110<<23 | uint32(64-shift)<<16 | 1<<10 | vreg(n)<<5 | vreg(d)
	return a64{enc, fmt.Sprintf("sshr v%d.4s, v%d.4s, #%d", d, n, shift)}
}

// fmlaElem encodes FMLA Vd.4S, Vn.4S, Vm.S[lane] (d += n * m[lane]), an
// "Advanced SIMD vector x indexed element" instruction with sz=0, where the
// lane is H:L and Rm uses the M bit as its fifth bit:
//
//	0 Q U 01111 1 sz L M Rm 0001 H 0 Rn Rd
func fmlaElem(d, n, m, lane int) a64 {
	if lane < 0 || lane > 3 {
		panic(fmt.Sprintf("fmla: lane %d out of range", lane))
	}
	l, h := uint32(lane&1), uint32(lane>>1)
	enc := 1<<30 | 0b01111<<24 | 1<<23 | l<<21 | vreg(m)<<16 | 0b0001<<12 | h<<11 | vreg(n)<<5 | vreg(d)
	return a64{enc, fmt.Sprintf("fmla v%d.4s, v%d.4s, v%d.s[%d]", d, n, m, lane)}
}

// w emits an instruction the assembler lacks.
func (g *gen) w(in a64) { g.p("WORD $0x%08x // %s", in.enc, in.asm) }

func s4(v int) string  { return fmt.Sprintf("V%d.S4", v) }
func b16(v int) string { return fmt.Sprintf("V%d.B16", v) }

// vlist is the register list of n consecutive vectors from first.
func vlist(first, n int) string {
	var l []string
	for i := 0; i < n; i++ {
		l = append(l, s4(first+i))
	}
	return "[" + strings.Join(l, ", ") + "]"
}

// vld loads n consecutive vectors from first, post-incrementing ptr.
func (g *gen) vld(ptr string, first, n int) {
	for n > 0 {
		c := min(n, 4)
		g.p("VLD1.P %d(%s), %s", 16*c, ptr, vlist(first, c))
		first, n = first+c, n-c
	}
}

// vst stores n consecutive vectors from first, post-incrementing ptr.
func (g *gen) vst(ptr string, first, n int) {
	for n > 0 {
		c := min(n, 4)
		g.p("VST1.P %s, %d(%s)", vlist(first, c), 16*c, ptr)
		first, n = first+c, n-c
	}
}

// neonLoop describes one slice kernel's loops. R3 holds the element count.
// Input j is read through in[j] into vectors inReg[j]+u for u < unroll;
// the result of vector u is in outReg+u and is stored through out, if out
// is not empty. body(u, tail) emits the work of vector u; in the scalar
// tail (u = 0) only lane 0 of each input is loaded, the others are zero.
type neonLoop struct {
	name   string
	in     []string
	inReg  []int
	out    string
	outReg int
	unroll int
	body   func(u int, tail bool)
}

func (g *gen) neonLoop(l neonLoop) {
	pre := l.name
	if l.unroll > 1 {
		big := 4 * l.unroll
		g.lbl(pre + "_big")
		g.p("CMP $%d, R3", big)
		g.p("BLT %s_one", pre)
		for j, p := range l.in {
			g.vld(p, l.inReg[j], l.unroll)
		}
		for u := 0; u < l.unroll; u++ {
			l.body(u, false)
		}
		if l.out != "" {
			g.vst(l.out, l.outReg, l.unroll)
		}
		g.p("SUB $%d, R3", big)
		g.p("B %s_big", pre)
	}
	g.lbl(pre + "_one")
	g.p("CMP $4, R3")
	g.p("BLT %s_tail", pre)
	for j, p := range l.in {
		g.vld(p, l.inReg[j], 1)
	}
	l.body(0, false)
	if l.out != "" {
		g.vst(l.out, l.outReg, 1)
	}
	g.p("SUB $4, R3")
	g.p("B %s_one", pre)

	g.lbl(pre + "_tail")
	g.p("CBZ R3, %s_done", pre)
	for j, p := range l.in {
		g.p("FMOVS.P 4(%s), F%d", p, l.inReg[j])
	}
	l.body(0, true)
	if l.out != "" {
		g.p("FMOVS.P F%d, 4(%s)", l.outReg, l.out)
	}
	g.p("SUB $1, R3")
	g.p("B %s_tail", pre)
	g.lbl(pre + "_done")
}

// binaryNEON: z = x op y. x in V0-V3 (also the result), y in V4-V7.
func binaryNEON(g *gen, name string, op func(d, n, m int) a64) {
	fn := name + "NEON"
	g.text(fn, "$0-72", fmt.Sprintf("func %s(z, x, y []float32)", fn))
	g.p("MOVD z_base+0(FP), R0")
	g.p("MOVD z_len+8(FP), R3")
	g.p("MOVD x_base+24(FP), R1")
	g.p("MOVD y_base+48(FP), R2")
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1", "R2"}, inReg: []int{0, 4}, out: "R0", outReg: 0, unroll: 4,
		body: func(u int, _ bool) { g.w(op(u, u, 4+u)) },
	})
	g.p("RET")
}

// axpyNEON: y += a*x, fused. a broadcast in V28; x in V0-V3; y read
// through R2 into V4-V7 and written through R0.
func axpyNEON(g *gen) {
	fn := "axpyNEON"
	g.text(fn, "$0-56", fmt.Sprintf("func %s(a float32, x, y []float32)", fn))
	g.p("FMOVS a+0(FP), F28")
	g.p("VDUP V28.S[0], V28.S4")
	g.p("MOVD x_base+8(FP), R1")
	g.p("MOVD x_len+16(FP), R3")
	g.p("MOVD y_base+32(FP), R2")
	g.p("MOVD R2, R0")
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1", "R2"}, inReg: []int{0, 4}, out: "R0", outReg: 4, unroll: 4,
		body: func(u int, _ bool) { g.p("VFMLA V28.S4, %s, %s", s4(u), s4(4+u)) },
	})
	g.p("RET")
}

// scaleNEON: x *= a. a broadcast in V28; x read through R1, written
// through R0.
func scaleNEON(g *gen) {
	fn := "scaleNEON"
	g.text(fn, "$0-32", fmt.Sprintf("func %s(a float32, x []float32)", fn))
	g.p("FMOVS a+0(FP), F28")
	g.p("VDUP V28.S[0], V28.S4")
	g.p("MOVD x_base+8(FP), R1")
	g.p("MOVD x_len+16(FP), R3")
	g.p("MOVD R1, R0")
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1"}, inReg: []int{0}, out: "R0", outReg: 0, unroll: 4,
		body: func(u int, _ bool) { g.w(fmul(u, u, 28)) },
	})
	g.p("RET")
}

// hreduceNEON folds accumulators V0..V(n-1) pairwise into V0 and then the
// four lanes of V0 into lane 0, with op; V31 is scratch.
func hreduceNEON(g *gen, n int, op func(d, n, m int) a64) {
	for step := 1; step < n; step *= 2 {
		for i := 0; i+step < n; i += 2 * step {
			g.w(op(i, i, i+step))
		}
	}
	for _, rot := range []int{8, 4} {
		g.p("VEXT $%d, V0.B16, V0.B16, V31.B16", rot)
		g.w(op(0, 0, 31))
	}
}

// reduceNEON: dot and sum, eight accumulators V0-V7 (one vector loop step
// of 32 elements), x in V16-V23, y in V24-V31.
func reduceNEON(g *gen, name string) {
	fn := name + "NEON"
	isDot := name == "dot"
	if isDot {
		g.text(fn, "$0-52", fmt.Sprintf("func %s(x, y []float32) float32", fn))
		g.p("MOVD x_base+0(FP), R1")
		g.p("MOVD x_len+8(FP), R3")
		g.p("MOVD y_base+24(FP), R2")
	} else {
		g.text(fn, "$0-28", fmt.Sprintf("func %s(x []float32) float32", fn))
		g.p("MOVD x_base+0(FP), R1")
		g.p("MOVD x_len+8(FP), R3")
	}
	const acc = 8
	for i := 0; i < acc; i++ {
		g.p("VEOR %s, %s, %s", b16(i), b16(i), b16(i))
	}
	in, inReg := []string{"R1"}, []int{16}
	if isDot {
		in, inReg = append(in, "R2"), append(inReg, 24)
	}
	g.neonLoop(neonLoop{
		name: fn, in: in, inReg: inReg, unroll: acc,
		body: func(u int, _ bool) {
			if isDot {
				g.p("VFMLA %s, %s, %s", s4(24+u), s4(16+u), s4(u))
			} else {
				g.w(fadd(u, u, 16+u))
			}
		},
	})
	hreduceNEON(g, acc, fadd)
	if isDot {
		g.p("FMOVS F0, ret+48(FP)")
	} else {
		g.p("FMOVS F0, ret+24(FP)")
	}
	g.p("RET")
}

// maxNEON: eight accumulators V0-V7 starting at -Inf. FMAX returns NaN when
// either operand is NaN, so a NaN anywhere reaches the result without
// separate tracking. A tail element is broadcast to all four lanes (max is
// idempotent), so the zeroed lanes never take part.
func maxNEON(g *gen) {
	fn := "maxNEON"
	const acc = 8
	g.text(fn, "$0-28", fmt.Sprintf("func %s(x []float32) float32", fn))
	g.p("MOVD x_base+0(FP), R1")
	g.p("MOVD x_len+8(FP), R3")
	g.p("MOVW $0xff800000, R4") // -Inf
	g.p("VDUP R4, V0.S4")
	for i := 1; i < acc; i++ {
		g.p("VMOV %s, %s", b16(0), b16(i))
	}
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1"}, inReg: []int{16}, unroll: acc,
		body: func(u int, tail bool) {
			if tail {
				g.p("VDUP V16.S[0], V16.S4")
			}
			g.w(fmax(u, u, 16+u))
		},
	})
	hreduceNEON(g, acc, fmax)
	g.p("FMOVS F0, ret+24(FP)")
	g.p("RET")
}

// reluNEON: z = x unless x < 0, else +0. The mask is an ordered x < 0, so
// -0 and NaN pass through unchanged (FMAX against zero would turn -0 into
// +0). x in V0-V3, masks in V4-V7, zero in V31; VBIT inserts the zero
// where the mask is set.
func reluNEON(g *gen) {
	fn := "reluNEON"
	g.text(fn, "$0-48", fmt.Sprintf("func %s(z, x []float32)", fn))
	g.p("MOVD z_base+0(FP), R0")
	g.p("MOVD z_len+8(FP), R3")
	g.p("MOVD x_base+24(FP), R1")
	g.p("VEOR V31.B16, V31.B16, V31.B16")
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1"}, inReg: []int{0}, out: "R0", outReg: 0, unroll: 4,
		body: func(u int, _ bool) {
			g.w(fcmlt0(4+u, u))
			g.p("VBIT %s, V31.B16, %s", b16(4+u), b16(u))
		},
	})
	g.p("RET")
}

// reluBackwardNEON: z = g where x > 0, else +0 (FCMGT is an ordered
// compare: NaN x gives 0). g in V0-V3, x in V4-V7, masks in V8-V11.
func reluBackwardNEON(g *gen) {
	fn := "reluBackwardNEON"
	g.text(fn, "$0-72", fmt.Sprintf("func %s(z, g, x []float32)", fn))
	g.p("MOVD z_base+0(FP), R0")
	g.p("MOVD z_len+8(FP), R3")
	g.p("MOVD g_base+24(FP), R1")
	g.p("MOVD x_base+48(FP), R2")
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1", "R2"}, inReg: []int{0, 4}, out: "R0", outReg: 0, unroll: 4,
		body: func(u int, _ bool) {
			g.w(fcmgt0(8+u, 4+u))
			g.p("VAND %s, %s, %s", b16(8+u), b16(u), b16(u))
		},
	})
	g.p("RET")
}

// affineNEON: z = a*x + b, fused (as the amd64 levels). a broadcast in
// V28, b in V29; x in V0-V3, results in V4-V7 (each starts as b).
func affineNEON(g *gen) {
	fn := "affineNEON"
	g.text(fn, "$0-56", fmt.Sprintf("func %s(z, x []float32, a, b float32)", fn))
	g.p("MOVD z_base+0(FP), R0")
	g.p("MOVD z_len+8(FP), R3")
	g.p("MOVD x_base+24(FP), R1")
	g.p("FMOVS a+48(FP), F28")
	g.p("VDUP V28.S[0], V28.S4")
	g.p("FMOVS b+52(FP), F29")
	g.p("VDUP V29.S[0], V29.S4")
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1"}, inReg: []int{0}, out: "R0", outReg: 4, unroll: 4,
		body: func(u int, _ bool) {
			g.p("VMOV %s, %s", b16(29), b16(4+u))
			g.p("VFMLA V28.S4, %s, %s", s4(u), s4(4+u))
		},
	})
	g.p("RET")
}

// affine2NEON: z = a*x + b*y + c as c + a*x, then + b*y, each fused (the
// order of the amd64 kernels). a, b, c broadcast in V28-V30; x in V0-V3, y
// in V4-V7, results in V8-V11.
func affine2NEON(g *gen) {
	fn := "affine2NEON"
	g.text(fn, "$0-84", fmt.Sprintf("func %s(z, x, y []float32, a, b, c float32)", fn))
	g.p("MOVD z_base+0(FP), R0")
	g.p("MOVD z_len+8(FP), R3")
	g.p("MOVD x_base+24(FP), R1")
	g.p("MOVD y_base+48(FP), R2")
	for i, arg := range []string{"a+72", "b+76", "c+80"} {
		g.p("FMOVS %s(FP), F%d", arg, 28+i)
		g.p("VDUP V%d.S[0], V%d.S4", 28+i, 28+i)
	}
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1", "R2"}, inReg: []int{0, 4}, out: "R0", outReg: 8, unroll: 4,
		body: func(u int, _ bool) {
			g.p("VMOV %s, %s", b16(30), b16(8+u))
			g.p("VFMLA V28.S4, %s, %s", s4(u), s4(8+u))
			g.p("VFMLA V29.S4, %s, %s", s4(4+u), s4(8+u))
		},
	})
	g.p("RET")
}

// sqdevNEON: sum (x - c)^2 with eight accumulators V0-V7, x in V16-V23,
// differences in V8-V15. c is broadcast in V28 and held in lane 0 only in
// V29: the scalar tail subtracts V29, so its zeroed lanes 1-3 give
// differences of 0 (not -c) and add nothing.
func sqdevNEON(g *gen) {
	fn := "sqdevNEON"
	const acc = 8
	g.text(fn, "$0-36", fmt.Sprintf("func %s(x []float32, c float32) float32", fn))
	g.p("MOVD x_base+0(FP), R1")
	g.p("MOVD x_len+8(FP), R3")
	g.p("FMOVS c+24(FP), F29")
	g.p("VDUP V29.S[0], V28.S4")
	for i := 0; i < acc; i++ {
		g.p("VEOR %s, %s, %s", b16(i), b16(i), b16(i))
	}
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1"}, inReg: []int{16}, unroll: acc,
		body: func(u int, tail bool) {
			c := 28
			if tail {
				c = 29
			}
			g.w(fsub(8+u, 16+u, c))
			g.p("VFMLA %s, %s, %s", s4(8+u), s4(8+u), s4(u))
		},
	})
	hreduceNEON(g, acc, fadd)
	g.p("FMOVS F0, ret+32(FP)")
	g.p("RET")
}

// transposeNEON: transpose4NEON transposes rb strips of 4 rows, each of cb
// 4x4 blocks: dst[c*ldd+r] = src[r*lds+c] for r < 4*rb, c < 4*cb. A block
// is four row loads, TRN1/TRN2 on 32-bit lanes (pairs of rows
// interleaved), TRN1/TRN2 on 64-bit lanes (pairs of pairs), and four
// column stores.
func transposeNEON(g *gen) {
	fn := "transpose4NEON"
	g.text(fn, "$0-80", fmt.Sprintf("func %s(dst []float32, ldd int, src []float32, lds int, rb, cb int)\nrb strips of 4 rows, each cb blocks of 4x4.", fn))
	g.p("MOVD dst_base+0(FP), R0")
	g.p("MOVD ldd+24(FP), R1")
	g.p("LSL $2, R1")
	g.p("MOVD src_base+32(FP), R2")
	g.p("MOVD lds+56(FP), R3")
	g.p("LSL $2, R3")
	g.p("MOVD rb+64(FP), R4")
	g.p("MOVD cb+72(FP), R5")
	g.lbl(fn + "_rows")
	g.p("CBZ R4, %s_done", fn)
	g.p("MOVD R2, R6")
	g.p("MOVD R0, R7")
	g.p("MOVD R5, R8")
	g.lbl(fn + "_cols")
	g.p("CBZ R8, %s_next", fn)
	g.p("MOVD R6, R9")
	for i := 0; i < 4; i++ {
		g.p("VLD1 (R9), [%s]", s4(i))
		if i < 3 {
			g.p("ADD R3, R9")
		}
	}
	// t0 = r0[0] r1[0] r0[2] r1[2], t1 = r0[1] r1[1] r0[3] r1[3], the
	// same for rows 2 and 3 in t2, t3; then column c from the 64-bit
	// halves of t(c%2) and t(c%2+2).
	g.p("VTRN1 V1.S4, V0.S4, V4.S4")
	g.p("VTRN2 V1.S4, V0.S4, V5.S4")
	g.p("VTRN1 V3.S4, V2.S4, V6.S4")
	g.p("VTRN2 V3.S4, V2.S4, V7.S4")
	g.p("VTRN1 V6.D2, V4.D2, V0.D2")
	g.p("VTRN1 V7.D2, V5.D2, V1.D2")
	g.p("VTRN2 V6.D2, V4.D2, V2.D2")
	g.p("VTRN2 V7.D2, V5.D2, V3.D2")
	g.p("MOVD R7, R9")
	for c := 0; c < 4; c++ {
		g.p("VST1 [%s], (R9)", s4(c))
		if c < 3 {
			g.p("ADD R1, R9")
		}
	}
	g.p("ADD $16, R6")
	g.p("ADD R1<<2, R7")
	g.p("SUB $1, R8")
	g.p("B %s_cols", fn)
	g.lbl(fn + "_next")
	g.p("ADD R3<<2, R2")
	g.p("ADD $16, R0")
	g.p("SUB $1, R4")
	g.p("B %s_rows", fn)
	g.lbl(fn + "_done")
	g.p("RET")
}

// expDataNEON writes the exp constants once each (lane 0 values of the
// amd64 table); expNEON broadcasts them with VLD1R.
func expDataNEON(g *gen) { constDataNEON(g, "expconst", "exp", expConsts) }

// constDataNEON writes tbl as the arm64 symbol sym<>, one copy of each
// constant; what names the kernels in the heading comment.
func constDataNEON(g *gen, sym, what string, tbl []kconst) {
	g.raw("")
	g.raw("// %s constants, one copy each (broadcast by VLD1R).", what)
	for i, c := range tbl {
		g.raw("DATA %s<>+%d(SB)/4, $0x%08x // %s", sym, 4*i, c.bits, c.note)
	}
	g.raw("GLOBL %s<>(SB), RODATA|NOPTR, $%d", sym, 4*len(tbl))
}

// expNEON: the algorithm of expScalar, three vectors per unrolled step.
// Constants live in V16-V29 (in the order of expConsts); vector u uses
// x/r = V(u), n = V(3+u), i = V(6+u), p = V(9+u), t = V(12+u). FMIN and
// FMAX return NaN for a NaN input, so the clamp keeps NaN; FRINTN rounds to
// nearest even; FCVTZS is exact on the already integral n.
func expNEON(g *gen) {
	fn := "expNEON"
	const unroll = 3
	g.text(fn, "$0-48", fmt.Sprintf("func %s(z, x []float32)", fn))
	g.p("MOVD z_base+0(FP), R0")
	g.p("MOVD z_len+8(FP), R3")
	g.p("MOVD x_base+24(FP), R1")
	cst := expConstsNEON(g)
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1"}, inReg: []int{0}, out: "R0", outReg: 3 * unroll, unroll: unroll,
		body: func(u int, _ bool) {
			x, n, i, p, t := u, unroll+u, 2*unroll+u, 3*unroll+u, 4*unroll+u
			g.w(fmin(x, x, cst["hi"]))
			g.w(fmax(x, x, cst["lo"]))
			expCoreNEON(g, cst, x, n, i, p, t)
		},
	})
	g.p("RET")
}

// expConstsNEON broadcasts the exp constants into V16-V29 (in the order
// of expConsts) and returns their registers by name.
func expConstsNEON(g *gen) map[string]int {
	g.p("MOVD $expconst<>(SB), R4")
	cst := map[string]int{}
	for i, c := range expConsts {
		cst[c.name] = 16 + i
		g.p("VLD1R.P 4(R4), [%s]", s4(16+i))
	}
	return cst
}

// expCoreNEON computes p = e^x for x already clamped to [lo, hi] (the
// steps of expScalar after its clamp; x is overwritten by r), with n, i
// and t as temporaries. The tanh and sigmoid kernels share it with exp.
func expCoreNEON(g *gen, cst map[string]int, x, n, i, p, t int) {
	g.w(fmul(n, x, cst["log2e"]))
	g.w(frintn(n, n))
	g.w(fcvtzs(i, n))
	// r = x - n*ln2hi - n*ln2lo (the first product is exact).
	g.p("VFMLA %s, %s, %s", s4(cst["negln2hi"]), s4(n), s4(x))
	g.p("VFMLA %s, %s, %s", s4(cst["negln2lo"]), s4(n), s4(x))
	// Horner on r, ending in p.
	var coef []int
	for _, c := range []string{"c7", "c6", "c5", "c4", "c3", "c2", "c1", "c0"} {
		coef = append(coef, cst[c])
	}
	hornerNEON(g, coef, x, p, t)
	// 2^n = 2^(n>>1) * 2^(n - n>>1), each half a normal float.
	g.w(sshr(t, i, 1))
	g.p("VSUB %s, %s, %s", s4(t), s4(i), s4(i))
	g.p("VADD %s, %s, %s", s4(cst["bias"]), s4(t), s4(t))
	g.p("VADD %s, %s, %s", s4(cst["bias"]), s4(i), s4(i))
	g.p("VSHL $23, %s, %s", s4(t), s4(t))
	g.p("VSHL $23, %s, %s", s4(i), s4(i))
	g.w(fmul(p, p, t))
	g.w(fmul(p, p, i))
}

// hornerNEON evaluates the polynomial with coefficients in registers
// coef (highest degree first) at x by Horner's rule, acc = c + prev*x,
// each step into a copy of its coefficient (FMLA accumulates in place),
// alternating between a and b from a: the result is in a when the steps,
// len(coef)-1, are odd in number (as for exp and tanh), else in b.
func hornerNEON(g *gen, coef []int, x, a, b int) {
	prev, dst := coef[0], a
	for _, c := range coef[1:] {
		g.p("VMOV %s, %s", b16(c), b16(dst))
		g.p("VFMLA %s, %s, %s", s4(prev), s4(x), s4(dst))
		prev = dst
		if dst == a {
			dst = b
		} else {
			dst = a
		}
	}
}

// neonMR and neonNR are the NEON tile: 12 rows by 8 columns (see
// docs/simd.md for why not 8x12).
const neonMR, neonNR = 12, 8

// neonPrefetch is how many k steps ahead the prefetching indirect kernel
// fetches B rows (as on amd64).
const neonPrefetch = 32

// gemmNEON: the 12x8 micro-kernel and its variants. Row i of the tile
// accumulates in V(2i), V(2i+1), so a full tile's 96 sums are in V0-V23;
// each k step loads the 12 floats of the A column into V24-V26 and the 8
// floats of the B row into V27-V28 and issues 24 FMLAs by element (a B
// vector times one lane of A): 29 registers, 24 FMAs per 5 loads.
//
// rows < 12 makes a short variant (rows 4 or 8) computing the first rows
// rows only, with A still packed 12 floats per k step; its name carries
// the row count.
//
// indirect makes the kernel read B in place (GemmIndirect): at k step p,
// piece v (of 2, one vector each) of the B row is loaded from
// base[pieces[v]+koff[p]:]. The piece addresses base+4*pieces[v] are in
// R12 and R13 and each step adds 4*koff[p], loaded with MOVW
// (sign-extending; the offsets are non-negative int32). prefetch makes the
// variant that also prefetches (PRFM PLDL1KEEP) the two pieces of k step
// p+neonPrefetch at step p while that many steps remain.
func gemmNEON(g *gen, rows int, indirect, prefetch bool) {
	const mr, nr, nv = neonMR, neonNR, 2
	fn := "gemm"
	if indirect {
		fn = "gemmIndirect"
		if prefetch {
			fn += "PF"
		}
	}
	if rows < mr {
		fn += fmt.Sprint(rows)
	}
	fn += "NEON"
	aRegs := rows / 4
	if indirect {
		what := ""
		if prefetch {
			what = fmt.Sprintf("\nIt prefetches the B pieces of k step p+%d at step p.", neonPrefetch)
		}
		g.text(fn, "$0-144", fmt.Sprintf("func %s(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)\n"+
			"The %dx%d kernel with B read in place: at k step p, piece v (of %d) of the B row is loaded from base[pieces[v]+koff[p]:].\n"+
			"Accumulators V0-V%d, A in V24-V%d, B in V27-V28. acc = 0 overwrites C.%s", fn, rows, nr, nv, 2*rows-1, 23+aRegs, what))
		g.p("MOVD k+0(FP), R0")
		g.p("MOVD a_base+8(FP), R1")
		g.p("MOVD base_base+32(FP), R2")
		g.p("MOVD koff_base+56(FP), R6")
		g.p("MOVD pieces_base+80(FP), R7")
		g.p("MOVD c_base+104(FP), R3")
		g.p("MOVD ldc+128(FP), R4")
		g.p("MOVD acc+136(FP), R5")
		for v := 0; v < nv; v++ {
			g.p("MOVD %d(R7), R%d", 8*v, 12+v)
			g.p("ADD R%d<<2, R2, R%d", 12+v, 12+v)
		}
	} else {
		g.text(fn, "$0-96", fmt.Sprintf("func %s(k int, a, b, c []float32, ldc, acc int)\n"+
			"%dx%d tile (A packed %d rows per k step): accumulators V0-V%d, A in V24-V%d, B in V27-V28. acc = 0 overwrites C.",
			fn, rows, nr, mr, 2*rows-1, 23+aRegs))
		g.p("MOVD k+0(FP), R0")
		g.p("MOVD a_base+8(FP), R1")
		g.p("MOVD b_base+32(FP), R2")
		g.p("MOVD c_base+56(FP), R3")
		g.p("MOVD ldc+80(FP), R4")
		g.p("MOVD acc+88(FP), R5")
	}
	g.p("LSL $2, R4")
	// Prefetch the C tile, whose rows are ldc apart (as on amd64).
	g.p("MOVD R3, R8")
	for i := 0; i < rows; i++ {
		g.p("PRFM (R8), PLDL1KEEP")
		if i < rows-1 {
			g.p("ADD R4, R8")
		}
	}
	for i := 0; i < nv*rows; i++ {
		g.p("VEOR %s, %s, %s", b16(i), b16(i), b16(i))
	}
	g.p("CBZ R0, %s_store", fn)
	step := func() {
		if aRegs == mr/4 {
			g.vld("R1", 24, aRegs)
		} else {
			g.p("VLD1 (R1), %s", vlist(24, aRegs))
			g.p("ADD $%d, R1", 4*mr)
		}
		if indirect {
			g.p("MOVW.P 4(R6), R9")
			for v := 0; v < nv; v++ {
				g.p("ADD R9<<2, R%d, R%d", 12+v, 14+v)
			}
			for v := 0; v < nv; v++ {
				g.p("VLD1 (R%d), [%s]", 14+v, s4(27+v))
			}
		} else {
			g.vld("R2", 27, nv)
		}
		for i := 0; i < rows; i++ {
			for v := 0; v < nv; v++ {
				g.w(fmlaElem(i*nv+v, 27+v, 24+i/4, i%4))
			}
		}
	}
	if prefetch {
		g.p("CMP $%d, R0", neonPrefetch)
		g.p("BLE %s_loop", fn)
		g.lbl(fn + "_pf")
		g.p("MOVW %d(R6), R10", 4*neonPrefetch)
		for v := 0; v < nv; v++ {
			g.p("ADD R10<<2, R%d, R11", 12+v)
			g.p("PRFM (R11), PLDL1KEEP")
		}
		step()
		g.p("SUB $1, R0")
		g.p("CMP $%d, R0", neonPrefetch)
		g.p("BGT %s_pf", fn)
	}
	g.lbl(fn + "_loop")
	step()
	g.p("SUBS $1, R0")
	g.p("BNE %s_loop", fn)
	g.lbl(fn + "_store")
	g.p("CBZ R5, %s_set", fn)
	for i := 0; i < rows; i++ {
		g.p("VLD1 (R3), %s", vlist(24, nv))
		for v := 0; v < nv; v++ {
			g.w(fadd(24+v, 24+v, i*nv+v))
		}
		g.p("VST1 %s, (R3)", vlist(24, nv))
		if i < rows-1 {
			g.p("ADD R4, R3")
		}
	}
	g.p("RET")
	// Overwrite: C = A*B, without reading C.
	g.lbl(fn + "_set")
	for i := 0; i < rows; i++ {
		g.p("VST1 %s, (R3)", vlist(i*nv, nv))
		if i < rows-1 {
			g.p("ADD R4, R3")
		}
	}
	g.p("RET")
}

func arm64() []byte {
	g := &gen{}
	g.raw("// Code generated by _gen (go run . -out ../simd); DO NOT EDIT.")
	g.raw("")
	g.raw("//go:build arm64 && !purego")
	g.raw("")
	g.raw("#include \"textflag.h\"")
	expDataNEON(g)
	actDataNEON(g)
	reduceNEON(g, "dot")
	reduceNEON(g, "sum")
	axpyNEON(g)
	scaleNEON(g)
	binaryNEON(g, "add", fadd)
	binaryNEON(g, "sub", fsub)
	binaryNEON(g, "mul", fmul)
	maxNEON(g)
	reluNEON(g)
	reluBackwardNEON(g)
	expNEON(g)
	tanhNEON(g)
	sigmoidNEON(g)
	activationBackwardNEON(g, "tanhBackward")
	activationBackwardNEON(g, "sigmoidBackward")
	affineNEON(g)
	affine2NEON(g)
	sqdevNEON(g)
	winoNEON(g, false)
	winoNEON(g, true)
	winoKerNEON(g)
	winoAdjNEON(g, false)
	winoAdjNEON(g, true)
	transposeNEON(g)
	for _, indirect := range []bool{false, true} {
		for _, rows := range []int{12, 8, 4} {
			gemmNEON(g, rows, indirect, false)
		}
	}
	gemmNEON(g, neonMR, true, true)
	return g.buf.Bytes()
}
