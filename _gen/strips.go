package main

import "fmt"

// stripWidths are the strip widths with a copy kernel: the micro-kernel
// tiles' mr and nr at the amd64 levels (6 x 16 and 12 x 32) and their
// short-row counts (4, 8).
var stripWidths = []int{4, 6, 8, 12, 16, 32}

// stripPieces is how a row of w floats is moved: the byte size of each
// load/store, largest first (32-byte ymm, 16-byte xmm, 8-byte).
func stripPieces(w int) []int {
	var p []int
	for b := 4 * w; b > 0; {
		switch {
		case b >= 32:
			p = append(p, 32)
			b -= 32
		case b >= 16:
			p = append(p, 16)
			b -= 16
		default:
			p = append(p, 8)
			b -= 8
		}
	}
	return p
}

// stripKernels: copyStrips<w>AVX copies count strips of w floats side by
// side, each kb rows: strip s reads src[s*w + p*ld :] for p < kb and
// writes them one after another to dst[s*stride:]. This is the packing of
// a k-major GEMM operand (B as stored, A transposed) into micro-panels.
// VEX moves only (AVX), so the AVX2 and AVX-512 levels share them. In Go,
// 16-byte array copies per row ran at half the speed: on an AMD Zen 5
// (2 vCPUs), 784 x 512 floats in 8-step runs, 23 against 43 GB/s.
func stripKernels(g *gen) {
	for _, w := range stripWidths {
		fn := fmt.Sprintf("copyStrips%dAVX", w)
		g.text(fn, "$0-80", fmt.Sprintf("func %s(dst []float32, stride int, src []float32, ld, kb, count int)\n"+
			"count strips of %d floats a row, kb rows each: strip s from src[%d*s:] (rows ld apart) to dst[s*stride:].", fn, w, w))
		g.p("MOVQ dst_base+0(FP), DI")
		g.p("MOVQ stride+24(FP), R8")
		g.p("MOVQ src_base+32(FP), SI")
		g.p("MOVQ ld+56(FP), DX")
		g.p("MOVQ kb+64(FP), R9")
		g.p("MOVQ count+72(FP), R10")
		g.p("SHLQ $2, DX")
		g.p("SHLQ $2, R8")
		g.p("TESTQ R9, R9")
		g.p("JEQ %s_done", fn)
		g.p("TESTQ R10, R10")
		g.p("JEQ %s_done", fn)
		g.lbl(fn + "_strip")
		g.p("MOVQ SI, AX")
		g.p("MOVQ DI, BX")
		g.p("MOVQ R9, CX")
		g.lbl(fn + "_row")
		// Every piece loaded into a register of its own, then stored.
		pieces := stripPieces(w)
		for _, load := range []bool{true, false} {
			off := 0
			for i, b := range pieces {
				op, reg := "VMOVUPS", fmt.Sprintf("X%d", i)
				switch b {
				case 32:
					reg = fmt.Sprintf("Y%d", i)
				case 8:
					op = "VMOVSD"
				}
				if load {
					g.p("%s %s, %s", op, disp("AX", off), reg)
				} else {
					g.p("%s %s, %s", op, reg, disp("BX", off))
				}
				off += b
			}
		}
		g.p("ADDQ DX, AX")
		g.p("ADDQ $%d, BX", 4*w)
		g.p("DECQ CX")
		g.p("JNE %s_row", fn)
		g.p("ADDQ $%d, SI", 4*w)
		g.p("ADDQ R8, DI")
		g.p("DECQ R10")
		g.p("JNE %s_strip", fn)
		g.lbl(fn + "_done")
		g.ret()
	}
}
