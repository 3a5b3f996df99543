package tensor

import (
	"fmt"
	"math"
	"testing"

	"github.com/flatfast/flatfast/simd"
)

// refConv is an independent reference: it pads the input explicitly and
// runs a valid cross-correlation, in float64.
func refConv(g ConvGeom, x, w []float64) []float64 {
	hp, wp := g.H+2*g.Pad, g.W+2*g.Pad
	xp := make([]float64, g.N*g.Cin*hp*wp)
	for n := 0; n < g.N; n++ {
		for c := 0; c < g.Cin; c++ {
			for i := 0; i < g.H; i++ {
				for j := 0; j < g.W; j++ {
					xp[((n*g.Cin+c)*hp+i+g.Pad)*wp+j+g.Pad] = x[((n*g.Cin+c)*g.H+i)*g.W+j]
				}
			}
		}
	}
	y := make([]float64, g.N*g.Cout*g.OH*g.OW)
	for n := 0; n < g.N; n++ {
		for co := 0; co < g.Cout; co++ {
			for i := 0; i < g.OH; i++ {
				for j := 0; j < g.OW; j++ {
					var s float64
					for c := 0; c < g.Cin; c++ {
						for a := 0; a < g.KH; a++ {
							for b := 0; b < g.KW; b++ {
								s += w[((co*g.Cin+c)*g.KH+a)*g.KW+b] * xp[((n*g.Cin+c)*hp+i*g.Stride+a)*wp+j*g.Stride+b]
							}
						}
					}
					y[((n*g.Cout+co)*g.OH+i)*g.OW+j] = s
				}
			}
		}
	}
	return y
}

type convCase struct {
	n, cin, h, w, cout, k, stride, pad int
}

var convCases = []convCase{
	{1, 1, 1, 1, 1, 1, 1, 0},
	{2, 3, 5, 5, 4, 3, 1, 1},
	{2, 3, 7, 6, 5, 3, 2, 1},
	{1, 4, 8, 8, 3, 1, 2, 0},
	{3, 2, 4, 4, 13, 3, 1, 1}, // more output channels than a tile row
	{2, 5, 6, 9, 33, 1, 1, 0},
	{2, 16, 4, 4, 20, 3, 1, 1}, // output plane of 16 pixels: tiles straddle images
	{1, 3, 9, 7, 2, 3, 3, 2},
	{2, 2, 5, 5, 3, 2, 1, 0}, // even kernel
	{4, 8, 3, 3, 7, 3, 1, 2},
	{2, 6, 33, 17, 14, 3, 1, 1},
	{1, 40, 6, 6, 5, 3, 1, 1}, // inner size 360: several kc blocks
	// Output rows of 16 and 32 pixels: B read in place from the padded
	// input (usePadded) at the AVX2 and AVX-512 levels.
	{2, 3, 16, 16, 13, 3, 1, 1},
	{1, 70, 32, 32, 4, 3, 1, 1}, // and several kc blocks
	{3, 8, 16, 16, 7, 1, 1, 0},
	{2, 5, 18, 16, 3, 3, 1, 0}, // output 16x14: rows of 14 pixels
	// Output rows of 8 and 24 pixels: read in half-vector pieces on
	// AVX-512 (paddedPieces).
	{3, 20, 8, 8, 14, 3, 1, 1},
	{2, 6, 4, 24, 5, 1, 1, 0},
	{2, 16, 9, 9, 5, 3, 2, 1},  // strided, channels in whole pieces (nhwcB)
	{1, 32, 5, 5, 3, 1, 2, 0},  // a strided 1x1 shortcut
	{8, 4, 32, 32, 3, 3, 1, 1}, // weight gradient over 8192 pixels: k split (kSegments)
	// More output channels than one A row block: in place with A cut
	// into row blocks (driveFlat), one kc block. tallConvCase adds the
	// several-kc-block case, sized from the block sizes in use.
	{2, 16, 4, 4, 230, 3, 1, 1},
}

// allConvCases returns convCases and the cases whose size depends on the
// cache geometry in use (FLATFAST_CACHE or the host's), so that every path
// is reached on every machine.
func allConvCases() []convCase {
	return append(append([]convCase(nil), convCases...), tallConvCase())
}

// tallConvCase is a convolution read in place (4x4 images: the
// batch-innermost copy) with more output channels than one A row block
// (blocking.mc) and an inner size over several kc blocks, at every level:
// the row blocks of A in driveFlat, each over several kc blocks. Its size
// follows the block sizes (mc is 128-2048 over the geometries CI tests).
func tallConvCase() convCase {
	cout, cin := 0, 0
	for _, impl := range simd.Implementations() {
		mr, _ := impl.GemmTile()
		b := blocksFor(impl)
		cout = max(cout, b.mc+mr+1)
		cin = max(cin, b.kc/9+2)
	}
	return convCase{2, cin, 4, 4, cout, 3, 1, 1}
}

// Every level with an indirect kernel meets a case that reads B in place.
func TestConvCasesCoverIndirect(t *testing.T) {
	for _, impl := range simd.Implementations() {
		if impl.IndirectPieces() == 0 {
			continue
		}
		var padded, halves, inner, nhwc, nhwcStrided, split, tall bool
		for _, c := range allConvCases() {
			g, err := NewConvGeom([]int{c.n, c.cin, c.h, c.w}, []int{c.cout, c.cin, c.k, c.k}, c.stride, c.pad)
			if err != nil {
				t.Fatal(err)
			}
			padded = padded || usePadded(&g, impl)
			halves = halves || paddedPieces(&g, impl) == 2*impl.IndirectPieces()
			inner = inner || (!usePadded(&g, impl) && useBatchInner(&g, impl))
			nhwc = nhwc || useNHWC(&g, impl)
			nhwcStrided = nhwcStrided || (useNHWC(&g, impl) && c.stride > 1)
			split = split || kSegments(impl, g.Cout, g.Cin*g.KH*g.KW, g.N*g.OH*g.OW) > 1
			tall = tall || (useBatchInner(&g, impl) && g.Cout > blocksFor(impl).mc && g.Cin*g.KH*g.KW > blocksFor(impl).kc)
		}
		if impl.AcceptsIndirectPieces(2*impl.IndirectPieces()) && !halves {
			t.Errorf("%s: no case reads B in half-length pieces", impl)
		}
		if !tall {
			t.Errorf("%s: no in-place product with A taller than a row block and several kc blocks", impl)
		}
		if !split {
			t.Errorf("%s: no weight gradient is computed in k segments", impl)
		}
		if !padded || !inner || !nhwc || !nhwcStrided {
			t.Errorf("%s: cases reading B in place: padded NCHW %v, batch-innermost %v, channels-last %v (strided %v); want all",
				impl, padded, inner, nhwc, nhwcStrided)
		}
	}
}

// nanTensor returns a tensor full of NaNs: outputs written into it must
// be overwritten, never added to.
func nanTensor(dt DType, shape ...int) *Tensor {
	t := Must(New(dt, shape...))
	for i := 0; i < t.Len(); i++ {
		t.SetFlat(i, math.NaN())
	}
	return t
}

func randTensor(r *RNG, dt DType, shape ...int) *Tensor {
	t := Must(New(dt, shape...))
	r.Normal(t, 0, 1)
	return t
}

// checkClose compares got with want element by element, within
// tol*(1+|want|).
func checkClose(t *testing.T, what string, got *Tensor, want []float64, tol float64) {
	t.Helper()
	if got.Len() != len(want) {
		t.Fatalf("%s: %d values, want %d", what, got.Len(), len(want))
	}
	for i, w := range want {
		if d := math.Abs(got.Flat(i) - w); !(d <= tol*(1+math.Abs(w))) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, got.Flat(i), w)
		}
	}
}

// atEveryLevel runs f as a subtest per simd level this machine runs,
// named after the level, with that level active.
func atEveryLevel(t *testing.T, f func(t *testing.T)) {
	for _, impl := range simd.Implementations() {
		t.Run(impl.String(), func(t *testing.T) {
			prev := simd.ActiveLevel()
			if err := simd.Use(impl.Level()); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = simd.Use(prev) }()
			f(t)
		})
	}
}

// winoTol is the float32 bound of a convolution on the Winograd path,
// relative to the largest output: its error follows the magnitude of each
// tile's inputs, not of each output, so an output near zero can be off by
// far more than a dot product's relative error (TestWinogradStages
// measures 0.6-1.7e-5 on the ResNet stages; this bound is 3x that).
const winoTol = 5e-5

// withWinograd runs f with the Winograd path on for every eligible
// convolution (no channel or tile minimum) or off.
func withWinograd(on bool, f func()) {
	prevOn, prevMin, prevTiles := SetConvWinograd(on), winoMinChannels, winoMinTiles
	winoMinChannels, winoMinTiles = 1, 1
	defer func() { SetConvWinograd(prevOn); winoMinChannels, winoMinTiles = prevMin, prevTiles }()
	f()
}

// checkConv32 compares a float32 convolution result with the float64 one:
// within tol*(1+|want|) element by element on the direct path, within
// winoTol of the largest |want| on the Winograd path.
func checkConv32(t *testing.T, what string, got *Tensor, want []float64, tol float64, wino bool) {
	t.Helper()
	if !wino {
		checkClose(t, what, got, want, tol)
		return
	}
	var scale float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i, w := range want {
		if d := math.Abs(got.Flat(i) - w); !(d <= winoTol*scale) {
			t.Fatalf("%s (Winograd): element %d = %v, want %v (bound %.2g of the largest, %v)", what, i, got.Flat(i), w, winoTol, scale)
		}
	}
}

func TestConv2dForwardAndBackward(t *testing.T) {
	r := NewRNG(1)
	atEveryLevel(t, func(t *testing.T) {
		for _, c := range allConvCases() {
			name := fmt.Sprintf("%+v", c)
			g, err := NewConvGeom([]int{c.n, c.cin, c.h, c.w}, []int{c.cout, c.cin, c.k, c.k}, c.stride, c.pad)
			if err != nil {
				t.Fatal(err)
			}
			x64 := randTensor(r, Float64, g.inShape()...)
			w64 := randTensor(r, Float64, g.wShape()...)
			gy64 := randTensor(r, Float64, g.outShape()...)
			want := refConv(g, x64.f64, w64.f64)
			// Backward references through the adjoint identities:
			// dX = sum over outputs of gy * dY/dX, computed by
			// probing the linear map with unit vectors is slow, so
			// use the reference forward with transposed roles.
			wantDX := refBackInput(g, gy64.f64, w64.f64)
			wantDW := refBackWeight(g, x64.f64, gy64.f64)
			for _, dt := range []DType{Float64, Float32} {
				tol := 1e-12
				if dt == Float32 {
					tol = 2e-5 * math.Sqrt(float64(g.Cin*g.KH*g.KW+g.N*g.OH*g.OW+g.Cout*g.KH*g.KW))
				}
				x, w, gy := Must(x64.As(dt)), Must(w64.As(dt)), Must(gy64.As(dt))
				for _, wino := range []bool{false, true} {
					if wino && dt == Float64 {
						continue
					}
					withWinograd(wino, func() {
						fwd := wino && useWinograd(&g, simd.Active())
						ig := g.inputGradForward()
						bwd := wino && c.stride == 1 && useWinograd(&ig, simd.Active())
						y, err := Conv2d(nanTensor(dt, g.outShape()...), x, w, c.stride, c.pad)
						if err != nil {
							t.Fatal(err)
						}
						checkConv32(t, name+" forward "+dt.String(), y, want, tol, fwd)
						dx, err := Conv2dBackwardInput(nanTensor(dt, g.inShape()...), gy, w, c.h, c.w, c.stride, c.pad)
						if err != nil {
							t.Fatal(err)
						}
						checkConv32(t, name+" input grad "+dt.String(), dx, wantDX, tol, bwd)
						dw, err := Conv2dBackwardWeight(nanTensor(dt, g.wShape()...), x, gy, c.k, c.k, c.stride, c.pad)
						if err != nil {
							t.Fatal(err)
						}
						checkConv32(t, name+" weight grad "+dt.String(), dw, wantDW, tol, wino && useWinogradGrad(&g, simd.Active()))
					})
				}
			}
		}
	})
}

// refBackInput: dX[n,ci,ih,iw] = sum over (co, oh, ow, a, b) with
// ih = oh*s - pad + a of gy * w, straight from the definition.
func refBackInput(g ConvGeom, gy, w []float64) []float64 {
	dx := make([]float64, g.N*g.Cin*g.H*g.W)
	for n := 0; n < g.N; n++ {
		for co := 0; co < g.Cout; co++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					d := gy[((n*g.Cout+co)*g.OH+oh)*g.OW+ow]
					for ci := 0; ci < g.Cin; ci++ {
						for a := 0; a < g.KH; a++ {
							for b := 0; b < g.KW; b++ {
								ih, iw := oh*g.Stride-g.Pad+a, ow*g.Stride-g.Pad+b
								if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
									dx[((n*g.Cin+ci)*g.H+ih)*g.W+iw] += d * w[((co*g.Cin+ci)*g.KH+a)*g.KW+b]
								}
							}
						}
					}
				}
			}
		}
	}
	return dx
}

func refBackWeight(g ConvGeom, x, gy []float64) []float64 {
	dw := make([]float64, g.Cout*g.Cin*g.KH*g.KW)
	for n := 0; n < g.N; n++ {
		for co := 0; co < g.Cout; co++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					d := gy[((n*g.Cout+co)*g.OH+oh)*g.OW+ow]
					for ci := 0; ci < g.Cin; ci++ {
						for a := 0; a < g.KH; a++ {
							for b := 0; b < g.KW; b++ {
								ih, iw := oh*g.Stride-g.Pad+a, ow*g.Stride-g.Pad+b
								if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
									dw[((co*g.Cin+ci)*g.KH+a)*g.KW+b] += d * x[((n*g.Cin+ci)*g.H+ih)*g.W+iw]
								}
							}
						}
					}
				}
			}
		}
	}
	return dw
}

func TestConv2dAdjoint(t *testing.T) {
	// <conv(x, w), gy> = <x, dX(gy, w)> = <w, dW(x, gy)>: the three
	// float64 paths agree with one another, independently of refConv.
	r := NewRNG(2)
	for _, c := range allConvCases() {
		x := randTensor(r, Float64, c.n, c.cin, c.h, c.w)
		w := randTensor(r, Float64, c.cout, c.cin, c.k, c.k)
		y := Must(Conv2d(nil, x, w, c.stride, c.pad))
		gy := randTensor(r, Float64, y.Shape()...)
		dx := Must(Conv2dBackwardInput(nil, gy, w, c.h, c.w, c.stride, c.pad))
		dw := Must(Conv2dBackwardWeight(nil, x, gy, c.k, c.k, c.stride, c.pad))
		dot := func(a, b *Tensor) float64 {
			var s float64
			for i := range a.f64 {
				s += a.f64[i] * b.f64[i]
			}
			return s
		}
		a, b, d := dot(y, gy), dot(x, dx), dot(w, dw)
		if math.Abs(a-b) > 1e-9*(1+math.Abs(a)) || math.Abs(a-d) > 1e-9*(1+math.Abs(a)) {
			t.Errorf("%+v: <y,gy>=%v <x,dx>=%v <w,dw>=%v", c, a, b, d)
		}
	}
}

func TestConv2dErrors(t *testing.T) {
	x := Must(New(Float32, 1, 3, 5, 5))
	for name, w := range map[string]*Tensor{
		"channel mismatch": Must(New(Float32, 4, 2, 3, 3)),
		"3-D kernel":       Must(New(Float32, 4, 3, 3)),
		"kernel too large": Must(New(Float32, 4, 3, 9, 9)),
	} {
		if _, err := Conv2d(nil, x, w, 1, 0); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Conv2d(nil, x, Must(New(Float32, 4, 3, 3, 3)), 0, 1); err == nil {
		t.Error("stride 0: no error")
	}
	if _, err := Conv2d(nil, x, Must(New(Float64, 4, 3, 3, 3)), 1, 1); err == nil {
		t.Error("mixed dtypes: no error")
	}
}

func TestConvZeroAllocs(t *testing.T) {
	r := NewRNG(3)
	x := randTensor(r, Float32, 4, 16, 8, 8)
	w := randTensor(r, Float32, 32, 16, 3, 3)
	w2 := randTensor(r, Float32, 32, 16, 3, 3)
	y := Must(Conv2d(nil, x, w, 1, 1))
	dx := Must(New(Float32, x.Shape()...))
	dw := Must(New(Float32, w.Shape()...))
	y2 := Must(Conv2d(nil, x, w2, 2, 1))
	dx2 := Must(New(Float32, x.Shape()...))
	// 4x4 images with 32 channels: the batch-innermost copy (on AVX-512)
	// and a padded channels-last pixel stride.
	x3 := randTensor(r, Float32, 4, 32, 4, 4)
	w3 := randTensor(r, Float32, 32, 32, 3, 3)
	y3 := Must(Conv2d(nil, x3, w3, 1, 1))
	dx3 := Must(New(Float32, x3.Shape()...))
	dw3 := Must(New(Float32, w3.Shape()...))
	allocs := testing.AllocsPerRun(5, func() {
		_, _ = Conv2d(y, x, w, 1, 1)
		_, _ = Conv2dBackwardInput(dx, y, w, 8, 8, 1, 1)
		_, _ = Conv2dBackwardWeight(dw, x, y, 3, 3, 1, 1)
		_, _ = Conv2dBackwardInput(dx2, y2, w2, 8, 8, 2, 1)
		_, _ = Conv2d(y3, x3, w3, 1, 1)
		_, _ = Conv2dBackwardInput(dx3, y3, w3, 4, 4, 1, 1)
		_, _ = Conv2dBackwardWeight(dw3, x3, y3, 3, 3, 1, 1)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per convolution round", allocs)
	}
}

// BenchmarkConv times forward + both backward passes for the four
// ResNet-18 CIFAR stages at batch 32.
func BenchmarkConv(b *testing.B) {
	r := NewRNG(4)
	for _, s := range []struct{ c, hw int }{{64, 32}, {128, 16}, {256, 8}, {512, 4}} {
		x := randTensor(r, Float32, 32, s.c, s.hw, s.hw)
		w := randTensor(r, Float32, s.c, s.c, 3, 3)
		y := Must(Conv2d(nil, x, w, 1, 1))
		dx := Must(New(Float32, x.Shape()...))
		dw := Must(New(Float32, w.Shape()...))
		g, _ := NewConvGeom(x.Shape(), w.Shape(), 1, 1)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%dx%d/threads=%d", s.c, s.hw, s.hw, threads), func(b *testing.B) {
				SetThreads(threads)
				defer SetThreads(0)
				b.ReportAllocs()
				for range b.N {
					_, _ = Conv2d(y, x, w, 1, 1)
					_, _ = Conv2dBackwardInput(dx, y, w, s.hw, s.hw, 1, 1)
					_, _ = Conv2dBackwardWeight(dw, x, y, 3, 3, 1, 1)
				}
				b.ReportMetric(3*g.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// Convolutions give bitwise the same result for any thread count (the
// split-k weight gradient included), on the direct and the Winograd path.
func TestConvThreadsBitwise(t *testing.T) {
	for _, wino := range []bool{false, true} {
		withWinograd(wino, func() { convThreadsBitwise(t, wino) })
	}
}

func convThreadsBitwise(t *testing.T, wino bool) {
	defer SetThreads(0)
	r := NewRNG(9)
	for _, c := range allConvCases() {
		g, err := NewConvGeom([]int{c.n, c.cin, c.h, c.w}, []int{c.cout, c.cin, c.k, c.k}, c.stride, c.pad)
		if err != nil {
			t.Fatal(err)
		}
		x := randTensor(r, Float32, g.inShape()...)
		w := randTensor(r, Float32, g.wShape()...)
		gy := randTensor(r, Float32, g.outShape()...)
		var ref [3]*Tensor
		for _, threads := range []int{1, 2, 3, 5} {
			SetThreads(threads)
			y := Must(Conv2d(nil, x, w, c.stride, c.pad))
			dx := Must(Conv2dBackwardInput(nil, gy, w, c.h, c.w, c.stride, c.pad))
			dw := Must(Conv2dBackwardWeight(nil, x, gy, c.k, c.k, c.stride, c.pad))
			got := [3]*Tensor{y, dx, dw}
			if threads == 1 {
				ref = got
				continue
			}
			for o, name := range []string{"forward", "input grad", "weight grad"} {
				for i := 0; i < got[o].Len(); i++ {
					if got[o].Flat(i) != ref[o].Flat(i) {
						t.Fatalf("%+v (Winograd %v) %s: %d threads differ from 1 at %d: %v vs %v", c, wino, name, threads, i, got[o].Flat(i), ref[o].Flat(i))
					}
				}
			}
		}
	}
}
