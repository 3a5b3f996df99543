package tensor

import "github.com/flatfast/flatfast/simd"

// outA is a convolution output (or its gradient) [N, C, OH, OW] as a GEMM
// A operand: rows c, columns j = (n, q).
type outA struct {
	g    *ConvGeom
	c    int // channels of y
	y    []float32
	impl *simd.Impl
}

func (s *outA) packA(_ int, dst []float32, i0, mb, p0, kb, mr int, alpha float32) {
	ohw := s.g.OH * s.g.OW
	for ip := 0; ip*mr < mb; ip++ {
		panel := dst[ip*mr*kb : (ip+1)*mr*kb]
		rows := min(mr, mb-ip*mr)
		c0 := i0 + ip*mr
		if rows < mr {
			clear(panel)
		}
		for p := 0; p < kb; {
			j := p0 + p
			n, q := j/ohw, j%ohw
			run := min(kb-p, ohw-q)
			s.impl.Transpose(panel[p*mr:], mr, s.y[(n*s.c+c0)*ohw+q:], ohw, rows, run)
			p += run
		}
		if alpha != 1 {
			s.impl.Scale(alpha, panel)
		}
	}
}

// outB is a convolution output gradient [N, C, OH, OW] as a GEMM B
// operand: rows c, columns j = (n, q).
type outB struct {
	g *ConvGeom
	c int
	y []float32
}

func (s *outB) packB(_ int, dst []float32, p0, kb, j0, nb, nr, first, count int) {
	ohw := s.g.OH * s.g.OW
	for jp := first; jp < first+count; jp++ {
		panel := dst[jp*nr*kb : (jp+1)*nr*kb]
		cols := min(nr, nb-jp*nr)
		for p := 0; p < kb; p++ {
			d := panel[p*nr : p*nr+nr]
			c := p0 + p
			for jj := 0; jj < cols; {
				j := j0 + jp*nr + jj
				n, q := j/ohw, j%ohw
				run := min(cols-jj, ohw-q)
				copy(d[jj:jj+run], s.y[(n*s.c+c)*ohw+q:])
				jj += run
			}
			clear(d[cols:])
		}
	}
}

// flippedA is the kernel of the transposed convolution, as a GEMM A
// operand: A[ci, (co, kh, kw)] = w[co, ci, KH-1-kh, KW-1-kw], every
// (co, ci) kernel rotated by 180 degrees with the channel axes swapped.
// It is packed straight from w, one output channel at a time: the
// kernels w[co, i0 .. i0+mb-1, :] are one contiguous mb x khw block, which
// one block transpose turns into khw runs of mb floats, one per tap, and
// each panel row is then a copy of mr floats from the run of its tap.
// (Writing the rotated matrix out once per call and packing that cost an
// extra pass over the kernel in memory, 10% of the 512-channel input
// gradient, and did not scale to two threads; gathering float by float
// was slower still.)
type flippedA struct {
	g    *ConvGeom
	w    []float32
	impl *simd.Impl
	tmp  [maxWorkers][]float32
}

func (s *flippedA) packA(w int, dst []float32, i0, mb, p0, kb, mr int, alpha float32) {
	g := s.g
	khw := g.KH * g.KW
	np := (mb + mr - 1) / mr
	if mb%mr != 0 {
		clear(dst[(np-1)*mr*kb : np*mr*kb])
	}
	tmp := grow(s.tmp[w], khw*mb)
	s.tmp[w] = tmp
	for co := p0 / khw; co*khw < p0+kb; co++ {
		// tmp[r*mb + i] = w[co, i0+i, r]: block transposes for the taps
		// in whole groups of 8, then one strided loop per remaining tap
		// (letting Transpose finish each 8-row strip of a 3x3 kernel's
		// ninth tap on its own cost 3% of the 512-channel pass).
		blk := s.w[(co*g.Cin+i0)*khw : (co*g.Cin+i0+mb)*khw]
		t8 := khw / 8 * 8
		if t8 > 0 {
			s.impl.Transpose(tmp, mb, blk, khw, mb, t8)
		}
		for r := t8; r < khw; r++ {
			run := tmp[r*mb : (r+1)*mb]
			for i := range run {
				run[i] = blk[i*khw+r]
			}
		}
		for r := 0; r < khw; r++ {
			p := co*khw + khw - 1 - r - p0 // the k step of tap r
			if p < 0 || p >= kb {
				continue
			}
			run := tmp[r*mb : (r+1)*mb]
			for ip := 0; ip < np; ip++ {
				rows := min(mr, mb-ip*mr)
				d, s := dst[ip*mr*kb+p*mr:ip*mr*kb+p*mr+rows], run[ip*mr:ip*mr+rows]
				if rows == 12 {
					// The AVX-512 tile's row, as plain moves rather
					// than a call to memmove per 48 bytes (1-6% on the
					// 512-channel input gradient).
					d, s := (*[12]float32)(d), (*[12]float32)(s)
					d[0], d[1], d[2], d[3], d[4], d[5] = s[0], s[1], s[2], s[3], s[4], s[5]
					d[6], d[7], d[8], d[9], d[10], d[11] = s[6], s[7], s[8], s[9], s[10], s[11]
					continue
				}
				copy(d, s)
			}
		}
	}
	if alpha != 1 {
		simd.Scale(alpha, dst[:np*mr*kb])
	}
}
