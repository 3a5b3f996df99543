package tensor

import (
	"sync"

	"github.com/flatfast/flatfast/simd"
)

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
