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
//  1. x is copied into xb and gy into yb (channels-last; yb's tile
//     overhang, the outputs past the image, zeroed);
//  2. the tiles are taken in chunks of winoGradChunk: each chunk's V and
//     dM are formed (the tiles split among the workers), then its 36
//     products accumulate into dU, one product per unit, single-threaded
//     (36 units load two to sixteen workers evenly, with no barrier per
//     product);
//  3. G^T turns dU into the taps, an output channel per unit, and a
//     transpose writes them in the kernel's [co][ci][3][3] order.
//
// Each dU[xi] sums its chunks in chunk order and each chunk's tiles in the
// GEMM's own order, with no split depending on the thread count, so the
// gradient is bitwise the same for any thread count. dU lives in the
// scratch's U (the forward's transformed kernel, the same size) and the
// chunk's V and dM in the all-tiles schedule's V and M, so the weight
// gradient adds no buffer of its own beyond those.

// useWinogradGrad reports whether the kernel gradient of the convolution
// of geometry g takes the Winograd path: where its forward does
// (useWinograd), unless turned off for tests and benchmarks.
func useWinogradGrad(g *ConvGeom, impl *simd.Impl) bool { return !winoGradOff && useWinograd(g, impl) }

// winoGradOff keeps the kernel gradient on the direct path (benchmarks
// and tests compare the two).
var winoGradOff bool

// winoGradBytes is the size that a chunk's V and dM together stay within
// (unless a chunk of winoGradMinChunk tiles is larger). Fewer, larger
// chunks read and write dU (36 Cin Cout floats) fewer times; 8 MiB keeps
// the ResNet stages at batch 32 to one chunk from 128 channels on and the
// 64-channel stage to five, and batch 128 at four times as many, with the
// chunk's products still at least 64 deep. The chunk depends on the
// geometry only, never on the machine, so the sums do too.
const winoGradBytes = 4 << 20

// winoGradForceChunk, when positive, replaces the chunk size (tests).
var winoGradForceChunk int

// winoGradMinChunk is the fewest tiles of a chunk.
const winoGradMinChunk = 64

// winoGradChunk returns the tiles per chunk of the weight gradient.
func (s *winoScratch) winoGradChunk() int {
	if winoGradForceChunk > 0 {
		return min(winoGradForceChunk, s.nt)
	}
	c := winoGradBytes / (36 * 4 * (s.cin + s.cout))
	c = max(winoGradMinChunk, c/16*16)
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
	s.yb = grow(s.yb, g.N*4*s.th*4*s.tw*cout)
	s.parallel(winoGradCopy, g.N, threads, false)

	s.chunk = s.winoGradChunk()
	s.v = grow(s.v, 36*s.chunk*cin)
	s.mt = grow(s.mt, 36*s.chunk*cout)
	s.u = grow(s.u, 36*cin*cout)
	for s.t0 = 0; s.t0 < s.nt; s.t0 += s.chunk {
		s.tc = min(s.chunk, s.nt-s.t0)
		s.parallel(winoGradTiles, s.tc, threads, true)
		s.parallel(winoGradProduct, 36, threads, false)
	}
	s.parallel(winoGradKernel, cout, threads, false)
}

// gradCopy writes image n of the output gradient (s.y) into yb,
// channels-last, with zeros past the image's last row and column.
func (s *winoScratch) gradCopy(n int) {
	g, cout := s.g, s.cout
	ohw, owb := g.OH*g.OW, 4*s.tw
	img := s.yb[n*4*s.th*owb*cout : (n+1)*4*s.th*owb*cout]
	for oh := 0; oh < g.OH; oh++ {
		row := img[oh*owb*cout : (oh+1)*owb*cout]
		s.impl.Transpose(row, cout, s.y[n*cout*ohw+oh*g.OW:], ohw, cout, g.OW)
		clear(row[g.OW*cout:])
	}
	clear(img[g.OH*owb*cout:])
}

// gradTiles forms row r of the chunk's V and dM planes, for tile s.t0+r.
func (s *winoScratch) gradTiles(w, r int) {
	s.inputTile(w, s.t0+r, s.v, r, s.chunk)
	s.gradTile(w, s.t0+r, s.mt, r, s.chunk)
}

// gradTile transforms tile t of yb, A dY A^T, into row r of each of the 36
// planes of dm (planes of rows rows, in V's order): a pass along each of
// the tile's four rows into tmp[i][a], then along its columns into
// dm[(b, a)][r].
func (s *winoScratch) gradTile(w, t int, dm []float32, r, rows int) {
	impl, cout := s.impl, s.cout
	n, q := t/s.tt, t%s.tt
	ty, tx := q/s.tw, q%s.tw
	owb := 4 * s.tw
	tmp := s.tmp[w]
	for i := 0; i < 4; i++ {
		impl.WinogradOutputAdjoint4(tmp[i*6*cout:], cout, s.yb[((n*4*s.th+4*ty+i)*owb+4*tx)*cout:], cout, cout)
	}
	for a := 0; a < 6; a++ {
		impl.WinogradOutputAdjoint4(dm[(a*rows+r)*cout:], 6*rows*cout, tmp[a*cout:], 6*cout, cout)
	}
}

// gradProduct adds the chunk's product of position xi into dU[xi]:
// dU[xi] (Cout x Cin) += dM[xi]^T V[xi], over the chunk's tc tiles, on
// worker w alone; the first chunk overwrites.
func (s *winoScratch) gradProduct(w, xi int) {
	impl, cin, cout, rows := s.impl, s.cin, s.cout, s.chunk
	s.da[w] = denseA{impl: impl, a: s.mt[xi*rows*cout : xi*rows*cout+s.tc*cout], lda: cout, trans: true}
	s.db[w] = denseB{impl: impl, b: s.v[xi*rows*cin : xi*rows*cin+s.tc*cin], ldb: cin}
	gemmSources(impl, 1, cout, cin, s.tc, 1, &s.da[w], &s.db[w], s.u[xi*cout*cin:(xi+1)*cout*cin], cin, 0, 0, s.t0 == 0)
}

// gradKernel writes the taps of output channel co, dw[co][ci][r][s] for
// every ci: G^T along a of each dU[(b, a)][co] into tmp[b][s], then along
// b into t9[(r, s)], a row of input channels per tap, and a transpose.
func (s *winoScratch) gradKernel(w, co int) {
	impl, cin, cout := s.impl, s.cin, s.cout
	t18 := s.tmp[w][:18*cin]
	t9 := s.tmp[w][18*cin : 27*cin]
	for b := 0; b < 6; b++ {
		impl.WinogradKernelAdjoint4(t18[b*3*cin:], cin, s.u[(b*6*cout+co)*cin:], cout*cin, cin)
	}
	for c := 0; c < 3; c++ {
		impl.WinogradKernelAdjoint4(t9[c*cin:], 3*cin, t18[c*cin:], 3*cin, cin)
	}
	impl.Transpose(s.w[co*cin*9:], 9, t9, cin, 9, cin)
}
