package simd

import (
	"math/rand/v2"
	"testing"
)

// TestCopyStrips: every width 1..40 (the tile widths take the assembly on
// amd64) at every level, against the definition, for step counts that
// split into several calls (kb*w above the 16K-float bound, and strips
// grouped by that bound), slices cut exactly to what the strips need and
// at odd offsets, with nothing written outside dst or between the panels.
func TestCopyStrips(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	type shape struct{ kb, count int }
	shapes := []shape{{1, 1}, {2, 1}, {7, 3}, {8, 5}, {9, 2}}
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for w := 1; w <= 40; w++ {
				cases := append(shapes, shape{16<<10/w + 3, 2}, shape{(16<<10)/(3*w) + 1, 7})
				for ci, sh := range cases {
					off := ci % 5
					ld := sh.count*w + ci%3
					stride := sh.kb*w + ci%2
					src0 := randSlice(r, off+(sh.kb-1)*ld+sh.count*w, 0)
					src := src0[off:]
					dst, ok := placed(t, make([]float32, (sh.count-1)*stride+sh.kb*w), (off+3)%8)
					gap := float32(-777)
					for i := range dst {
						dst[i] = gap
					}
					k.CopyStrips(dst, stride, src, ld, sh.kb, w, sh.count)
					ok()
					for s := range sh.count {
						for p := range sh.kb {
							for c := range w {
								if got, want := dst[s*stride+p*w+c], src[p*ld+s*w+c]; got != want {
									t.Fatalf("w=%d kb=%d count=%d: strip %d [%d,%d] = %v, want %v", w, sh.kb, sh.count, s, p, c, got, want)
								}
							}
						}
						for i := s*stride + sh.kb*w; i < min((s+1)*stride, len(dst)); i++ {
							if dst[i] != gap {
								t.Fatalf("w=%d kb=%d count=%d: wrote %v between panels at %d", w, sh.kb, sh.count, dst[i], i)
							}
						}
					}
				}
			}
		})
	}
}

// TestCopyStripsPanics: slices too short for the strips, overlapping
// strips or panels are refused at every level; empty copies are not.
func TestCopyStripsPanics(t *testing.T) {
	for _, k := range impls {
		for i, f := range []func(){
			func() { k.CopyStrips(make([]float32, 32), 16, make([]float32, 31), 16, 2, 16, 1) },   // src short
			func() { k.CopyStrips(make([]float32, 63), 32, make([]float32, 64), 32, 2, 16, 2) },   // dst short
			func() { k.CopyStrips(make([]float32, 64), 32, make([]float32, 64), 16, 2, 16, 2) },   // strips overlap in a row
			func() { k.CopyStrips(make([]float32, 64), 16, make([]float32, 64), 32, 2, 16, 2) },   // panels overlap
			func() { k.CopyStrips(make([]float32, 64), 32, make([]float32, 64), -32, 2, 16, 2) },  // negative ld
			func() { k.CopyStrips(make([]float32, 64), -32, make([]float32, 100), 32, 2, 16, 2) }, // negative stride
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: case %d: no panic", k, i)
					}
				}()
				f()
			}()
		}
		for _, f := range []func(){
			func() { k.CopyStrips(nil, 0, nil, 0, 0, 16, 3) },
			func() { k.CopyStrips(nil, 0, nil, 0, 5, 16, 0) },
			func() { k.CopyStrips(nil, 0, nil, 0, 5, 0, 3) },
		} {
			f()
		}
	}
}
