package tensor

import (
	"runtime"
	"sync/atomic"
)

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
