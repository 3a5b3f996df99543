package tensor

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/simd"
)

// Convolution in NCHW as implicit GEMM (docs/conv.md). The float32 paths
// never build an im2col matrix: the GEMM's packing routines read the
// image directly, so memory stays at the size of the operands and the
// packed panels are formed once, in cache.
//
//	forward       Y[co, (n,q)]  = W[co, (ci,kh,kw)] * X~[(ci,kh,kw), (n,q)]
//	weight grad   dW[co, k]     = dY[co, (n,q)] * X~^T[(n,q), k]
//	input grad    stride 1: a forward convolution of dY with the flipped,
//	              transposed kernel; other strides: dX~ = W^T dY, folded
//	              back (col2im) one group of images at a time.
//
// X~ is the im2col matrix (never stored), q runs over output pixels.

// ConvGeom is the geometry of a 2-D convolution: input [N, Cin, H, W],
// kernel [Cout, Cin, KH, KW], the same stride and zero padding along both
// axes, output [N, Cout, OH, OW].
type ConvGeom struct {
	N, Cin, H, W int
	Cout, KH, KW int
	Stride, Pad  int
	OH, OW       int
}

// NewConvGeom checks the shapes of an input x and a kernel w and returns
// the geometry of their convolution.
func NewConvGeom(x, w []int, stride, pad int) (ConvGeom, error) {
	if len(x) != 4 || len(w) != 4 {
		return ConvGeom{}, fmt.Errorf("%w: Conv2d wants a 4-D input [N C H W] and kernel [Cout Cin KH KW], got %v and %v", ErrShape, shapeString(x), shapeString(w))
	}
	g := ConvGeom{N: x[0], Cin: x[1], H: x[2], W: x[3], Cout: w[0], KH: w[2], KW: w[3], Stride: stride, Pad: pad}
	switch {
	case w[1] != x[1]:
		return g, fmt.Errorf("%w: Conv2d: input %v has %d channels, kernel %v expects %d", ErrShape, shapeString(x), x[1], shapeString(w), w[1])
	case stride < 1 || pad < 0:
		return g, fmt.Errorf("%w: Conv2d: stride %d, padding %d", ErrShape, stride, pad)
	case g.KH < 1 || g.KW < 1:
		return g, fmt.Errorf("%w: Conv2d: empty kernel %v", ErrShape, shapeString(w))
	}
	g.OH = (g.H+2*pad-g.KH)/stride + 1
	g.OW = (g.W+2*pad-g.KW)/stride + 1
	if g.H+2*pad < g.KH || g.W+2*pad < g.KW {
		return g, fmt.Errorf("%w: Conv2d: kernel %v larger than the padded input %v (pad %d)", ErrShape, shapeString(w), shapeString(x), pad)
	}
	return g, nil
}

func (g *ConvGeom) inShape() []int  { return []int{g.N, g.Cin, g.H, g.W} }
func (g *ConvGeom) wShape() []int   { return []int{g.Cout, g.Cin, g.KH, g.KW} }
func (g *ConvGeom) outShape() []int { return []int{g.N, g.Cout, g.OH, g.OW} }

// Flops returns the multiply-adds of the forward pass times two.
func (g *ConvGeom) Flops() float64 {
	return 2 * float64(g.N) * float64(g.Cout) * float64(g.OH*g.OW) * float64(g.Cin*g.KH*g.KW)
}

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

func (s *batchInner) base() []float32 { return s.buf }

func (s *batchInner) pieceCount() int { return s.impl.IndirectPieces() }

func (s *batchInner) prefetch() bool { return true }

func (s *batchInner) koffs(dst []int32, p0 int) {
	tapOffsets(dst, s.g, p0, s.ph, s.pw, s.npad)
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

func (s *batchInner) packB(_ int, dst []float32, p0, kb, j0, nb, nr, first, count int) {
	packInPlace(s, s.impl, dst, p0, kb, j0, nr, first, count)
}

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

// convScratch is the pooled workspace of the input-gradient path.
type convScratch struct {
	dcol []float32
	geom ConvGeom
	orig ConvGeom
	im   im2colB
	imT  im2colT
	oA   outA
	oB   outB
	fA   flippedA
	da   denseA
	pad  padded
	bin  batchInner
	nhwc nhwcB
	cbuf []float32 // output in batchInner's or nhwcB's column order
	// xbuf is the storage of whichever copy of the input a call makes
	// (padded, batchInner, nhwcB), shared to keep one per scratch.
	xbuf []float32
}

var convPool freeList[convScratch]

// Conv2d returns the convolution of x [N, Cin, H, W] with the kernel w
// [Cout, Cin, KH, KW] (cross-correlation, as in PyTorch), with the given
// stride and zero padding on both axes: [N, Cout, OH, OW]. Bias, if any, is
// added separately.
func Conv2d(dst, x, w *Tensor, stride, pad int) (*Tensor, error) {
	if err := nonNil("Conv2d", x, w); err != nil {
		return nil, err
	}
	if x.dt != w.dt {
		return nil, fmt.Errorf("%w: Conv2d of %v input and %v kernel", ErrDType, x.dt, w.dt)
	}
	g, err := NewConvGeom(x.Shape(), w.Shape(), stride, pad)
	if err != nil {
		return nil, err
	}
	dst, err = prepareDst("Conv2d", dst, x.dt, g.outShape())
	if err != nil {
		return nil, err
	}
	if x.dt == Float64 {
		conv64Forward(&g, dst.f64, x.f64, w.f64)
		return dst, nil
	}
	s := convPool.get()
	defer convPool.put(s)
	s.geom = g
	impl := simd.Active()
	s.da = denseA{impl: impl, a: w.f32, lda: g.Cin * g.KH * g.KW}
	s.forward(impl, &s.da, x.f32, dst.f32)
	s.da.a = nil
	return dst, nil
}

// forward computes the convolution of geometry s.geom of input x into y
// with kernel operand A, choosing how B is read: in place from a padded
// copy of x (NCHW when output rows are whole pieces, else batch-innermost),
// or packed through im2col.
func (s *convScratch) forward(impl *simd.Impl, A aSource, x, y []float32) {
	g := &s.geom
	s.im.prepare(g, x)
	defer func() { s.im.x = nil }()
	k := g.Cin * g.KH * g.KW
	ohw := g.OH * g.OW
	switch {
	case usePadded(g, impl):
		s.pad.buf = s.xbuf
		s.pad.prepare(&s.im, g, impl, x)
		s.xbuf = s.pad.buf
		gemmSources(impl, Threads(), g.Cout, g.N*ohw, k, 1, A, &s.pad, y, ohw, ohw, g.Cout*ohw, true)
		s.pad.x = nil
	case useBatchInner(g, impl):
		b := &s.bin
		b.buf = s.xbuf
		b.prepare(g, impl, x)
		s.xbuf = b.buf
		s.cbuf = grow(s.cbuf, g.Cout*b.cols)
		gemmSources(impl, Threads(), g.Cout, b.cols, k, 1, A, b, s.cbuf, b.cols, 0, 0, true)
		b.x = nil
		b.scatter(y, s.cbuf)
	default:
		gemmSources(impl, Threads(), g.Cout, g.N*ohw, k, 1, A, &s.im, y, ohw, ohw, g.Cout*ohw, true)
	}
}

// Conv2dBackwardWeight returns the gradient of the kernel of Conv2d(x, w)
// given the output gradient gy: [Cout, Cin, kh, kw].
func Conv2dBackwardWeight(dst, x, gy *Tensor, kh, kw, stride, pad int) (*Tensor, error) {
	if err := nonNil("Conv2dBackwardWeight", x, gy); err != nil {
		return nil, err
	}
	if x.dt != gy.dt {
		return nil, fmt.Errorf("%w: Conv2dBackwardWeight of %v input and %v gradient", ErrDType, x.dt, gy.dt)
	}
	if gy.nd != 4 {
		return nil, fmt.Errorf("%w: Conv2dBackwardWeight: gradient %v is not 4-D", ErrShape, shapeString(gy.Shape()))
	}
	if x.nd != 4 {
		return nil, fmt.Errorf("%w: Conv2dBackwardWeight: input %v is not 4-D", ErrShape, shapeString(x.Shape()))
	}
	wshape := []int{gy.dims[1], x.dims[1], kh, kw}
	g, err := NewConvGeom(x.Shape(), wshape, stride, pad)
	if err != nil {
		return nil, err
	}
	if !equalInts(gy.Shape(), g.outShape()) {
		return nil, fmt.Errorf("%w: Conv2dBackwardWeight: gradient %v, but the output of %v with a %v kernel is %v", ErrShape, shapeString(gy.Shape()), shapeString(x.Shape()), shapeString(wshape), shapeString(g.outShape()))
	}
	dst, err = prepareDst("Conv2dBackwardWeight", dst, x.dt, wshape)
	if err != nil {
		return nil, err
	}
	if x.dt == Float64 {
		conv64BackwardWeight(&g, dst.f64, x.f64, gy.f64)
		return dst, nil
	}
	s := convPool.get()
	defer convPool.put(s)
	s.geom = g
	impl := simd.Active()
	s.oA = outA{g: &s.geom, c: g.Cout, y: gy.f32, impl: impl}
	defer func() { s.oA.y = nil }()
	k := g.Cin * g.KH * g.KW
	if useNHWC(&s.geom, impl) {
		// dW~[co, (kh, kw, ci)] with B read in place from a channels-last
		// padded copy of x, then reordered into dW.
		b := &s.nhwc
		b.buf = s.xbuf
		b.prepare(&s.geom, impl, x.f32)
		s.xbuf = b.buf
		s.cbuf = grow(s.cbuf, g.Cout*b.cols)
		gemmSources(impl, Threads(), g.Cout, b.cols, g.N*g.OH*g.OW, 1, &s.oA, b, s.cbuf, b.cols, 0, 0, true)
		b.x = nil
		b.unpermute(dst.f32, s.cbuf)
		return dst, nil
	}
	s.im.prepare(&s.geom, x.f32)
	s.imT = im2colT{im: &s.im, impl: impl}
	gemmSources(impl, Threads(), g.Cout, k, g.N*g.OH*g.OW, 1, &s.oA, &s.imT, dst.f32, k, 0, 0, true)
	s.im.x = nil
	return dst, nil
}

// Conv2dBackwardInput returns the gradient of the input of Conv2d(x, w)
// given the output gradient gy, for an input of height h and width wd:
// [N, Cin, h, wd]. (The input size is needed because strided
// convolutions map several input sizes to one output size.)
func Conv2dBackwardInput(dst, gy, w *Tensor, h, wd, stride, pad int) (*Tensor, error) {
	if err := nonNil("Conv2dBackwardInput", gy, w); err != nil {
		return nil, err
	}
	if gy.dt != w.dt {
		return nil, fmt.Errorf("%w: Conv2dBackwardInput of %v gradient and %v kernel", ErrDType, gy.dt, w.dt)
	}
	if gy.nd != 4 || w.nd != 4 {
		return nil, fmt.Errorf("%w: Conv2dBackwardInput: gradient %v and kernel %v must be 4-D", ErrShape, shapeString(gy.Shape()), shapeString(w.Shape()))
	}
	xshape := []int{gy.dims[0], w.dims[1], h, wd}
	g, err := NewConvGeom(xshape, w.Shape(), stride, pad)
	if err != nil {
		return nil, err
	}
	if !equalInts(gy.Shape(), g.outShape()) {
		return nil, fmt.Errorf("%w: Conv2dBackwardInput: gradient %v, but the output of %v with kernel %v is %v", ErrShape, shapeString(gy.Shape()), shapeString(xshape), shapeString(w.Shape()), shapeString(g.outShape()))
	}
	dst, err = prepareDst("Conv2dBackwardInput", dst, gy.dt, xshape)
	if err != nil {
		return nil, err
	}
	if gy.dt == Float64 {
		conv64BackwardInput(&g, dst.f64, gy.f64, w.f64)
		return dst, nil
	}
	s := convPool.get()
	defer convPool.put(s)
	impl := simd.Active()
	if stride == 1 && pad <= g.KH-1 && pad <= g.KW-1 && g.KH == g.KW {
		// dX = conv(dY, flip(W)^T) with padding KH-1-pad.
		s.geom = ConvGeom{N: g.N, Cin: g.Cout, H: g.OH, W: g.OW, Cout: g.Cin, KH: g.KH, KW: g.KW,
			Stride: 1, Pad: g.KH - 1 - pad, OH: g.H, OW: g.W}
		s.orig = g
		s.fA.g, s.fA.w, s.fA.impl = &s.orig, w.f32, impl
		s.forward(impl, &s.fA, gy.f32, dst.f32)
		s.fA.w = nil
		return dst, nil
	}
	// General stride: dX~ = W^T dY for a group of images at a time, then
	// col2im. The group keeps dX~ near 1 Mi floats.
	dst.Zero()
	s.geom = g
	k := g.Cin * g.KH * g.KW
	ohw := g.OH * g.OW
	group := max(1, min(g.N, (1<<20)/max(1, k*ohw)))
	s.dcol = grow(s.dcol, k*group*ohw)
	s.da = denseA{impl: impl, a: w.f32, lda: k, trans: true}
	for n0 := 0; n0 < g.N; n0 += group {
		gn := min(group, g.N-n0)
		dcol := s.dcol[:k*gn*ohw]
		s.oB = outB{g: &s.geom, c: g.Cout, y: gy.f32[n0*g.Cout*ohw : (n0+gn)*g.Cout*ohw]}
		gemmSources(impl, Threads(), k, gn*ohw, g.Cout, 1, &s.da, &s.oB, dcol, gn*ohw, 0, 0, true)
		col2im(&g, dst.f32[n0*g.Cin*g.H*g.W:], dcol, gn)
	}
	s.oB.y, s.da.a = nil, nil
	return dst, nil
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

// The float64 convolutions are direct loops: they serve gradient checks
// and small models, where clarity beats speed.

// conv64Taps calls f(yi, wi, xi) for every output element yi, kernel entry
// wi and input element xi that meet in the convolution of geometry g, in
// the order (n, co, oh, ow, ci, kh, kw).
func conv64Taps(g *ConvGeom, f func(yi, wi, xi int)) {
	for n := 0; n < g.N; n++ {
		for co := 0; co < g.Cout; co++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					yi := ((n*g.Cout+co)*g.OH+oh)*g.OW + ow
					for ci := 0; ci < g.Cin; ci++ {
						for ki := 0; ki < g.KH; ki++ {
							ih := oh*g.Stride - g.Pad + ki
							if ih < 0 || ih >= g.H {
								continue
							}
							for kj := 0; kj < g.KW; kj++ {
								iw := ow*g.Stride - g.Pad + kj
								if iw < 0 || iw >= g.W {
									continue
								}
								f(yi, ((co*g.Cin+ci)*g.KH+ki)*g.KW+kj, ((n*g.Cin+ci)*g.H+ih)*g.W+iw)
							}
						}
					}
				}
			}
		}
	}
}

func conv64Forward(g *ConvGeom, y, x, w []float64) {
	clear(y)
	conv64Taps(g, func(yi, wi, xi int) { y[yi] += w[wi] * x[xi] })
}

func conv64BackwardWeight(g *ConvGeom, dw, x, gy []float64) {
	clear(dw)
	conv64Taps(g, func(yi, wi, xi int) { dw[wi] += gy[yi] * x[xi] })
}

func conv64BackwardInput(g *ConvGeom, dx, gy, w []float64) {
	clear(dx)
	conv64Taps(g, func(yi, wi, xi int) { dx[xi] += gy[yi] * w[wi] })
}
