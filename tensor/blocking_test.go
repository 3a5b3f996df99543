package tensor

import (
	"testing"

	"github.com/flatfast/flatfast/simd"
)

// TestCacheConfig fails on a malformed FLATFAST_CACHE, so that a typo in
// the geometries CI runs the suite under cannot quietly test the host's
// sizes instead, and logs the block sizes in use.
func TestCacheConfig(t *testing.T) {
	if err := simd.ConfigError(); err != nil {
		t.Fatal(err)
	}
	c := simd.Cache()
	t.Logf("caches: L1d %d (%s), L2 %d (%s), L3 %d (%s)", c.L1D, c.L1DSource, c.L2, c.L2Source, c.L3, c.L3Source)
	for _, impl := range simd.Implementations() {
		t.Logf("%s: %+v", impl, blocksFor(impl))
	}
}

// Block sizes stay within the bounds the drivers rely on for any
// geometry: kc a multiple of 8 in [64, 1024], mc a positive multiple of
// mr, nc a positive multiple of nr and at most 4096; without an L3 the B
// block is sized from L2.
func TestBlockSizesFor(t *testing.T) {
	geoms := []simd.CacheGeometry{
		{L1D: 4 << 10, L2: 4 << 10, L3: 0},
		{L1D: 32 << 10, L2: 256 << 10, L3: 8 << 20},
		{L1D: 32 << 10, L2: 1 << 20, L3: 32 << 20},
		{L1D: 48 << 10, L2: 2 << 20, L3: 96 << 20},
		{L1D: 128 << 10, L2: 16 << 20, L3: 0},
		{L1D: 1 << 30, L2: 1 << 30, L3: 1 << 30},
	}
	for _, g := range geoms {
		for _, tile := range [][2]int{{4, 4}, {6, 16}, {12, 32}, {8, 12}} {
			mr, nr := tile[0], tile[1]
			b := blockSizesFor(mr, nr, g)
			if b.kc%8 != 0 || b.kc < 64 || b.kc > 1024 || b.mc < mr || b.mc%mr != 0 ||
				b.nc < nr || b.nc%nr != 0 || b.nc > 4096 {
				t.Errorf("geometry %+v, tile %dx%d: %+v out of bounds", g, mr, nr, b)
			}
		}
	}
	apple := simd.CacheGeometry{L1D: 128 << 10, L2: 16 << 20, L3: 0}
	withL3 := apple
	withL3.L3 = apple.L2
	if a, b := blockSizesFor(12, 32, apple), blockSizesFor(12, 32, withL3); a != b || a.nc <= 32 {
		t.Errorf("no L3: %+v, want the blocks of an L3 the size of L2 (%+v), nc above one panel", a, b)
	}
}
