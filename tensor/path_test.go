package tensor

import (
	"fmt"
	"testing"

	"github.com/flatfast/flatfast/simd"
)

// The paths a convolution pass can take (see forward, Conv2dBackwardInput
// and Conv2dBackwardWeight): B read in place from a padded NCHW copy in
// some number of pieces per row, from a batch-innermost copy or from a
// channels-last copy, or packed through im2col (forward and a stride-1
// input gradient), im2col transposed (weight gradient) or a GEMM and
// col2im (strided input gradient).
const (
	pathBatchInner = "batch-inner"
	pathIm2col     = "im2col"
	pathCol2im     = "col2im"
	pathNHWC       = "nhwc"
	pathIm2colT    = "im2col-T"
)

func pathPadded(pieces int) string { return fmt.Sprintf("padded/%d", pieces) }

// resnetConv is one convolution of ResNet-18 (CIFAR variant) at batch 32.
type resnetConv struct {
	name                         string
	cin, hw, cout, k, stride, pd int
}

var resnetConvs = []resnetConv{
	{"stem 3->64@32x32", 3, 32, 64, 3, 1, 1},
	{"stage1 64@32x32", 64, 32, 64, 3, 1, 1},
	{"stage2 128@16x16", 128, 16, 128, 3, 1, 1},
	{"stage3 256@8x8", 256, 8, 256, 3, 1, 1},
	{"stage4 512@4x4", 512, 4, 512, 3, 1, 1},
	{"down 64->128 3x3/2", 64, 32, 128, 3, 2, 1},
	{"shortcut 64->128 1x1/2", 64, 32, 128, 1, 2, 0},
	{"down 128->256 3x3/2", 128, 16, 256, 3, 2, 1},
	{"shortcut 128->256 1x1/2", 128, 16, 256, 1, 2, 0},
	{"down 256->512 3x3/2", 256, 8, 512, 3, 2, 1},
	{"shortcut 256->512 1x1/2", 256, 8, 512, 1, 2, 0},
}

// passPaths is the path of the forward pass, the input gradient and the
// weight gradient.
type passPaths struct{ fwd, dx, dw string }

// wantPaths: what each level must choose, per convolution (by name). The
// 3x3 stride-1 stages read B in place in every pass; the strided
// convolutions read it in place for the weight gradient only (the padded
// and batch-innermost copies need stride 1); the stem's three input
// channels are not whole pieces of the channels-last copy. NEON's 12x8
// tile reads a B row as two 4-pixel pieces, so even the 4x4 stage takes
// the padded copy; AVX2 (pieces of 8) and AVX-512 (16, or 4 half pieces
// of 8 for 8-pixel rows) hand 4-pixel rows to the batch-innermost copy.
var wantPaths = map[simd.Level]map[string]passPaths{
	simd.NEON: {
		"stem 3->64@32x32": {pathPadded(2), pathPadded(2), pathIm2colT},
		"stage1 64@32x32":  {pathPadded(2), pathPadded(2), pathNHWC},
		"stage2 128@16x16": {pathPadded(2), pathPadded(2), pathNHWC},
		"stage3 256@8x8":   {pathPadded(2), pathPadded(2), pathNHWC},
		"stage4 512@4x4":   {pathPadded(2), pathPadded(2), pathNHWC},
	},
	simd.AVX2: {
		"stem 3->64@32x32": {pathPadded(2), pathPadded(2), pathIm2colT},
		"stage1 64@32x32":  {pathPadded(2), pathPadded(2), pathNHWC},
		"stage2 128@16x16": {pathPadded(2), pathPadded(2), pathNHWC},
		"stage3 256@8x8":   {pathPadded(2), pathPadded(2), pathNHWC},
		"stage4 512@4x4":   {pathBatchInner, pathBatchInner, pathNHWC},
	},
	simd.AVX512: {
		"stem 3->64@32x32": {pathPadded(2), pathPadded(2), pathIm2colT},
		"stage1 64@32x32":  {pathPadded(2), pathPadded(2), pathNHWC},
		"stage2 128@16x16": {pathPadded(2), pathPadded(2), pathNHWC},
		"stage3 256@8x8":   {pathPadded(4), pathPadded(4), pathNHWC},
		"stage4 512@4x4":   {pathBatchInner, pathBatchInner, pathNHWC},
	},
}

func init() {
	for _, m := range wantPaths {
		for _, c := range resnetConvs {
			if c.stride > 1 {
				m[c.name] = passPaths{pathIm2col, pathCol2im, pathNHWC}
			}
		}
	}
}

// forwardPath mirrors the choice in convScratch.forward.
func forwardPath(g *ConvGeom, impl *simd.Impl) string {
	switch {
	case usePadded(g, impl):
		return pathPadded(paddedPieces(g, impl))
	case useBatchInner(g, impl):
		return pathBatchInner
	default:
		return pathIm2col
	}
}

// flippedGeom mirrors Conv2dBackwardInput: the input gradient of a
// stride-1 convolution with a square kernel and pad <= k-1 is the forward
// convolution of dY with the flipped kernel; ok is false otherwise.
func flippedGeom(g *ConvGeom) (ConvGeom, bool) {
	if g.Stride != 1 || g.Pad > g.KH-1 || g.Pad > g.KW-1 || g.KH != g.KW {
		return ConvGeom{}, false
	}
	return ConvGeom{N: g.N, Cin: g.Cout, H: g.OH, W: g.OW, Cout: g.Cin, KH: g.KH, KW: g.KW,
		Stride: 1, Pad: g.KH - 1 - g.Pad, OH: g.H, OW: g.W}, true
}

// inPlaceForward checks that the GEMM of a forward pass on path p reads B
// in place in the level's pieces: the predicates say the copy fits, and
// this says the GEMM then takes it (every panel full, none straddling two
// images) instead of packing it.
func inPlaceForward(t *testing.T, g *ConvGeom, impl *simd.Impl, p string) {
	t.Helper()
	x := make([]float32, g.N*g.Cin*g.H*g.W)
	var s convScratch
	s.geom = *g
	s.im.prepare(&s.geom, x)
	ohw := g.OH * g.OW
	var j gemmJob
	var want int
	switch p {
	case pathBatchInner:
		s.bin.prepare(&s.geom, impl, x)
		j.setup(impl, 1, g.Cout, s.bin.cols, g.Cin*g.KH*g.KW, 1, &denseA{impl: impl}, &s.bin, nil, s.bin.cols, 0, 0, true)
		want = impl.IndirectPieces()
	case pathIm2col:
		return
	default:
		s.pad.prepare(&s.im, &s.geom, impl, x)
		j.setup(impl, 1, g.Cout, g.N*ohw, g.Cin*g.KH*g.KW, 1, &denseA{impl: impl}, &s.pad, nil, ohw, ohw, g.Cout*ohw, true)
		want = s.pad.nv
	}
	if j.bi == nil || j.nv != want || want == 0 {
		t.Errorf("%s: the GEMM does not read B in place in %d pieces (in place %v, %d pieces)", p, want, j.bi != nil, j.nv)
	}
}

// TestResNetPaths asserts, at every SIMD level this machine runs, the path
// each pass of every ResNet-18 convolution takes, at batch 32: a level
// that silently falls back to packing B (a missing kernel, a tile that no
// longer divides the images, a predicate gone wrong) fails here rather
// than only running slower. Levels this CPU lacks are skipped: NEON runs
// on arm64 (under qemu-aarch64 in .ci/run), AVX2 and AVX-512 on amd64.
func TestResNetPaths(t *testing.T) {
	for _, l := range []simd.Level{simd.NEON, simd.AVX2, simd.AVX512} {
		t.Run(l.String(), func(t *testing.T) {
			var impl *simd.Impl
			for _, k := range simd.Implementations() {
				if k.Level() == l {
					impl = k
				}
			}
			if impl == nil {
				t.Skipf("level %s is not available on this machine (%s); its paths are checked where it runs", l, simd.CPUDescription())
			}
			for _, c := range resnetConvs {
				t.Run(c.name, func(t *testing.T) {
					g, err := NewConvGeom([]int{32, c.cin, c.hw, c.hw}, []int{c.cout, c.cin, c.k, c.k}, c.stride, c.pd)
					if err != nil {
						t.Fatal(err)
					}
					var got passPaths
					got.fwd = forwardPath(&g, impl)
					got.dx = pathCol2im
					fg, flipped := flippedGeom(&g)
					if flipped {
						got.dx = forwardPath(&fg, impl)
					}
					got.dw = pathIm2colT
					if useNHWC(&g, impl) {
						got.dw = pathNHWC
					}
					if want := wantPaths[l][c.name]; got != want {
						t.Fatalf("paths (forward, input gradient, weight gradient) %+v, want %+v", got, want)
					}
					inPlaceForward(t, &g, impl, got.fwd)
					if flipped {
						inPlaceForward(t, &fg, impl, got.dx)
					}
					if got.dw == pathNHWC {
						x := make([]float32, g.N*g.Cin*g.H*g.W)
						var b nhwcB
						b.prepare(&g, impl, x)
						var j gemmJob
						j.setup(impl, 1, g.Cout, b.cols, g.N*g.OH*g.OW, 1, &outA{g: &g, c: g.Cout, impl: impl}, &b, nil, b.cols, 0, 0, true)
						if j.bi == nil || j.nv != impl.IndirectPieces() {
							t.Errorf("weight gradient: the GEMM does not read B in place (in place %v, %d pieces)", j.bi != nil, j.nv)
						}
					}
				})
			}
		})
	}
}
