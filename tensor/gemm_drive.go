package tensor

import (
	"runtime"
	"sync/atomic"

	"github.com/flatfast/flatfast/simd"
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
	pa             prepackedA    // A whose panels are read in place (alpha 1), or nil
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
	aRows, nA      int // rows per unit of the up-front packing, and units per kc block
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
	// lazyB: the B panels of each block are packed by the product units
	// that first need them, in the same parallel region (claimB); bState
	// holds each panel's state (0 not packed, 1 being packed, 2 packed).
	// The workers then also take the units of a home row block first
	// (affineUnit; rowNext counts the chunks taken per row block) and
	// keep the A block they packed last (apKey: product, kc block, first
	// row) for their next unit.
	lazyB bool
	// ownB: one row block a thread, each packing the B panels it uses
	// into a few panels of its own (bOwn) just before using them (see
	// ownBRows).
	ownB    bool
	bOwn    [maxWorkers][]float32
	bState  []atomic.Int32
	rowNext []atomic.Int32
	gen     int
	apKey   [maxWorkers][3]int

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

// setup points j at the product C = alpha*A*B (overwrite) or
// C += alpha*A*B of sources A (m x k) and B (k x n) into c (addressed as
// described at gemmJob.img), on up to threads workers. It is the one
// set-up of every product: Gemm's dense operands, the convolutions'
// sources, a PackedMatrix (whose caller then sets pre) and a segment of a
// split product (whose caller then sets k0 and wid). B is read in place
// when it can be and the level can: every panel full (n a multiple of nr)
// and none straddling two images.
func (j *gemmJob) setup(impl *simd.Impl, threads, m, n, k int, alpha float32, A aSource, B bSource, c []float32, ldc, img, imgStride int, overwrite bool) {
	j.A, j.B = A, B
	j.impl, j.threads, j.overwrite = impl, threads, overwrite
	j.m, j.n, j.k, j.alpha, j.c, j.ldc = m, n, k, alpha, c, ldc
	j.img, j.imgStride, j.pre, j.bi, j.pa = img, imgStride, nil, nil, nil
	if pa, ok := A.(prepackedA); ok && alpha == 1 {
		j.pa = pa
	}
	j.k0, j.wid = 0, 0
	_, nr := impl.GemmTile()
	if bi, ok := B.(bIndirect); ok && impl.IndirectPieces() > 0 && n%nr == 0 && (img == 0 || img%nr == 0) {
		j.bi, j.nv = bi, bi.pieceCount()
	}
}

// release drops j's references to the operands of its last product, so
// that a pooled job keeps no caller's memory alive.
func (j *gemmJob) release() {
	j.A, j.B, j.c, j.bi, j.pre, j.bp, j.pa = nil, nil, nil, nil, nil, nil, nil
	j.da, j.db = denseA{}, denseB{}
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
	nJ0 := colChunks(j.nI, (min(j.n, j.blk.nc)+nr-1)/nr, threads, target)
	j.mPad, j.kcA = (j.m+mr-1)/mr*mr, kc
	// On several threads, B packed by the product units (claimB) and
	// each worker kept to a row block of its own (affineUnit), packing
	// that block's A privately, once per kc block, instead of all of A
	// being packed up front by all workers: each worker's A then stays in
	// its own L2. Intel Xeon (family 6 model 207), 2 threads, in-process
	// interleaved medians: the paper MLP's step 1.8-3.2% faster (four
	// runs), SGEMM 256^3 to 2048^3 and ResNet-18 b32 within +-3%.
	j.lazyB = threads > 1 && j.pre == nil && j.bi == nil
	if j.lazyB {
		if rows, ok := ownBRows(j.B, j.blk, mr, kc, threads, j.m, j.n, j.k); ok {
			j.lazyB, j.ownB = false, true
			j.mcEff = rows
			j.nI = (j.m + rows - 1) / rows
		}
	}
	defer func() { j.lazyB, j.ownB = false, false }()
	j.gen++
	j.aPre = !j.lazyB && !j.ownB && j.mPad*j.k <= aPrepackLimit && (nJc > 1 || nJ0 > 1)
	if j.aPre {
		j.apAll = grow(j.apAll, j.mPad*j.k)
		// Its own units, of whole micro-panels: a product with one row
		// block (256^3) would otherwise pack all of A on one worker while
		// the others wait.
		nKb := (j.k + kc - 1) / kc
		per := max(1, (target+nKb-1)/nKb)
		j.aRows = (j.mPad/mr + per - 1) / per * mr
		j.nA = (j.m + j.aRows - 1) / j.aRows
		j.aPacking = true
		parallelFor(nKb*j.nA, threads, j)
		j.aPacking = false
	}
	for j.jc = 0; j.jc < j.n; j.jc += j.blk.nc {
		j.nb = min(j.blk.nc, j.n-j.jc)
		j.bPanels = (j.nb + nr - 1) / nr
		j.nJ = 1 // ownB: a unit takes all the panels
		if !j.ownB {
			j.nJ = colChunks(j.nI, j.bPanels, threads, target)
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
					// Room for any block (kb <= kc), so that a pooled job
					// sized once never grows it again.
					j.koff = make([]int32, j.blk.kc)
				}
				j.koff = j.koff[:j.kb]
				j.bi.koffs(j.koff, j.k0+j.pc)
				j.table = indirectTable(j.bi, j.koff)
			case j.ownB:
				// Each unit packs the panels itself (runOwnB).
			case j.lazyB:
				// The product units pack the panels they need first
				// (claimB), in the same region: no barrier between the
				// packing and the products, and the packing of one chunk
				// overlaps the products of another.
				j.own = grow(j.own, j.bPanels*nr*j.kb)
				j.bp = j.own
				j.bState = resetCounters(j.bState, j.bPanels)
				j.rowNext = resetCounters(j.rowNext, j.nI)
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

// colChunks is how many column chunks each of nI row blocks of a
// product with panels B panels is cut into, for threads workers: at least
// enough for target units (one when the row blocks alone reach it), and
// of the counts from there to twice that, the one that spreads best. The
// units of a product take about the same time each, so nI*nJ units of
// ceil(panels/nJ) panels finish after ceil(nI*nJ/threads) rounds of the
// largest: 1024^3 at AVX-512 has three row blocks of 32 panels, which cut
// three ways gave two workers 5 and 4 units (rounds x chunk = 5 x 11) and
// cut four ways 6 and 6 (6 x 8).
func colChunks(nI, panels, threads, target int) int {
	lo := min(max(1, (target+nI-1)/nI), panels)
	if threads <= 1 {
		return lo
	}
	best, bestCost := lo, -1
	for nJ := lo; nJ <= min(panels, 2*lo); nJ++ {
		chunk := (panels + nJ - 1) / nJ
		units := nI * ((panels + chunk - 1) / chunk)
		cost := (units + threads - 1) / threads * chunk
		if bestCost < 0 || cost < bestCost {
			best, bestCost = nJ, cost
		}
	}
	return best
}

func (j *gemmJob) run(w, i int) {
	if j.aPacking {
		b, rb := i/j.nA, i%j.nA
		i0 := rb * j.aRows
		j.packABlock(w, b, i0, min(j.aRows, j.m-i0))
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
	if j.ownB {
		j.runOwnB(w, i)
		return
	}
	bi, ci := i/j.nJ, i%j.nJ
	if j.lazyB {
		bi, ci = j.affineUnit(w)
	}
	i0 := bi * j.mcEff
	mb := min(j.mcEff, j.m-i0)
	kb := j.kb
	acc := j.accumulate()
	ap := j.aBlock(w, j.pc/j.kcA, i0, mb)
	jp0 := ci * j.chunk
	jp1 := min(jp0+j.chunk, j.bPanels)
	if j.lazyB {
		j.claimB(w, jp0, jp1)
	}
	for jp := jp0; jp < jp1; jp++ {
		if j.lazyB {
			for j.bState[jp].Load() != 2 {
				runtime.Gosched()
			}
		}
		if j.bi != nil {
			j.indirectPanel(w, jp, ap, i0, mb, kb, j.table, acc)
			continue
		}
		j.panelTiles(w, j.bp[jp*j.nr*kb:(jp+1)*j.nr*kb], jp, ap, i0, mb, acc)
	}
}

// ownBRows reports whether a product on threads workers runs as one row
// block a worker, each packing B for itself (ownB), rather than sharing
// B's packed panels (lazyB), and if so the rows of a block. It does for
// a dense B of at most ownBLimit floats, at least ownBRowsPer rows a
// worker, and a worker's rows few enough that their A block (at kc
// steps) fits in L2. Each worker then copies all of B, one float for at
// least 2*ownBRowsPer flops of its own, ownBGroup panels at a time that
// it uses at once, while they are in its cache; no worker waits for a
// panel another is packing, and no packed panel moves between the cores'
// caches. docs/gemm.md ("Each worker its own B") has the measurements:
// on the AMD Zen 5 VM of 2026-12-07, two threads, 256^3 to 784x512x512
// ran 2-21% faster; from 1024^3 the copies cost as much as the sharing
// saves, so a B of more than ownBLimit floats stays shared.
func ownBRows(b bSource, blk blocking, mr, kc, threads, m, n, k int) (int, bool) {
	if _, dense := b.(*denseB); !dense || threads < 2 || m < ownBRowsPer*threads || k*n > ownBLimit {
		return 0, false
	}
	rows := ((m+threads-1)/threads + mr - 1) / mr * mr
	// blk.mc rows of blk.kc steps take half of L2.
	return rows, rows*kc <= 2*blk.mc*blk.kc
}

const (
	ownBRowsPer = 128
	ownBLimit   = 1 << 19
	// ownBGroup is how many B panels a unit packs in one call: one panel
	// a call makes a call per packSteps k steps of a single strip.
	ownBGroup = 4
)

// runOwnB runs row block rb on worker w over every B panel of the block,
// packing the panels ownBGroup at a time into the worker's buffer just
// before it uses them.
func (j *gemmJob) runOwnB(w, rb int) {
	i0 := rb * j.mcEff
	mb := min(j.mcEff, j.m-i0)
	nr, kb := j.nr, j.kb
	acc := j.accumulate()
	ap := j.aBlock(w, j.pc/j.kcA, i0, mb)
	bp := grow(j.bOwn[w], ownBGroup*nr*kb)
	j.bOwn[w] = bp
	for g := 0; g < j.bPanels; g += ownBGroup {
		n := min(ownBGroup, j.bPanels-g)
		// Panels g .. g+n-1 as panels 0 .. n-1 of the columns from g on.
		j.B.packB(w+j.wid, bp, j.k0+j.pc, kb, j.jc+g*nr, j.nb-g*nr, nr, 0, n)
		for q := range n {
			j.panelTiles(w, bp[q*nr*kb:(q+1)*nr*kb], g+q, ap, i0, mb, acc)
		}
	}
}

// panelTiles runs the rows i0 .. i0+mb-1 (their A block packed in ap)
// against bpan, packed B panel jp of the block, adding to C when acc is
// set and storing otherwise.
func (j *gemmJob) panelTiles(w int, bpan []float32, jp int, ap []float32, i0, mb int, acc bool) {
	mr, nr, kb := j.mr, j.nr, j.kb
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

// claimB packs, on worker w, the B panels of jp0 .. jp1-1 that no other
// unit has claimed, each run of consecutive claimed panels in one call.
// The unit then waits (in run) for any of its panels still being packed
// by another: one that is running, and that waits for nothing itself, so
// the wait is short and cannot deadlock. Who packs a panel changes nothing
// in it, so results stay bitwise those of one thread. With the panels
// packed in a region of their own before the products, the Intel Xeon
// (family 6 model 207, 2 threads, 2026-12-04; in-process interleaved
// medians) ran SGEMM 256^3 to 1024^3 0-3% slower, the paper MLP's step
// 1-3% and ResNet-18's at batch 32 3.6%. Claiming the A packed up front
// the same way measured 1-5% slower at 512^3 and 1024^3 (the first units
// of a product shared a row block, and one waited for the other's A);
// the workers now pack the A of row blocks of their own (affineUnit).
func (j *gemmJob) claimB(w, jp0, jp1 int) {
	for jp := jp0; jp < jp1; {
		if !j.bState[jp].CompareAndSwap(0, 1) {
			jp++
			continue
		}
		end := jp + 1
		for end < jp1 && j.bState[end].CompareAndSwap(0, 1) {
			end++
		}
		j.packClaimed(w, jp, end)
		jp = end
	}
}

// packClaimed packs B panels jp0 .. jp1-1, claimed by worker w, and marks
// them packed, also when the packing panics: the units waiting for them
// then finish, and the panic reaches the caller of the product instead of
// leaving the region waiting for ever.
func (j *gemmJob) packClaimed(w, jp0, jp1 int) {
	defer func() {
		for q := jp0; q < jp1; q++ {
			j.bState[q].Store(2)
		}
	}()
	j.B.packB(w+j.wid, j.bp, j.k0+j.pc, j.kb, j.jc, j.nb, j.nr, jp0, jp1-jp0)
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
	if j.pa != nil {
		if ap := j.pa.panels(j.k0+pc, kb, i0, n); ap != nil {
			return ap
		}
	}
	key := [3]int{j.gen, pc, i0}
	if j.lazyB && j.apKey[w] == key {
		return j.ap[w]
	}
	ap := grow(j.ap[w], n)
	j.ap[w] = ap
	j.A.packA(w+j.wid, ap, i0, mb, j.k0+pc, kb, j.mr, j.alpha)
	j.apKey[w] = key
	return ap
}

// affineUnit takes, for worker w, the next unit: a chunk of its home row
// block while there are any, then of the next row blocks. Row block rb's
// chunks are taken from chunk rb*nJ/nI on, so that workers on different
// row blocks start on different B panels.
func (j *gemmJob) affineUnit(w int) (bi, ci int) {
	home := w * j.nI / max(1, j.threads)
	for d := range j.nI {
		rb := (home + d) % j.nI
		if c := int(j.rowNext[rb].Add(1)) - 1; c < j.nJ {
			return rb, (c + rb*j.nJ/j.nI) % j.nJ
		}
	}
	panic("tensor: affineUnit: no unit left")
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
