package tensor

import (
	"math"

	"github.com/flatfast/flatfast/simd"
)

// The B operands of the convolutions that the micro-kernel reads in place
// (bIndirect) from a zero-padded copy of the input, which the product
// itself makes in stage units (stagedB): NCHW (padded), batch-innermost
// (batchInner) and channels-last (nhwcB). docs/conv.md, "Reading B in
// place", says which geometry takes which layout and why.

// stager cuts the copy of the input that an in-place B source makes into
// stage units of consecutive items (planes, channels or images, in the
// order the k steps first need them), run by the GEMM (stagedB).
type stager struct {
	items, per int
	ready      bool // every unit has run
}

// stageFloats is about the size of a stage unit: large enough that
// claiming it costs nothing next to the copy, small enough to give each
// thread several units per kc block.
const stageFloats = 1 << 14

func (st *stager) setup(items, itemFloats int) {
	st.items, st.per, st.ready = items, max(1, stageFloats/max(1, itemFloats)), false
}

// units returns the stage units that hold the first n items.
func (st *stager) units(n int) int { return (min(n, st.items) + st.per - 1) / st.per }

func (st *stager) staged() bool { return st.ready }
func (st *stager) markStaged()  { st.ready = true }

// span returns the items of stage unit u.
func (st *stager) span(u int) (int, int) { return u * st.per, min((u+1)*st.per, st.items) }

// padded is the im2col matrix of a stride-1 convolution read in place from
// a zero-padded copy of the input (bIndirect): tap (ci, ki, kj) at output
// pixel (n, oh, ow) is padded[n, ci, oh+ki, ow+kj], so a run of output
// pixels along a row is a contiguous run of the padded image and no im2col
// panel is ever written. When the GEMM cannot read it in place it falls
// back to packing through im.
type padded struct {
	im     *im2colB
	x      []float32 // the input, until the product is done
	buf    []float32
	ph, pw int
	nv     int // pieces per B row (paddedPieces)
	stager     // items: the (image, channel) planes
}

// usePadded reports whether a stride-1 convolution of geometry g can read
// its input in place at level impl.
func usePadded(g *ConvGeom, impl *simd.Impl) bool { return paddedPieces(g, impl) > 0 }

// paddedPieces returns how many pieces each B row of the convolution of
// geometry g is read in at level impl, or 0 if it cannot be read in place:
// panels of nr output pixels must cover whole runs of nr/nv pixels within
// output rows, and never two images. The level's own piece count first,
// else twice as many pieces of half the length where the level takes them
// (AVX-512 reads 8-pixel rows, ResNet's 8x8 stage, as 4 pieces of 8).
func paddedPieces(g *ConvGeom, impl *simd.Impl) int {
	nv := impl.IndirectPieces()
	if nv == 0 || g.Stride != 1 {
		return 0
	}
	_, nr := impl.GemmTile()
	size := g.N * g.Cin * (g.H + 2*g.Pad) * (g.W + 2*g.Pad)
	if (g.OH*g.OW)%nr != 0 || size >= math.MaxInt32 {
		return 0
	}
	for _, n := range []int{nv, 2 * nv} {
		if g.OW%(nr/n) == 0 && impl.AcceptsIndirectPieces(n) {
			return n
		}
	}
	return 0
}

// prepare sets s up for the padded copy of x for geometry g, which the
// GEMM then makes in stages (stagedB).
func (s *padded) prepare(im *im2colB, g *ConvGeom, impl *simd.Impl, x []float32) {
	s.nv = paddedPieces(g, impl)
	s.im, s.x = im, x
	s.ph, s.pw = g.H+2*g.Pad, g.W+2*g.Pad
	s.buf = grow(s.buf, g.N*g.Cin*s.ph*s.pw)
	s.stager.setup(g.N*g.Cin, s.ph*s.pw)
}

// stagesFor: the planes are copied in memory order, image by image, so
// any k step needs every unit.
func (s *padded) stagesFor(p int) int {
	if p <= 0 {
		return 0
	}
	return s.units(s.items)
}

// interleave: no; copying the planes channel by channel among the
// products (so that the first kc block could start after its channels)
// measured 3-5% slower than one copy in memory order first.
func (*padded) interleave() bool { return false }

func (s *padded) stage(w, u int) {
	g := s.im.g
	i0, i1 := s.span(u)
	plane := s.ph * s.pw
	// Zero each plane in one call, then copy its rows in: zeroing only the
	// padding, a few floats at a time, cost as much as the copy itself on
	// 8- and 16-pixel rows, and zeroing the whole unit (64 KiB, more than
	// L1) before copying made the 16x16 forward 2-3% slower.
	for nc := i0; nc < i1; nc++ {
		clear(s.buf[nc*plane : (nc+1)*plane])
		dst := s.buf[nc*plane+g.Pad*s.pw+g.Pad : (nc+1)*plane]
		src := s.x[nc*g.H*g.W : (nc+1)*g.H*g.W]
		for h := 0; h < g.H; h++ {
			copy(dst[h*s.pw:h*s.pw+g.W], src[h*g.W:(h+1)*g.W])
		}
	}
}

func (s *padded) base() []float32 { return s.buf }

func (s *padded) pieceCount() int { return s.nv }

// prefetch: a padded image's taps jump between rows and planes.
func (s *padded) prefetch() bool { return true }

func (s *padded) packB(w int, dst []float32, p0, kb, j0, nb, nr, first, count int) {
	s.im.packB(w, dst, p0, kb, j0, nb, nr, first, count)
}

// koffs: tap (ci, ki, kj) sits at ci*plane + ki*pw + kj from the top-left
// input pixel of its output pixel.
func (s *padded) koffs(dst []int32, p0 int) { tapOffsets(dst, s.im.g, p0, s.ph, s.pw, 1) }

// pieces: the padded-image position of each piece's first output pixel.
func (s *padded) pieces(dst []int, col, nr int) {
	g := s.im.g
	ohw, plane := g.OH*g.OW, s.ph*s.pw
	piece := nr / len(dst)
	for v := range dst {
		c := col + v*piece
		n, q := c/ohw, c%ohw
		dst[v] = n*g.Cin*plane + (q/g.OW)*s.pw + q%g.OW
	}
}

// batchInner is the im2col matrix of a stride-1 convolution read in place
// from a zero-padded, batch-innermost copy of the input,
// buf[ci][ih][iw][n] with n padded to npad (a multiple of the piece
// length), for images whose output rows are too short for padded's runs
// (ResNet's 8x8 and 4x4 stages). Column j = q*npad + n for output pixel q
// and image n, so a piece is a run of images at one pixel and tap
// (ci, ki, kj) of column j is buf[pixel(q)*npad + n + tap(ci,ki,kj)*npad].
// The GEMM writes C in the same column order (cols columns, rounded up to
// whole panels); scatter moves it to NCHW.
type batchInner struct {
	g                  *ConvGeom
	impl               *simd.Impl
	x, y, c            []float32
	buf                []float32
	ph, pw, npad, cols int
	stager             // items: the input channels
	// tmp is per-worker scratch of one channel's pixels for every image
	// (H*W*npad floats, or OH*OW*N).
	tmp [maxWorkers][]float32
}

// useBatchInner reports whether a stride-1 convolution can read its input
// in place in the batch-innermost layout at level impl.
func useBatchInner(g *ConvGeom, impl *simd.Impl) bool {
	nv := impl.IndirectPieces()
	if nv == 0 || g.Stride != 1 {
		return false
	}
	_, nr := impl.GemmTile()
	piece := nr / nv
	npad := (g.N + piece - 1) / piece * piece
	size := g.Cin * (g.H + 2*g.Pad) * (g.W + 2*g.Pad) * npad
	return size < math.MaxInt32 && g.OH*g.OW*npad < math.MaxInt32
}

// prepare builds the batch-innermost padded copy of x.
func (s *batchInner) prepare(g *ConvGeom, impl *simd.Impl, x []float32) {
	s.g, s.impl, s.x = g, impl, x
	_, nr := impl.GemmTile()
	piece := nr / impl.IndirectPieces()
	s.npad = (g.N + piece - 1) / piece * piece
	s.ph, s.pw = g.H+2*g.Pad, g.W+2*g.Pad
	s.cols = (g.OH*g.OW*s.npad + nr - 1) / nr * nr
	s.buf = grow(s.buf, g.Cin*s.ph*s.pw*s.npad)
	s.stager.setup(g.Cin, s.ph*s.pw*s.npad)
}

// scatter moves the GEMM's output c (Cout rows of cols columns) into y in
// NCHW.
func (s *batchInner) scatter(y, c []float32) {
	s.y, s.c = y, c
	parallelForChunked(s.g.Cout, Threads(), s)
	s.y, s.c = nil, nil
}

// run scatters output channel i: y[n, co, q] = c[co, q*npad + n],
// transposed into scratch and then copied image by image, so that each
// image's run of pixels is written whole (transposing straight into y
// wrote every run in pieces, a channel apart in a power-of-two stride).
func (s *batchInner) run(w, i int) {
	g := s.g
	ohw := g.OH * g.OW
	tmp := grow(s.tmp[w], g.N*ohw)
	s.tmp[w] = tmp
	s.impl.Transpose(tmp, ohw, s.c[i*s.cols:], s.npad, ohw, g.N)
	for n := 0; n < g.N; n++ {
		copy(s.y[(n*g.Cout+i)*ohw:(n*g.Cout+i+1)*ohw], tmp[n*ohw:(n+1)*ohw])
	}
}

// stagesFor: k steps below p read channels below ceil(p/khw).
func (s *batchInner) stagesFor(p int) int {
	khw := s.g.KH * s.g.KW
	return s.units((p + khw - 1) / khw)
}

// interleave: no, as for padded (3% slower on the 512-channel forward).
func (*batchInner) interleave() bool { return false }

func (s *batchInner) stage(w, u int) {
	i0, i1 := s.span(u)
	for i := i0; i < i1; i++ {
		s.copyChannel(w, i)
	}
}

// copyChannel writes channel i: every image's plane transposed at once
// into scratch (reading each image's pixels in one sweep; transposing a
// row at a time went back to every image, a channel apart in a
// power-of-two stride, once per row), then zero rows above and below,
// zero columns left and right, and the rows copied into place. The padded
// image slots n >= N feed only discarded columns and are left as they are.
func (s *batchInner) copyChannel(w, i int) {
	g := s.g
	hw, row := g.H*g.W, g.W*s.npad
	tmp := grow(s.tmp[w], hw*s.npad)
	s.tmp[w] = tmp
	s.impl.Transpose(tmp, s.npad, s.x[i*hw:], g.Cin*hw, g.N, hw)
	plane := s.buf[i*s.ph*s.pw*s.npad : (i+1)*s.ph*s.pw*s.npad]
	rowLen := s.pw * s.npad
	clear(plane[:g.Pad*rowLen+g.Pad*s.npad])
	for h := 0; h < g.H; h++ {
		o := (h+g.Pad)*rowLen + g.Pad*s.npad
		copy(plane[o:o+row], tmp[h*row:(h+1)*row])
		end := o + rowLen
		if h == g.H-1 {
			end = len(plane)
		}
		clear(plane[o+row : end])
	}
}

func (s *batchInner) base() []float32 { return s.buf }

func (s *batchInner) pieceCount() int { return s.impl.IndirectPieces() }

func (s *batchInner) prefetch() bool { return true }

func (s *batchInner) koffs(dst []int32, p0 int) {
	tapOffsets(dst, s.g, p0, s.ph, s.pw, s.npad)
}

func (s *batchInner) pieces(dst []int, col, nr int) {
	g := s.g
	piece := nr / len(dst)
	real := g.OH * g.OW * s.npad
	for v := range dst {
		c := col + v*piece
		if c >= real {
			dst[v] = 0 // a column past the end: any valid address
			continue
		}
		q, n0 := c/s.npad, c%s.npad
		dst[v] = ((q/g.OW)*s.pw+q%g.OW)*s.npad + n0
	}
}

func (s *batchInner) packB(_ int, dst []float32, p0, kb, j0, nb, nr, first, count int) {
	packInPlace(s, s.impl, dst, p0, kb, j0, nr, first, count)
}

// nhwcB is X~^T, the B operand of the weight gradient, read in place from
// a zero-padded channels-last copy of the input, buf[n][ih][iw][ci]: with
// the columns ordered (kh, kw, ci), a piece is a run of channels at one
// input pixel, and row p (output pixel (n, oh, ow)) of column
// (kh, kw, ci) is buf[pixel(p) + (kh*pw + kw)*cs + ci], with a pixel
// stride cs of Cin or more (nhwcStride). Any stride works. Columns are
// rounded up to whole panels (the extra ones are discarded).
type nhwcB struct {
	g      *ConvGeom
	impl   *simd.Impl
	x      []float32
	buf    []float32
	ph, pw int
	cs     int // floats per pixel
	cols   int
	dw, c  []float32
	stager // items: the images
}

// useNHWC reports whether the weight gradient of geometry g can read X~
// in place at level impl: channel runs must be whole pieces.
func useNHWC(g *ConvGeom, impl *simd.Impl) bool {
	nv := impl.IndirectPieces()
	if nv == 0 {
		return false
	}
	_, nr := impl.GemmTile()
	size := g.N * (g.H + 2*g.Pad) * (g.W + 2*g.Pad) * nhwcStride(g.Cin)
	return g.Cin%(nr/nv) == 0 && size < math.MaxInt32
}

// nhwcStride returns the pixel stride of the channels-last copy for cin
// channels: cin, plus one cache line where cin floats are an even number
// of lines. A k step of the weight gradient moves to the next pixel, so
// with a stride of a power-of-two number of lines every B row of a panel
// fell in the same few cache sets and the panel never stayed in L1 or
// L2 (the 512-channel pass's 512 rows of 2 KiB apart share 4 of L1's 64
// sets).
func nhwcStride(cin int) int {
	if cin%32 == 0 {
		return cin + 16
	}
	return cin
}

func (s *nhwcB) prepare(g *ConvGeom, impl *simd.Impl, x []float32) {
	s.g, s.impl, s.x = g, impl, x
	_, nr := impl.GemmTile()
	s.ph, s.pw = g.H+2*g.Pad, g.W+2*g.Pad
	s.cols = (g.KH*g.KW*g.Cin + nr - 1) / nr * nr
	s.cs = nhwcStride(g.Cin)
	s.buf = grow(s.buf, g.N*s.ph*s.pw*s.cs)
	s.stager.setup(g.N, s.ph*s.pw*s.cs)
}

// unpermute writes dw[co, ci, kh, kw] from c[co, (kh, kw, ci)].
func (s *nhwcB) unpermute(dw, c []float32) {
	s.dw, s.c = dw, c
	parallelForChunked(s.g.Cout, Threads(), s)
	s.dw, s.c = nil, nil
}

// run unpermutes row co = i: a khw x Cin matrix to transpose into
// Cin x khw.
func (s *nhwcB) run(_, i int) {
	g := s.g
	khw := g.KH * g.KW
	s.impl.Transpose(s.dw[i*g.Cin*khw:], khw, s.c[i*s.cols:], g.Cin, khw, g.Cin)
}

// stagesFor: k steps below p are the output pixels of images below
// ceil(p/(OH*OW)), which read those images only.
func (s *nhwcB) stagesFor(p int) int {
	ohw := s.g.OH * s.g.OW
	return s.units((p + ohw - 1) / ohw)
}

// interleave: yes; a weight gradient's k steps are whole images, so its
// first kc block needs only the first image or two (4-10% faster on
// ResNet's weight gradients at 2 threads than copying every image first).
func (*nhwcB) interleave() bool { return true }

func (s *nhwcB) stage(w, u int) {
	i0, i1 := s.span(u)
	for i := i0; i < i1; i++ {
		s.copyImage(i)
	}
}

// copyImage writes image i: zero borders, each input row transposed into
// place.
func (s *nhwcB) copyImage(i int) {
	g := s.g
	img := s.buf[i*s.ph*s.pw*s.cs : (i+1)*s.ph*s.pw*s.cs]
	padTransposed(s.impl, g, img, s.pw, s.cs, s.x[i*g.Cin*g.H*g.W:], g.H*g.W, g.Cin)
}

func (s *nhwcB) base() []float32 { return s.buf }

func (s *nhwcB) pieceCount() int { return s.impl.IndirectPieces() }

// prefetch: k steps walk the pixels in order, which the hardware
// prefetchers follow, but a panel's rows are a pixel apart and the
// software prefetch still gained 2-4% at 1 and 2 threads once the pixel
// stride stopped being a power of two (nhwcStride; before that it cost
// the 512-channel pass 9%).
func (s *nhwcB) prefetch() bool { return true }

// koffs: k step p is output pixel (n, oh, ow).
func (s *nhwcB) koffs(dst []int32, p0 int) {
	g := s.g
	ohw := g.OH * g.OW
	n, q := p0/ohw, p0%ohw
	oh, ow := q/g.OW, q%g.OW
	for p := range dst {
		dst[p] = int32(((n*s.ph+oh*g.Stride)*s.pw + ow*g.Stride) * s.cs)
		if ow++; ow == g.OW {
			ow = 0
			if oh++; oh == g.OH {
				oh = 0
				n++
			}
		}
	}
}

func (s *nhwcB) pieces(dst []int, col, nr int) {
	g := s.g
	piece := nr / len(dst)
	real := g.KH * g.KW * g.Cin
	for v := range dst {
		c := col + v*piece
		if c >= real {
			dst[v] = 0
			continue
		}
		r, ci := c/g.Cin, c%g.Cin
		dst[v] = ((r/g.KW)*s.pw+r%g.KW)*s.cs + ci
	}
}

func (s *nhwcB) packB(_ int, dst []float32, p0, kb, j0, nb, nr, first, count int) {
	packInPlace(s, s.impl, dst, p0, kb, j0, nr, first, count)
}

// packInPlace packs panels of an in-place source (a fallback the GEMM uses
// only where the level cannot read B in place).
func packInPlace(s bIndirect, impl *simd.Impl, dst []float32, p0, kb, j0, nr, first, count int) {
	nv := max(1, s.pieceCount())
	piece := nr / nv
	var koff [1]int32
	var pc [4]int
	buf := s.base()
	for jp := first; jp < first+count; jp++ {
		panel := dst[jp*nr*kb : (jp+1)*nr*kb]
		s.pieces(pc[:nv], j0+jp*nr, nr)
		for p := 0; p < kb; p++ {
			s.koffs(koff[:], p0+p)
			for v := 0; v < nv; v++ {
				o := pc[v] + int(koff[0])
				copy(panel[p*nr+v*piece:p*nr+(v+1)*piece], buf[o:o+piece])
			}
		}
	}
}

// padTransposed writes plane, a zero-padded image of (H+2Pad) x pw pixels
// of inner floats each, whose pixel (h, w) holds rows floats (the rest
// left as they are) taken down a column of src: pixel (h, w) float r =
// src[r*lds + h*W + w], one block transpose per image row.
func padTransposed(impl *simd.Impl, g *ConvGeom, plane []float32, pw, inner int, src []float32, lds, rows int) {
	rowLen := pw * inner
	clear(plane[:g.Pad*rowLen])
	clear(plane[(g.Pad+g.H)*rowLen:])
	for h := 0; h < g.H; h++ {
		row := plane[(h+g.Pad)*rowLen : (h+g.Pad+1)*rowLen]
		clear(row[:g.Pad*inner])
		clear(row[(g.Pad+g.W)*inner:])
		impl.Transpose(row[g.Pad*inner:], inner, src[h*g.W:], lds, rows, g.W)
	}
}

// tapOffsets writes, for the k steps p0 .. p0+len(dst)-1 (taps
// (ci, ki, kj) in order), the tap's offset ((ci*ph + ki)*pw + kj)*scale in
// a padded copy of the input with ph x pw planes and scale floats per
// pixel.
func tapOffsets(dst []int32, g *ConvGeom, p0, ph, pw, scale int) {
	khw := g.KH * g.KW
	ci, r := p0/khw, p0%khw
	ki, kj := r/g.KW, r%g.KW
	for p := range dst {
		dst[p] = int32(((ci*ph+ki)*pw + kj) * scale)
		if kj++; kj == g.KW {
			kj = 0
			if ki++; ki == g.KH {
				ki = 0
				ci++
			}
		}
	}
}
