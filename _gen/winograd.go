package main

import "fmt"

// The Winograd F(4, 3) row transforms (package simd, winograd.go): six
// input rows of n floats (n a multiple of the lanes; the Go side does any
// tail) combine into six (input transform B^T) or four (output transform
// A^T) output rows. Rows are ss and ds floats apart. Rows 0, 1, 2 and 4 are
// addressed from the first row with the stride register scaled by 1, 2
// and 4, rows 3 and 5 from a second pointer three rows on, so each side
// walks two pointers whatever its row count.

// winoConsts are the multipliers of the transforms.
var winoConsts = []kconst{
	{"two", f32(2), "2"},
	{"four", f32(4), "4"},
	{"five", f32(5), "5"},
	{"eight", f32(8), "8"},
	{"quarter", f32(1.0 / 4), "1/4"},
	{"msixth", f32(-1.0 / 6), "-1/6"},
	{"sixth", f32(1.0 / 6), "1/6"},
	{"twelfth", f32(1.0 / 12), "1/12"},
	{"twentyfourth", f32(1.0 / 24), "1/24"},
}

func winoData(g *gen) { constData(g, "wino", "Winograd transform", winoConsts) }

// winoRows returns the memory operands of six rows from base p (row 0),
// q (row 3) and the byte stride st.
func winoRows(p, q, st string) [6]string {
	return [6]string{
		"(" + p + ")", "(" + p + ")(" + st + "*1)", "(" + p + ")(" + st + "*2)",
		"(" + q + ")", "(" + p + ")(" + st + "*4)", "(" + q + ")(" + st + "*2)",
	}
}

// winoRowsEntry starts fn, a row transform with the signature
// func(dst []float32, ds int, src []float32, ss int, n int), loading the
// registers of winoKernel.
func winoRowsEntry(g *gen, fn string) {
	g.text(fn, "$0-72", fmt.Sprintf("func %s(dst []float32, ds int, src []float32, ss int, n int)", fn))
	g.p("MOVQ dst_base+0(FP), DI")
	g.p("MOVQ ds+24(FP), R10")
	g.p("MOVQ src_base+32(FP), SI")
	g.p("MOVQ ss+56(FP), R8")
	g.p("MOVQ n+64(FP), CX")
	g.p("SHLQ $2, R10")
	g.p("SHLQ $2, R8")
	g.p("LEAQ (R8)(R8*2), DX")
	g.p("ADDQ SI, DX")
	g.p("LEAQ (R10)(R10*2), R9")
	g.p("ADDQ DI, R9")
}

// winoRowsNext ends the loop body of a row transform: the row pointers
// (by default winoKernel's four) move one vector on, and the loop repeats
// until CX is done.
func winoRowsNext(g *gen, s isa, fn string, ptrs ...string) {
	if len(ptrs) == 0 {
		ptrs = []string{"SI", "DX", "DI", "R9"}
	}
	for _, p := range ptrs {
		g.p("ADDQ $%d, %s", s.vbytes(), p)
	}
	g.p("SUBQ $%d, CX", s.lanes)
	g.p("JMP %s_loop", fn)
	g.lbl(fn + "_done")
	g.ret()
}

// winoRowsLoop opens the loop of a row transform and loads its first
// loads input rows into registers 0 ..; it returns the operands of the
// input and output rows.
func winoRowsLoop(g *gen, s isa, fn string, loads int) (in, o [6]string) {
	in = winoRows("SI", "DX", "R8")
	o = winoRows("DI", "R9", "R10")
	g.lbl(fn + "_loop")
	g.p("TESTQ CX, CX")
	g.p("JEQ %s_done", fn)
	for j := 0; j < loads; j++ {
		g.p("VMOVUPS %s, %s", in[j], s.r(j))
	}
	return in, o
}

// winoPairs forms the sums and differences of rows 1, 2 and 3, 4 (in
// registers 1-4) that the output transform and the kernel adjoint share:
// r1 + r2 (6), r1 - r2 (7), r3 + r4 (8), r3 - r4 (9).
func winoPairs(g *gen, s isa) {
	r := s.r
	g.p("VADDPS %s, %s, %s", r(2), r(1), r(6))
	g.p("VSUBPS %s, %s, %s", r(2), r(1), r(7))
	g.p("VADDPS %s, %s, %s", r(4), r(3), r(8))
	g.p("VSUBPS %s, %s, %s", r(4), r(3), r(9))
}

// winoKernel emits winoIn4<suffix> (out = false) or winoOut4<suffix>.
// Registers: SI/DX the input rows 0 and 3, R8 their stride in bytes;
// DI/R9 the output rows 0 and 3, R10 their stride; CX the count.
func winoKernel(g *gen, s isa, out bool) {
	fn := "winoIn4" + s.suffix
	if out {
		fn = "winoOut4" + s.suffix
	}
	winoRowsEntry(g, fn)
	// Constants in the top registers: 2, 4, and 5 (input) or 8 (output).
	c2, c4, c58 := s.r(13), s.r(14), s.r(15)
	g.p("VBROADCASTSS wino<>+%d(SB), %s", constOff(winoConsts, "two"), c2)
	g.p("VBROADCASTSS wino<>+%d(SB), %s", constOff(winoConsts, "four"), c4)
	if out {
		g.p("VBROADCASTSS wino<>+%d(SB), %s", constOff(winoConsts, "eight"), c58)
	} else {
		g.p("VBROADCASTSS wino<>+%d(SB), %s", constOff(winoConsts, "five"), c58)
	}
	loads := 0 // the output transform loads rows 1-4 itself
	if !out {
		loads = 6
	}
	in, o := winoRowsLoop(g, s, fn, loads)
	r := s.r
	if !out {
		// t0 = d4 - 4 d2, t1 = d3 - 4 d1: o1 = t0 + t1, o2 = t0 - t1.
		g.p("VMOVAPS %s, %s", r(4), r(6))
		g.p("VFNMADD231PS %s, %s, %s", c4, r(2), r(6))
		g.p("VMOVAPS %s, %s", r(3), r(7))
		g.p("VFNMADD231PS %s, %s, %s", c4, r(1), r(7))
		g.p("VADDPS %s, %s, %s", r(7), r(6), r(8))
		g.p("VMOVUPS %s, %s", r(8), o[1])
		g.p("VSUBPS %s, %s, %s", r(7), r(6), r(8))
		g.p("VMOVUPS %s, %s", r(8), o[2])
		// t2 = d4 - d2, t3 = d3 - d1: o3 = t2 + 2 t3, o4 = t2 - 2 t3.
		g.p("VSUBPS %s, %s, %s", r(2), r(4), r(6))
		g.p("VSUBPS %s, %s, %s", r(1), r(3), r(7))
		g.p("VMOVAPS %s, %s", r(6), r(8))
		g.p("VFMADD231PS %s, %s, %s", c2, r(7), r(8))
		g.p("VMOVUPS %s, %s", r(8), o[3])
		g.p("VFNMADD231PS %s, %s, %s", c2, r(7), r(6))
		g.p("VMOVUPS %s, %s", r(6), o[4])
		// o0 = (d4 + 4 d0) - 5 d2, o5 = (d5 + 4 d1) - 5 d3.
		g.p("VFMADD231PS %s, %s, %s", c4, r(0), r(4))
		g.p("VFNMADD231PS %s, %s, %s", c58, r(2), r(4))
		g.p("VMOVUPS %s, %s", r(4), o[0])
		g.p("VFMADD231PS %s, %s, %s", c4, r(1), r(5))
		g.p("VFNMADD231PS %s, %s, %s", c58, r(3), r(5))
		g.p("VMOVUPS %s, %s", r(5), o[5])
	} else {
		// a = m1 + m2 (6), b = m1 - m2 (7), c = m3 + m4 (8), d = m3 - m4 (9).
		for j := 1; j < 5; j++ {
			g.p("VMOVUPS %s, %s", in[j], r(j))
		}
		winoPairs(g, s)
		// y0 = (m0 + a) + c.
		g.p("VADDPS %s, %s, %s", in[0], r(6), r(10))
		g.p("VADDPS %s, %s, %s", r(8), r(10), r(10))
		g.p("VMOVUPS %s, %s", r(10), o[0])
		// y1 = b + 2 d.
		g.p("VMOVAPS %s, %s", r(7), r(11))
		g.p("VFMADD231PS %s, %s, %s", c2, r(9), r(11))
		g.p("VMOVUPS %s, %s", r(11), o[1])
		// y2 = a + 4 c.
		g.p("VFMADD231PS %s, %s, %s", c4, r(8), r(6))
		g.p("VMOVUPS %s, %s", r(6), o[2])
		// y3 = (b + 8 d) + m5.
		g.p("VFMADD231PS %s, %s, %s", c58, r(9), r(7))
		g.p("VADDPS %s, %s, %s", in[5], r(7), r(7))
		g.p("VMOVUPS %s, %s", r(7), o[3])
	}
	winoRowsNext(g, s, fn)
}

// winoKernelKernel emits winoKer4<suffix>, the kernel transform G: six
// output rows from three input rows g0, g1, g2 (SI, DX, R8), each its own
// slice so that a caller can pass them in reverse (the rotated kernel).
func winoKernelKernel(g *gen, s isa) {
	fn := "winoKer4" + s.suffix
	g.text(fn, "$0-104", fmt.Sprintf("func %s(dst []float32, ds int, g0, g1, g2 []float32)", fn))
	g.p("MOVQ dst_base+0(FP), DI")
	g.p("MOVQ ds+24(FP), R10")
	g.p("MOVQ g0_base+32(FP), SI")
	g.p("MOVQ g0_len+40(FP), CX")
	g.p("MOVQ g1_base+56(FP), DX")
	g.p("MOVQ g2_base+80(FP), R8")
	g.p("SHLQ $2, R10")
	g.p("LEAQ (R10)(R10*2), R9")
	g.p("ADDQ DI, R9")
	c := map[string]string{}
	for i, name := range []string{"quarter", "msixth", "sixth", "twelfth", "twentyfourth"} {
		c[name] = s.r(11 + i)
		g.p("VBROADCASTSS wino<>+%d(SB), %s", constOff(winoConsts, name), c[name])
	}
	o := winoRows("DI", "R9", "R10")
	r := s.r
	g.lbl(fn + "_loop")
	g.p("TESTQ CX, CX")
	g.p("JEQ %s_done", fn)
	g.p("VMOVUPS (SI), %s", r(0))
	g.p("VMOVUPS (DX), %s", r(1))
	g.p("VMOVUPS (R8), %s", r(2))
	// u0 = g0/4.
	g.p("VMULPS %s, %s, %s", c["quarter"], r(0), r(3))
	g.p("VMOVUPS %s, %s", r(3), o[0])
	// p = g0 + g2: u1 = (p + g1)(-1/6), u2 = (p - g1)(-1/6).
	g.p("VADDPS %s, %s, %s", r(2), r(0), r(4))
	g.p("VADDPS %s, %s, %s", r(1), r(4), r(5))
	g.p("VMULPS %s, %s, %s", c["msixth"], r(5), r(5))
	g.p("VMOVUPS %s, %s", r(5), o[1])
	g.p("VSUBPS %s, %s, %s", r(1), r(4), r(5))
	g.p("VMULPS %s, %s, %s", c["msixth"], r(5), r(5))
	g.p("VMOVUPS %s, %s", r(5), o[2])
	// q = g2/6 + g0/24: u3 = q + g1/12, u4 = q - g1/12.
	g.p("VMULPS %s, %s, %s", c["sixth"], r(2), r(6))
	g.p("VFMADD231PS %s, %s, %s", c["twentyfourth"], r(0), r(6))
	g.p("VMOVAPS %s, %s", r(6), r(7))
	g.p("VFMADD231PS %s, %s, %s", c["twelfth"], r(1), r(7))
	g.p("VMOVUPS %s, %s", r(7), o[3])
	g.p("VFNMADD231PS %s, %s, %s", c["twelfth"], r(1), r(6))
	g.p("VMOVUPS %s, %s", r(6), o[4])
	// u5 = g2.
	g.p("VMOVUPS %s, %s", r(2), o[5])
	winoRowsNext(g, s, fn, "SI", "DX", "R8", "DI", "R9")
}

// winoAdjoint emits the adjoints of the output and kernel transforms, the
// transforms of the Winograd weight gradient: winoOutAdj4<suffix> (A, six
// output rows from four input rows) and winoKerAdj4<suffix> (G^T, three
// output rows from six). Registers as in winoKernel.
func winoAdjoint(g *gen, s isa, kernel bool) {
	fn := "winoOutAdj4" + s.suffix
	if kernel {
		fn = "winoKerAdj4" + s.suffix
	}
	winoRowsEntry(g, fn)
	c := map[string]string{}
	names := []string{"two", "four"}
	if kernel {
		names = []string{"quarter", "msixth", "sixth", "twelfth", "twentyfourth"}
	}
	for i, name := range names {
		c[name] = s.r(11 + i)
		g.p("VBROADCASTSS wino<>+%d(SB), %s", constOff(winoConsts, name), c[name])
	}
	loads := 4
	if kernel {
		loads = 6
	}
	_, o := winoRowsLoop(g, s, fn, loads)
	r := s.r
	if !kernel {
		// p = y0 + y2 (4), q = y1 + y3 (5): m1 = p + q, m2 = p - q.
		g.p("VADDPS %s, %s, %s", r(2), r(0), r(4))
		g.p("VADDPS %s, %s, %s", r(3), r(1), r(5))
		g.p("VADDPS %s, %s, %s", r(5), r(4), r(6))
		g.p("VMOVUPS %s, %s", r(6), o[1])
		g.p("VSUBPS %s, %s, %s", r(5), r(4), r(6))
		g.p("VMOVUPS %s, %s", r(6), o[2])
		// r = y0 + 4 y2 (7), s = y1 + 4 y3 (8): m3 = r + 2 s, m4 = r - 2 s.
		g.p("VMOVAPS %s, %s", r(0), r(7))
		g.p("VFMADD231PS %s, %s, %s", c["four"], r(2), r(7))
		g.p("VMOVAPS %s, %s", r(1), r(8))
		g.p("VFMADD231PS %s, %s, %s", c["four"], r(3), r(8))
		g.p("VMOVAPS %s, %s", r(7), r(9))
		g.p("VFMADD231PS %s, %s, %s", c["two"], r(8), r(9))
		g.p("VMOVUPS %s, %s", r(9), o[3])
		g.p("VFNMADD231PS %s, %s, %s", c["two"], r(8), r(7))
		g.p("VMOVUPS %s, %s", r(7), o[4])
		// m0 = y0, m5 = y3.
		g.p("VMOVUPS %s, %s", r(0), o[0])
		g.p("VMOVUPS %s, %s", r(3), o[5])
	} else {
		// a = u1 + u2 (6), b = u1 - u2 (7), c = u3 + u4 (8), d = u3 - u4 (9).
		winoPairs(g, s)
		// w0 = (a (-1/6) + c/24) + u0/4.
		g.p("VMULPS %s, %s, %s", c["msixth"], r(6), r(10))
		g.p("VFMADD231PS %s, %s, %s", c["twentyfourth"], r(8), r(10))
		g.p("VFMADD231PS %s, %s, %s", c["quarter"], r(0), r(10))
		g.p("VMOVUPS %s, %s", r(10), o[0])
		// w1 = b (-1/6) + d/12.
		g.p("VMULPS %s, %s, %s", c["msixth"], r(7), r(7))
		g.p("VFMADD231PS %s, %s, %s", c["twelfth"], r(9), r(7))
		g.p("VMOVUPS %s, %s", r(7), o[1])
		// w2 = (c - a)/6 + u5.
		g.p("VSUBPS %s, %s, %s", r(6), r(8), r(8))
		g.p("VFMADD231PS %s, %s, %s", c["sixth"], r(8), r(5))
		g.p("VMOVUPS %s, %s", r(5), o[2])
	}
	winoRowsNext(g, s, fn)
}
