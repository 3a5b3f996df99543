// Command gen writes the amd64 and arm64 assembly of package simd
// (kernels_amd64.s and kernels_arm64.s; the arm64 NEON kernels are in
// arm64.go).
//
// The kernels come in two flavours that differ only in vector width and in
// how a ragged tail is handled: AVX-512 (zmm, 16 lanes, tails through an
// opmask register) and AVX2+FMA (ymm, 8 lanes, tails through VMASKMOVPS and a
// lane mask loaded from a table). Writing both from one Go description keeps
// the register allocation and the unrolling in code rather than in
// copy-pasted text.
//
// Run from this directory: go run . -out ../simd
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// isa is one instruction-set flavour.
type isa struct {
	suffix string // Go function name suffix: "AVX512" or "AVX2"
	reg    string // vector register prefix: "Z" or "Y"
	lanes  int    // float32 lanes per register
}

var (
	avx512 = isa{suffix: "AVX512", reg: "Z", lanes: 16}
	avx2   = isa{suffix: "AVX2", reg: "Y", lanes: 8}
)

func (s isa) is512() bool                { return s.lanes == 16 }
func (s isa) r(i int) string             { return fmt.Sprintf("%s%d", s.reg, i) }
func (s isa) vbytes() int                { return 4 * s.lanes }
func (s isa) off(u int) string           { return fmt.Sprintf("%d", u*s.vbytes()) }
func (s isa) mem(p string, u int) string { return disp(p, u*s.vbytes()) }

// disp is the operand off bytes from register p: "(p)" or "off(p)".
func disp(p string, off int) string {
	if off == 0 {
		return "(" + p + ")"
	}
	return fmt.Sprintf("%d(%s)", off, p)
}

type gen struct {
	buf   bytes.Buffer
	label int
}

func (g *gen) p(format string, args ...any) {
	fmt.Fprintf(&g.buf, "\t"+format+"\n", args...)
}

func (g *gen) raw(format string, args ...any) {
	fmt.Fprintf(&g.buf, format+"\n", args...)
}

func (g *gen) lbl(name string) { g.raw("%s:", name) }

func (g *gen) text(name, frame, doc string) {
	g.raw("")
	for _, l := range strings.Split(doc, "\n") {
		g.raw("// %s", l)
	}
	g.raw("TEXT ·%s(SB), NOSPLIT, %s", name, frame)
}

func (g *gen) ret() {
	g.p("VZEROUPPER")
	g.p("RET")
}

// stream is one slice argument walked by a loop.
type stream struct {
	ptr   string // register holding the current address
	store bool   // written (true) or read (false)
}

// loop emits the three-stage loop shared by all slice kernels: an unrolled
// body over unroll*lanes elements, a single-vector body, and a masked tail of
// fewer than lanes elements. CX holds the remaining count on entry.
//
// body(u, in, tail) emits the work of vector u; in(j) returns the operand of
// input stream j (a memory operand in the loops, a register loaded under the
// mask in the tail); out(reg, u, tail) stores reg to the output stream.
type loopSpec struct {
	name    string
	streams []stream
	unroll  int
	// tmpIn is the first register used to hold masked tail loads.
	tmpIn int
	body  func(g *gen, s isa, u int, in func(j int) string, store func(reg string), tail bool)
}

func (g *gen) loop(s isa, ls loopSpec) {
	big := ls.unroll * s.lanes
	pre := ls.name
	advance := func(n int) {
		for _, st := range ls.streams {
			g.p("ADDQ $%d, %s", 4*n, st.ptr)
		}
		g.p("SUBQ $%d, CX", n)
	}
	storeAt := func(u int) func(reg string) {
		return func(reg string) {
			for _, st := range ls.streams {
				if st.store {
					g.p("VMOVUPS %s, %s", reg, s.mem(st.ptr, u))
				}
			}
		}
	}
	inputs := func(u int) func(j int) string {
		return func(j int) string {
			k := 0
			for _, st := range ls.streams {
				if st.store {
					continue
				}
				if k == j {
					return s.mem(st.ptr, u)
				}
				k++
			}
			panic("no such input")
		}
	}
	if ls.unroll > 1 {
		g.lbl(pre + "_big")
		g.p("CMPQ CX, $%d", big)
		g.p("JLT %s_one", pre)
		for u := 0; u < ls.unroll; u++ {
			ls.body(g, s, u, inputs(u), storeAt(u), false)
		}
		advance(big)
		g.p("JMP %s_big", pre)
	}
	g.lbl(pre + "_one")
	g.p("CMPQ CX, $%d", s.lanes)
	g.p("JLT %s_tail", pre)
	ls.body(g, s, 0, inputs(0), storeAt(0), false)
	advance(s.lanes)
	g.p("JMP %s_one", pre)

	g.lbl(pre + "_tail")
	g.p("TESTQ CX, CX")
	g.p("JEQ %s_done", pre)
	// Lane mask for the CX < lanes remaining elements.
	if s.is512() {
		g.p("MOVL $1, AX")
		g.p("SHLL CX, AX")
		g.p("DECL AX")
		g.p("KMOVW AX, K1")
	} else {
		g.p("LEAQ tailmask<>(SB), AX")
		g.p("MOVQ $8, BX")
		g.p("SUBQ CX, BX")
		g.p("VMOVUPS (AX)(BX*4), Y15")
	}
	var regs []string
	k := 0
	for _, st := range ls.streams {
		if st.store {
			continue
		}
		r := s.r(ls.tmpIn + k)
		if s.is512() {
			g.p("VMOVUPS.Z (%s), K1, %s", st.ptr, r)
		} else {
			g.p("VMASKMOVPS (%s), Y15, %s", st.ptr, r)
		}
		regs = append(regs, r)
		k++
	}
	tailStore := func(reg string) {
		for _, st := range ls.streams {
			if !st.store {
				continue
			}
			if s.is512() {
				g.p("VMOVUPS %s, K1, (%s)", reg, st.ptr)
			} else {
				g.p("VMASKMOVPS %s, Y15, (%s)", reg, st.ptr)
			}
		}
	}
	ls.body(g, s, 0, func(j int) string { return regs[j] }, tailStore, true)
	g.lbl(pre + "_done")
}

// binary: z = x op y.
func binary(g *gen, s isa, name, op string) {
	fn := name + s.suffix
	g.text(fn, "$0-72", fmt.Sprintf("func %s(z, x, y []float32)", fn))
	g.p("MOVQ z_base+0(FP), DI")
	g.p("MOVQ z_len+8(FP), CX")
	g.p("MOVQ x_base+24(FP), SI")
	g.p("MOVQ y_base+48(FP), DX")
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", true}, {"SI", false}, {"DX", false}},
		unroll:  4,
		tmpIn:   4,
		body: func(g *gen, s isa, u int, in func(int) string, store func(string), tail bool) {
			r := s.r(u)
			if tail {
				g.p("%s %s, %s, %s", op, in(1), in(0), r)
			} else {
				g.p("VMOVUPS %s, %s", in(0), r)
				g.p("%s %s, %s, %s", op, in(1), r, r)
			}
			store(r)
		},
	})
	g.ret()
}

// axpy: y += a*x.
func axpy(g *gen, s isa) {
	fn := "axpy" + s.suffix
	g.text(fn, "$0-56", fmt.Sprintf("func %s(a float32, x, y []float32)", fn))
	g.p("MOVQ x_base+8(FP), SI")
	g.p("MOVQ x_len+16(FP), CX")
	g.p("MOVQ y_base+32(FP), DI")
	g.p("VBROADCASTSS a+0(FP), %s", s.r(8))
	// y is both read and written: it is listed as an input (read through
	// DI) and stored through DI as well.
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"SI", false}, {"DI", false}},
		unroll:  4,
		tmpIn:   4,
		body: func(g *gen, s isa, u int, in func(int) string, _ func(string), tail bool) {
			r := s.r(u)
			if tail {
				g.p("VFMADD231PS %s, %s, %s", in(0), s.r(8), in(1))
				if s.is512() {
					g.p("VMOVUPS %s, K1, (DI)", in(1))
				} else {
					g.p("VMASKMOVPS %s, Y15, (DI)", in(1))
				}
				return
			}
			g.p("VMOVUPS %s, %s", in(1), r)
			g.p("VFMADD231PS %s, %s, %s", in(0), s.r(8), r)
			g.p("VMOVUPS %s, %s", r, in(1))
		},
	})
	g.ret()
}

// affine: z = a*x + b (batch-norm forward per channel).
func affine(g *gen, s isa) {
	fn := "affine" + s.suffix
	g.text(fn, "$0-56", fmt.Sprintf("func %s(z, x []float32, a, b float32)", fn))
	g.p("MOVQ z_base+0(FP), DI")
	g.p("MOVQ z_len+8(FP), CX")
	g.p("MOVQ x_base+24(FP), SI")
	g.p("VBROADCASTSS a+48(FP), %s", s.r(8))
	g.p("VBROADCASTSS b+52(FP), %s", s.r(9))
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", true}, {"SI", false}},
		unroll:  4,
		tmpIn:   4,
		body: func(g *gen, s isa, u int, in func(int) string, store func(string), tail bool) {
			r := s.r(u)
			g.p("VMOVAPS %s, %s", s.r(9), r)
			g.p("VFMADD231PS %s, %s, %s", in(0), s.r(8), r)
			store(r)
		},
	})
	g.ret()
}

// affine2: z = a*x + b*y + c (batch-norm backward per channel).
func affine2(g *gen, s isa) {
	fn := "affine2" + s.suffix
	g.text(fn, "$0-84", fmt.Sprintf("func %s(z, x, y []float32, a, b, c float32)", fn))
	g.p("MOVQ z_base+0(FP), DI")
	g.p("MOVQ z_len+8(FP), CX")
	g.p("MOVQ x_base+24(FP), SI")
	g.p("MOVQ y_base+48(FP), DX")
	g.p("VBROADCASTSS a+72(FP), %s", s.r(8))
	g.p("VBROADCASTSS b+76(FP), %s", s.r(9))
	g.p("VBROADCASTSS c+80(FP), %s", s.r(10))
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", true}, {"SI", false}, {"DX", false}},
		unroll:  4,
		tmpIn:   4,
		body: func(g *gen, s isa, u int, in func(int) string, store func(string), tail bool) {
			r := s.r(u)
			g.p("VMOVAPS %s, %s", s.r(10), r)
			g.p("VFMADD231PS %s, %s, %s", in(0), s.r(8), r)
			g.p("VFMADD231PS %s, %s, %s", in(1), s.r(9), r)
			store(r)
		},
	})
	g.ret()
}

// sqdev: sum_i (x_i - c)^2, four accumulators as in sum. Masked-off tail
// lanes must add 0, not c^2: the difference is zeroed under the mask.
func sqdev(g *gen, s isa) {
	fn := "sqdev" + s.suffix
	g.text(fn, "$0-36", fmt.Sprintf("func %s(x []float32, c float32) float32", fn))
	g.p("MOVQ x_base+0(FP), SI")
	g.p("MOVQ x_len+8(FP), CX")
	g.p("VBROADCASTSS c+24(FP), %s", s.r(12))
	for i := 0; i < 4; i++ {
		zero(g, s, s.r(i))
	}
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"SI", false}},
		unroll:  4,
		tmpIn:   8,
		body: func(g *gen, s isa, u int, in func(int) string, _ func(string), tail bool) {
			t := s.r(4 + u)
			switch {
			case tail && s.is512():
				g.p("VSUBPS.Z %s, %s, K1, %s", s.r(12), in(0), t)
			case tail:
				g.p("VSUBPS %s, %s, %s", s.r(12), in(0), t)
				g.p("VANDPS Y15, %s, %s", t, t)
			default:
				g.p("VMOVUPS %s, %s", in(0), t)
				g.p("VSUBPS %s, %s, %s", s.r(12), t, t)
			}
			g.p("VFMADD231PS %s, %s, %s", t, t, s.r(u))
		},
	})
	hreduce(g, s, "ADD")
	g.p("VMOVSS X0, ret+32(FP)")
	g.ret()
}

// scale: x *= a.
func scale(g *gen, s isa) {
	fn := "scale" + s.suffix
	g.text(fn, "$0-32", fmt.Sprintf("func %s(a float32, x []float32)", fn))
	g.p("MOVQ x_base+8(FP), DI")
	g.p("MOVQ x_len+16(FP), CX")
	g.p("VBROADCASTSS a+0(FP), %s", s.r(8))
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", false}},
		unroll:  4,
		tmpIn:   4,
		body: func(g *gen, s isa, u int, in func(int) string, _ func(string), tail bool) {
			r := s.r(u)
			if tail {
				g.p("VMULPS %s, %s, %s", s.r(8), in(0), in(0))
				if s.is512() {
					g.p("VMOVUPS %s, K1, (DI)", in(0))
				} else {
					g.p("VMASKMOVPS %s, Y15, (DI)", in(0))
				}
				return
			}
			g.p("VMULPS %s, %s, %s", in(0), s.r(8), r)
			g.p("VMOVUPS %s, %s", r, in(0))
		},
	})
	g.ret()
}

// zero clears vector register r.
func zero(g *gen, s isa, r string) {
	if s.is512() {
		g.p("VPXORD %s, %s, %s", r, r, r)
	} else {
		g.p("VXORPS %s, %s, %s", r, r, r)
	}
}

// hreduce folds accumulators 0..3 into lane 0 of X0 with op ("ADD" or "MAX").
func hreduce(g *gen, s isa, op string) {
	g.p("V%sPS %s, %s, %s", op, s.r(1), s.r(0), s.r(0))
	g.p("V%sPS %s, %s, %s", op, s.r(3), s.r(2), s.r(2))
	g.p("V%sPS %s, %s, %s", op, s.r(2), s.r(0), s.r(0))
	if s.is512() {
		g.p("VEXTRACTF64X4 $1, Z0, Y1")
		g.p("V%sPS Y1, Y0, Y0", op)
	}
	g.p("VEXTRACTF128 $1, Y0, X1")
	g.p("V%sPS X1, X0, X0", op)
	g.p("VMOVHLPS X0, X0, X1")
	g.p("V%sPS X1, X0, X0", op)
	g.p("VMOVSHDUP X0, X1")
	g.p("V%sSS X1, X0, X0", op)
}

// dot and sum: four independent accumulators, summed pairwise at the end.
func reduceKernel(g *gen, s isa, name string) {
	fn := name + s.suffix
	isDot := name == "dot"
	if isDot {
		g.text(fn, "$0-52", fmt.Sprintf("func %s(x, y []float32) float32", fn))
		g.p("MOVQ x_base+0(FP), SI")
		g.p("MOVQ x_len+8(FP), CX")
		g.p("MOVQ y_base+24(FP), DX")
	} else {
		g.text(fn, "$0-28", fmt.Sprintf("func %s(x []float32) float32", fn))
		g.p("MOVQ x_base+0(FP), SI")
		g.p("MOVQ x_len+8(FP), CX")
	}
	for i := 0; i < 4; i++ {
		zero(g, s, s.r(i))
	}
	streams := []stream{{"SI", false}}
	if isDot {
		streams = append(streams, stream{"DX", false})
	}
	g.loop(s, loopSpec{
		name:    fn,
		streams: streams,
		unroll:  4,
		tmpIn:   8,
		body: func(g *gen, s isa, u int, in func(int) string, _ func(string), tail bool) {
			acc := s.r(u)
			if !isDot {
				g.p("VADDPS %s, %s, %s", in(0), acc, acc)
				return
			}
			x := in(0)
			if !tail {
				x = s.r(4 + u)
				g.p("VMOVUPS %s, %s", in(0), x)
			}
			g.p("VFMADD231PS %s, %s, %s", in(1), x, acc)
		},
	})
	hreduce(g, s, "ADD")
	if isDot {
		g.p("VMOVSS X0, ret+48(FP)")
	} else {
		g.p("VMOVSS X0, ret+24(FP)")
	}
	g.ret()
}

// max: largest element; any NaN makes the result NaN. Masked-off tail lanes
// are -Inf, the identity of max. NaNs are tracked apart from the maximum
// because VMAXPS drops a NaN in one operand position.
func maxKernel(g *gen, s isa) {
	fn := "max" + s.suffix
	g.text(fn, "$0-28", fmt.Sprintf("func %s(x []float32) float32", fn))
	g.p("MOVQ x_base+0(FP), SI")
	g.p("MOVQ x_len+8(FP), CX")
	g.p("MOVL $0xff800000, AX") // -Inf
	if s.is512() {
		g.p("VPBROADCASTD AX, Z12")
		g.p("KXORW K3, K3, K3")
	} else {
		g.p("MOVQ AX, X12")
		g.p("VPBROADCASTD X12, Y12")
		g.p("VXORPS Y13, Y13, Y13")
	}
	for i := 0; i < 4; i++ {
		g.p("VMOVAPS %s, %s", s.r(12), s.r(i))
	}
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"SI", false}},
		unroll:  4,
		tmpIn:   8,
		body: func(g *gen, s isa, u int, in func(int) string, _ func(string), tail bool) {
			acc := s.r(u)
			v := s.r(4 + u)
			if tail {
				// Replace the zeroed lanes by -Inf.
				if s.is512() {
					g.p("VMOVAPS %s, %s", s.r(12), v)
					g.p("VMOVUPS (SI), K1, %s", v)
				} else {
					g.p("VBLENDVPS Y15, %s, Y12, %s", in(0), v)
				}
			} else {
				g.p("VMOVUPS %s, %s", in(0), v)
			}
			if s.is512() {
				g.p("VCMPPS $3, %s, %s, K2", v, v)
				g.p("KORW K2, K3, K3")
			} else {
				g.p("VCMPPS $3, %s, %s, Y14", v, v)
				g.p("VORPS Y14, Y13, Y13")
			}
			g.p("VMAXPS %s, %s, %s", v, acc, acc)
		},
	})
	if s.is512() {
		g.p("KORTESTW K3, K3")
	} else {
		g.p("VMOVMSKPS Y13, AX")
		g.p("TESTL AX, AX")
	}
	g.p("JNE %s_nan", fn)
	hreduce(g, s, "MAX")
	g.p("VMOVSS X0, ret+24(FP)")
	g.ret()
	g.lbl(fn + "_nan")
	g.p("MOVL $0x7fc00000, AX")
	g.p("MOVL AX, ret+24(FP)")
	g.ret()
}

// relu: z = x unless x < 0, else +0 (NaN and -0 pass through). VMAXPS
// returns its second source (the Go-syntax first operand) when either input
// is NaN or both are zero, so x goes there.
func relu(g *gen, s isa) {
	fn := "relu" + s.suffix
	g.text(fn, "$0-48", fmt.Sprintf("func %s(z, x []float32)", fn))
	g.p("MOVQ z_base+0(FP), DI")
	g.p("MOVQ z_len+8(FP), CX")
	g.p("MOVQ x_base+24(FP), SI")
	zero(g, s, s.r(12))
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", true}, {"SI", false}},
		unroll:  4,
		tmpIn:   4,
		body: func(g *gen, s isa, u int, in func(int) string, store func(string), tail bool) {
			r := s.r(u)
			g.p("VMAXPS %s, %s, %s", in(0), s.r(12), r)
			store(r)
		},
	})
	g.ret()
}

// reluBackward: z = g where x > 0, else 0 (an ordered compare: NaN x gives 0).
func reluBackward(g *gen, s isa) {
	fn := "reluBackward" + s.suffix
	g.text(fn, "$0-72", fmt.Sprintf("func %s(z, g, x []float32)", fn))
	g.p("MOVQ z_base+0(FP), DI")
	g.p("MOVQ z_len+8(FP), CX")
	g.p("MOVQ g_base+24(FP), SI")
	g.p("MOVQ x_base+48(FP), DX")
	zero(g, s, s.r(12))
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", true}, {"SI", false}, {"DX", false}},
		unroll:  4,
		tmpIn:   4,
		body: func(g *gen, s isa, u int, in func(int) string, store func(string), tail bool) {
			r := s.r(u)
			// Predicate 0x11 is LT_OQ: 0 < x, false for NaN.
			if s.is512() {
				g.p("VCMPPS $0x11, %s, Z12, K2", in(1))
				g.p("VMOVUPS.Z %s, K2, %s", in(0), r)
			} else {
				g.p("VCMPPS $0x11, %s, Y12, %s", in(1), r)
				g.p("VANDPS %s, %s, %s", in(0), r, r)
			}
			store(r)
		},
	})
	g.ret()
}

// Constants of exp, each replicated 8 times so that AVX2 code can use them as
// 256-bit memory operands; AVX-512 code broadcasts lane 0 into registers.
var expConsts = []kconst{
	{"hi", f32(89), "89: exp overflows to +Inf above 88.72"},
	{"lo", f32(-104), "-104: exp underflows to 0 below -103.97"},
	{"log2e", f32(math.Log2E), "log2(e)"},
	{"negln2hi", f32(-0.693359375), "-0.693359375: 9 significant bits, so n*ln2hi is exact"},
	{"negln2lo", f32(0.693359375 - math.Ln2), "-(ln2 - 0.693359375)"},
	{"c7", f32(1.0 / 5040), "1/7!"},
	{"c6", f32(1.0 / 720), "1/6!"},
	{"c5", f32(1.0 / 120), "1/5!"},
	{"c4", f32(1.0 / 24), "1/4!"},
	{"c3", f32(1.0 / 6), "1/3!"},
	{"c2", f32(0.5), "1/2!"},
	{"c1", f32(1), "1"},
	{"c0", f32(1), "1"},
	{"bias", 127, "float32 exponent bias (int32)"},
}

func f32(v float64) uint32 { return math.Float32bits(float32(v)) }

// kconst is one constant of a kernel's table (expConsts, actConsts): its
// name, its float32 bits and the note written beside its DATA lines.
type kconst struct {
	name string
	bits uint32
	note string
}

// constOff is the offset of name in the amd64 layout of tbl (8 copies,
// one ymm, per constant); the NEON layout (one copy each) is constOff/8.
func constOff(tbl []kconst, name string) int {
	for i, c := range tbl {
		if c.name == name {
			return 32 * i
		}
	}
	panic(name)
}

// constData writes tbl as the amd64 symbol sym<>, 8 copies of each
// constant; what names the kernels in the heading comment.
func constData(g *gen, sym, what string, tbl []kconst) {
	g.raw("")
	g.raw("// %s constants, 8 copies each (one ymm).", what)
	for i, c := range tbl {
		for j := 0; j < 8; j++ {
			g.raw("DATA %s<>+%d(SB)/4, $0x%08x // %s", sym, 32*i+4*j, c.bits, c.note)
		}
	}
	g.raw("GLOBL %s<>(SB), RODATA|NOPTR, $%d", sym, 32*len(tbl))
}

func expConstOff(name string) int { return constOff(expConsts, name) }

func expData(g *gen) {
	constData(g, "expconst", "exp", expConsts)
	g.raw("")
	g.raw("// Eight all-ones lanes then eight zero lanes: loading 8 floats at")
	g.raw("// offset 4*(8-n) gives a mask selecting the first n lanes.")
	for j := 0; j < 16; j++ {
		v := "0xffffffff"
		if j >= 8 {
			v = "0x00000000"
		}
		g.raw("DATA tailmask<>+%d(SB)/4, $%s", 4*j, v)
	}
	g.raw("GLOBL tailmask<>(SB), RODATA|NOPTR, $64")
}

// exp: z = e^x, by x = n*ln2 + r with |r| <= ln2/2, e^r by its degree-7
// Taylor polynomial (truncation error below 1e-8 relative) and 2^n built in
// two halves so that results in the subnormal range are formed by one
// rounding multiply. x is clamped to [-104, 89] first; the clamps keep NaN
// (VMINPS/VMAXPS return the Go-first operand on NaN).
func expKernel(g *gen, s isa) {
	fn := "exp" + s.suffix
	g.text(fn, "$0-48", fmt.Sprintf("func %s(z, x []float32)", fn))
	g.p("MOVQ z_base+0(FP), DI")
	g.p("MOVQ z_len+8(FP), CX")
	g.p("MOVQ x_base+24(FP), SI")
	// Constant operands.
	cst := expConstOperands(g, s)
	if !s.is512() {
		// The clamps need register operands (the memory operand would
		// take the NaN-returning position).
		g.p("VMOVUPS %s, Y13", cst["hi"])
		g.p("VMOVUPS %s, Y14", cst["lo"])
		cst["hi"], cst["lo"] = "Y13", "Y14"
	}
	const per = 6
	g.loop(s, loopSpec{
		name:    fn,
		streams: []stream{{"DI", true}, {"SI", false}},
		unroll:  2,
		tmpIn:   12,
		body: func(g *gen, s isa, u int, in func(int) string, store func(string), tail bool) {
			x, n, i, r, p, t := s.r(per*u), s.r(per*u+1), s.r(per*u+2), s.r(per*u+3), s.r(per*u+4), s.r(per*u+5)
			g.p("VMOVUPS %s, %s", in(0), x)
			g.p("VMINPS %s, %s, %s", x, cst["hi"], x)
			g.p("VMAXPS %s, %s, %s", x, cst["lo"], x)
			expCore(g, s, cst, x, n, i, r, p, t)
			store(p)
		},
	})
	g.ret()
}

// expConstOperands returns the operands of the exp constants: on AVX-512
// registers Z16-Z29 (broadcast here, in the order of expConsts), on AVX2
// 256-bit memory operands of the table.
func expConstOperands(g *gen, s isa) map[string]string {
	cst := map[string]string{}
	for i, c := range expConsts {
		if s.is512() {
			r := s.r(16 + i)
			g.p("VBROADCASTSS expconst<>+%d(SB), %s", expConstOff(c.name), r)
			cst[c.name] = r
		} else {
			cst[c.name] = fmt.Sprintf("expconst<>+%d(SB)", expConstOff(c.name))
		}
	}
	return cst
}

// expCore computes p = e^x for x already clamped to [lo, hi] (the steps of
// expScalar after its clamp), with n, i, r and t as temporaries; r may be
// x itself, which is then overwritten. The tanh and sigmoid kernels share
// it with exp.
func expCore(g *gen, s isa, cst map[string]string, x, n, i, r, p, t string) {
	g.p("VMULPS %s, %s, %s", cst["log2e"], x, n)
	if s.is512() {
		g.p("VRNDSCALEPS $0, %s, %s", n, n)
	} else {
		g.p("VROUNDPS $0, %s, %s", n, n)
	}
	g.p("VCVTPS2DQ %s, %s", n, i)
	if r != x {
		g.p("VMOVAPS %s, %s", x, r)
	}
	g.p("VFMADD231PS %s, %s, %s", cst["negln2hi"], n, r)
	g.p("VFMADD231PS %s, %s, %s", cst["negln2lo"], n, r)
	if s.is512() {
		g.p("VMOVAPS %s, %s", cst["c7"], p)
	} else {
		g.p("VMOVUPS %s, %s", cst["c7"], p)
	}
	for _, c := range []string{"c6", "c5", "c4", "c3", "c2", "c1", "c0"} {
		g.p("VFMADD213PS %s, %s, %s", cst[c], r, p)
	}
	// 2^n = 2^(n>>1) * 2^(n - n>>1), each half a normal float.
	g.p("VPSRAD $1, %s, %s", i, t)
	g.p("VPSUBD %s, %s, %s", t, i, i)
	g.p("VPADDD %s, %s, %s", cst["bias"], t, t)
	g.p("VPADDD %s, %s, %s", cst["bias"], i, i)
	g.p("VPSLLD $23, %s, %s", t, t)
	g.p("VPSLLD $23, %s, %s", i, i)
	g.p("VMULPS %s, %s, %s", t, p, p)
	g.p("VMULPS %s, %s, %s", i, p, p)
}

// gemmUnroll is how many k steps the AVX2 kernels (dense and in-place)
// unroll: on AMD Zen 3 the 6x16 loop ran at 7.4-7.9 cycles a step (6 is
// the two FMA units' bound) with the operands in L1, and at 6.2 in groups
// of four, which made 1024^3 on one thread 5-8% faster. The dense
// AVX-512 kernels run groups too: on a 2-vCPU Intel Xeon (AVX-512, two FMA
// units), 2026-12-03, one thread, medians of 5 interleaved, 512x512x784
// 2.61 -> 2.51 ms, 1024^3 13.2 -> 12.6, 2048^3 105.7 -> 99.6. The
// AVX-512 in-place (indirect) kernels keep one step a loop: grouped, the
// convolutions measured 5-7% slower there on the 128- and 512-channel
// stages (medians of 4).
const gemmUnroll = 4

// gemmBroadcast: the AVX-512 kernels take each A element as an embedded
// broadcast operand of the multiply-adds (VFMADD231PS.BCST, one per B
// vector) instead of a VBROADCASTSS into a register that the two
// multiply-adds then read: 26 instructions a k step of the 12x32 tile
// instead of 38, for 12 more (4-byte) loads, within the two or three
// loads a cycle the CPUs with AVX-512 issue. AVX2 has no embedded
// broadcast. Intel Xeon (family 6 model 207), one thread, medians of 10
// interleaved in one process: 2048^3 123.3 -> 120.6 and 140.6 -> 136.8
// ms, 1024^3 17.3 -> 16.1 and 19.2 -> 18.4, 512x512x784 3.62 -> 3.49.

// indirectPrefetch is how many k steps ahead the prefetching indirect
// kernels fetch B rows: 32 steps (about 400 cycles of multiply-adds on the
// AVX-512 tile) measured best of 16, 32 and 64 on ResNet's padded
// convolutions, 5-7% faster than none on the 128-channel stage.
const indirectPrefetch = 32

// gemm: the register-blocked micro-kernel. C[mr x nr] += Apanel * Bpanel over
// k steps, with Apanel packed as k columns of mr floats and Bpanel as k rows
// of nr floats. The accumulators stay in registers for the whole k loop; A is
// broadcast one element at a time, B is loaded nr/lanes vectors at a time.
//
// rows < mr makes a short variant for the last, partial row panel: it
// computes only the first rows rows of the tile (A is still packed mr
// floats per k step), so a panel of C whose row count is not a multiple of
// mr costs no wasted multiply-adds. Its name carries the row count.
//
// prefetch (indirect kernels only) makes the variant named
// gemmIndirectPF..., which also prefetches the B rows of k step p +
// indirectPrefetch at step p (while that many steps remain): the rows of
// a padded image's taps jump about in a way the hardware prefetchers do not
// follow.
//
// pieces (indirect kernels only) is the number of pieces a B row is read
// in: 2, one per vector, or 4 on AVX-512, half a vector each (a ymm load
// and a VINSERTF64X4 from memory, both AVX512F; measured as fast as
// whole-vector loads from L1), so that 8-pixel output rows can be read in
// place. Their names carry P4, and R before a short variant's row count.
func gemmKernel(g *gen, s isa, mr, rows int, indirect, prefetch bool, pieces int) {
	fn := "gemm" + s.suffix
	if rows < mr {
		fn = fmt.Sprintf("gemm%d%s", rows, s.suffix)
	}
	nv := 2 // vectors of B per k step
	nr := nv * s.lanes
	if indirect {
		fn = "gemmIndirect"
		if pieces == 4 {
			fn += "P4"
		}
		if prefetch {
			fn += "PF"
		}
		if rows < mr {
			if pieces == 4 {
				fn += "R"
			}
			fn += fmt.Sprint(rows)
		}
		fn += s.suffix
		what := ""
		if prefetch {
			what = fmt.Sprintf("\nIt prefetches the B rows of k step p+%d at step p.", indirectPrefetch)
		}
		g.text(fn, "$0-144", fmt.Sprintf("func %s(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)\n"+
			"The %dx%d kernel with B read in place: at k step p, piece v (of %d) of the B row is loaded from base[pieces[v]+koff[p]:],\n"+
			"so a convolution reads its B rows straight from the (padded) input image. acc = 0 overwrites C.%s", fn, rows, nr, pieces, what))
		g.p("MOVQ k+0(FP), CX")
		g.p("MOVQ a_base+8(FP), SI")
		g.p("MOVQ base_base+32(FP), DX")
		g.p("MOVQ koff_base+56(FP), BX")
		g.p("MOVQ pieces_base+80(FP), R11")
		// Piece v's address, base + 4*pieces[v], in R12+v.
		for v := 0; v < pieces; v++ {
			g.p("MOVQ %d(R11), R%d", 8*v, 12+v)
			g.p("LEAQ (DX)(R%d*4), R%d", 12+v, 12+v)
		}
		g.p("MOVQ c_base+104(FP), DI")
		g.p("MOVQ ldc+128(FP), R8")
		g.p("MOVQ acc+136(FP), R10")
	} else {
		bcast := fmt.Sprintf("alternate %s%d/%s%d", s.reg, rows*nv+nv, s.reg, rows*nv+nv+1)
		if s.is512() {
			bcast = "embedded in the multiply-adds"
		}
		g.text(fn, "$0-96", fmt.Sprintf("func %s(k int, a, b, c []float32, ldc, acc int)\n%dx%d tile (A packed %d rows per k step): accumulators %s0-%s%d, B in %s%d-%s%d, A broadcasts %s.\nacc = 0 overwrites C instead of adding to it.",
			fn, rows, nr, mr, s.reg, s.reg, rows*nv-1, s.reg, rows*nv, s.reg, rows*nv+nv-1, bcast))
		g.p("MOVQ k+0(FP), CX")
		g.p("MOVQ a_base+8(FP), SI")
		g.p("MOVQ b_base+32(FP), DX")
		g.p("MOVQ c_base+56(FP), DI")
		g.p("MOVQ ldc+80(FP), R8")
		g.p("MOVQ acc+88(FP), R10")
	}
	g.p("SHLQ $2, R8")
	// Prefetch the C tile: its rows are ldc apart, usually on different
	// pages, and would otherwise be fetched only after the k loop.
	g.p("MOVQ DI, AX")
	for i := 0; i < rows; i++ {
		for v := 0; v < nr*4; v += 64 {
			g.p("PREFETCHT0 %d(AX)", v)
		}
		if i < rows-1 {
			g.p("ADDQ R8, AX")
		}
	}
	for i := 0; i < rows*nv; i++ {
		zero(g, s, s.r(i))
	}
	g.p("TESTQ CX, CX")
	g.p("JEQ %s_store", fn)
	bReg := rows * nv
	// body emits the loads and multiply-adds of k step j of a group
	// (addresses offset j steps from SI and DX, or BX's offsets), advance
	// the pointer updates after n steps, step one whole single step.
	body := func(j int) {
		for v := 0; v < nv; v++ {
			switch {
			case indirect && pieces == 4:
				// The low half from piece 2v, the high half from 2v+1.
				if v == 0 {
					g.p("MOVLQSX (BX), R9")
				}
				g.p("VMOVUPS (R%d)(R9*4), Y%d", 12+2*v, bReg+v)
				g.p("VINSERTF64X4 $1, (R%d)(R9*4), %s, %s", 13+2*v, s.r(bReg+v), s.r(bReg+v))
			case indirect:
				if v == 0 {
					g.p("MOVLQSX %s, R9", disp("BX", 4*j))
				}
				g.p("VMOVUPS (R%d)(R9*4), %s", 12+v, s.r(bReg+v))
			default:
				g.p("VMOVUPS %s, %s", disp("DX", 4*nr*j+v*s.vbytes()), s.r(bReg+v))
			}
		}
		for i := 0; i < rows; i++ {
			if s.is512() {
				// See gemmBroadcast.
				for v := 0; v < nv; v++ {
					g.p("VFMADD231PS.BCST %d(SI), %s, %s", 4*(i+mr*j), s.r(bReg+v), s.r(i*nv+v))
				}
				continue
			}
			a := s.r(bReg + nv + i%2)
			g.p("VBROADCASTSS %d(SI), %s", 4*(i+mr*j), a)
			for v := 0; v < nv; v++ {
				g.p("VFMADD231PS %s, %s, %s", s.r(bReg+v), a, s.r(i*nv+v))
			}
		}
	}
	advance := func(n int) {
		g.p("ADDQ $%d, SI", 4*mr*n)
		if indirect {
			g.p("ADDQ $%d, BX", 4*n)
		} else {
			g.p("ADDQ $%d, DX", 4*nr*n)
		}
	}
	step := func() {
		body(0)
		advance(1)
		g.p("DECQ CX")
	}
	// Groups of gemmUnroll k steps while that many remain, one pointer
	// update per group, then the plain loop for the rest (not the AVX-512
	// in-place kernels: see gemmUnroll).
	group := !s.is512() || !indirect
	pfRows := func(ahead int) {
		g.p("MOVLQSX %d(BX), AX", 4*ahead)
		for v := 0; v < pieces; v++ {
			g.p("PREFETCHT0 (R%d)(AX*4)", 12+v)
			if pieces == 2 {
				// A whole-vector piece is rarely aligned to a line:
				// fetch the line of its last float too.
				g.p("PREFETCHT0 %d(R%d)(AX*4)", s.vbytes()-4, 12+v)
			}
		}
	}
	// groupLoop emits a loop of groups at label fn+lbl, each step of a
	// group prefetching the rows indirectPrefetch steps ahead when pf,
	// that repeats while CX jcc limit after the group.
	groupLoop := func(lbl string, pf bool, jcc string, limit int) {
		g.lbl(fn + lbl)
		for j := range gemmUnroll {
			if pf {
				pfRows(indirectPrefetch + j)
			}
			body(j)
		}
		advance(gemmUnroll)
		g.p("SUBQ $%d, CX", gemmUnroll)
		g.p("CMPQ CX, $%d", limit)
		g.p("%s %s%s", jcc, fn, lbl)
	}
	switch {
	case prefetch && group:
		// While every step of a group has more than indirectPrefetch
		// steps left, prefetch the rows of the step that far ahead.
		last := indirectPrefetch + gemmUnroll - 1
		g.p("CMPQ CX, $%d", last)
		g.p("JLE %s_pfdone", fn)
		groupLoop("_pf", true, "JGT", last)
		g.lbl(fn + "_pfdone")
	case prefetch:
		// While more than indirectPrefetch steps remain, prefetch the
		// rows of the step that far ahead; then the plain loop.
		g.p("CMPQ CX, $%d", indirectPrefetch)
		g.p("JLE %s_loop", fn)
		g.lbl(fn + "_pf")
		pfRows(indirectPrefetch)
		step()
		g.p("CMPQ CX, $%d", indirectPrefetch)
		g.p("JGT %s_pf", fn)
	}
	if group {
		g.p("CMPQ CX, $%d", gemmUnroll)
		g.p("JLT %s_loop", fn)
		groupLoop("_group", false, "JGE", gemmUnroll)
		g.p("TESTQ CX, CX")
		g.p("JEQ %s_store", fn)
	}
	g.lbl(fn + "_loop")
	step()
	g.p("JNE %s_loop", fn)
	g.lbl(fn + "_store")
	g.p("TESTQ R10, R10")
	g.p("JEQ %s_set", fn)
	for i := 0; i < rows; i++ {
		for v := 0; v < nv; v++ {
			g.p("VADDPS %s, %s, %s", s.mem("DI", v), s.r(i*nv+v), s.r(i*nv+v))
			g.p("VMOVUPS %s, %s", s.r(i*nv+v), s.mem("DI", v))
		}
		if i < rows-1 {
			g.p("ADDQ R8, DI")
		}
	}
	g.ret()
	// Overwrite: C = A*B, without reading C.
	g.lbl(fn + "_set")
	for i := 0; i < rows; i++ {
		for v := 0; v < nv; v++ {
			g.p("VMOVUPS %s, %s", s.r(i*nv+v), s.mem("DI", v))
		}
		if i < rows-1 {
			g.p("ADDQ R8, DI")
		}
	}
	g.ret()
}

// transpose8: the 8x8 and 4x4 block transposes behind Transpose. Both use
// only VEX (AVX) shuffles, so the AVX2 and AVX-512 levels share them.
// transpose8AVX2 transposes rb x cb blocks of 8x8 floats:
// dst[c*ldd+r] = src[r*lds+c] for r < 8*rb, c < 8*cb.
func transposeKernels(g *gen) {
	g.text("transpose8AVX2", "$0-80", "func transpose8AVX2(dst []float32, ldd int, src []float32, lds int, rb, cb int)")
	transposeArgs(g)
	g.p("MOVQ rb+64(FP), CX")
	g.p("MOVQ cb+72(FP), BX")
	g.lbl("t8_rows")
	g.p("TESTQ CX, CX")
	g.p("JEQ t8_done")
	g.p("MOVQ SI, R10")
	g.p("MOVQ DI, R11")
	g.p("MOVQ BX, DX")
	g.lbl("t8_cols")
	g.p("TESTQ DX, DX")
	g.p("JEQ t8_next")
	g.p("MOVQ R10, AX")
	loadRows(g, 8, "Y")
	transposeNet8(g)
	g.p("MOVQ R11, AX")
	for c := 0; c < 8; c++ {
		g.p("VMOVUPS Y%d, (AX)", 8+c)
		if c < 7 {
			g.p("ADDQ R9, AX")
		}
	}
	g.p("ADDQ $32, R10")
	g.p("LEAQ (R11)(R9*8), R11")
	g.p("DECQ DX")
	g.p("JMP t8_cols")
	g.lbl("t8_next")
	g.p("LEAQ (SI)(R8*8), SI")
	g.p("ADDQ $32, DI")
	g.p("DECQ CX")
	g.p("JMP t8_rows")
	g.lbl("t8_done")
	g.ret()

	transpose6(g)

	g.text("transpose4AVX2", "$0-80", "func transpose4AVX2(dst []float32, ldd int, src []float32, lds int, rb, cb int)\nrb strips of 4 rows, each cb blocks of 4x4.")
	transposeArgs(g)
	g.p("MOVQ rb+64(FP), CX")
	g.p("MOVQ cb+72(FP), BX")
	g.lbl("t4_rows")
	g.p("TESTQ CX, CX")
	g.p("JEQ t4_done")
	g.p("MOVQ SI, R10")
	g.p("MOVQ DI, R11")
	g.p("MOVQ BX, DX")
	g.lbl("t4_cols")
	g.p("TESTQ DX, DX")
	g.p("JEQ t4_next")
	g.p("MOVQ R10, AX")
	loadRows(g, 4, "X")
	g.p("VUNPCKLPS X1, X0, X4")
	g.p("VUNPCKHPS X1, X0, X5")
	g.p("VUNPCKLPS X3, X2, X6")
	g.p("VUNPCKHPS X3, X2, X7")
	g.p("VMOVLHPS X6, X4, X0")
	g.p("VMOVHLPS X4, X6, X1")
	g.p("VMOVLHPS X7, X5, X2")
	g.p("VMOVHLPS X5, X7, X3")
	g.p("MOVQ R11, AX")
	for c := 0; c < 4; c++ {
		g.p("VMOVUPS X%d, (AX)", c)
		if c < 3 {
			g.p("ADDQ R9, AX")
		}
	}
	g.p("ADDQ $16, R10")
	g.p("LEAQ (R11)(R9*4), R11")
	g.p("DECQ DX")
	g.p("JMP t4_cols")
	g.lbl("t4_next")
	g.p("LEAQ (SI)(R8*4), SI")
	g.p("ADDQ $16, DI")
	g.p("DECQ CX")
	g.p("JMP t4_rows")
	g.lbl("t4_done")
	g.ret()
}

// transposeArgs loads the arguments the transposes share: dst in DI, ldd
// in bytes in R9, src in SI, lds in bytes in R8.
func transposeArgs(g *gen) {
	g.p("MOVQ dst_base+0(FP), DI")
	g.p("MOVQ ldd+24(FP), R9")
	g.p("SHLQ $2, R9")
	g.p("MOVQ src_base+32(FP), SI")
	g.p("MOVQ lds+56(FP), R8")
	g.p("SHLQ $2, R8")
}

// loadRows emits the loads of n source rows, lds bytes (R8) apart from
// AX, into registers reg0 .. reg(n-1) (reg "X" or "Y"), for the
// transposes.
func loadRows(g *gen, n int, reg string) {
	for i := 0; i < n; i++ {
		g.p("VMOVUPS (AX), %s%d", reg, i)
		if i < n-1 {
			g.p("ADDQ R8, AX")
		}
	}
}

// transposeNet8 emits the 8x8 transpose in registers: rows in Y0-Y7,
// interleaved in pairs, then pairs of pairs, then their 128-bit halves
// swapped, so that column c ends in Y(8+c).
func transposeNet8(g *gen) {
	for i := 0; i < 8; i += 2 {
		g.p("VUNPCKLPS Y%d, Y%d, Y%d", i+1, i, 8+i)
		g.p("VUNPCKHPS Y%d, Y%d, Y%d", i+1, i, 9+i)
	}
	for h := 0; h < 2; h++ {
		b := 8 + 4*h
		g.p("VSHUFPS $0x44, Y%d, Y%d, Y%d", b+2, b, 4*h)
		g.p("VSHUFPS $0xEE, Y%d, Y%d, Y%d", b+2, b, 4*h+1)
		g.p("VSHUFPS $0x44, Y%d, Y%d, Y%d", b+3, b+1, 4*h+2)
		g.p("VSHUFPS $0xEE, Y%d, Y%d, Y%d", b+3, b+1, 4*h+3)
	}
	for c := 0; c < 4; c++ {
		g.p("VPERM2F128 $0x20, Y%d, Y%d, Y%d", c+4, c, 8+c)
		g.p("VPERM2F128 $0x31, Y%d, Y%d, Y%d", c+4, c, 12+c)
	}
}

// transpose6: transpose6AVX2 transposes a 6-row strip in blocks of 6x8,
// the A panels of the AVX2 6x16 GEMM tile: dst[c*ldd+r] = src[r*lds+c]
// for r < 6, c < 8*cb. The six rows and two zero rows go through the 8x8
// network of transpose8AVX2; each column's six floats are stored as a
// 16-byte and an 8-byte piece (VMOVQ: VEX, no SSE transition), so nothing
// outside the six rows of dst is written.
func transpose6(g *gen) {
	g.text("transpose6AVX2", "$0-72", "func transpose6AVX2(dst []float32, ldd int, src []float32, lds int, cb int)\n6 rows, cb blocks of 6x8.")
	transposeArgs(g)
	g.p("MOVQ cb+64(FP), DX")
	g.lbl("t6_cols")
	g.p("TESTQ DX, DX")
	g.p("JEQ t6_done")
	g.p("MOVQ SI, AX")
	loadRows(g, 6, "Y")
	g.p("VXORPS Y6, Y6, Y6")
	g.p("VXORPS Y7, Y7, Y7")
	transposeNet8(g)
	g.p("MOVQ DI, AX")
	for c := 0; c < 8; c++ {
		g.p("VMOVUPS X%d, (AX)", 8+c)
		g.p("VEXTRACTF128 $1, Y%d, X%d", 8+c, c%6)
		g.p("VMOVQ X%d, 16(AX)", c%6)
		if c < 7 {
			g.p("ADDQ R9, AX")
		}
	}
	g.p("ADDQ $32, SI")
	g.p("LEAQ (DI)(R9*8), DI")
	g.p("DECQ DX")
	g.p("JMP t6_cols")
	g.lbl("t6_done")
	g.ret()
}

func amd64() []byte {
	g := &gen{}
	g.raw("// Code generated by _gen (go run . -out ../simd); DO NOT EDIT.")
	g.raw("")
	g.raw("//go:build amd64 && !purego")
	g.raw("")
	g.raw("#include \"textflag.h\"")
	expData(g)
	actData(g)
	winoData(g)
	for _, s := range []isa{avx512, avx2} {
		reduceKernel(g, s, "dot")
		reduceKernel(g, s, "sum")
		axpy(g, s)
		scale(g, s)
		affine(g, s)
		affine2(g, s)
		sqdev(g, s)
		binary(g, s, "add", "VADDPS")
		binary(g, s, "sub", "VSUBPS")
		binary(g, s, "mul", "VMULPS")
		maxKernel(g, s)
		relu(g, s)
		reluBackward(g, s)
		expKernel(g, s)
		tanhKernel(g, s)
		sigmoidKernel(g, s)
		activationBackward(g, s, "tanhBackward")
		activationBackward(g, s, "sigmoidBackward")
		winoKernel(g, s, false)
		winoKernel(g, s, true)
		winoKernelKernel(g, s)
		winoAdjoint(g, s, false)
		winoAdjoint(g, s, true)
	}
	for _, indirect := range []bool{false, true} {
		for _, rows := range []int{12, 8, 4} {
			gemmKernel(g, avx512, 12, rows, indirect, false, 2)
		}
		for _, rows := range []int{6, 4, 2} {
			gemmKernel(g, avx2, 6, rows, indirect, false, 2)
		}
	}
	gemmKernel(g, avx512, 12, 12, true, true, 2)
	gemmKernel(g, avx2, 6, 6, true, true, 2)
	for _, rows := range []int{12, 8, 4} {
		gemmKernel(g, avx512, 12, rows, true, false, 4)
	}
	gemmKernel(g, avx512, 12, 12, true, true, 4)
	transposeKernels(g)
	stripKernels(g)
	return g.buf.Bytes()
}

func main() {
	out := flag.String("out", "../simd", "directory of package simd")
	flag.Parse()
	for name, text := range map[string][]byte{
		"kernels_amd64.s": amd64(),
		"kernels_arm64.s": arm64(),
	} {
		if err := os.WriteFile(filepath.Join(*out, name), text, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
