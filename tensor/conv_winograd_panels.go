package tensor

// The chunked Winograd schedule's V, packed once per chunk in the layout
// in which the GEMM driver packs a product's A (docs/conv.md, "Winograd on
// several threads"), so that the 36 products of every unit or position
// group read it in place instead of packing V[xi] again.

// winoPanelChannels is how many input channels inputPanel transforms at
// a time: a multiple of channelWidth at every level.
const winoPanelChannels = 128

// packedV sets up the chunk's V packed as the products' A (vPackedA).
func (s *winoScratch) packedV(threads int) {
	s.mr, _ = s.impl.GemmTile()
	s.mPad = (s.chunk + s.mr - 1) / s.mr * s.mr
	s.kcV = blocksFor(s.impl).kcFor(s.cin)
	for wk := 0; wk < threads; wk++ {
		s.vb[wk] = grow(s.vb[wk], 36*s.mr*min(s.cin, winoPanelChannels))
	}
}

// inputPanel forms panel ip of the chunk's packed V: the tiles
// [ip mr, ip mr + mr) of the chunk, transformed winoPanelChannels input
// channels at a time into worker w's scratch and transposed from there
// into each position's panels (vPackedA's layout). The last panel's rows
// past the chunk keep what they held: the micro-kernels' rows past m are
// never stored.
func (s *winoScratch) inputPanel(w, ip int) {
	impl, cin, mr := s.impl, s.cin, s.mr
	r0 := ip * mr
	rows := min(mr, s.tc-r0)
	sc := s.vb[w]
	for k0 := 0; k0 < cin; k0 += winoPanelChannels {
		k1 := min(cin, k0+winoPanelChannels)
		nc := k1 - k0
		for r := 0; r < rows; r++ {
			s.inputRange(w, s.t0+r0+r, sc, nc, r, mr, k0, k1, 0, 36)
		}
		for xi := 0; xi < 36; xi++ {
			for q0 := k0; q0 < k1; {
				pc := q0 / s.kcV * s.kcV
				kb := min(s.kcV, cin-pc)
				q1 := min(k1, pc+kb)
				dst := s.v[s.vOffset(xi, pc, kb, r0)+(q0-pc)*mr:][:(q1-q0)*mr]
				impl.Transpose(dst, mr, sc[xi*mr*nc+q0-k0:], nc, rows, q1-q0)
				q0 = q1
			}
		}
	}
}

// vPackedA is position xi of the chunk's V as the A of a product, packed
// once per chunk by inputPanel: for each kc block pc (kcV steps), the
// panels of mr tiles x kb channels, at pc mPad + i0 kb of the position's
// plane of mPad Cin floats.
type vPackedA struct {
	s  *winoScratch
	xi int
}

func (a *vPackedA) panels(p0, kb, i0, n int) []float32 {
	s := a.s
	if p0%s.kcV != 0 || kb != min(s.kcV, s.cin-p0) || i0%s.mr != 0 {
		return nil
	}
	off := s.vOffset(a.xi, p0, kb, i0)
	return s.v[off : off+n]
}

// vOffset is where in s.v the packed V of position xi has the panel of
// rows from i0 (a multiple of mr) of the kc block starting at pc, kb
// steps long.
func (s *winoScratch) vOffset(xi, pc, kb, i0 int) int {
	return xi*s.mPad*s.cin + pc*s.mPad + i0*kb
}

// packA copies from the packed layout, for a driver whose kc blocks are
// not vPackedA's (panels returns nil).
func (a *vPackedA) packA(_ int, dst []float32, i0, mb, p0, kb, mr int, alpha float32) {
	s := a.s
	np := (mb + mr - 1) / mr
	clear(dst[:np*mr*kb])
	for t := i0; t < i0+mb; t++ {
		d := dst[(t-i0)/mr*mr*kb+(t-i0)%mr:]
		for k := p0; k < p0+kb; k++ {
			pc := k / s.kcV * s.kcV
			kbs := min(s.kcV, s.cin-pc)
			d[(k-p0)*mr] = alpha * s.v[s.vOffset(a.xi, pc, kbs, t/s.mr*s.mr)+(k-pc)*s.mr+t%s.mr]
		}
	}
}
