package main

import "fmt"

// The NEON versions of the Winograd F(4, 3) row transforms (winograd.go):
// the same groupings, with VFMLA/VFMLS for the fused steps and WORD
// encodings for the plain vector arithmetic. Every row has its own
// post-incremented pointer (R1-R6 the inputs, R7-R12 the outputs); R13
// counts the floats left, a multiple of 4.

// winoNEONSetup loads the row pointers: count rows from base (a slice
// argument) with the stride in floats at argument stride, into the
// registers from first on.
func winoNEONSetup(g *gen, base, stride string, first, count int) {
	g.p("MOVD %s(FP), R%d", base, first)
	g.p("MOVD %s(FP), R14", stride)
	g.p("LSL $2, R14")
	for i := 1; i < count; i++ {
		g.p("ADD R14, R%d, R%d", first+i-1, first+i)
	}
}

// winoNEONConst broadcasts the float32 v into V<reg>.
func winoNEONConst(g *gen, reg int, v float64) {
	g.p("MOVW $0x%08x, R15", f32(v))
	g.p("VDUP R15, V%d.S4", reg)
}

func winoNEON(g *gen, out bool) {
	fn := "winoIn4NEON"
	if out {
		fn = "winoOut4NEON"
	}
	g.text(fn, "$0-72", fmt.Sprintf("func %s(dst []float32, ds int, src []float32, ss int, n int)", fn))
	winoNEONSetup(g, "src_base+32", "ss+56", 1, 6)
	rows := 6
	if out {
		rows = 4
	}
	winoNEONSetup(g, "dst_base+0", "ds+24", 7, rows)
	g.p("MOVD n+64(FP), R13")
	winoNEONConst(g, 28, 2)
	winoNEONConst(g, 29, 4)
	if out {
		winoNEONConst(g, 30, 8)
	} else {
		winoNEONConst(g, 30, 5)
	}
	g.lbl(fn + "_loop")
	g.p("CBZ R13, %s_done", fn)
	for j := 0; j < 6; j++ {
		g.p("VLD1.P 16(R%d), [V%d.S4]", 1+j, j)
	}
	st := func(v, row int) { g.p("VST1.P [V%d.S4], 16(R%d)", v, 7+row) }
	if !out {
		// t0 = d4 - 4 d2 (V6), t1 = d3 - 4 d1 (V7): o1 = t0 + t1, o2 = t0 - t1.
		g.p("VMOV V4.B16, V6.B16")
		g.p("VFMLS V29.S4, V2.S4, V6.S4")
		g.p("VMOV V3.B16, V7.B16")
		g.p("VFMLS V29.S4, V1.S4, V7.S4")
		g.w(fadd(8, 6, 7))
		st(8, 1)
		g.w(fsub(8, 6, 7))
		st(8, 2)
		// t2 = d4 - d2 (V6), t3 = d3 - d1 (V7): o3 = t2 + 2 t3, o4 = t2 - 2 t3.
		g.w(fsub(6, 4, 2))
		g.w(fsub(7, 3, 1))
		g.p("VMOV V6.B16, V8.B16")
		g.p("VFMLA V28.S4, V7.S4, V8.S4")
		st(8, 3)
		g.p("VFMLS V28.S4, V7.S4, V6.S4")
		st(6, 4)
		// o0 = (d4 + 4 d0) - 5 d2, o5 = (d5 + 4 d1) - 5 d3.
		g.p("VFMLA V29.S4, V0.S4, V4.S4")
		g.p("VFMLS V30.S4, V2.S4, V4.S4")
		st(4, 0)
		g.p("VFMLA V29.S4, V1.S4, V5.S4")
		g.p("VFMLS V30.S4, V3.S4, V5.S4")
		st(5, 5)
	} else {
		// a = m1 + m2 (V6), b = m1 - m2 (V7), c = m3 + m4 (V8), d = m3 - m4 (V9).
		winoPairsNEON(g)
		// y0 = (m0 + a) + c.
		g.w(fadd(10, 0, 6))
		g.w(fadd(10, 10, 8))
		st(10, 0)
		// y1 = b + 2 d.
		g.p("VMOV V7.B16, V11.B16")
		g.p("VFMLA V28.S4, V9.S4, V11.S4")
		st(11, 1)
		// y2 = a + 4 c.
		g.p("VFMLA V29.S4, V8.S4, V6.S4")
		st(6, 2)
		// y3 = (b + 8 d) + m5.
		g.p("VFMLA V30.S4, V9.S4, V7.S4")
		g.w(fadd(7, 7, 5))
		st(7, 3)
	}
	winoNEONNext(g, fn)
}

// winoKerNEON is the kernel transform G (winoKernelKernel): inputs g0, g1,
// g2 through R1-R3.
func winoKerNEON(g *gen) {
	fn := "winoKer4NEON"
	g.text(fn, "$0-104", fmt.Sprintf("func %s(dst []float32, ds int, g0, g1, g2 []float32)", fn))
	g.p("MOVD g0_base+32(FP), R1")
	g.p("MOVD g0_len+40(FP), R13")
	g.p("MOVD g1_base+56(FP), R2")
	g.p("MOVD g2_base+80(FP), R3")
	winoNEONSetup(g, "dst_base+0", "ds+24", 7, 6)
	for i, v := range []float64{1.0 / 4, -1.0 / 6, 1.0 / 6, 1.0 / 12, 1.0 / 24} {
		winoNEONConst(g, 27+i, v)
	}
	g.lbl(fn + "_loop")
	g.p("CBZ R13, %s_done", fn)
	for j := 0; j < 3; j++ {
		g.p("VLD1.P 16(R%d), [V%d.S4]", 1+j, j)
	}
	st := func(v, row int) { g.p("VST1.P [V%d.S4], 16(R%d)", v, 7+row) }
	// u0 = g0/4.
	g.w(fmul(3, 0, 27))
	st(3, 0)
	// p = g0 + g2: u1 = (p + g1)(-1/6), u2 = (p - g1)(-1/6).
	g.w(fadd(4, 0, 2))
	g.w(fadd(5, 4, 1))
	g.w(fmul(5, 5, 28))
	st(5, 1)
	g.w(fsub(5, 4, 1))
	g.w(fmul(5, 5, 28))
	st(5, 2)
	// q = g2/6 + g0/24: u3 = q + g1/12, u4 = q - g1/12.
	g.w(fmul(6, 2, 29))
	g.p("VFMLA V31.S4, V0.S4, V6.S4")
	g.p("VMOV V6.B16, V7.B16")
	g.p("VFMLA V30.S4, V1.S4, V7.S4")
	st(7, 3)
	g.p("VFMLS V30.S4, V1.S4, V6.S4")
	st(6, 4)
	// u5 = g2.
	st(2, 5)
	winoNEONNext(g, fn)
}

// winoAdjNEON is winoAdjoint: A (kernel = false, four rows in R1-R4, six
// out in R7-R12) or G^T (six in R1-R6, three out in R7-R9).
func winoAdjNEON(g *gen, kernel bool) {
	fn, in, out := "winoOutAdj4NEON", 4, 6
	if kernel {
		fn, in, out = "winoKerAdj4NEON", 6, 3
	}
	g.text(fn, "$0-72", fmt.Sprintf("func %s(dst []float32, ds int, src []float32, ss int, n int)", fn))
	winoNEONSetup(g, "src_base+32", "ss+56", 1, in)
	winoNEONSetup(g, "dst_base+0", "ds+24", 7, out)
	g.p("MOVD n+64(FP), R13")
	if kernel {
		for i, v := range []float64{1.0 / 4, -1.0 / 6, 1.0 / 6, 1.0 / 12, 1.0 / 24} {
			winoNEONConst(g, 27+i, v)
		}
	} else {
		winoNEONConst(g, 28, 2)
		winoNEONConst(g, 29, 4)
	}
	g.lbl(fn + "_loop")
	g.p("CBZ R13, %s_done", fn)
	for j := 0; j < in; j++ {
		g.p("VLD1.P 16(R%d), [V%d.S4]", 1+j, j)
	}
	st := func(v, row int) { g.p("VST1.P [V%d.S4], 16(R%d)", v, 7+row) }
	if !kernel {
		// p = y0 + y2 (V4), q = y1 + y3 (V5): m1 = p + q, m2 = p - q.
		g.w(fadd(4, 0, 2))
		g.w(fadd(5, 1, 3))
		g.w(fadd(6, 4, 5))
		st(6, 1)
		g.w(fsub(6, 4, 5))
		st(6, 2)
		// r = y0 + 4 y2 (V7), s = y1 + 4 y3 (V8): m3 = r + 2 s, m4 = r - 2 s.
		g.p("VMOV V0.B16, V7.B16")
		g.p("VFMLA V29.S4, V2.S4, V7.S4")
		g.p("VMOV V1.B16, V8.B16")
		g.p("VFMLA V29.S4, V3.S4, V8.S4")
		g.p("VMOV V7.B16, V9.B16")
		g.p("VFMLA V28.S4, V8.S4, V9.S4")
		st(9, 3)
		g.p("VFMLS V28.S4, V8.S4, V7.S4")
		st(7, 4)
		// m0 = y0, m5 = y3.
		st(0, 0)
		st(3, 5)
	} else {
		// a = u1 + u2 (V6), b = u1 - u2 (V7), c = u3 + u4 (V8), d = u3 - u4 (V9).
		winoPairsNEON(g)
		// w0 = (a (-1/6) + c/24) + u0/4.
		g.w(fmul(10, 6, 28))
		g.p("VFMLA V31.S4, V8.S4, V10.S4")
		g.p("VFMLA V27.S4, V0.S4, V10.S4")
		st(10, 0)
		// w1 = b (-1/6) + d/12.
		g.w(fmul(7, 7, 28))
		g.p("VFMLA V30.S4, V9.S4, V7.S4")
		st(7, 1)
		// w2 = (c - a)/6 + u5.
		g.w(fsub(8, 8, 6))
		g.p("VFMLA V29.S4, V8.S4, V5.S4")
		st(5, 2)
	}
	winoNEONNext(g, fn)
}

// winoNEONNext ends the loop body of a NEON row transform (the pointers
// were post-incremented by the loads and stores).
func winoNEONNext(g *gen, fn string) {
	g.p("SUB $4, R13")
	g.p("B %s_loop", fn)
	g.lbl(fn + "_done")
	g.p("RET")
}

// winoPairsNEON is winoPairs: V1 + V2 (V6), V1 - V2 (V7), V3 + V4 (V8),
// V3 - V4 (V9).
func winoPairsNEON(g *gen) {
	g.w(fadd(6, 1, 2))
	g.w(fsub(7, 1, 2))
	g.w(fadd(8, 3, 4))
	g.w(fsub(9, 3, 4))
}
