package main

// The activation kernels on amd64: tanh and sigmoid, built on the exp
// kernel's steps (expCore), and the element-wise backward kernels of the
// two. The algorithms are those of tanhScalar and sigmoidScalar in
// simd/activation.go, step by step.

import "fmt"

// The tanh polynomial: tanh(a) = a + a^3*q(a^2) for 0 <= a < tanhSmall,
// q of degree 5 fitted (minimax in the relative error of tanh, by
// iteratively reweighted least squares) on [0, tanhSmall]; its relative
// error there is 4e-9, against 6e-8 for the float32 rounding. The same
// float32 values are the constants of tanhScalar in package simd.
var tanhPoly = []float64{0.0015846696, -0.0074094133, 0.021302903, -0.05385231, 0.13332221, -0.333333}

// tanhSmall: from here up tanh(a) = 1 - 2/(e^(2a)+1) is within 1 ulp (at
// 0.55 = atanh(0.5) it was 2: 2/(e+1) there is as large as the result).
const tanhSmall = 0.8

// Constants of the activation kernels, 8 copies each (one ymm); AVX-512
// code broadcasts lane 0 (embedded broadcasts, .BCST, or VBROADCASTSS).
var actConsts = func() []kconst {
	l := []kconst{
		{"absmask", 0x7fffffff, "all but the sign bit"},
		{"signmask", 0x80000000, "the sign bit"},
		{"small", f32(tanhSmall), "0.8: tanh's polynomial below, 1 - 2/(e^2a + 1) from here"},
		{"two", f32(2), "2"},
	}
	for k, c := range tanhPoly {
		d := len(tanhPoly) - 1 - k
		l = append(l, kconst{fmt.Sprintf("t%d", d), f32(c), fmt.Sprintf("tanh polynomial, coefficient of s^%d", d)})
	}
	return l
}()

func actConstOff(name string) int { return constOff(actConsts, name) }

func actMem(name string) string { return fmt.Sprintf("actconst<>+%d(SB)", actConstOff(name)) }

func actData(g *gen) { constData(g, "actconst", "tanh and sigmoid", actConsts) }

// tanhKernel: z = tanh(x). With a = |x|: below tanhSmall the odd
// polynomial a + a*s*q(s), s = a^2 (it gives a itself for tiny a, and
// keeps full relative accuracy near 0, where 1 - 2/(e+1) cancels); from
// tanhSmall on 1 - 2/(e^(2a)+1), with 2a clamped to hi (tanh is 1 in
// float32 from 9.01 on, and +Inf gives 1). Both are computed and the
// polynomial is taken where a < tanhSmall (an ordered compare, so NaN goes
// to the exp side, which keeps it); the sign of x is ORed back in last,
// which makes tanh(-0) = -0 and tanh odd bit for bit.
//
// AVX-512: two vectors per step, vector u in Z(8u)..Z(8u+7); exp's
// constants in Z16-Z29, 2 in Z30, tanhSmall in Z31, the rest embedded
// broadcasts; the select is an opmask (K2) merge. AVX2: one vector per
// step (16 registers), 2 in Y12, hi in Y13, 1 in Y14, memory operands for
// the rest, and a VBLENDVPS select.
func tanhKernel(g *gen, s isa) {
	fn := "tanh" + s.suffix
	g.text(fn, "$0-48", fmt.Sprintf("func %s(z, x []float32)", fn))
	g.p("MOVQ z_base+0(FP), DI")
	g.p("MOVQ z_len+8(FP), CX")
	g.p("MOVQ x_base+24(FP), SI")
	cst := expConstOperands(g, s)
	one := cst["c0"]
	var two, hi, small string
	if s.is512() {
		two, small, hi = "Z30", "Z31", cst["hi"]
		g.p("VBROADCASTSS %s, %s", actMem("two"), two)
		g.p("VBROADCASTSS %s, %s", actMem("small"), small)
	} else {
		two, hi, one, small = "Y12", "Y13", "Y14", actMem("small")
		g.p("VMOVUPS %s, %s", actMem("two"), two)
		g.p("VMOVUPS %s, %s", cst["hi"], hi)
		g.p("VMOVUPS %s, %s", cst["c0"], one)
	}
	unroll, tmpIn := 2, 8
	if !s.is512() {
		unroll, tmpIn = 1, 11
	}
	bcst := ""
	if s.is512() {
		bcst = ".BCST"
	}
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", true}, {"SI", false}},
		unroll:  unroll,
		tmpIn:   tmpIn,
		body: func(g *gen, s isa, u int, in func(int) string, store func(string), tail bool) {
			b := 8 * u
			x, a, sq, q, n, i, p, t := s.r(b), s.r(b+1), s.r(b+2), s.r(b+3), s.r(b+4), s.r(b+5), s.r(b+6), s.r(b+7)
			mask := "K2"
			if !s.is512() {
				mask = s.r(10)
			}
			g.p("VMOVUPS %s, %s", in(0), x)
			if s.is512() {
				g.p("VPANDD.BCST %s, %s, %s", actMem("absmask"), x, a)
				g.p("VPXORD %s, %s, %s", a, x, x) // the sign bit
			} else {
				g.p("VANDPS %s, %s, %s", actMem("absmask"), x, a)
				g.p("VXORPS %s, %s, %s", a, x, x)
			}
			// Predicate 0x11 is LT_OQ: a < tanhSmall, false for NaN.
			g.p("VCMPPS $0x11, %s, %s, %s", small, a, mask)
			// The polynomial side.
			g.p("VMULPS %s, %s, %s", a, a, sq)
			if s.is512() {
				g.p("VBROADCASTSS %s, %s", actMem("t5"), q)
			} else {
				g.p("VMOVUPS %s, %s", actMem("t5"), q)
			}
			for k := 4; k >= 0; k-- {
				g.p("VFMADD213PS%s %s, %s, %s", bcst, actMem(fmt.Sprintf("t%d", k)), sq, q)
			}
			g.p("VMULPS %s, %s, %s", sq, a, sq)     // a*s
			g.p("VFMADD213PS %s, %s, %s", a, q, sq) // a + a*s*q
			// The exp side: 1 - 2/(e^(2a) + 1).
			g.p("VADDPS %s, %s, %s", a, a, a)
			g.p("VMINPS %s, %s, %s", a, hi, a) // keeps NaN
			expCore(g, s, cst, a, n, i, a, p, t)
			g.p("VADDPS %s, %s, %s", one, p, p)
			g.p("VDIVPS %s, %s, %s", p, two, p)
			g.p("VSUBPS %s, %s, %s", p, one, p)
			if s.is512() {
				g.p("VMOVAPS %s, K2, %s", sq, p)
				g.p("VPORD %s, %s, %s", x, p, p)
			} else {
				g.p("VBLENDVPS %s, %s, %s, %s", mask, sq, p, p)
				g.p("VORPS %s, %s, %s", x, p, p)
			}
			store(p)
		},
	})
	g.ret()
}

// sigmoidKernel: z = 1/(1+e^-x), as e = e^(-|x|) (x with its sign bit
// set, clamped below at lo: NaN stays NaN), then 1/(1+e) where x >= 0
// and e/(1+e) where x < 0 (an ordered compare: NaN takes 1/(1+NaN)), so
// neither side overflows and the results below 2^-126 are e's subnormals.
//
// AVX-512: two vectors per step in Z(8u)..Z(8u+6), exp's constants in
// Z16-Z29, zero in Z30, the select an opmask merge. AVX2: one vector per
// step, zero in Y12, 1 in Y13, lo in Y14.
func sigmoidKernel(g *gen, s isa) {
	fn := "sigmoid" + s.suffix
	g.text(fn, "$0-48", fmt.Sprintf("func %s(z, x []float32)", fn))
	g.p("MOVQ z_base+0(FP), DI")
	g.p("MOVQ z_len+8(FP), CX")
	g.p("MOVQ x_base+24(FP), SI")
	cst := expConstOperands(g, s)
	one, lo, zr := cst["c0"], cst["lo"], "Z30"
	if !s.is512() {
		zr, one, lo = "Y12", "Y13", "Y14"
		g.p("VMOVUPS %s, %s", cst["c0"], one)
		g.p("VMOVUPS %s, %s", cst["lo"], lo)
	}
	zero(g, s, zr)
	unroll := 2
	if !s.is512() {
		unroll = 1
	}
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", true}, {"SI", false}},
		unroll:  unroll,
		tmpIn:   8,
		body: func(g *gen, s isa, u int, in func(int) string, store func(string), tail bool) {
			b := 8 * u
			x, mask, n, i, p, t, d, num := s.r(b), s.r(b+1), s.r(b+2), s.r(b+3), s.r(b+4), s.r(b+5), s.r(b+6), s.r(b+7)
			if s.is512() {
				mask = "K2"
			}
			g.p("VMOVUPS %s, %s", in(0), x)
			// x < 0 (LT_OQ, false for NaN).
			g.p("VCMPPS $0x11, %s, %s, %s", zr, x, mask)
			if s.is512() {
				g.p("VPORD.BCST %s, %s, %s", actMem("signmask"), x, x)
			} else {
				g.p("VORPS %s, %s, %s", actMem("signmask"), x, x)
			}
			g.p("VMAXPS %s, %s, %s", x, lo, x) // keeps NaN
			expCore(g, s, cst, x, n, i, x, p, t)
			g.p("VADDPS %s, %s, %s", one, p, d)
			if s.is512() {
				g.p("VMOVAPS %s, %s", one, num)
				g.p("VMOVAPS %s, K2, %s", p, num)
			} else {
				g.p("VBLENDVPS %s, %s, %s, %s", mask, p, one, num)
			}
			g.p("VDIVPS %s, %s, %s", d, num, num)
			store(num)
		},
	})
	g.ret()
}

// activationBackward: the element-wise backward kernels, with y the
// forward output: tanhBackward z = g*((1-y)*(1+y)) (1-y^2 in the form
// that keeps its relative accuracy as y nears 1), sigmoidBackward
// z = g*(y*(1-y)). Unfused, in the generic code's order, so every level
// gives the same bits. 1 is broadcast into register 12; four vectors per
// step, results in 0-3, 1+y in 4-7.
func activationBackward(g *gen, s isa, name string) {
	fn := name + s.suffix
	g.text(fn, "$0-72", fmt.Sprintf("func %s(z, g, y []float32)", fn))
	g.p("MOVQ z_base+0(FP), DI")
	g.p("MOVQ z_len+8(FP), CX")
	g.p("MOVQ g_base+24(FP), SI")
	g.p("MOVQ y_base+48(FP), DX")
	one := s.r(12)
	g.p("VBROADCASTSS expconst<>+%d(SB), %s", expConstOff("c0"), one)
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", true}, {"SI", false}, {"DX", false}},
		unroll:  4,
		tmpIn:   8,
		body: func(g *gen, s isa, u int, in func(int) string, store func(string), tail bool) {
			r, t := s.r(u), s.r(4+u)
			g.p("VSUBPS %s, %s, %s", in(1), one, r) // 1 - y
			if name == "tanhBackward" {
				g.p("VADDPS %s, %s, %s", in(1), one, t) // 1 + y
				g.p("VMULPS %s, %s, %s", t, r, r)
			} else {
				g.p("VMULPS %s, %s, %s", in(1), r, r) // y*(1-y)
			}
			g.p("VMULPS %s, %s, %s", in(0), r, r)
			store(r)
		},
	})
	g.ret()
}
