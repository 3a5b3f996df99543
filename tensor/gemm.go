package tensor

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/flatfast/flatfast/simd"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// The float32 GEMM follows the GotoBLAS/BLIS design. For each block of
// nc columns of C and each block of kc steps of the inner dimension, op(B)
// is packed into nr-wide panels (kc x nc floats, shared by all workers);
// then each work unit packs an mc x kc block of alpha*op(A) into mr-tall
// panels (private to its worker) and sweeps the simd micro-kernel over the
// block: nr panels outermost, so that one B micro-panel (kc x nr) stays in
// L1 while the A micro-panels stream from L2. docs/gemm.md gives the block
// sizes and the measurements behind them.
//
// Determinism: each element of C is the sum over kc-blocks in order, each
// block's contribution computed by the micro-kernel in its own fixed order;
// how rows and columns are cut into work units (which depends on the
// thread count) never changes that, so results are bitwise the same for any
// number of threads.

// aSource packs rows [i0, i0+mb) x columns [p0, p0+kb) of op(A), times
// alpha, into dst as ceil(mb/mr) panels of kb x mr floats, zero-padding the
// last panel's missing rows.
// w is the worker running the call, for sources that keep scratch per
// worker.
type aSource interface {
	packA(w int, dst []float32, i0, mb, p0, kb, mr int, alpha float32)
}

// bSource packs rows [p0, p0+kb) x columns [j0, j0+nb) of op(B) into dst
// as ceil(nb/nr) panels of kb x nr floats, zero-padding missing columns.
// packB may be asked for any subrange of panels (first panel index and
// count) so that packing can be split between workers.
type bSource interface {
	packB(w int, dst []float32, p0, kb, j0, nb, nr, first, count int)
}

// bIndirect is a B operand the micro-kernel reads in place: row p of the
// panel whose first column is col is nv pieces of nr/nv floats of base(),
// piece v at pieces(col)[v] + koff[p], e.g. runs of a zero-padded input
// image. Used only when the level has an indirect kernel and every panel
// is full (see gemmSources).
type bIndirect interface {
	bSource
	base() []float32
	// koffs writes the offsets of k steps p0 .. p0+len(dst)-1.
	koffs(dst []int32, p0 int)
	// pieces writes the piece starts of the panel starting at col, one
	// per element of dst (pieceCount of them).
	pieces(dst []int, col, nr int)
	// pieceCount is the number of pieces per B row, one the level's
	// indirect kernel accepts.
	pieceCount() int
	// prefetch reports whether the kernel should prefetch B rows ahead
	// (simd.IndirectTable.Prefetching).
	prefetch() bool
}

// stagedB is a B operand (an in-place source) whose copy of the input is
// made by the product itself, in units: before k steps below p (of the
// whole product) are read, units 0 .. stagesFor(p)-1 must have run. drive
// and splitK run them all first (ensureStaged); driveFlat, where the source
// asks for it (interleave), hands them out among the products, each kc
// block's units one block ahead of the block's products, so the copy needs
// no parallel region (and no barrier) of its own and overlaps with the
// products on the other threads.
type stagedB interface {
	stagesFor(p int) int
	stage(w, u int)
	staged() bool // whether every unit has run
	markStaged()
	// interleave reports whether driveFlat should hand out the units
	// among the products rather than run them all first.
	interleave() bool
}

type stageTask struct{ s stagedB }

func (t *stageTask) run(w, u int) { t.s.stage(w, u) }

// ensureStaged runs the stage units of b, if it has any left, with task
// scratch t.
func ensureStaged(b bSource, threads int, t *stageTask) {
	s, ok := b.(stagedB)
	if !ok || s.staged() {
		return
	}
	t.s = s
	parallelFor(s.stagesFor(math.MaxInt32), threads, t) // every unit
	t.s = nil
	s.markStaged()
}

// indirectTable is the kernel's table for the k-step offsets koff of
// source bi.
func indirectTable(bi bIndirect, koff []int32) simd.IndirectTable {
	t := simd.NewIndirectTable(koff)
	if bi.prefetch() {
		t = t.Prefetching()
	}
	return t
}

// denseA is a row-major matrix A (or, transposed, A^T stored row-major).
type denseA struct {
	impl  *simd.Impl
	a     []float32
	lda   int
	trans bool
}

func (s *denseA) packA(_ int, dst []float32, i0, mb, p0, kb, mr int, alpha float32) {
	for ip := 0; ip*mr < mb; ip++ {
		panel := dst[ip*mr*kb : (ip+1)*mr*kb]
		rows := min(mr, mb-ip*mr)
		r0 := i0 + ip*mr
		if s.trans {
			// op(A)[i,p] = a[p*lda+i]: each step p is a contiguous run.
			for p := 0; p < kb; p++ {
				d := panel[p*mr : p*mr+mr]
				copy(d, s.a[(p0+p)*s.lda+r0:(p0+p)*s.lda+r0+rows])
				clear(d[rows:])
			}
		} else {
			if rows < mr {
				clear(panel)
			}
			s.impl.Transpose(panel, mr, s.a[r0*s.lda+p0:], s.lda, rows, kb)
		}
		if alpha != 1 {
			s.impl.Scale(alpha, panel)
		}
	}
}

// denseB is a row-major matrix B (or, transposed, B^T stored row-major).
type denseB struct {
	impl  *simd.Impl
	b     []float32
	ldb   int
	trans bool
}

func (s *denseB) packB(_ int, dst []float32, p0, kb, j0, nb, nr, first, count int) {
	for jp := first; jp < first+count; jp++ {
		panel := dst[jp*nr*kb : (jp+1)*nr*kb]
		cols := min(nr, nb-jp*nr)
		c0 := j0 + jp*nr
		if !s.trans {
			for p := 0; p < kb; p++ {
				d := panel[p*nr : p*nr+nr]
				copy(d, s.b[(p0+p)*s.ldb+c0:(p0+p)*s.ldb+c0+cols])
				clear(d[cols:])
			}
			continue
		}
		// op(B)[p,j] = b[j*ldb+p]: a transpose of the stored rows.
		if cols < nr {
			clear(panel)
		}
		s.impl.Transpose(panel, nr, s.b[c0*s.ldb+p0:], s.ldb, cols, kb)
	}
}

// blocking holds the cache block sizes for one micro-kernel tile.
type blocking struct{ kc, mc, nc int }

// blockSizes derives kc, mc, nc from the caches (docs/gemm.md): the
// kc x nr B micro-panel takes about 1.5x L1 (it is read from L2, which
// feeds the kernel's 128 bytes per k step with room to spare, and a larger
// kc means fewer passes over C), the mc x kc A block about half of L2, and
// the kc x nc B panel a quarter of L3. Without an L3 (FLATFAST_CACHE's
// l3=0: Apple silicon's large shared L2 is its last level) the B panel
// takes a quarter of L2 instead.
func blockSizes(mr, nr int) blocking {
	return blockSizesFor(mr, nr, simd.Cache())
}

func blockSizesFor(mr, nr int, c simd.CacheGeometry) blocking {
	l1, l2, l3 := c.L1D, c.L2, c.L3
	if l3 == 0 {
		l3 = l2
	}
	kc := 3 * l1 / 2 / (4 * nr)
	kc = min(max(kc/8*8, 64), 1024)
	mc := l2 / 2 / (4 * kc)
	mc = max(mc/mr*mr, mr)
	nc := l3 / 4 / (4 * kc)
	nc = min(max(nc/nr*nr, nr), 4096/nr*nr)
	return blocking{kc: kc, mc: mc, nc: nc}
}

// kcFor splits an inner dimension k into equal kc blocks (at most kc
// each), so that no thin last block costs a whole pass over C.
func (b blocking) kcFor(k int) int {
	nk := max(1, (k+b.kc-1)/b.kc)
	return (k + nk - 1) / nk
}

var blockCache sync.Map // simd.Level -> blocking

func blocksFor(impl *simd.Impl) blocking {
	if b, ok := blockCache.Load(impl.Level()); ok {
		return b.(blocking)
	}
	mr, nr := impl.GemmTile()
	b := blockSizes(mr, nr)
	blockCache.Store(impl.Level(), b)
	return b
}

// gemmJob is one GEMM call's state and scratch, reused through jobPool.
type gemmJob struct {
	impl    *simd.Impl
	mr, nr  int
	m, n, k int
	alpha   float32
	A       aSource
	B       bSource
	c       []float32
	ldc     int
	// Column j of C is at colOff(j): j itself for a dense matrix; with
	// img > 0, C is a batch of img-column matrices imgStride apart
	// (convolution outputs in NCHW), and row i of image n starts at
	// n*imgStride + i*ldc.
	img, imgStride int
	pre            *PackedMatrix // op(B) packed in advance, or nil
	bi             bIndirect     // B read in place through offsets, or nil
	koff           []int32       // bi's k-step offsets for the current block
	table          simd.IndirectTable
	nv             int
	blk            blocking
	threads        int
	// overwrite: the first kc block stores into C instead of adding, so
	// C need not be cleared (or even hold numbers) beforehand.
	overwrite bool
	// A packed once for the whole product (aPre): block b of kc steps at
	// b*mPad*kcA, row block i0 inside it at i0*kb.
	aPre, aPacking bool
	apAll          []float32
	mPad, kcA      int
	// k0 offsets the inner index handed to the sources, and wid the worker
	// index, for a job computing one segment of a split product on one
	// worker of an outer parallel loop (splitJob).
	k0, wid int

	da denseA
	db denseB

	// flat: one parallel region runs every kc block (driveFlat), with
	// units of group B panels of one row block; tables holds each block's
	// k-step offsets.
	flat      bool
	group, nG int
	koffAll   []int32
	tables    []simd.IndirectTable
	done      []atomic.Int32 // kc blocks finished, per tile block
	// Per kc block of a flat product: its first unit, the stage units of
	// B (stagedB) it runs first, and how many of them and of its A
	// packing units are done.
	start, stages         []int
	stagesDone, packsDone []atomic.Int32
	sb                    stagedB
	stg                   stageTask

	// current (jc, pc) block
	jc, nb, pc, kb int
	packing        bool
	bPanels        int
	bPer           int // B panels per packing unit

	mcEff, nI, chunk, nJ int

	bp     []float32 // the packed B block in use: own, or a PackedMatrix's
	own    []float32
	dense  []float32 // scratch C for outputs of small images
	ap     [maxWorkers][]float32
	edge   [maxWorkers][simd.MaxTile]float32
	pieces [maxWorkers][4]int
}

func (j *gemmJob) colOff(col int) int {
	if j.img == 0 {
		return col
	}
	return col/j.img*j.imgStride + col%j.img
}

var jobPool freeList[gemmJob]

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func (j *gemmJob) run(w, i int) {
	if j.aPacking {
		b, rb := i/j.nI, i%j.nI
		i0 := rb * j.mcEff
		j.packABlock(w, b, i0, min(j.mcEff, j.m-i0))
		return
	}
	if j.flat {
		j.runFlat(w, i)
		return
	}
	if j.packing {
		first := i * j.bPer
		j.B.packB(w+j.wid, j.bp, j.k0+j.pc, j.kb, j.jc, j.nb, j.nr, first, min(j.bPer, j.bPanels-first))
		return
	}
	bi, ci := i/j.nJ, i%j.nJ
	i0 := bi * j.mcEff
	mb := min(j.mcEff, j.m-i0)
	mr, nr, kb := j.mr, j.nr, j.kb
	acc := j.accumulate()
	ap := j.aBlock(w, j.pc/j.kcA, i0, mb)
	jp0 := ci * j.chunk
	jp1 := min(jp0+j.chunk, j.bPanels)
	for jp := jp0; jp < jp1; jp++ {
		if j.bi != nil {
			j.indirectPanel(w, jp, ap, i0, mb, kb, j.table, acc)
			continue
		}
		bpan := j.bp[jp*nr*kb : (jp+1)*nr*kb]
		cols := min(nr, j.nb-jp*nr)
		col := j.jc + jp*nr
		off0 := j.colOff(col)
		// Can the tile's columns be written as one run?
		run := j.img == 0 || off0+cols-1 == j.colOff(col+cols-1)
		for ip := 0; ip*mr < mb; ip++ {
			rows := min(mr, mb-ip*mr)
			apan := ap[ip*mr*kb : (ip+1)*mr*kb]
			off := (i0+ip*mr)*j.ldc + off0
			switch {
			case rows == mr && cols == nr && run:
				j.impl.GemmKernel(kb, apan, bpan, j.c[off:], j.ldc, acc)
			case run:
				j.impl.GemmKernelEdge(kb, apan, bpan, j.c[off:], j.ldc, rows, cols, j.edge[w][:], acc)
			default:
				j.scatterTile(w, kb, apan, bpan, i0+ip*mr, col, rows, cols, acc)
			}
		}
	}
}

// aBlock returns the packed A of kc block b, rows i0 .. i0+mb-1: its part
// of the A packed up front (aPre), or else packed now into worker w's
// scratch.
func (j *gemmJob) aBlock(w, b, i0, mb int) []float32 {
	pc := b * j.kcA
	kb := min(j.kcA, j.k-pc)
	n := (mb + j.mr - 1) / j.mr * j.mr * kb
	if j.aPre {
		off := pc*j.mPad + i0*kb
		return j.apAll[off : off+n]
	}
	ap := grow(j.ap[w], n)
	j.ap[w] = ap
	j.A.packA(w+j.wid, ap, i0, mb, j.k0+pc, kb, j.mr, j.alpha)
	return ap
}

// packABlock packs kc block b, rows i0 .. i0+mb-1, of A into its place in
// the A packed up front.
func (j *gemmJob) packABlock(w, b, i0, mb int) {
	pc := b * j.kcA
	kb := min(j.kcA, j.k-pc)
	off := pc*j.mPad + i0*kb
	n := (mb + j.mr - 1) / j.mr * j.mr * kb
	j.A.packA(w+j.wid, j.apAll[off:off+n], i0, mb, j.k0+pc, kb, j.mr, j.alpha)
}

// accumulate reports whether the current kc block adds to C.
func (j *gemmJob) accumulate() bool { return !j.overwrite || j.pc > 0 }

// indirectPanel runs the rows of the A block (kb steps, offsets t)
// against B panel jp read in place (panels are full and never straddle
// images here), adding to C when acc is set and storing otherwise.
func (j *gemmJob) indirectPanel(w, jp int, ap []float32, i0, mb, kb int, t simd.IndirectTable, acc bool) {
	mr, nr := j.mr, j.nr
	base := j.bi.base()
	col := j.jc + jp*nr
	off0 := j.colOff(col)
	pieces := j.pieces[w][:j.nv]
	j.bi.pieces(pieces, col, nr)
	for ip := 0; ip*mr < mb; ip++ {
		rows := min(mr, mb-ip*mr)
		apan := ap[ip*mr*kb : (ip+1)*mr*kb]
		off := (i0+ip*mr)*j.ldc + off0
		if rows == mr {
			j.impl.GemmIndirect(kb, apan, base, t, pieces, j.c[off:], j.ldc, acc)
		} else {
			j.impl.GemmIndirectEdge(kb, apan, base, t, pieces, j.c[off:], j.ldc, rows, nr, j.edge[w][:], acc)
		}
	}
}

// driveFlat runs a product whose B is read in place as one parallel
// region: with nothing to pack per kc block there is no need for a barrier
// after each block, and on a shared machine every barrier costs a worker's
// wake-up and a wait for the slowest unit. C is cut into tile blocks (a
// row block times a group of B panels); a unit is one kc block of one tile
// block, and units are numbered kc block first, so that the workers sweep
// one kc block of A and B together (it stays in their caches, as between
// the barriers of drive).
// Unit (b, t) waits, should it come early, until tile block t has
// finished block b-1: each element of C still sums its kc blocks in order,
// and results do not depend on the thread count. The wait is rare (a
// unit's predecessor was handed out a whole row of tile blocks earlier) and
// cannot deadlock: a unit only waits for one already handed out.
//
// Tile blocks: when A fits one row block (m <= mc) it is packed once, a
// kc block at a time by units of the same region, and the B panels are cut
// into groups of at most flatGroup panels, enough for eight units per
// thread and kc block; a taller A is cut into row blocks of whole
// micro-panels, each unit packing its own A block, and every row block
// takes all of B (these products have few B panels). The units that pack
// a block of A, and those that copy the input B is read from where the
// source interleaves them (stagedB), are handed out one kc block ahead of
// the products that read them, which wait for them as for their tile
// block's previous block.
func (j *gemmJob) driveFlat(kc, threads int) {
	mr, nr := j.mr, j.nr
	j.mPad, j.kcA = (j.m+mr-1)/mr*mr, kc
	j.jc, j.nb = 0, j.n
	j.bPanels = (j.n + nr - 1) / nr
	j.aPre = j.m <= j.blk.mc
	if j.aPre {
		j.nI, j.mcEff = 1, j.mPad
		j.group = max(1, min(flatGroup, j.bPanels/(8*threads)))
		j.nG = (j.bPanels + j.group - 1) / j.group
	} else {
		tiles := j.mPad / mr
		r := max(flatMinPanels, min(j.blk.mc/mr, tiles/(8*threads)))
		j.mcEff = r * mr
		j.nI = (j.m + j.mcEff - 1) / j.mcEff
		j.group, j.nG = j.bPanels, 1
	}
	if cap(j.koffAll) < j.k {
		j.koffAll = make([]int32, j.k)
	}
	j.koffAll = j.koffAll[:j.k]
	j.bi.koffs(j.koffAll, j.k0)
	j.tables = j.tables[:0]
	for pc := 0; pc < j.k; pc += kc {
		j.tables = append(j.tables, indirectTable(j.bi, j.koffAll[pc:min(pc+kc, j.k)]))
	}
	nb, nt := len(j.tables), j.nI*j.nG
	if j.aPre {
		j.apAll = grow(j.apAll, j.mPad*j.k)
	}
	// The units come in segments s = 0 .. nb, from start[s]: the stage
	// units of B that block s needs first (stages[s] .. stages[s+1]-1)
	// and its A packing units (aPre: one per row block), then the products
	// of block s-1. Preparing one block ahead keeps the products from
	// waiting for a copy still running on another thread (preparing each
	// block just before its products measured 6-8% slower on the
	// 256-channel passes).
	j.sb = nil
	if sb, ok := j.B.(stagedB); ok && !sb.staged() {
		if sb.interleave() {
			j.sb = sb
		} else {
			ensureStaged(j.B, threads, &j.stg)
		}
	}
	j.start, j.stages = j.start[:0], j.stages[:0]
	j.stages = append(j.stages, 0)
	u := 0
	for seg := 0; seg <= nb; seg++ {
		j.start = append(j.start, u)
		if seg < nb {
			st := j.stages[seg]
			if j.sb != nil {
				st = j.sb.stagesFor(j.k0 + min((seg+1)*kc, j.k))
			}
			j.stages = append(j.stages, st)
			u += st - j.stages[seg] + j.packUnits()
		}
		if seg > 0 {
			u += nt
		}
	}
	j.start = append(j.start, u)
	j.done = resetCounters(j.done, nt)
	j.stagesDone = resetCounters(j.stagesDone, nb)
	j.packsDone = resetCounters(j.packsDone, nb)
	j.flat = true
	parallelFor(u, threads, j)
	j.flat = false
	if j.sb != nil {
		j.sb.markStaged()
		j.sb = nil
	}
}

// packUnits is the number of A packing units per kc block of a flat
// product.
func (j *gemmJob) packUnits() int {
	if j.aPre {
		return j.nI
	}
	return 0
}

// resetCounters returns c resized to n counters, all zero.
func resetCounters(c []atomic.Int32, n int) []atomic.Int32 {
	if cap(c) < n {
		c = make([]atomic.Int32, n)
	}
	c = c[:n]
	for i := range c {
		c[i].Store(0)
	}
	return c
}

// flatGroup caps the B panels of a flat tile block (the block's panels
// pass while the A block stays in L2).
const flatGroup = 8

// flatMinPanels is the least number of A micro-panels in a row block of a
// tall A, so that each B panel fetched serves some work (at 2 threads,
// 2 measured 3-4% faster than 4 on ResNet's 256-channel passes and equal
// on the 512-channel ones).
const flatMinPanels = 2

func (j *gemmJob) runFlat(w, i int) {
	kc := j.kcA
	seg := 0
	for j.start[seg+1] <= i {
		seg++
	}
	o := i - j.start[seg]
	if seg < len(j.tables) {
		// Preparing block seg.
		ns := j.stages[seg+1] - j.stages[seg]
		if o < ns {
			j.sb.stage(w, j.stages[seg]+o)
			j.stagesDone[seg].Add(1)
			return
		}
		o -= ns
		if o < j.packUnits() {
			i0 := o * j.mcEff
			j.packABlock(w, seg, i0, min(j.mcEff, j.m-i0))
			j.packsDone[seg].Add(1)
			return
		}
		o -= j.packUnits()
	}
	// A product of block b = seg-1.
	b, t := seg-1, o
	pc := b * kc
	kb := min(kc, j.k-pc)
	// Wait for what this unit reads: B staged through block b, A packed
	// for block b, and block b-1 of the same tiles (all handed out
	// earlier; see driveFlat).
	for {
		ready := j.done[t].Load() == int32(b) && int(j.packsDone[b].Load()) == j.packUnits()
		for bb := 0; ready && bb <= b; bb++ {
			ready = int(j.stagesDone[bb].Load()) == j.stages[bb+1]-j.stages[bb]
		}
		if ready {
			break
		}
		runtime.Gosched()
	}
	rb, gi := t/j.nG, t%j.nG
	i0 := rb * j.mcEff
	mb := min(j.mcEff, j.m-i0)
	ap := j.aBlock(w, b, i0, mb)
	for jp := gi * j.group; jp < min((gi+1)*j.group, j.bPanels); jp++ {
		j.indirectPanel(w, jp, ap, i0, mb, kb, j.tables[b], pc > 0 || !j.overwrite)
	}
	j.done[t].Store(int32(b + 1))
}

// scatterTile computes a tile whose columns straddle images into scratch
// and adds it to (or, when !acc, stores it in) C one contiguous run (the
// part in one image) at a time.
func (j *gemmJob) scatterTile(w, kb int, apan, bpan []float32, row, col, rows, cols int, acc bool) {
	t := j.edge[w][:j.mr*j.nr]
	j.impl.GemmKernel(kb, apan, bpan, t, j.nr, false)
	for jj := 0; jj < cols; {
		c := col + jj
		run := min(cols-jj, j.img-c%j.img)
		off := row*j.ldc + j.colOff(c)
		for ii := 0; ii < rows; ii++ {
			dst := j.c[off+ii*j.ldc : off+ii*j.ldc+run]
			src := t[ii*j.nr+jj : ii*j.nr+jj+run]
			if acc {
				j.impl.Add(dst, dst, src)
			} else {
				copy(dst, src)
			}
		}
		jj += run
	}
}

// aPrepackLimit is the size (floats) up to which a product's whole A is
// packed once up front (drive).
const aPrepackLimit = 1 << 21

// parallelThreshold is the work (in flops) below which a GEMM runs on one
// thread: waking a worker costs a few microseconds.
const parallelThreshold = 1 << 21

// drive runs the blocked loops of j; C must already hold beta*C unless
// j.overwrite is set.
func (j *gemmJob) drive() {
	mr, nr := j.impl.GemmTile()
	j.mr, j.nr = mr, nr
	j.blk = blocksFor(j.impl)
	threads := j.threads
	if 2*float64(j.m)*float64(j.n)*float64(j.k) < parallelThreshold {
		threads = 1
	}
	// In place, with several threads, run flat (no barrier per kc block);
	// one thread has no barriers to save and keeps the blocked loops,
	// which pack A per kc block into L2 rather than once into L3 (flat
	// measured 3-4% slower on one thread for weight gradients).
	flat := j.bi != nil && threads > 1 && (j.m > j.blk.mc || (j.m+mr-1)/mr*mr*j.k <= aPrepackLimit)
	if !flat {
		ensureStaged(j.B, j.threads, &j.stg)
	}
	target := 1
	if threads > 1 {
		target = 4 * threads
	}
	// Units: ceil(m/mc) row blocks, times column chunks when threads need
	// more units; a row block runs all its A panels over a B panel while
	// that panel is in L1, so the columns are cut first and the rows more
	// finely only when the columns run out (cutting rows first would
	// stream each B panel from L3 once per row unit: with m = 64 that
	// costs a third of the speed).
	nI := (j.m + j.blk.mc - 1) / j.blk.mc
	if panels := (min(j.n, j.blk.nc) + nr - 1) / nr; nI*panels < target {
		nI = min((j.m+mr-1)/mr, (target+panels-1)/panels)
	}
	j.mcEff = ((j.m+nI-1)/nI + mr - 1) / mr * mr
	j.nI = (j.m + j.mcEff - 1) / j.mcEff
	kc := j.blk.kcFor(j.k)
	if flat {
		j.driveFlat(kc, threads)
		return
	}
	// Pack all of A up front when it would otherwise be packed more than
	// once (by every column chunk of a row block, and again for every
	// block of nc columns) and is small enough to keep whole.
	nJc := (j.n + j.blk.nc - 1) / j.blk.nc
	nJ0 := 1
	if j.nI < target {
		nJ0 = min((target+j.nI-1)/j.nI, (min(j.n, j.blk.nc)+nr-1)/nr)
	}
	j.mPad, j.kcA = (j.m+mr-1)/mr*mr, kc
	j.aPre = j.mPad*j.k <= aPrepackLimit && (nJc > 1 || nJ0 > 1)
	if j.aPre {
		j.apAll = grow(j.apAll, j.mPad*j.k)
		j.aPacking = true
		parallelFor((j.k+kc-1)/kc*j.nI, threads, j)
		j.aPacking = false
	}
	for j.jc = 0; j.jc < j.n; j.jc += j.blk.nc {
		j.nb = min(j.blk.nc, j.n-j.jc)
		j.bPanels = (j.nb + nr - 1) / nr
		j.nJ = 1
		if j.nI < target {
			j.nJ = min((target+j.nI-1)/j.nI, j.bPanels)
		}
		j.chunk = (j.bPanels + j.nJ - 1) / j.nJ
		j.nJ = (j.bPanels + j.chunk - 1) / j.chunk
		for j.pc = 0; j.pc < j.k; j.pc += kc {
			j.kb = min(kc, j.k-j.pc)
			switch {
			case j.pre != nil:
				// op(B) was packed once in advance (PackedMatrix).
				j.bp = j.pre.block(j.jc, j.pc)
			case j.bi != nil:
				// B is read in place: only the k-step offsets are made.
				if cap(j.koff) < j.kb {
					j.koff = make([]int32, j.kb)
				}
				j.koff = j.koff[:j.kb]
				j.bi.koffs(j.koff, j.k0+j.pc)
				j.table = indirectTable(j.bi, j.koff)
			default:
				j.own = grow(j.own, j.bPanels*nr*j.kb)
				j.bp = j.own
				j.packing = true
				nPack := min(j.bPanels, target)
				j.bPer = (j.bPanels + nPack - 1) / nPack
				parallelFor((j.bPanels+j.bPer-1)/j.bPer, threads, j)
				j.packing = false
			}
			parallelFor(j.nI*j.nJ, threads, j)
		}
	}
}

// scaleC sets C = beta*C over m x n (BLAS semantics: beta = 0 overwrites,
// so NaNs in C do not survive).
func scaleC(beta float32, c []float32, m, n, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else {
			simd.Scale(beta, row)
		}
	}
}

func checkGemmArgs(transA, transB bool, m, n, k, lda, ldb, ldc, la, lb, lc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("%w: Gemm: negative size m=%d n=%d k=%d", ErrShape, m, n, k)
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	switch {
	case lda < max(1, ac):
		return fmt.Errorf("%w: Gemm: lda=%d < %d columns of A", ErrShape, lda, ac)
	case ldb < max(1, bc):
		return fmt.Errorf("%w: Gemm: ldb=%d < %d columns of B", ErrShape, ldb, bc)
	case ldc < max(1, n):
		return fmt.Errorf("%w: Gemm: ldc=%d < n=%d", ErrShape, ldc, n)
	case ar > 0 && ac > 0 && la < (ar-1)*lda+ac:
		return fmt.Errorf("%w: Gemm: A has %d elements, a %dx%d matrix with lda=%d needs %d", ErrShape, la, ar, ac, lda, (ar-1)*lda+ac)
	case br > 0 && bc > 0 && lb < (br-1)*ldb+bc:
		return fmt.Errorf("%w: Gemm: B has %d elements, a %dx%d matrix with ldb=%d needs %d", ErrShape, lb, br, bc, ldb, (br-1)*ldb+bc)
	case m > 0 && n > 0 && lc < (m-1)*ldc+n:
		return fmt.Errorf("%w: Gemm: C has %d elements, a %dx%d matrix with ldc=%d needs %d", ErrShape, lc, m, n, ldc, (m-1)*ldc+n)
	}
	return nil
}

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major float32
// matrices, where op(X) is X or its transpose, op(A) is m x k, op(B) is
// k x n and C is m x n, with leading dimensions (row strides) lda, ldb,
// ldc. As in BLAS, beta = 0 overwrites C without reading it. It uses the
// active simd level and Threads() goroutines, allocates nothing in steady
// state, and gives bitwise the same result for any thread count.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if err := checkGemmArgs(transA, transB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c)); err != nil {
		return err
	}
	gemm32(simd.Active(), Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

func gemm32(impl *simd.Impl, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	overwrite := beta == 0 && k > 0 && alpha != 0
	if !overwrite {
		scaleC(beta, c, m, n, ldc)
		if k == 0 || alpha == 0 {
			return
		}
	}
	j := jobPool.get()
	j.overwrite = overwrite
	j.da = denseA{impl: impl, a: a, lda: lda, trans: transA}
	j.db = denseB{impl: impl, b: b, ldb: ldb, trans: transB}
	j.A, j.B = &j.da, &j.db
	j.impl, j.threads = impl, threads
	j.m, j.n, j.k, j.alpha, j.c, j.ldc = m, n, k, alpha, c, ldc
	j.img, j.imgStride, j.pre, j.bi = 0, 0, nil, nil
	j.drive()
	j.da, j.db, j.A, j.B, j.c = denseA{}, denseB{}, nil, nil, nil
	jobPool.put(j)
}

// gemmSources runs C = alpha * A * B (overwrite) or C += alpha * A * B
// for packing sources A (m x k) and B (k x n) into C addressed as
// described at gemmJob.img.
func gemmSources(impl *simd.Impl, threads, m, n, k int, alpha float32, A aSource, B bSource, c []float32, ldc, img, imgStride int, overwrite bool) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if overwrite {
			forRuns(m, n, ldc, img, imgStride, func(off, l int) { clear(c[off : off+l]) })
		}
		return
	}
	if img == 0 {
		if segs := kSegments(impl, m, n, k); segs > 1 {
			splitK(impl, threads, segs, m, n, k, alpha, A, B, c, ldc, overwrite)
			return
		}
	}
	j := jobPool.get()
	if _, nr := impl.GemmTile(); img > 0 && img%nr != 0 {
		// Small images: most tiles would straddle two images and need a
		// scatter each. Compute into a dense scratch C instead and add it
		// in one pass, an image-row run at a time.
		j.dense = grow(j.dense, m*n)
		j.setup(impl, threads, m, n, k, alpha, A, B, j.dense, n, 0, 0, true)
		j.drive()
		for i := 0; i < m; i++ {
			src := j.dense[i*n : (i+1)*n]
			for s := 0; s < n; s += img {
				dst := c[(s/img)*imgStride+i*ldc:][:img]
				if overwrite {
					copy(dst, src[s:s+img])
				} else {
					impl.Add(dst, dst, src[s:s+img])
				}
			}
		}
	} else {
		j.setup(impl, threads, m, n, k, alpha, A, B, c, ldc, img, imgStride, overwrite)
		j.drive()
	}
	j.release()
	jobPool.put(j)
}

// setup points j at the product of sources A (m x k) and B (k x n) into c
// (addressed as described at gemmJob.img). B is read in place when it can
// be and the level can: every panel full (n a multiple of nr) and none
// straddling two images.
func (j *gemmJob) setup(impl *simd.Impl, threads, m, n, k int, alpha float32, A aSource, B bSource, c []float32, ldc, img, imgStride int, overwrite bool) {
	j.A, j.B = A, B
	j.impl, j.threads, j.overwrite = impl, threads, overwrite
	j.m, j.n, j.k, j.alpha, j.c, j.ldc = m, n, k, alpha, c, ldc
	j.img, j.imgStride, j.pre, j.bi = img, imgStride, nil, nil
	_, nr := impl.GemmTile()
	if bi, ok := B.(bIndirect); ok && impl.IndirectPieces() > 0 && n%nr == 0 && (img == 0 || img%nr == 0) {
		j.bi, j.nv = bi, bi.pieceCount()
	}
}

// release drops j's references to the operands of its last product.
func (j *gemmJob) release() {
	j.A, j.B, j.c, j.bi = nil, nil, nil, nil
	j.k0, j.wid = 0, 0
}

// kSegments returns how many segments of the inner dimension a product
// from gemmSources is cut into: 1, except when k dwarfs the output (a
// convolution's weight gradient, where k runs over every output pixel of
// the batch and C is only Cout x 9Cin). Then the blocked loops would run
// many kc blocks of little work each, with a barrier after each; instead
// each segment is a whole product on one worker into its own partial C,
// summed at the end in segment order. The cut depends on the shape alone,
// never on the thread count, so results stay bitwise the same for any
// number of threads.
func kSegments(impl *simd.Impl, m, n, k int) int {
	kc := blocksFor(impl).kc
	if k < 8*kc || k < 16*max(m, n) || m*n > 1<<20 {
		return 1
	}
	return min(maxSegments, k/(2*kc))
}

const maxSegments = 8

// splitJob runs the segments of a k-split product (kSegments).
type splitJob struct {
	impl          *simd.Impl
	segs, m, n, k int
	alpha         float32
	A             aSource
	B             bSource
	parts         []float32 // segs partial products, m x n each
	stg           stageTask
	// The sum of the parts into c (ldc, overwrite), split by rows once
	// the parts are done.
	c         []float32
	ldc       int
	overwrite bool
	// jobs[w] runs the segments worker w takes: segments have equal
	// shapes, so each job's scratch settles after the first product
	// (jobs from the shared list would swap between workers from one call
	// to the next and keep regrowing).
	jobs [maxWorkers]*gemmJob
}

var splitPool freeList[splitJob]

func (s *splitJob) run(w, i int) {
	if s.c != nil {
		s.sum(i)
		return
	}
	k0, k1 := i*s.k/s.segs, (i+1)*s.k/s.segs
	mn := s.m * s.n
	if s.jobs[w] == nil {
		s.jobs[w] = new(gemmJob)
	}
	gemmSourcesAt(s.jobs[w], s.impl, w, k0, s.m, s.n, k1-k0, s.alpha, s.A, s.B, s.parts[i*mn:(i+1)*mn])
}

// gemmSourcesAt computes with job j the dense m x n product of A and B
// over inner indices k0 .. k0+k-1 into c, on the calling worker w alone.
func gemmSourcesAt(j *gemmJob, impl *simd.Impl, w, k0, m, n, k int, alpha float32, A aSource, B bSource, c []float32) {
	j.setup(impl, 1, m, n, k, alpha, A, B, c, n, 0, 0, true)
	j.k0, j.wid = k0, w
	j.drive()
	j.release()
}

// splitK computes C = (or +=) alpha*A*B for a dense C as segs partial
// products summed in order.
func splitK(impl *simd.Impl, threads, segs, m, n, k int, alpha float32, A aSource, B bSource, c []float32, ldc int, overwrite bool) {
	s := splitPool.get()
	ensureStaged(B, threads, &s.stg)
	s.impl, s.segs, s.m, s.n, s.k, s.alpha, s.A, s.B = impl, segs, m, n, k, alpha, A, B
	s.parts = grow(s.parts, segs*m*n)
	parallelFor(segs, threads, s)
	s.c, s.ldc, s.overwrite = c, ldc, overwrite
	parallelForChunked(m, threads, s)
	s.A, s.B, s.c = nil, nil, nil
	splitPool.put(s)
}

// sum adds row i of the parts, in segment order, into C.
func (s *splitJob) sum(i int) {
	m, n := s.m, s.n
	dst := s.c[i*s.ldc : i*s.ldc+n]
	if s.overwrite {
		copy(dst, s.parts[i*n:(i+1)*n])
	} else {
		s.impl.Add(dst, dst, s.parts[i*n:(i+1)*n])
	}
	for p := 1; p < s.segs; p++ {
		s.impl.Add(dst, dst, s.parts[(p*m+i)*n:(p*m+i+1)*n])
	}
}

// forRuns calls f(offset, length) for each contiguous run of the m x n
// C addressed as described at gemmJob.img.
func forRuns(m, n, ldc, img, imgStride int, f func(off, l int)) {
	if img == 0 {
		img, imgStride = n, 0
	}
	for s := 0; s < n; s += img {
		for i := 0; i < m; i++ {
			f((s/img)*imgStride+i*ldc, img)
		}
	}
}

// Gemm64 is Gemm for float64, computed by gonum's pure-Go BLAS (blocked and
// parallel, deterministic for any GOMAXPROCS).
func Gemm64(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) error {
	if err := checkGemmArgs(transA, transB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c)); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 || alpha == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				if beta == 0 {
					row[j] = 0
				} else {
					row[j] *= beta
				}
			}
		}
		return nil
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	gonum.Implementation{}.Dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

// MatMul returns op(a) @ op(b) for 2-D tensors, where op transposes when
// the flag is set, written into dst (new when nil).
func MatMul(dst, a, b *Tensor, transA, transB bool) (*Tensor, error) {
	if err := nonNil("MatMul", a, b); err != nil {
		return nil, err
	}
	if a.dt != b.dt {
		return nil, fmt.Errorf("%w: MatMul of %v and %v", ErrDType, a.dt, b.dt)
	}
	if a.nd != 2 || b.nd != 2 {
		return nil, fmt.Errorf("%w: MatMul of %v and %v: want 2-D tensors", ErrShape, shapeString(a.Shape()), shapeString(b.Shape()))
	}
	m, k := a.dims[0], a.dims[1]
	if transA {
		m, k = k, m
	}
	k2, n := b.dims[0], b.dims[1]
	if transB {
		k2, n = n, k2
	}
	if k != k2 {
		return nil, fmt.Errorf("%w: MatMul of %v (trans=%v) and %v (trans=%v): inner sizes %d and %d differ",
			ErrShape, shapeString(a.Shape()), transA, shapeString(b.Shape()), transB, k, k2)
	}
	dst, err := prepareDst("MatMul", dst, a.dt, []int{m, n})
	if err != nil {
		return nil, err
	}
	if a.dt == Float32 {
		gemm32(simd.Active(), Threads(), transA, transB, m, n, k, 1, a.f32, a.dims[1], b.f32, b.dims[1], 0, dst.f32, n)
		return dst, nil
	}
	return dst, Gemm64(transA, transB, m, n, k, 1, a.f64, max(1, a.dims[1]), b.f64, max(1, b.dims[1]), 0, dst.f64, max(1, n))
}

// BatchMatMul returns op(a[i]) @ op(b[i]) for each i of 3-D tensors
// a [B, m, k] and b [B, k, n] (or their transposes per flag): [B, m, n].
// Each product is an independent GEMM, so results are as deterministic as
// MatMul's.
func BatchMatMul(dst, a, b *Tensor, transA, transB bool) (*Tensor, error) {
	if err := nonNil("BatchMatMul", a, b); err != nil {
		return nil, err
	}
	if a.dt != b.dt {
		return nil, fmt.Errorf("%w: BatchMatMul of %v and %v", ErrDType, a.dt, b.dt)
	}
	if a.nd != 3 || b.nd != 3 || a.dims[0] != b.dims[0] {
		return nil, fmt.Errorf("%w: BatchMatMul of %v and %v: want [B m k] and [B k n] with the same B", ErrShape, shapeString(a.Shape()), shapeString(b.Shape()))
	}
	bt, ar, ac, br, bc := a.dims[0], a.dims[1], a.dims[2], b.dims[1], b.dims[2]
	m, k := ar, ac
	if transA {
		m, k = ac, ar
	}
	k2, n := br, bc
	if transB {
		k2, n = bc, br
	}
	if k != k2 {
		return nil, fmt.Errorf("%w: BatchMatMul of %v (trans=%v) and %v (trans=%v): inner sizes %d and %d differ",
			ErrShape, shapeString(a.Shape()), transA, shapeString(b.Shape()), transB, k, k2)
	}
	dst, err := prepareDst("BatchMatMul", dst, a.dt, []int{bt, m, n})
	if err != nil {
		return nil, err
	}
	sa, sb, sc := ar*ac, br*bc, m*n
	for i := 0; i < bt; i++ {
		if a.dt == Float32 {
			gemm32(simd.Active(), Threads(), transA, transB, m, n, k, 1, a.f32[i*sa:(i+1)*sa], ac, b.f32[i*sb:(i+1)*sb], bc, 0, dst.f32[i*sc:(i+1)*sc], n)
			continue
		}
		if err := Gemm64(transA, transB, m, n, k, 1, a.f64[i*sa:(i+1)*sa], max(1, ac), b.f64[i*sb:(i+1)*sb], max(1, bc), 0, dst.f64[i*sc:(i+1)*sc], max(1, n)); err != nil {
			return nil, err
		}
	}
	return dst, nil
}
