package simd

import (
	"reflect"
	"testing"
)

// TestLevelsHaveTheirOwnKernels: every assembly level has every kernel of
// its own (init fills what a level lacks with the generic code, which
// would pass every other test while the level silently ran Go), an
// indirect kernel with its prefetching variant, and short kernels for
// the last row panel, each with an indirect counterpart.
func TestLevelsHaveTheirOwnKernels(t *testing.T) {
	same := func(f, g any) bool { return reflect.ValueOf(f).Pointer() == reflect.ValueOf(g).Pointer() }
	for _, k := range impls[1:] {
		t.Run(k.String(), func(t *testing.T) {
			for _, c := range []struct {
				name    string
				f, gen  any
				missing bool
			}{
				{"transpose", k.transpose, transposeGeneric, false},
				{"affine", k.affine, affineGeneric, false},
				{"affine2", k.affine2, affine2Generic, false},
				{"sqdev", k.sqdev, sqdevGeneric, false},
				{"tanh", k.tanh, tanhGeneric, false},
				{"sigmoid", k.sigmoid, sigmoidGeneric, false},
				{"tanhBackward", k.tanhBackward, tanhBackwardGeneric, false},
				{"sigmoidBackward", k.sigmoidBackward, sigmoidBackwardGeneric, false},
				{"gemm", k.gemm, gemmGeneric, false},
				{"winoIn4", k.winoIn4, winoIn4Generic, k.winoIn4 == nil || k.lanes == 0},
				{"winoOut4", k.winoOut4, winoOut4Generic, k.winoOut4 == nil},
				{"winoKer4", k.winoKer4, winoKer4Generic, k.winoKer4 == nil},
				{"gemmIndirect", k.gemmIndirect, gemmIndirectGeneric, k.gemmIndirect == nil},
				{"gemmIndirectPF", k.gemmIndirectPF, gemmIndirectGeneric, k.gemmIndirectPF == nil},
			} {
				if c.missing || same(c.f, c.gen) {
					t.Errorf("%s: no %s kernel of its own", k, c.name)
				}
			}
			if k.IndirectPieces() < 2 {
				t.Errorf("%s: reads B in %d pieces, want one per vector", k, k.IndirectPieces())
			}
			mr, _ := k.GemmTile()
			if len(k.short) == 0 {
				t.Errorf("%s: no short kernels", k)
			}
			prev := 0
			for _, s := range k.short {
				if s.rows <= prev || s.rows >= mr || s.gemm == nil || s.gemmIndirect == nil || (k.p4 != nil) != (s.p4 != nil) {
					t.Errorf("%s: short kernel of %d rows (after %d, tile %d rows): gemm %v, indirect %v, p4 %v",
						k, s.rows, prev, mr, s.gemm != nil, s.gemmIndirect != nil, s.p4 != nil)
				}
				prev = s.rows
			}
		})
	}
}
