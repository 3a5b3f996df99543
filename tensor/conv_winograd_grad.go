package tensor

import "github.com/flatfast/flatfast/simd"

// The kernel gradient of a 3x3 stride-1 convolution on the Winograd path.
// The forward tile is Y_t = A^T [ sum_ci U[co, ci] .* V_t[ci] ] A with
// U = G g G^T and V_t = B^T d_t B, a bilinear form in the kernel g and the
// input, equal to the direct convolution in exact arithmetic; its gradient
// in g is therefore the exact kernel gradient:
//
//	dg[co, ci] = G^T [ sum_t (A dY_t[co] A^T) .* V_t[ci] ] G
//
// so, with dM_t = A dY_t A^T (six by six per tile and output channel),
// the 36 positions xi of a tile are again 36 independent products, now
// reducing over tiles:
//
//	dU[xi][co][ci] = sum_t dM[xi][t][co] V[xi][t][ci]
//
// followed by G^T along both axes of each dU[.][co][ci]. The data are
// channels-last as on the forward path, and the transforms are row
// operations on runs of channels (simd.WinogradOutputAdjoint4 for A,
// WinogradKernelAdjoint4 for G^T; the input's V is the forward's):
//
//  1. x is copied into xb (channels-last, as on the forward path);
//  2. for each block of output channels (coutBlock, as on the forward
//     path), the tiles are taken in chunks of winoGradChunk: each chunk's
//     block of dM is formed with the tiles split among the workers (a
//     tile of gy read by a transpose per pixel row); then each channel
//     group (channelGroup) forms its input channels of the chunk's V and
//     adds its columns of the 36 products into its block of dU, one
//     product after another on one worker (no barrier per product);
//  3. after the last chunk, the same group turns its block of dU into its
//     input channels' taps by G^T, an output channel at a time, and a
//     transpose writes them in the kernel's [co][ci][3][3] order.
//
// Each dU[xi] sums its chunks in chunk order and each chunk's tiles in the
// GEMM's own order, and the groups cut only columns (input channels), at
// whole tiles of the micro-kernel, so the gradient is bitwise the same
// for any thread count. dU lives in the scratch's U (the forward's
// transformed kernel, the same block size), a block [xi][co][k1-k0] per
// channel group, and the chunk's V and dM in the chunked schedule's V
// and M, so the weight gradient adds no buffer of its own beyond those.
// With one chunk, V is formed for the first block only.

// useWinogradGrad reports whether the kernel gradient of the convolution
// of geometry g takes the Winograd path: where its forward does
// (useWinograd), unless turned off for tests and benchmarks.
func useWinogradGrad(g *ConvGeom, impl *simd.Impl) bool { return !winoGradOff && useWinograd(g, impl) }

// winoGradOff keeps the kernel gradient on the direct path (benchmarks
// and tests compare the two).
var winoGradOff bool

// winoGradChunk returns the tiles per chunk of the weight gradient for
// blocks of cb output channels: as many as keep V and dM within
// winoChunkBytes, a multiple of 16, at least winoMinChunk (so that the
// chunk's products are at least 64 deep), at most all. Fewer, larger
// chunks read and write dU fewer times. The chunk depends on the geometry
// and the kernel's tile width only, never on the thread count, so the
// sums do too.
func (s *winoScratch) winoGradChunk(cb int) int {
	if winoForceChunk > 0 {
		return min(winoForceChunk, s.nt)
	}
	c := winoChunkBytes / (36 * 4 * (s.cin + cb))
	c = max(winoMinChunk, c/16*16)
	return min(c, s.nt)
}

// weightGrad computes into dw, [g.Cout, g.Cin, 3, 3], the kernel gradient
// of the convolution of geometry g (useWinograd) of x given the output
// gradient gy.
func (s *winoScratch) weightGrad(impl *simd.Impl, threads int, g *ConvGeom, x, gy, dw []float32) {
	// The call's w is the gradient written, y the output gradient read.
	s.setup(impl, threads, g, dw, x, gy)
	defer s.done()
	cin, cout := s.cin, s.cout
	s.parallel(winoCopyIn, g.N, threads, false)

	cb := s.coutBlock()
	s.chunk = s.winoGradChunk(cb)
	s.chunkVM(36*s.chunk*cin, 36*s.chunk*cb)
	s.u = grow(s.u, 36*cin*cb)
	byPositions := s.gradByPositions()
	s.pgroups = min(36, max(1, threads))
	s.setChannelGroups(threads)
	for s.c0 = 0; s.c0 < cout; s.c0 += cb {
		s.cb = min(cb, cout-s.c0)
		for s.t0 = 0; s.t0 < s.nt; s.t0 += s.chunk {
			s.tc = min(s.chunk, s.nt-s.t0)
			if byPositions {
				s.parallel(winoGradPositions, s.pgroups, threads, false)
				continue
			}
			s.parallel(winoGradTiles, s.runSlots(), threads, true)
			s.parallel(winoGradGroup, s.cgroups, threads, false)
		}
		if byPositions {
			s.parallel(winoGradKernel, s.cb, threads, false)
		}
	}
}

// gradGroup runs group g's part of a chunk of the weight gradient, for its
// input channels [k0, k1) (channelGroup): their V (formV), their columns
// of the 36 products dU[xi] += dM[xi]^T V[xi], and after the last chunk
// G^T of their columns of dU into the kernel gradient. V and dU are then
// written and read by one unit; the units by tiles (V), by position (the
// products) and by output channel (G^T) had each worker read what the
// other wrote, the cost on the Zen 5 VM that positionGroup describes.
func (s *winoScratch) gradGroup(w, g int) {
	k0, k1 := s.channelGroup(g)
	if k0 >= k1 {
		return
	}
	if s.formV() {
		s.inputGroup(w, g)
	}
	for xi := 0; xi < 36; xi++ {
		s.gradProduct(w, xi, k0, k1)
	}
	if s.t0+s.tc >= s.nt {
		for o := 0; o < s.cb; o++ {
			s.gradKernel(w, o, k0, k1)
		}
	}
}

// gradByPositions reports whether the weight gradient runs by position
// groups (gradPositions) rather than by channel groups (gradGroup). Either
// way one kind of buffer passes between the workers: by channel groups,
// every chunk's dM (36 tiles Cout floats over the call, each group reading
// all of it); by position groups, dU once per block of output channels
// (36 Cin Cout over the call), at the price of each group's own first
// pass of the V and dM transforms. It takes the smaller: positions where
// Cin is below the tiles, as for the 64- and 128-channel stages of
// ResNet-18, channels for the 256- and 512-channel ones. On the Zen 5 VM
// (AVX2, two threads, the two alternated in one process, medians of 15),
// the 64-channel stage took 15.7-15.8 ms by channels and 10.7-14.0 by
// positions, the 128-channel one 8.5-9.3 and 6.8-6.9, the 256-channel one
// 7.5 and 7.6-7.7. Either way the arithmetic is the same.
func (s *winoScratch) gradByPositions() bool {
	if winoGradBy > 0 {
		return winoGradBy == 2
	}
	return s.cin < s.nt
}

// winoGradBy forces the weight gradient's groups for tests: 0 lets
// gradByPositions choose, 1 takes channel groups, 2 position groups.
var winoGradBy = 0

// gradPositions runs position group g's part of a chunk of the weight
// gradient: V (formV) and dM of its positions, every tile of the chunk,
// and their products into dU; G^T follows after the last chunk, by output
// channels (gradKernel over every input channel).
func (s *winoScratch) gradPositions(w, g int) {
	p0, p1 := positionGroup(g, s.pgroups)
	if s.formV() {
		for r := 0; r < s.tc; r++ {
			s.inputRange(w, s.t0+r, s.v, s.cin, r, s.chunk, 0, s.cin, p0, p1)
		}
	}
	s.gradTileRuns(w, s.t0, s.t0+s.tc, s.mt, 0, s.chunk, p0, p1)
	for p := p0; p < p1; p++ {
		s.gradProduct(w, otherOrder(p), 0, s.cin)
	}
}

// gradTiles forms the chunk's dM planes for the tiles of unit i
// (runSlot).
func (s *winoScratch) gradTiles(w, i int) {
	ta, tb, r := s.runSlot(i)
	s.gradTileRuns(w, ta, tb, s.mt, r, s.chunk, 0, 36)
}

// gradTileRuns transforms the block's channels of the tiles [ta, tb) of
// the output gradient, A dY A^T, into rows r0 + t - ta of the planes of dm
// of the positions [p0, p1) (positionGroup's order; planes of rows rows of
// cb channels, in V's order). Each run of up to winoRun tiles of one row
// of tiles is read channels-last by one transpose per pixel row into
// px[i][x] (zeros past the image), as outputTiles writes them; then, a
// tile at a time, a pass along each of its four rows into tmp[i][a] and
// along the positions' columns into dm[(b, a)][r] (through scratch where a
// column is only partly in the range).
func (s *winoScratch) gradTileRuns(w, ta, tb int, dm []float32, r0, rows, p0, p1 int) {
	impl, g, cb := s.impl, s.g, s.cb
	tmp := s.tmp[w]
	ohw := g.OH * g.OW
	s.tileRuns(ta, tb, func(t, n, ty, tx, k int) {
		px := tmp[46*cb : (46+16*k)*cb]
		ni, nx := min(4, g.OH-4*ty), min(4*k, g.OW-4*tx)
		if ni < 4 || nx < 4*k {
			clear(px)
		}
		for i := range ni {
			impl.Transpose(px[i*4*k*cb:], cb, s.y[(n*s.cout+s.c0)*ohw+(4*ty+i)*g.OW+4*tx:], ohw, cb, nx)
		}
		for e := 0; e < k; e++ {
			for i := 0; i < 4; i++ {
				impl.WinogradOutputAdjoint4(tmp[i*6*cb:], cb, px[(i*4*k+4*e)*cb:], cb, cb)
			}
			r := r0 + t + e - ta
			passColumns(p0, p1, cb, tmp[40*cb:46*cb], dm[r*cb:], rows*cb, 6*rows*cb, func(a int, d []float32, ds int) {
				impl.WinogradOutputAdjoint4(d, ds, tmp[a*cb:], 6*cb, cb)
			})
		}
	})
}

// gradProduct adds the chunk's product of position xi into the block's
// dU[xi] for the input channels [k0, k1): dU[xi] (cb x Cin) += dM[xi]^T
// V[xi], over the chunk's tc tiles, on worker w alone; the first chunk
// overwrites. The group's V and dU are blocks of their own (see gradGroup).
func (s *winoScratch) gradProduct(w, xi, k0, k1 int) {
	impl, cb, rows, n := s.impl, s.cb, s.chunk, k1-k0
	v, u := s.v[36*rows*k0:], s.u[36*cb*k0:]
	s.da[w] = denseA{impl: impl, a: s.mt[xi*rows*cb:][:s.tc*cb], lda: cb, trans: true}
	s.db[w] = denseB{impl: impl, b: v[xi*rows*n:][:s.tc*n], ldb: n}
	gemmSourcesAt(s.jobs.of(w), impl, w, 0, cb, n, s.tc, 1, &s.da[w], &s.db[w], u[xi*cb*n:][:cb*n], n, s.t0 == 0)
}

// gradKernel writes the taps of output channel s.c0+o for the input
// channels [k0, k1), dw[co][ci][r][s]: G^T along a of each dU[(b, a)][o]
// into tmp[b][s], then along b into t9[(r, s)], a row of input channels
// per tap, and a transpose.
func (s *winoScratch) gradKernel(w, o, k0, k1 int) {
	impl, cin, cb, n := s.impl, s.cin, s.cb, k1-k0
	u := s.u[36*cb*k0:]
	t18 := s.tmp[w][:18*n]
	t9 := s.tmp[w][18*n : 27*n]
	for b := 0; b < 6; b++ {
		impl.WinogradKernelAdjoint4(t18[b*3*n:], n, u[(b*6*cb+o)*n:], cb*n, n)
	}
	for c := 0; c < 3; c++ {
		impl.WinogradKernelAdjoint4(t9[c*n:], 3*n, t18[c*n:], 3*n, n)
	}
	impl.Transpose(s.w[((s.c0+o)*cin+k0)*9:], 9, t9, n, 9, n)
}
