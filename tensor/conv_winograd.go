package tensor

import (
	"sync/atomic"

	"github.com/flatfast/flatfast/simd"
)

// Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions (docs/conv.md,
// "Winograd"). An output tile of 4x4 pixels is computed from a 6x6 input
// tile d as A^T [ (G g G^T) .* (B^T d B) ] A, the element-wise product
// summed over input channels, so the 36 positions xi = (b, a) of a
// transformed tile are 36 independent GEMMs over tiles t = (n, ty, tx):
//
//	M[xi][t][co] = sum_ci V[xi][t][ci] U[xi][ci][co]
//
// with 4x fewer multiply-adds than the direct product. The data are kept
// channels-last, so that every transform is a set of row operations on
// runs of channels (simd.WinogradInput4, WinogradKernel4 and
// WinogradOutput4, one pass per axis of a tile):
//
//  1. x (NCHW) is copied into a zero-padded channels-last buffer xb, an
//     image row at a time (a transpose), big enough for whole tiles;
//  2. for each block of output channels (coutBlock), the kernel is
//     transformed into U[p][ci][co], p = 6a + b the position xi = 6b + a
//     (positionGroup's order), for the block's co;
//  3. each tile's 36 runs of Cin channels are transformed into V[xi][t],
//     the 36 products run on the GEMM driver with U[p] read in place, and
//     each tile of M is transformed back into 4x4 pixels of the block's
//     channels (channels-last), which a transpose per pixel row writes
//     into y (NCHW).
//
// Steps 2 and 3 run in one of two schedules (blockTiles): in chunks of
// tiles (tileChunk), or in blocks of tiles sized to stay in L2, each
// block's transforms and products on one worker, so that V and M never
// leave the cache but every block reads all of U. In chunks, each chunk's
// V is formed once, by panels of the products' rows, straight into the
// layout in which the products read their A (inputPanel, vPackedA), and
// then, where the chunks run outside the blocks of output channels
// (chunksOuter) or there is one chunk, the chunk's work is cut into units
// of output channels (unit), each unit's kernel transform, 36 products and
// output transform on one worker with U and M of its own; with the blocks
// outside, each block's kernel transform and products run by position
// groups and its output transform by tiles (conv_winograd_groups.go). Each
// product runs single-threaded.
//
// Memory: U, V and M are bounded (winoUBytes, winoChunkBytes) rather than
// sized for the whole layer, and the output tiles go straight into y,
// since at batch 128 U of a 512-channel layer (36 MiB), V and M over all
// tiles of the 256-channel one (18 MiB each) and a channels-last copy of
// the 64-channel output (32 MiB) made ResNet-18's peak RSS 120 MiB higher
// than on the direct path; xb shares the direct path's input copy.
// The price is recomputation: with several chunks (or blocks of tiles),
// V is formed once per block of output channels, or, with the chunks
// outside (chunksOuter), U once per chunk. Every product, transform and
// sum is the same arithmetic in the same order whatever the blocks,
// chunks, groups and loop order, so the results do not depend on them
// (TestWinogradBlocking).
//
// The input gradient of a stride-1 convolution is the forward convolution
// of the output gradient with the kernel rotated by 180 degrees and its
// channel axes swapped (Conv2dBackwardInput): the kernel transform reads
// the taps in reverse and the kernels by output channel. The kernel
// gradient is in conv_winograd_grad.go.

// useWinograd reports whether the convolution of geometry g (in forward
// form: for the input gradient, the convolution of the output gradient
// with the rotated kernel) takes the Winograd path at level impl: 3x3,
// stride 1, padding at most 2 (so every tile overlaps the image), outputs
// of at least one tile, at least winoMinChannels channels on both sides
// (where the transforms are cheap next to the products) and at least
// winoTiles(impl) tiles (with fewer, reading and writing U, 36 Cin Cout
// floats, costs more than the products save). The rule depends on the
// geometry and the level only, never on the thread count, so results
// stay bitwise the same for any thread count. docs/conv.md has the
// measurements behind it.
func useWinograd(g *ConvGeom, impl *simd.Impl) bool {
	return !winogradOff.Load() && g.KH == 3 && g.KW == 3 && g.Stride == 1 && g.Pad <= 2 &&
		g.Cin >= winoMinChannels && g.Cout >= winoMinChannels &&
		g.OH >= 4 && g.OW >= 4 && g.N*((g.OH+3)/4)*((g.OW+3)/4) >= winoTiles(impl)
}

// winoTiles is the smallest number of tiles of the Winograd rule at level
// impl. ResNet's 512-channel 4x4 stage at batch 32 has 32 tiles. At
// AVX-512, where the direct product runs at twice the FLOPs of AVX2, 32
// tiles ran 1.4-1.5x faster on Winograd (all three passes, one and two
// threads) and 16 tiles slower on two threads (Intel Xeon, docs/conv.md),
// so AVX-512 takes it from 32 tiles on; at AVX2 (AMD Zen 3) the 32-tile
// forward ran 1.9x (one thread) and 1.5x (two) faster than direct, and
// its kernel gradient 2.4x, so the other levels take it from 16 tiles on.
func winoTiles(impl *simd.Impl) int {
	switch {
	case winoMinTiles > 0:
		return winoMinTiles
	case impl.Level() == simd.AVX512:
		return 32
	}
	return 16
}

// winoMinTiles, when positive, replaces winoTiles' rule (tests).
var winoMinTiles = 0

// SetConvWinograd turns the Winograd path of the float32 convolutions on
// (the default) or off and reports whether it was on. Off, every
// convolution is the direct product, whose float32 error is that of a
// dot product of its Cin*9 terms; Winograd F(4,3)'s error is bounded
// relative to the largest output instead (docs/conv.md, "Winograd",
// gives both for the ResNet stages). Safe to call at any time from any
// goroutine; a convolution in progress finishes on the path it started.
func SetConvWinograd(on bool) bool { return !winogradOff.Swap(!on) }

var winogradOff atomic.Bool

// winoMinChannels is the smallest channel count of the Winograd rule (a
// variable so that tests can route small convolutions through either
// path).
var winoMinChannels = 32

// winoSchedule forces a schedule of step 3 for tests and benchmarks: 0
// lets blockTiles choose, 1 is all tiles at once, 2 blocks of tiles.
var winoSchedule = 0

// winoOrder forces the order of the chunked schedule's loops for tests: 0
// lets chunksOuter choose, 1 takes the blocks of output channels outside,
// 2 the chunks of tiles.
var winoOrder = 0

// winoKerBlock is the number of input channels the kernel transform takes
// at a time: the taps of eight are one transpose of rows of 72 floats, and
// it then writes each U[(a, b)] as one run of eight rows, six output
// streams at a time.
const winoKerBlock = 8

// winoScratch is the workspace of the Winograd path (kept in convScratch).
type winoScratch struct {
	xb, u  []float32
	vm     []float32 // v and mt, one after the other
	v, mt  []float32
	tmp    [maxWorkers][]float32
	vb, mb [maxWorkers][]float32 // a block's V and M (blocked schedule)
	da     [maxWorkers]denseA
	jobs   workerJobs // each worker's products
	ub     [maxWorkers]inPlaceB
	db     [maxWorkers]denseB // the weight gradient's B (V read dense)

	// The call in progress, for the tasks.
	impl               *simd.Impl
	w, x, y            []float32
	g                  *ConvGeom // points at geom
	geom               ConvGeom
	flip               bool
	th, tw, hb, wb, tt int
	nt, tb             int
	t0, tc, chunk      int  // the chunk of tiles in progress
	c0, cb             int  // the block of output channels in progress
	pgroups, cgroups   int  // units of a chunk (positionGroup, channelGroup)
	formU              bool // the chunk in progress forms U (group)
	cbu                int  // output channels of a unit (unit)
	mr, mPad, kcV      int  // the packed V's panel rows, rows and kc (packedV)
	vpa                [maxWorkers]vPackedA
	cin, cout          int
	task               winoTask
}

// winoTask runs one unit of a step of the Winograd path.
type winoTask struct {
	s    *winoScratch
	step int
}

const (
	winoCopyIn = iota
	winoKernel
	winoGroup
	winoOutput
	winoBlock
	winoGradTiles
	winoGradGroup
	winoGradPositions
	winoGradKernel
	winoUnit
	winoPanel
)

func (t *winoTask) run(w, i int) {
	s := t.s
	switch t.step {
	case winoCopyIn:
		s.copyIn(i)
	case winoKernel:
		s.kernelRange(w, s.u, s.c0, s.cb, 0, 36, i*winoKerBlock, min(s.cin, (i+1)*winoKerBlock))
	case winoGroup:
		s.group(w, i)
	case winoOutput:
		ta, tb, r := s.runSlot(i)
		s.outputTiles(w, ta, tb, s.mt, r, s.chunk, s.c0, s.cb)
	case winoBlock:
		s.block(w, i)
	case winoGradTiles:
		s.gradTiles(w, i)
	case winoGradGroup:
		s.gradGroup(w, i)
	case winoGradPositions:
		s.gradPositions(w, i)
	case winoGradKernel:
		s.gradKernel(w, i, 0, s.cin)
	case winoUnit:
		s.unit(w, i)
	case winoPanel:
		s.inputPanel(w, i)
	}
}

func (s *winoScratch) parallel(step, n, threads int, chunked bool) {
	s.task = winoTask{s: s, step: step}
	if chunked {
		parallelForChunked(n, threads, &s.task)
	} else {
		parallelFor(n, threads, &s.task)
	}
}

// winograd computes into y the convolution of geometry g (useWinograd) of
// x with w: w is [g.Cout, g.Cin, 3, 3], or with flip the kernel of the
// convolution whose input gradient this is, [g.Cin, g.Cout, 3, 3], used
// rotated and with its channel axes swapped.
func (s *winoScratch) winograd(impl *simd.Impl, threads int, g *ConvGeom, w, x, y []float32, flip bool) {
	s.setup(impl, threads, g, w, x, y)
	defer s.done()
	s.flip = flip
	cin, nt := s.cin, s.nt
	s.parallel(winoCopyIn, g.N, threads, false)
	cb := s.coutBlock()
	if s.tb = s.blockTiles(cb); s.tb > 0 {
		s.u = grow(s.u, 36*cin*cb)
		for wk := 0; wk < threads; wk++ {
			s.vb[wk] = grow(s.vb[wk], 36*s.tb*cin)
			s.mb[wk] = grow(s.mb[wk], 36*s.tb*cb)
		}
		for s.c0 = 0; s.c0 < s.cout; s.c0 += cb {
			s.cb = min(cb, s.cout-s.c0)
			s.parallel(winoKernel, (cin+winoKerBlock-1)/winoKerBlock, threads, false)
			s.parallel(winoBlock, (nt+s.tb-1)/s.tb, threads, false)
		}
		return
	}
	s.chunk = s.tileChunk(cb)
	s.packedV(threads)
	panels := func() int { return (s.tc + s.mr - 1) / s.mr }
	if s.chunk >= nt || s.chunksOuter(cb) {
		// Each chunk's V once, then the units of output channels, each
		// forming its U for the chunk.
		s.cbu = s.unitWidth(cb, threads)
		s.u = grow(s.u, threads*36*cin*s.cbu)
		s.chunkVM(36*s.mPad*cin, threads*36*s.chunk*s.cbu)
		for s.t0 = 0; s.t0 < nt; s.t0 += s.chunk {
			s.tc = min(s.chunk, nt-s.t0)
			s.parallel(winoPanel, panels(), threads, false)
			s.parallel(winoUnit, (s.cout+s.cbu-1)/s.cbu, threads, false)
		}
		return
	}
	// The blocks outside: each block's U once, V of every chunk once per
	// block.
	s.u = grow(s.u, 36*cin*cb)
	s.chunkVM(36*s.mPad*cin, 36*s.chunk*cb)
	s.pgroups = min(36, max(1, threads))
	for s.c0 = 0; s.c0 < s.cout; s.c0 += cb {
		s.cb = min(cb, s.cout-s.c0)
		for s.t0 = 0; s.t0 < nt; s.t0 += s.chunk {
			s.tc = min(s.chunk, nt-s.t0)
			s.formU = s.t0 == 0
			s.parallel(winoPanel, panels(), threads, false)
			s.parallel(winoGroup, s.pgroups, threads, false)
			s.parallel(winoOutput, s.runSlots(), threads, true)
		}
	}
}

// setup records the call of geometry g and sizes the per-worker
// transform scratch and the input copy xb.
func (s *winoScratch) setup(impl *simd.Impl, threads int, g *ConvGeom, w, x, y []float32) {
	s.geom = *g // a copy: the caller's geometry stays on its stack
	s.impl, s.g, s.w, s.x, s.y = impl, &s.geom, w, x, y
	s.cin, s.cout = g.Cin, g.Cout
	s.th, s.tw = (g.OH+3)/4, (g.OW+3)/4
	s.hb, s.wb = 4*s.th+2, 4*s.tw+2
	s.tt = s.th * s.tw
	s.nt = g.N * s.tt
	for wk := 0; wk < threads; wk++ {
		// The input transform's rows and a column (42 Cin), the kernel
		// transform's taps and first pass (27 kernels a channel, cb <= Cout),
		// which cover the output transforms' 24 + 16 winoRun cb and G^T's
		// 27 Cin.
		s.tmp[wk] = grow(s.tmp[wk], max(42*s.cin, 27*winoKerBlock*s.cout))
	}
	s.xb = grow(s.xb, g.N*s.hb*s.wb*s.cin)
}

// formV reports whether the chunk in progress forms its V (blocks of
// output channels outside): with one chunk, V of the first block serves
// them all.
func (s *winoScratch) formV() bool { return s.c0 == 0 || s.chunk < s.nt }

// chunkVM sizes the chunk's V (nv floats) and M (nm) in one buffer.
func (s *winoScratch) chunkVM(nv, nm int) {
	s.vm = grow(s.vm, nv+nm)
	s.v, s.mt = s.vm[:nv], s.vm[nv:nv+nm]
}

// done drops the call's operands (they belong to the caller).
func (s *winoScratch) done() {
	s.impl, s.g, s.w, s.x, s.y = nil, nil, nil, nil, nil
	for wk := range s.vpa {
		s.vpa[wk] = vPackedA{}
	}
	for wk := range s.da {
		s.da[wk], s.ub[wk], s.db[wk] = denseA{}, inPlaceB{}, denseB{}
	}
}

// winoUBytes bounds the block of U (36 Cin cb floats, coutBlock) and
// winoChunkBytes a chunk's V and M (tileChunk), unless a block of one
// kernel-tile width or a chunk of winoMinChunk tiles is larger. 4 MiB
// leaves the ResNet stages one block of output channels up to 128
// channels (the 256-channel stage in three, the 512 in eight); at batch
// 32 the 512-channel stage is one chunk, so that V is formed again per
// block only for the 256-channel stage (two chunks), and at batch 128 for
// both. docs/conv.md, "Bounded buffers", has the timings.
const (
	winoUBytes     = 4 << 20
	winoChunkBytes = 4 << 20
)

// winoForceBlock and winoForceChunk, when positive, replace the output
// channels of a block of U and the tiles of a chunk (tests).
var winoForceBlock, winoForceChunk int

// winoMinChunk is the fewest tiles of a chunk: the products' rows, and
// the weight gradient's inner dimension.
const winoMinChunk = 64

// coutBlock returns the output channels of a block of U: cout in as few
// blocks as keep U within winoUBytes, evenly, each a multiple of the
// kernel's tile width (and of 16, a vector at every level) so that U is
// read in place and the transforms' vector tails fall on the same
// channels as unblocked.
func (s *winoScratch) coutBlock() int {
	if winoForceBlock > 0 {
		return min(winoForceBlock, s.cout)
	}
	_, nr := s.impl.GemmTile()
	w := max(16, nr)
	nb := (36*4*s.cin*s.cout + winoUBytes - 1) / winoUBytes
	cb := ((s.cout+nb-1)/nb + w - 1) / w * w
	return min(s.cout, max(w, cb))
}

// tileChunk returns the tiles of a chunk in the chunked schedule: as many
// as keep V (Cin) and M (cb channels) within winoChunkBytes, a multiple
// of the micro-kernel's rows, at least winoMinChunk, at most all.
func (s *winoScratch) tileChunk(cb int) int {
	if winoForceChunk > 0 {
		return min(winoForceChunk, s.nt)
	}
	mr, _ := s.impl.GemmTile()
	c := winoChunkBytes / (36 * 4 * (s.cin + cb))
	c = max((winoMinChunk+mr-1)/mr*mr, c/mr*mr)
	return min(c, s.nt)
}

// blockTiles returns the tiles of a block in the blocked schedule, or 0
// for the chunked schedule. Blocks hold V and M (cb channels) of tb tiles
// in half of L2, tb a multiple of the micro-kernel's rows. Blocked reads
// all of U once per block and saves V's and M's trips to memory (V
// written, read and packed, M written and read) and the barriers of the
// chunks; it is chosen unless its U traffic exceeds 8 times that saved
// traffic. The factor is measured (docs/conv.md): U mostly comes from L3
// and the saved trips from memory, so the 256-channel 8x8 stage, at 4.3
// times, ran 25% faster blocked on two threads (as fast on one); the
// 512-channel stage at batch 128, at 11 times, ran 12% faster over all
// tiles on one thread and 10% slower on two.
func (s *winoScratch) blockTiles(cb int) int {
	mr, _ := s.impl.GemmTile()
	tb := simd.Cache().L2 / 2 / (36 * 4 * (s.cin + cb))
	tb = max(mr, tb/mr*mr)
	blocks := (s.nt + tb - 1) / tb
	blocked := blocks > 1 && blocks*s.cin*s.cout <= 8*s.nt*(3*s.cin+2*s.cout)
	switch winoSchedule {
	case 1:
		blocked = false
	case 2:
		blocked = true
	}
	if !blocked {
		return 0
	}
	return tb
}

// block runs step 3 for block u of the blocked schedule on worker w.
func (s *winoScratch) block(w, u int) {
	t0 := u * s.tb
	tb := min(s.tb, s.nt-t0)
	vb, mb, cin, cb := s.vb[w], s.mb[w], s.cin, s.cb
	for t := t0; t < t0+tb; t++ {
		s.inputTile(w, t, vb, t-t0, s.tb)
	}
	for xi := 0; xi < 36; xi++ {
		s.product(w, xi, vb[xi*s.tb*cin:][:tb*cin], mb[xi*s.tb*cb:][:tb*cb], tb)
	}
	s.outputTiles(w, t0, t0+tb, mb, 0, s.tb, s.c0, s.cb)
}

// product computes m = v U[xi] (rows x cb) for rows tiles of v, on worker
// w alone.
func (s *winoScratch) product(w, xi int, v, m []float32, rows int) {
	impl, cin, cb := s.impl, s.cin, s.cb
	p := otherOrder(xi) // U is in position order (positionGroup)
	s.da[w] = denseA{impl: impl, a: v, lda: cin}
	gemmSourcesAt(s.jobs.of(w), impl, w, 0, rows, cb, cin, 1, &s.da[w], s.inPlace(w, s.u[p*cin*cb:(p+1)*cin*cb], cb), m, cb, true)
}

// inPlace returns worker w's source for U[xi] (b), rows of n = ldb
// floats: read in place by the indirect kernel where the level has one
// and n is whole tiles, else packed (packing it costs as much as the
// product when the tiles are few).
func (s *winoScratch) inPlace(w int, b []float32, n int) bSource {
	s.ub[w] = inPlaceB{denseB: denseB{impl: s.impl, b: b, ldb: n}, nv: s.impl.IndirectPieces()}
	if _, nr := s.impl.GemmTile(); s.ub[w].nv > 0 && n%nr == 0 {
		return &s.ub[w]
	}
	return &s.ub[w].denseB
}

// copyIn writes image n of x into xb, channels-last and zero-padded.
func (s *winoScratch) copyIn(n int) {
	g, cin := s.g, s.cin
	img := s.xb[n*s.hb*s.wb*cin : (n+1)*s.hb*s.wb*cin]
	hw, row := g.H*g.W, s.wb*cin
	// Only the padding is cleared: the pixels of the image are written
	// once, by the transposes (clearing all of xb first wrote them twice).
	clear(img[:g.Pad*row])
	clear(img[(g.Pad+g.H)*row:])
	for ih := 0; ih < g.H; ih++ {
		r := img[(ih+g.Pad)*row : (ih+g.Pad+1)*row]
		clear(r[:g.Pad*cin])
		clear(r[(g.Pad+g.W)*cin:])
		s.impl.Transpose(r[g.Pad*cin:], cin, s.x[n*cin*hw+ih*g.W:], hw, cin, g.W)
	}
}

// inputTile transforms tile t = (n, ty, tx) into row r of each of the 36
// planes of v (planes of rows rows): a pass along each of the tile's six
// rows into tmp[i][a], then along its six columns into v[(b, a)][r].
func (s *winoScratch) inputTile(w, t int, v []float32, r, rows int) {
	s.inputRange(w, t, v, s.cin, r, rows, 0, s.cin, 0, 36)
}

// inputRange is inputTile for the input channels [k0, k1) and the
// positions [p0, p1) (positionGroup's order) only, into planes of rows of
// ld floats: the pass along the rows in full, the pass along the columns
// for the positions' columns, through scratch where a column is only
// partly in [p0, p1).
func (s *winoScratch) inputRange(w, t int, v []float32, ld, r, rows, k0, k1, p0, p1 int) {
	impl, cin, nc := s.impl, s.cin, k1-k0
	n, q := t/s.tt, t%s.tt
	ty, tx := q/s.tw, q%s.tw
	tmp := s.tmp[w][k0:]
	for i := 0; i < 6; i++ {
		impl.WinogradInput4(tmp[i*6*cin:], cin, s.xb[((n*s.hb+4*ty+i)*s.wb+4*tx)*cin+k0:], cin, nc)
	}
	passColumns(p0, p1, nc, s.tmp[w][36*cin:36*cin+6*nc], v[r*ld:], rows*ld, 6*rows*ld, func(a int, d []float32, ds int) {
		impl.WinogradInput4(d, ds, tmp[a*cin:], 6*cin, nc)
	})
}

// winoRun is the most tiles outputTiles writes into y at once: eight
// tiles are 32 pixels, two cache lines of each channel's pixel row.
const winoRun = 8

// outputTiles transforms the tiles [ta, tb), rows r0 + t - ta of the
// planes of m (planes of rows rows of cb channels), back into the output
// channels [c0, c0+cb) of y. Each run of up to winoRun tiles of one row of
// tiles goes, a tile at a time, through a pass along a into tmp[b][q] and
// a pass along b into the run's pixels px[i][x] (channels-last), and the
// run is written into y by one transpose per pixel row, the pixels past
// the image left out. A transpose per tile wrote four pixels, 16 bytes,
// of each channel's row at a time: on the 64-channel 32x32 stage that
// took a quarter of the forward pass.
func (s *winoScratch) outputTiles(w, ta, tb int, m []float32, r0, rows, c0, cb int) {
	impl, g := s.impl, s.g
	tmp := s.tmp[w]
	ohw := g.OH * g.OW
	s.tileRuns(ta, tb, func(t, n, ty, tx, k int) {
		px := tmp[24*cb : (24+16*k)*cb]
		for e := 0; e < k; e++ {
			r := r0 + t + e - ta
			for b := 0; b < 6; b++ {
				impl.WinogradOutput4(tmp[b*4*cb:], cb, m[(b*6*rows+r)*cb:], rows*cb, cb)
			}
			for j := 0; j < 4; j++ {
				impl.WinogradOutput4(px[(4*e+j)*cb:], 4*k*cb, tmp[j*cb:], 4*cb, cb)
			}
		}
		nx := min(4*k, g.OW-4*tx)
		for i := range min(4, g.OH-4*ty) {
			impl.Transpose(s.y[(n*s.cout+c0)*ohw+(4*ty+i)*g.OW+4*tx:], ohw, px[i*4*k*cb:], cb, nx, cb)
		}
	})
}

// runSlots is the number of units of winoRun tiles of the chunk in
// progress (the parallel output transform and dM), and runSlot unit i's
// tiles [ta, tb) and its first row r of the chunk's planes.
func (s *winoScratch) runSlots() int { return (s.tc + winoRun - 1) / winoRun }

func (s *winoScratch) runSlot(i int) (ta, tb, r int) {
	r = i * winoRun
	return s.t0 + r, s.t0 + min(s.tc, r+winoRun), r
}

// tileRuns cuts the tiles [ta, tb) into runs of up to winoRun tiles of one
// row of tiles and calls f for each with its first tile t = (n, ty, tx)
// and its length k.
func (s *winoScratch) tileRuns(ta, tb int, f func(t, n, ty, tx, k int)) {
	for t := ta; t < tb; {
		n, q := t/s.tt, t%s.tt
		ty, tx := q/s.tw, q%s.tw
		k := min(tb-t, s.tw-tx, winoRun)
		f(t, n, ty, tx, k)
		t += k
	}
}

// kernelRange writes into u, U[p][k][o] of the block of output channels
// (c0, cb), p = 6a + b, for the positions [p0, p1) (positionGroup's order)
// and the input channels [k0, k1), winoKerBlock input channels at a time:
// the nine taps of the kernels (k, o) as rows of output channels (a
// transpose), G along each kernel's rows into t18[r][a][k], then along its
// columns into U[(a, b)][k] for the columns a of the positions (through
// scratch where a column is only partly in the range).
func (s *winoScratch) kernelRange(w int, u []float32, c0, cb, p0, p1, k0, k1 int) {
	impl, cin, cout := s.impl, s.cin, s.cout
	for ; k0 < k1; k0 += winoKerBlock {
		kb := min(winoKerBlock, k1-k0)
		t9 := s.tmp[w][:kb*9*cb]
		t18 := s.tmp[w][kb*9*cb : kb*27*cb]
		if s.flip {
			// The kernel w[k][o][r][s] of the convolution whose input
			// gradient this is: one transpose per input channel here.
			for j := 0; j < kb; j++ {
				impl.Transpose(t9[j*9*cb:], cb, s.w[((k0+j)*cout+c0)*9:], 9, cb, 9)
			}
		} else {
			impl.Transpose(t9, cb, s.w[(c0*cin+k0)*9:], cin*9, cb, kb*9)
		}
		for j := 0; j < kb; j++ {
			tap := func(rs int) []float32 {
				if s.flip {
					// Rotated: tap (r, s) is the kernel's tap (2-r, 2-s).
					rs = 8 - rs
				}
				return t9[(j*9+rs)*cb : (j*9+rs+1)*cb]
			}
			for r := 0; r < 3; r++ {
				impl.WinogradKernel4(t18[(r*6*kb+j)*cb:], kb*cb, tap(r*3), tap(r*3+1), tap(r*3+2))
			}
		}
		// A column's kb kernels at once: rows j of a plane are cb apart,
		// in U and in t18 ([r][a][j][o]) alike, so a plane's rows of the
		// block are one run, and one call transforms them where cb is whole
		// vectors at every level (else one call per kernel row, so that
		// the vector tails fall on the same channels as unblocked). The
		// partial columns go through t9's scratch, free once t18 is formed.
		whole := cb%16 == 0
		passColumns(p0, p1, kb*cb, t9[:6*kb*cb], u[k0*cb:], 6*cin*cb, cin*cb, func(a int, d []float32, ds int) {
			row := func(r, j0, j1 int) []float32 { return t18[((r*6+a)*kb+j0)*cb : ((r*6+a)*kb+j1)*cb] }
			if whole {
				impl.WinogradKernel4(d, ds, row(0, 0, kb), row(1, 0, kb), row(2, 0, kb))
				return
			}
			for j := 0; j < kb; j++ {
				impl.WinogradKernel4(d[j*cb:], ds, row(0, j, j+1), row(1, j, j+1), row(2, j, j+1))
			}
		})
	}
}

// inPlaceB is a dense row-major B read in place by the indirect
// micro-kernel: row p of the panel at column col is nv pieces at col,
// col + nr/nv, ..., offset by p*ldb. The rows are ldb floats apart, a
// stride the hardware prefetchers do not follow, so the kernel
// prefetches them (without it the 512-channel products ran 2.7x slower).
type inPlaceB struct {
	denseB // its packB, for the panels the kernel does not read in place
	nv     int
}

func (s *inPlaceB) base() []float32 { return s.b }

func (s *inPlaceB) koffs(dst []int32, p0 int) {
	for i := range dst {
		dst[i] = int32((p0 + i) * s.ldb)
	}
}

func (s *inPlaceB) pieces(dst []int, col, nr int) {
	piece := nr / len(dst)
	for v := range dst {
		dst[v] = col + v*piece
	}
}

func (s *inPlaceB) pieceCount() int { return s.nv }

func (s *inPlaceB) prefetch() bool { return true }
