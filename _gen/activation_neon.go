package main

// The activation kernels on arm64 NEON: tanh and sigmoid on expCoreNEON,
// and the element-wise backward kernels, following tanhScalar,
// sigmoidScalar and the backward loops of simd/activation.go step by step
// (as the amd64 ones in activation.go do).

import "fmt"

func fdiv(d, n, m int) a64  { return fp3("fdiv", 1, 0, 0b11111, d, n, m) }  // d = n / m
func fcmgt(d, n, m int) a64 { return fp3("fcmgt", 1, 1, 0b11100, d, n, m) } // all ones where n > m (false for NaN)
func fabs(d, n int) a64     { return fp2("fabs", 0, 1, 0b01111, d, n, "") }

// actDataNEON writes the activation constants once each (lane 0 values of
// the amd64 table); the kernels broadcast them with VLD1R.
func actDataNEON(g *gen) { constDataNEON(g, "actconst", "tanh and sigmoid", actConsts) }

// actConstNEON broadcasts the activation constant name into register v.
func actConstNEON(g *gen, name string, v int) {
	g.p("MOVD $actconst<>+%d(SB), R5", actConstOff(name)/8)
	g.p("VLD1R (R5), [%s]", s4(v))
}

// tanhNEON: one vector per step (the polynomial's six coefficients take
// the registers a second vector would need). x and then its sign bit in
// V0, a = |x| in V1 (then 2a, then r), s = a^2 in V2 (then a*s, then n),
// q in V3 (then i), the mask a < tanhSmall in V4, the result in V5, the
// polynomial side in V6, t in V7; the coefficients of q in V8-V13 (t0 to
// t5), exp's constants in V16-V29, tanhSmall in V30, 2 in V31.
func tanhNEON(g *gen) {
	fn := "tanhNEON"
	g.text(fn, "$0-48", fmt.Sprintf("func %s(z, x []float32)", fn))
	g.p("MOVD z_base+0(FP), R0")
	g.p("MOVD z_len+8(FP), R3")
	g.p("MOVD x_base+24(FP), R1")
	cst := expConstsNEON(g)
	for k := 0; k < len(tanhPoly); k++ {
		actConstNEON(g, fmt.Sprintf("t%d", k), 8+k)
	}
	actConstNEON(g, "small", 30)
	actConstNEON(g, "two", 31)
	one := cst["c0"]
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1"}, inReg: []int{0}, out: "R0", outReg: 5, unroll: 1,
		body: func(_ int, _ bool) {
			const x, a, s, q, mask, res, small, t = 0, 1, 2, 3, 4, 5, 6, 7
			g.w(fabs(a, x))
			g.p("VEOR %s, %s, %s", b16(a), b16(x), b16(x)) // the sign bit
			g.w(fcmgt(mask, 30, a))                        // tanhSmall > a, false for NaN
			// The polynomial side: a + (a*s)*q(s).
			g.w(fmul(s, a, a))
			hornerNEON(g, []int{13, 12, 11, 10, 9, 8}, s, q, res) // t5..t0, into q
			g.w(fmul(s, s, a))
			g.p("VMOV %s, %s", b16(a), b16(small))
			g.p("VFMLA %s, %s, %s", s4(q), s4(s), s4(small))
			// The exp side: 1 - 2/(e^(2a) + 1), 2a clamped to hi (FMIN
			// keeps NaN).
			g.w(fadd(a, a, a))
			g.w(fmin(a, a, cst["hi"]))
			expCoreNEON(g, cst, a, s, q, res, t)
			g.w(fadd(res, res, one))
			g.w(fdiv(res, 31, res))
			g.w(fsub(res, one, res))
			g.p("VBIT %s, %s, %s", b16(mask), b16(small), b16(res))
			g.p("VORR %s, %s, %s", b16(x), b16(res), b16(res))
		},
	})
	g.p("RET")
}

// sigmoidNEON: two vectors per step; register class c of vector u is
// V(2c+u): x and then -|x| and r (0), the mask x < 0 (1), n (2), i (3),
// e (4), t (5), 1+e (6), the result (7). Exp's constants in V16-V29, the
// sign bit in V30.
func sigmoidNEON(g *gen) {
	fn := "sigmoidNEON"
	const unroll = 2
	g.text(fn, "$0-48", fmt.Sprintf("func %s(z, x []float32)", fn))
	g.p("MOVD z_base+0(FP), R0")
	g.p("MOVD z_len+8(FP), R3")
	g.p("MOVD x_base+24(FP), R1")
	cst := expConstsNEON(g)
	actConstNEON(g, "signmask", 30)
	one := cst["c0"]
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1"}, inReg: []int{0}, out: "R0", outReg: 7 * unroll, unroll: unroll,
		body: func(u int, _ bool) {
			r := func(c int) int { return unroll*c + u }
			x, mask, n, i, e, t, d, res := r(0), r(1), r(2), r(3), r(4), r(5), r(6), r(7)
			g.w(fcmlt0(mask, x))
			g.p("VORR V30.B16, %s, %s", b16(x), b16(x)) // -|x|
			g.w(fmax(x, x, cst["lo"]))                  // keeps NaN
			expCoreNEON(g, cst, x, n, i, e, t)
			g.w(fadd(d, e, one))
			g.p("VMOV %s, %s", b16(one), b16(res))
			g.p("VBIT %s, %s, %s", b16(mask), b16(e), b16(res))
			g.w(fdiv(res, res, d))
		},
	})
	g.p("RET")
}

// activationBackwardNEON: tanhBackward z = g*((1-y)*(1+y)) and
// sigmoidBackward z = g*(y*(1-y)), unfused as in the generic code. g in
// V0-V3, y in V4-V7, results in V8-V11, 1+y in V12-V15, 1 in V31.
func activationBackwardNEON(g *gen, name string) {
	fn := name + "NEON"
	g.text(fn, "$0-72", fmt.Sprintf("func %s(z, g, y []float32)", fn))
	g.p("MOVD z_base+0(FP), R0")
	g.p("MOVD z_len+8(FP), R3")
	g.p("MOVD g_base+24(FP), R1")
	g.p("MOVD y_base+48(FP), R2")
	g.p("MOVD $expconst<>+%d(SB), R5", expConstOff("c0")/8)
	g.p("VLD1R (R5), [V31.S4]")
	g.neonLoop(neonLoop{
		name: fn, in: []string{"R1", "R2"}, inReg: []int{0, 4}, out: "R0", outReg: 8, unroll: 4,
		body: func(u int, _ bool) {
			gv, y, res, t := u, 4+u, 8+u, 12+u
			g.w(fsub(res, 31, y))
			if name == "tanhBackward" {
				g.w(fadd(t, 31, y))
				g.w(fmul(res, res, t))
			} else {
				g.w(fmul(res, res, y))
			}
			g.w(fmul(res, res, gv))
		},
	})
	g.p("RET")
}
