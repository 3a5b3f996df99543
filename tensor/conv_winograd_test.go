package tensor

import (
	"fmt"
	"math"
	"testing"

	"github.com/flatfast/flatfast/simd"
)

// winoErr returns max |got - ref| / max |ref|.
func winoErr(got []float32, ref []float64) float64 {
	var d, s float64
	for i, r := range ref {
		d = math.Max(d, math.Abs(float64(got[i])-r))
		s = math.Max(s, math.Abs(r))
	}
	return d / s
}

func to64(a []float32) []float64 {
	out := make([]float64, len(a))
	for i, v := range a {
		out[i] = float64(v)
	}
	return out
}

// winoCase is a stride-1 3x3 convolution with its float64 reference
// forward, input gradient and kernel gradient (of the forward output as
// gradient).
type winoCase struct {
	g         ConvGeom
	x, w, gy  []float32
	y, dx, dw []float64
}

func newWinoCase(t testing.TB, r *RNG, n, cin, cout, h, w, pad int) *winoCase {
	g, err := NewConvGeom([]int{n, cin, h, w}, []int{cout, cin, 3, 3}, 1, pad)
	if err != nil {
		t.Fatal(err)
	}
	c := &winoCase{g: g, x: randTensor(r, Float32, g.inShape()...).f32, w: randTensor(r, Float32, g.wShape()...).f32}
	c.y = make([]float64, g.N*g.Cout*g.OH*g.OW)
	conv64Forward(&g, c.y, to64(c.x), to64(c.w))
	c.gy = make([]float32, len(c.y))
	for i, v := range c.y {
		c.gy[i] = float32(v)
	}
	c.dx = make([]float64, len(c.x))
	conv64BackwardInput(&g, c.dx, to64(c.gy), to64(c.w))
	c.dw = make([]float64, len(c.w))
	conv64BackwardWeight(&g, c.dw, to64(c.x), to64(c.gy))
	return c
}

// run computes the case's forward pass, input gradient and kernel
// gradient on the fast path at level impl with threads threads.
func (c *winoCase) run(impl *simd.Impl, threads int) (y, dx, dw []float32) {
	var ws winoScratch
	ig := c.g.inputGradForward()
	y, dx, dw = make([]float32, len(c.y)), make([]float32, len(c.dx)), make([]float32, len(c.dw))
	ws.winograd(impl, threads, &c.g, c.w, c.x, y, false)
	ws.winograd(impl, threads, &ig, c.w, c.gy, dx, true)
	ws.weightGrad(impl, threads, &c.g, c.x, c.gy, dw)
	return y, dx, dw
}

// The fast path (channels-last, SIMD transforms) and the GEMM-only
// reference F(4,3) agree with the float64 direct convolution, forward and
// input gradient, at every level, for image sizes that are and are not
// multiples of the tile, pads 0-2 and channel counts that are not
// multiples of a vector; F(2,3)'s error is smaller than F(4,3)'s.
func TestWinogradAccuracy(t *testing.T) {
	r := NewRNG(3)
	cases := []*winoCase{
		newWinoCase(t, r, 2, 16, 24, 8, 8, 1),
		newWinoCase(t, r, 3, 19, 13, 7, 9, 1),
		newWinoCase(t, r, 1, 8, 5, 6, 5, 0),
		newWinoCase(t, r, 2, 5, 7, 4, 6, 2),
		newWinoCase(t, r, 2, 40, 33, 4, 4, 1),
		newWinoCase(t, r, 5, 24, 64, 12, 8, 1),
	}
	defer func() { winoSchedule, winoForceChunk, winoForceBlock = 0, 0, 0 }()
	for _, impl := range simd.Implementations() {
		for _, c := range cases {
			for sched := 1; sched <= 2; sched++ {
				// Schedule 2 also in blocks of 16 output channels (the
				// last one short where Cout is not a multiple) and in
				// chunks of 5 tiles, the last one short: the kernel
				// gradient then sums chunk by chunk.
				winoSchedule, winoForceChunk, winoForceBlock = sched, 5*(sched-1), 16*(sched-1)
				name := fmt.Sprintf("%v schedule %d %+v", impl, sched, c.g)
				y, dx, dw := c.run(impl, 2)
				ig := c.g.inputGradForward()
				// F(4,3) in float32 on these sizes: about 1e-6 of the largest
				// output (TestWinogradStages has the ResNet stages); 2e-5 is
				// a failure of the algorithm, not of rounding.
				if e := winoErr(y, c.y); e > 2e-5 {
					t.Errorf("%s forward: relative error %.2e", name, e)
				}
				if e := winoErr(dx, c.dx); e > 2e-5 {
					t.Errorf("%s input grad: relative error %.2e", name, e)
				}
				if e := winoErr(dw, c.dw); e > 2e-5 {
					t.Errorf("%s weight grad: relative error %.2e", name, e)
				}
				var ref winoRef
				for _, m := range []int{2, 4} {
					yr := make([]float32, len(c.y))
					ref.winograd(impl, 1, winoRefPlans[m], &c.g, c.w, c.x, yr, false)
					if e := winoErr(yr, c.y); e > 2e-5 {
						t.Errorf("%s reference F(%d,3) forward: relative error %.2e", name, m, e)
					}
					dr := make([]float32, len(c.dx))
					ref.winograd(impl, 1, winoRefPlans[m], &ig, c.w, c.gy, dr, true)
					if e := winoErr(dr, c.dx); e > 2e-5 {
						t.Errorf("%s reference F(%d,3) input grad: relative error %.2e", name, m, e)
					}
				}
			}
		}
	}
}

// TestWinogradStages measures the relative error (max |error| / max
// |output|) of the direct path, F(2,3) and F(4,3) against the float64
// direct convolution on the four ResNet-18 CIFAR stages (small batches),
// forward and input gradient: the table of docs/conv.md. It fails if
// F(4,3) loses more than the bound the table states.
func TestWinogradStages(t *testing.T) {
	if testing.Short() {
		t.Skip("float64 reference convolutions of the ResNet stages")
	}
	r := NewRNG(5)
	impl := simd.Active()
	for _, s := range []struct{ n, c, hw int }{{2, 64, 32}, {2, 128, 16}, {4, 256, 8}, {8, 512, 4}} {
		c := newWinoCase(t, r, s.n, s.c, s.c, s.hw, s.hw, 1)
		direct := make([]float32, len(c.y))
		var cs convScratch
		cs.geom = c.g
		cs.da = denseA{impl: impl, a: c.w, lda: c.g.Cin * 9}
		cs.direct(impl, &cs.da, c.x, direct)
		line := fmt.Sprintf("%d@%dx%d: direct %.1e", s.c, s.hw, s.hw, winoErr(direct, c.y))
		ig := c.g.inputGradForward()
		var ref winoRef
		for _, m := range []int{2, 4} {
			yr := make([]float32, len(c.y))
			ref.winograd(impl, 1, winoRefPlans[m], &c.g, c.w, c.x, yr, false)
			dr := make([]float32, len(c.dx))
			ref.winograd(impl, 1, winoRefPlans[m], &ig, c.w, c.gy, dr, true)
			line += fmt.Sprintf(", F(%d,3) %.1e / %.1e", m, winoErr(yr, c.y), winoErr(dr, c.dx))
		}
		y, dx, dw := c.run(impl, 1)
		ef, eb, ew := winoErr(y, c.y), winoErr(dx, c.dx), winoErr(dw, c.dw)
		// The direct kernel gradient, as Conv2dBackwardWeight runs it off
		// the Winograd path.
		winoGradOff = true
		dwd := Must(Conv2dBackwardWeight(nil, Must(FromFloat32(c.x, c.g.inShape()...)), Must(FromFloat32(c.gy, c.g.outShape()...)), 3, 3, 1, 1))
		winoGradOff = false
		line += fmt.Sprintf(", fast F(4,3) %.1e / %.1e; weight grad direct %.1e, F(4,3) %.1e", ef, eb, winoErr(dwd.f32, c.dw), ew)
		t.Log(line)
		if ef > 5e-5 || eb > 5e-5 || ew > 5e-5 {
			t.Errorf("%d@%dx%d: F(4,3) relative error %.1e / %.1e / %.1e (weight grad) over 5e-5", s.c, s.hw, s.hw, ef, eb, ew)
		}
	}
}

// BenchmarkWinograd times the forward pass of the four ResNet-18 CIFAR
// stages at batch 32 (and the last at 128) on 1 and 2 threads: direct, and F(4,3) in the
// schedule blockTiles picks, over all tiles, and in blocks of tiles.
func BenchmarkWinograd(b *testing.B) {
	r := NewRNG(4)
	impl := simd.Active()
	defer SetThreads(0)
	defer func() { winoSchedule = 0 }()
	for _, s := range []struct{ n, c, hw int }{{32, 64, 32}, {32, 128, 16}, {32, 256, 8}, {32, 512, 4}, {128, 512, 4}} {
		x := randTensor(r, Float32, s.n, s.c, s.hw, s.hw).f32
		w := randTensor(r, Float32, s.c, s.c, 3, 3).f32
		g, _ := NewConvGeom([]int{s.n, s.c, s.hw, s.hw}, []int{s.c, s.c, 3, 3}, 1, 1)
		y := make([]float32, s.n*s.c*s.hw*s.hw)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%d@%dx%dx%d/threads=%d/direct", s.n, s.c, s.hw, s.hw, threads), func(b *testing.B) {
				SetThreads(threads)
				var cs convScratch
				cs.geom = g
				cs.da = denseA{impl: impl, a: w, lda: s.c * 9}
				for range b.N {
					cs.direct(impl, &cs.da, x, y)
				}
			})
			for sched, name := range []string{"F4", "F4-all", "F4-blocks"} {
				b.Run(fmt.Sprintf("%d@%dx%dx%d/threads=%d/%s", s.n, s.c, s.hw, s.hw, threads, name), func(b *testing.B) {
					winoSchedule = sched
					var ws winoScratch
					for range b.N {
						ws.winograd(impl, threads, &g, w, x, y, false)
					}
				})
			}
		}
	}
}

// BenchmarkWinogradWeightGrad times the kernel gradient of the four
// ResNet-18 CIFAR stages at batch 32 on 1 and 2 threads, direct and
// F(4,3), through Conv2dBackwardWeight.
func BenchmarkWinogradWeightGrad(b *testing.B) {
	r := NewRNG(4)
	defer SetThreads(0)
	defer func() { winoGradOff = false }()
	for _, s := range []struct{ n, c, hw int }{{32, 64, 32}, {32, 128, 16}, {32, 256, 8}, {32, 512, 4}, {128, 512, 4}} {
		x := randTensor(r, Float32, s.n, s.c, s.hw, s.hw)
		gy := randTensor(r, Float32, s.n, s.c, s.hw, s.hw)
		dw := Must(New(Float32, s.c, s.c, 3, 3))
		for _, threads := range []int{1, 2} {
			for _, p := range []struct {
				name string
				off  bool
			}{{"direct", true}, {"F4", false}} {
				b.Run(fmt.Sprintf("%d@%dx%dx%d/threads=%d/%s", s.n, s.c, s.hw, s.hw, threads, p.name), func(b *testing.B) {
					SetThreads(threads)
					winoGradOff = p.off
					for range b.N {
						if _, err := Conv2dBackwardWeight(dw, x, gy, 3, 3, 1, 1); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// The blocks of output channels and the chunks of tiles change which
// products and transforms run when, never their arithmetic: the forward
// pass and the input gradient are bitwise the same in either schedule,
// with any block and chunk, and the kernel gradient (whose sums run
// chunk by chunk) is bitwise the same for any block at a given chunk.
func TestWinogradBlocking(t *testing.T) {
	r := NewRNG(6)
	cases := []*winoCase{
		newWinoCase(t, r, 3, 24, 40, 9, 8, 1),
		newWinoCase(t, r, 2, 37, 33, 8, 12, 1),
		newWinoCase(t, r, 2, 9, 20, 5, 61, 1), // rows of 16 tiles: outputTiles runs cut at winoRun
	}
	defer func() {
		winoSchedule, winoForceChunk, winoForceBlock, winoOrder, winoGradBy, winoForceUnit = 0, 0, 0, 0, 0, 0
	}()
	// order 2 takes the chunks outside the blocks (chunksOuter), 1 the
	// blocks outside; by 1 runs the weight gradient by channel groups, 2
	// by position groups (gradByPositions); threads 5 cuts the positions
	// and channels into five groups, some holding part of a column of
	// positions; unit sets the output channels of the units (unitWidth).
	type variant struct{ sched, chunk, block, order, by, threads, unit int }
	variants := []variant{{1, 0, 0, 0, 1, 2, 0}, {1, 7, 0, 0, 2, 2, 0}, {1, 0, 16, 0, 1, 2, 0}, {1, 7, 16, 1, 1, 2, 0}, {1, 5, 32, 1, 2, 2, 0},
		{2, 0, 0, 0, 2, 2, 0}, {2, 0, 16, 0, 1, 2, 0}, {1, 7, 16, 2, 2, 2, 0}, {1, 5, 32, 2, 1, 2, 0}, {1, 7, 16, 2, 1, 5, 0},
		{1, 0, 0, 0, 2, 5, 0}, {1, 5, 32, 1, 1, 5, 0}, {1, 5, 32, 1, 2, 5, 0}, {1, 7, 0, 1, 1, 5, 0},
		{1, 0, 0, 0, 1, 1, 16}, {1, 0, 0, 0, 1, 3, 16}, {1, 7, 0, 2, 1, 2, 32}, {1, 5, 16, 2, 2, 5, 16}}
	for _, impl := range simd.Implementations() {
		// The products' kc blocks as the cache gives them, and blocks of
		// 16 steps, so that the packed V (vPackedA) holds several.
		bl := blocksFor(impl)
		for _, kc := range []int{bl.kc, 16} {
			small := bl
			small.kc = kc
			blockCache.Store(impl.Level(), small)
			for _, c := range cases {
				var y0, dx0 []float32
				dw0 := map[int][]float32{}
				for _, v := range variants {
					winoSchedule, winoForceChunk, winoForceBlock, winoOrder, winoGradBy, winoForceUnit = v.sched, v.chunk, v.block, v.order, v.by, v.unit
					name := fmt.Sprintf("%v kc %d %+v %+v", impl, kc, c.g, v)
					y, dx, dw := c.run(impl, v.threads)
					if y0 == nil {
						y0, dx0 = y, dx
					}
					if !bitwiseEqual(y, y0) || !bitwiseEqual(dx, dx0) {
						t.Errorf("%s: forward or input gradient differs from schedule 1 unblocked", name)
					}
					if e := winoErr(y, c.y); e > 2e-5 {
						t.Errorf("%s forward: relative error %.2e", name, e)
					}
					if e := winoErr(dw, c.dw); e > 2e-5 {
						t.Errorf("%s weight grad: relative error %.2e", name, e)
					}
					if ref, ok := dw0[v.chunk]; !ok {
						dw0[v.chunk] = dw
					} else if !bitwiseEqual(dw, ref) {
						t.Errorf("%s: kernel gradient differs from the same chunk's unblocked", name)
					}
				}
			}
		}
		blockCache.Store(impl.Level(), bl)
	}
}

// vPackedA hands the driver the panels denseA would pack from V, in place
// for its own kc blocks and copied for any other block of steps and rows.
func TestVPackedA(t *testing.T) {
	r := NewRNG(8)
	for _, impl := range simd.Implementations() {
		mr, _ := impl.GemmTile()
		for _, sh := range []struct{ tiles, cin, kc int }{{13, 37, 16}, {mr, 20, 20}, {2*mr + 1, 50, 64}} {
			var s winoScratch
			s.impl, s.cin, s.mr, s.kcV = impl, sh.cin, mr, blocking{kc: sh.kc}.kcFor(sh.cin)
			s.mPad = (sh.tiles + mr - 1) / mr * mr
			s.v = make([]float32, 36*s.mPad*sh.cin)
			vs := make([][]float32, 36)
			for xi := range vs {
				vs[xi] = randTensor(r, Float32, sh.tiles, sh.cin).f32
				src := denseA{impl: impl, a: vs[xi], lda: sh.cin}
				for pc := 0; pc < sh.cin; pc += s.kcV {
					kb := min(s.kcV, sh.cin-pc)
					src.packA(0, s.v[xi*s.mPad*sh.cin+pc*s.mPad:][:s.mPad*kb], 0, sh.tiles, pc, kb, mr, 1)
				}
			}
			for _, xi := range []int{0, 7, 35} {
				a := vPackedA{s: &s, xi: xi}
				src := denseA{impl: impl, a: vs[xi], lda: sh.cin}
				for pc := 0; pc < sh.cin; pc += s.kcV {
					kb := min(s.kcV, sh.cin-pc)
					for i0 := 0; i0 < sh.tiles; i0 += mr {
						mb := sh.tiles - i0
						n := (mb + mr - 1) / mr * mr * kb
						want := make([]float32, n)
						src.packA(0, want, i0, mb, pc, kb, mr, 1)
						if got := a.panels(pc, kb, i0, n); got == nil || !bitwiseEqual(got, want) {
							t.Errorf("%v %+v xi %d: panels(%d, %d, %d) differ from denseA's", impl, sh, xi, pc, kb, i0)
						}
					}
				}
				if a.panels(1, s.kcV, 0, mr) != nil || a.panels(0, s.kcV, 1, mr) != nil {
					t.Errorf("%v %+v: panels of another blocking are not nil", impl, sh)
				}
				for _, b := range []struct{ i0, mb, p0, kb int }{{0, sh.tiles, 0, sh.cin}, {mr, sh.tiles - mr, 3, sh.cin - 5}, {1, 2, sh.cin - 1, 1}} {
					if b.mb <= 0 || b.kb <= 0 {
						continue
					}
					n := (b.mb + mr - 1) / mr * mr * b.kb
					want, got := make([]float32, n), make([]float32, n)
					src.packA(0, want, b.i0, b.mb, b.p0, b.kb, mr, 0.5)
					for i := range got {
						got[i] = float32(i) // stale: packA must write every float
					}
					a.packA(0, got, b.i0, b.mb, b.p0, b.kb, mr, 0.5)
					if !bitwiseEqual(got, want) {
						t.Errorf("%v %+v xi %d: packA%+v differs from denseA's", impl, sh, xi, b)
					}
				}
			}
		}
	}
}

func bitwiseEqual(a, b []float32) bool {
	return len(a) == len(b) && firstBitDiff(a, b) < 0
}

// firstBitDiff returns the first index below len(a) at which b's bits
// differ from a's, or -1; b must be at least as long as a.
func firstBitDiff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}
