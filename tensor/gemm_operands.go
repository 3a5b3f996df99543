package tensor

import (
	"math"

	"github.com/flatfast/flatfast/simd"
)

// aSource packs rows [i0, i0+mb) x columns [p0, p0+kb) of op(A), times
// alpha, into dst as ceil(mb/mr) panels of kb x mr floats, zero-padding the
// last panel's missing rows.
// w is the worker running the call, for sources that keep scratch per
// worker.
type aSource interface {
	packA(w int, dst []float32, i0, mb, p0, kb, mr int, alpha float32)
}

// prepackedA is an A source that holds its panels already packed: for
// the kc block starting at k step p0 (kb steps), the panels of rows i0 on
// are n floats of mr x kb each, as packA would write them. panels returns
// nil where its layout does not have that block (another kc), and the
// driver packs through packA instead.
type prepackedA interface {
	aSource
	panels(p0, kb, i0, n int) []float32
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
	np := (mb + mr - 1) / mr
	if s.trans {
		// op(A)[i,p] = a[p*lda+i]: each step p is a contiguous run.
		packRuns(s.impl, dst, s.a, s.lda, p0, kb, i0, mb, mr, 0, np)
	}
	for ip := range np {
		panel := dst[ip*mr*kb : (ip+1)*mr*kb]
		if !s.trans {
			rows := min(mr, mb-ip*mr)
			if rows < mr {
				clear(panel)
			}
			s.impl.Transpose(panel, mr, s.a[(i0+ip*mr)*s.lda+p0:], s.lda, rows, kb)
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
	if !s.trans {
		// op(B)[p,j] = b[p*ldb+j]: each step p is a contiguous run.
		packRuns(s.impl, dst, s.b, s.ldb, p0, kb, j0, nb, nr, first, count)
		return
	}
	for jp := first; jp < first+count; jp++ {
		panel := dst[jp*nr*kb : (jp+1)*nr*kb]
		cols := min(nr, nb-jp*nr)
		c0 := j0 + jp*nr
		// op(B)[p,j] = b[j*ldb+p]: a transpose of the stored rows.
		if cols < nr {
			clear(panel)
		}
		s.impl.Transpose(panel, nr, s.b[c0*s.ldb+p0:], s.ldb, cols, kb)
	}
}

// packSteps is how many k steps of a k-major operand (B as stored, or A
// transposed) are packed into one panel before the next panel's: the rows
// of a run are read across all the panels, and each panel gets its steps
// as one contiguous run. Packing a whole panel at a time read a 16-float
// column strip down kb rows, one row (for ldb = 1024 one page and one L1
// set) per step: 12% of a 1024^3 GEMM on one thread on AMD Zen 3 went to
// that copy. With one call per panel and step group, runs of 4 were best
// there (1, 8 and 16 measured no better). With the full panels of a group
// in one call (packRuns), longer runs copy faster on the Intel Xeon of
// 2026-12-04 (512 x 512 floats, ld 512 or 1024, interleaved medians: 17,
// 20, 21, 22 GB/s for 4, 8, 16, 32 steps); 8 is taken, the most that
// keeps the rows of a group, which for a power-of-two ld share an L1 set,
// within the ways of an 8-way L1 (Zen's), so that the lines a 6- or
// 12-float strip leaves to the next panel are still there.
const packSteps = 8

// packRuns packs panels first .. first+count-1, w columns each, of the
// kb x n block src[p0*ld+c0:] of a k-major operand into dst (kb x w
// floats a panel, the columns past n zeroed), packSteps k steps at a time
// across the panels, with impl's strip copy.
func packRuns(impl *simd.Impl, dst, src []float32, ld, p0, kb, c0, n, w, first, count int) {
	// Panels first .. full-1 have all w columns; the one after, if any of
	// the range, is cut by n.
	full := max(first, min(first+count, n/w))
	for q := 0; q < kb; q += packSteps {
		qb := min(packSteps, kb-q)
		// The full panels of these steps in one call: a group of 4
		// steps of one of AVX-512's 32-float panels is 512 bytes, and a
		// call and dispatch for each cost as much as the copy (Intel
		// Xeon, 2026-12-04, 4 steps a group: a 512 x 512 B packed at
		// 12-14 GB/s one panel a call, at 17-20 with all in one).
		impl.CopyStrips(dst[first*w*kb+q*w:], w*kb, src[(p0+q)*ld+c0+first*w:], ld, qb, w, full-first)
		for jp := full; jp < first+count; jp++ {
			panel := dst[jp*w*kb+q*w : (jp+1)*w*kb]
			packStrips(impl, panel, src, ld, p0+q, qb, c0+jp*w, min(w, n-jp*w), w)
		}
	}
}

// packStrips packs the kb x cols block src[p0*ld+c0:] (rows k steps,
// cols <= w) as kb steps of w floats into dst, the columns past cols
// zeroed.
func packStrips(impl *simd.Impl, dst, src []float32, ld, p0, kb, c0, cols, w int) {
	if cols == w {
		impl.CopyStrips(dst, 0, src[p0*ld+c0:], ld, kb, w, 1)
		return
	}
	for p := 0; p < kb; p++ {
		d := dst[p*w : p*w+w]
		copy(d, src[(p0+p)*ld+c0:(p0+p)*ld+c0+cols])
		clear(d[cols:])
	}
}
