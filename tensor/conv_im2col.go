package tensor

import "github.com/flatfast/flatfast/simd"

// im2colB is the im2col matrix of x as a GEMM B operand: rows
// k = (ci, kh, kw), columns j = (n, oh, ow).
type im2colB struct {
	g   *ConvGeom
	x   []float32
	tmp [maxWorkers][]float32
	// maps[r][q] is the offset in an input plane of kernel position r at
	// output pixel q, or -1 in the padding: for small images, where the
	// copy-a-row-at-a-time path spends more on bookkeeping than on copying.
	maps    []int32
	useMaps bool
	segs    [maxWorkers][]colRun // per-worker scratch of packB
}

// prepare sets the geometry and input and builds the offset maps when the
// output rows are short.
func (s *im2colB) prepare(g *ConvGeom, x []float32) {
	s.g, s.x = g, x
	s.useMaps = g.OW < 16 || g.Stride != 1
	if !s.useMaps {
		return
	}
	ohw := g.OH * g.OW
	n := g.KH * g.KW * ohw
	if cap(s.maps) < n {
		s.maps = make([]int32, n)
	}
	s.maps = s.maps[:n]
	for ki := 0; ki < g.KH; ki++ {
		for kj := 0; kj < g.KW; kj++ {
			m := s.maps[(ki*g.KW+kj)*ohw:]
			for oh := 0; oh < g.OH; oh++ {
				ih := oh*g.Stride - g.Pad + ki
				for ow := 0; ow < g.OW; ow++ {
					iw := ow*g.Stride - g.Pad + kj
					if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
						m[oh*g.OW+ow] = int32(ih*g.W + iw)
					} else {
						m[oh*g.OW+ow] = -1
					}
				}
			}
		}
	}
}

// row fills dst with X~[k, j0 : j0+len(dst)].
func (s *im2colB) row(dst []float32, k, j0 int) {
	g := s.g
	khw := g.KH * g.KW
	ci, r := k/khw, k%khw
	if s.useMaps {
		ohw := g.OH * g.OW
		plane := g.H * g.W
		n, q := j0/ohw, j0%ohw
		maps := s.maps[r*ohw : (r+1)*ohw]
		for len(dst) > 0 {
			run := min(len(dst), ohw-q)
			src := s.x[(n*g.Cin+ci)*plane : (n*g.Cin+ci+1)*plane]
			seg := dst[:run]
			for t, idx := range maps[q : q+run] {
				if idx >= 0 {
					seg[t] = src[idx]
				} else {
					seg[t] = 0
				}
			}
			dst = dst[run:]
			q = 0
			n++
		}
		return
	}
	ki, kj := r/g.KW, r%g.KW
	ohw := g.OH * g.OW
	n, q := j0/ohw, j0%ohw
	oh, ow := q/g.OW, q%g.OW
	plane := g.H * g.W
	for len(dst) > 0 {
		run := min(len(dst), g.OW-ow)
		seg := dst[:run]
		ih := oh*g.Stride - g.Pad + ki
		if ih < 0 || ih >= g.H {
			clear(seg)
		} else {
			src := s.x[(n*g.Cin+ci)*plane+ih*g.W:]
			iw0 := ow*g.Stride - g.Pad + kj
			if g.Stride == 1 {
				// Zeros left of the image, a copy, zeros right of it.
				lo := min(max(-iw0, 0), run)
				hi := max(min(g.W-iw0, run), lo)
				clear(seg[:lo])
				if hi > lo {
					copy(seg[lo:hi], src[iw0+lo:iw0+hi])
				}
				clear(seg[hi:])
			} else {
				for t := range seg {
					iw := iw0 + t*g.Stride
					if iw >= 0 && iw < g.W {
						seg[t] = src[iw]
					} else {
						seg[t] = 0
					}
				}
			}
		}
		dst = dst[run:]
		ow += run
		if ow == g.OW {
			ow = 0
			oh++
			if oh == g.OH {
				oh = 0
				n++
			}
		}
	}
}

// packB packs panels of X~ a panel at a time: the panel's columns (output
// pixels) are described once, as runs along output rows (or, with the
// offset maps, pixel by pixel), and then each of its kb rows (kernel
// taps) is filled by copies or gathers without any division.
func (s *im2colB) packB(w int, dst []float32, p0, kb, j0, nb, nr, first, count int) {
	g := s.g
	ohw, plane := g.OH*g.OW, g.H*g.W
	khw := g.KH * g.KW
	for jp := first; jp < first+count; jp++ {
		panel := dst[jp*nr*kb : (jp+1)*nr*kb]
		cols := min(nr, nb-jp*nr)
		c0 := j0 + jp*nr
		segs := s.segs[w][:0]
		for c := 0; c < cols; {
			n, q := (c0+c)/ohw, (c0+c)%ohw
			run := ohw - q // the maps walk whole images
			if !s.useMaps {
				run = g.OW - q%g.OW // copies walk output rows
			}
			run = min(run, cols-c)
			segs = append(segs, colRun{at: c, n: n, q: q, len: run})
			c += run
		}
		s.segs[w] = segs
		ci, r := p0/khw, p0%khw
		ki, kj := r/g.KW, r%g.KW
		for p := 0; p < kb; p++ {
			d := panel[p*nr : p*nr+nr]
			for _, sg := range segs {
				seg := d[sg.at : sg.at+sg.len]
				src := s.x[(sg.n*g.Cin+ci)*plane : (sg.n*g.Cin+ci+1)*plane]
				if s.useMaps {
					m := s.maps[(ki*g.KW+kj)*ohw+sg.q:]
					for t := range seg {
						if idx := m[t]; idx >= 0 {
							seg[t] = src[idx]
						} else {
							seg[t] = 0
						}
					}
					continue
				}
				// Stride 1: one output row; zeros left of the image, a
				// copy, zeros right of it.
				oh, ow := sg.q/g.OW, sg.q%g.OW
				ih := oh - g.Pad + ki
				if ih < 0 || ih >= g.H {
					clear(seg)
					continue
				}
				iw0 := ow - g.Pad + kj
				lo := min(max(-iw0, 0), len(seg))
				hi := max(min(g.W-iw0, len(seg)), lo)
				clear(seg[:lo])
				if hi > lo {
					copy(seg[lo:hi], src[ih*g.W+iw0+lo:ih*g.W+iw0+hi])
				}
				clear(seg[hi:])
			}
			clear(d[cols:])
			if kj++; kj == g.KW {
				kj = 0
				if ki++; ki == g.KH {
					ki = 0
					ci++
				}
			}
		}
	}
}

// colRun is a run of panel columns inside one image (and, without maps,
// one output row): panel column at, image n, first output pixel q.
type colRun struct{ at, n, q, len int }

// im2colT is the transpose of the im2col matrix as a B operand: rows
// j = (n, oh, ow), columns k = (ci, kh, kw). Each panel is built as rows of
// X~ in per-worker scratch and transposed into place.
type im2colT struct {
	im   *im2colB
	impl *simd.Impl
}

func (s *im2colT) packB(w int, dst []float32, p0, kb, k0, nb, nr, first, count int) {
	tmp := grow(s.im.tmp[w], nr*kb)
	s.im.tmp[w] = tmp
	for jp := first; jp < first+count; jp++ {
		panel := dst[jp*nr*kb : (jp+1)*nr*kb]
		cols := min(nr, nb-jp*nr)
		for kk := 0; kk < cols; kk++ {
			s.im.row(tmp[kk*kb:(kk+1)*kb], k0+jp*nr+kk, p0)
		}
		if cols < nr {
			clear(panel)
		}
		s.impl.Transpose(panel, nr, tmp, kb, cols, kb)
	}
}

// col2im adds the columns dcol [(ci,kh,kw), (n,oh,ow)] of gn images back
// into dx [n, ci, h, w].
func col2im(g *ConvGeom, dx, dcol []float32, gn int) {
	ohw := g.OH * g.OW
	cols := gn * ohw
	for ci := 0; ci < g.Cin; ci++ {
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := dcol[((ci*g.KH+ki)*g.KW+kj)*cols:]
				for n := 0; n < gn; n++ {
					plane := dx[(n*g.Cin+ci)*g.H*g.W:]
					for oh := 0; oh < g.OH; oh++ {
						ih := oh*g.Stride - g.Pad + ki
						if ih < 0 || ih >= g.H {
							continue
						}
						src := row[n*ohw+oh*g.OW:]
						dr := plane[ih*g.W:]
						for ow := 0; ow < g.OW; ow++ {
							if iw := ow*g.Stride - g.Pad + kj; iw >= 0 && iw < g.W {
								dr[iw] += src[ow]
							}
						}
					}
				}
			}
		}
	}
}
