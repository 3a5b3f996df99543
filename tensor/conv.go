package tensor

import (
	"fmt"

	"github.com/flatfast/flatfast/simd"
)

// Convolution in NCHW as implicit GEMM (docs/conv.md). The float32 paths
// never build an im2col matrix: the GEMM's packing routines read the
// image directly, so memory stays at the size of the operands and the
// packed panels are formed once, in cache.
//
//	forward       Y[co, (n,q)]  = W[co, (ci,kh,kw)] * X~[(ci,kh,kw), (n,q)]
//	weight grad   dW[co, k]     = dY[co, (n,q)] * X~^T[(n,q), k]
//	input grad    stride 1: a forward convolution of dY with the flipped,
//	              transposed kernel; other strides: dX~ = W^T dY, folded
//	              back (col2im) one group of images at a time.
//
// X~ is the im2col matrix (never stored), q runs over output pixels. 3x3
// stride-1 layers with enough channels and tiles take Winograd's F(4x4,
// 3x3) instead, in all three passes (conv_winograd.go,
// conv_winograd_grad.go).

// The parts: the B operands read in place from a copy of the input
// (conv_inplace.go), those packed through im2col and col2im
// (conv_im2col.go), the A and B operands made of output gradients and of
// the rotated kernel (conv_operands.go), the Winograd path
// (conv_winograd.go, conv_winograd_grad.go) and the float64 direct loops
// (conv_float64.go).

// ConvGeom is the geometry of a 2-D convolution: input [N, Cin, H, W],
// kernel [Cout, Cin, KH, KW], the same stride and zero padding along both
// axes, output [N, Cout, OH, OW].
type ConvGeom struct {
	N, Cin, H, W int
	Cout, KH, KW int
	Stride, Pad  int
	OH, OW       int
}

// NewConvGeom checks the shapes of an input x and a kernel w and returns
// the geometry of their convolution.
func NewConvGeom(x, w []int, stride, pad int) (ConvGeom, error) {
	if len(x) != 4 || len(w) != 4 {
		return ConvGeom{}, fmt.Errorf("%w: Conv2d wants a 4-D input [N C H W] and kernel [Cout Cin KH KW], got %v and %v", ErrShape, shapeString(x), shapeString(w))
	}
	g := ConvGeom{N: x[0], Cin: x[1], H: x[2], W: x[3], Cout: w[0], KH: w[2], KW: w[3], Stride: stride, Pad: pad}
	switch {
	case w[1] != x[1]:
		return g, fmt.Errorf("%w: Conv2d: input %v has %d channels, kernel %v expects %d", ErrShape, shapeString(x), x[1], shapeString(w), w[1])
	case stride < 1 || pad < 0:
		return g, fmt.Errorf("%w: Conv2d: stride %d, padding %d", ErrShape, stride, pad)
	case g.KH < 1 || g.KW < 1:
		return g, fmt.Errorf("%w: Conv2d: empty kernel %v", ErrShape, shapeString(w))
	}
	g.OH = (g.H+2*pad-g.KH)/stride + 1
	g.OW = (g.W+2*pad-g.KW)/stride + 1
	if g.H+2*pad < g.KH || g.W+2*pad < g.KW {
		return g, fmt.Errorf("%w: Conv2d: kernel %v larger than the padded input %v (pad %d)", ErrShape, shapeString(w), shapeString(x), pad)
	}
	return g, nil
}

// inputGradForward is the geometry of the forward convolution that is the
// input gradient of the stride-1 convolution g: dX = conv(dY, flip(W)^T)
// with padding KH-1-pad.
func (g *ConvGeom) inputGradForward() ConvGeom {
	return ConvGeom{N: g.N, Cin: g.Cout, H: g.OH, W: g.OW, Cout: g.Cin, KH: g.KH, KW: g.KW,
		Stride: 1, Pad: g.KH - 1 - g.Pad, OH: g.H, OW: g.W}
}

func (g *ConvGeom) inShape() []int  { return []int{g.N, g.Cin, g.H, g.W} }
func (g *ConvGeom) wShape() []int   { return []int{g.Cout, g.Cin, g.KH, g.KW} }
func (g *ConvGeom) outShape() []int { return []int{g.N, g.Cout, g.OH, g.OW} }

// Flops returns the multiply-adds of the forward pass times two.
func (g *ConvGeom) Flops() float64 {
	return 2 * float64(g.N) * float64(g.Cout) * float64(g.OH*g.OW) * float64(g.Cin*g.KH*g.KW)
}

// convScratch is the pooled workspace of a convolution call. Its three
// large buffers serve whichever path a call takes (withShared).
type convScratch struct {
	dcol []float32 // dX~ columns of strided input gradients; Winograd's U
	geom ConvGeom
	orig ConvGeom
	im   im2colB
	imT  im2colT
	oA   outA
	oB   outB
	fA   flippedA
	da   denseA
	pad  padded
	bin  batchInner
	nhwc nhwcB
	cbuf []float32 // output in batchInner's or nhwcB's column order; Winograd's V and M
	// xbuf is the storage of whichever copy of the input a call makes
	// (padded, batchInner, nhwcB), shared to keep one per scratch.
	xbuf []float32
	wino winoScratch
}

var convPool freeList[convScratch]

// Conv2d returns the convolution of x [N, Cin, H, W] with the kernel w
// [Cout, Cin, KH, KW] (cross-correlation, as in PyTorch), with the given
// stride and zero padding on both axes: [N, Cout, OH, OW]. Bias, if any, is
// added separately.
func Conv2d(dst, x, w *Tensor, stride, pad int) (*Tensor, error) {
	if err := nonNil("Conv2d", x, w); err != nil {
		return nil, err
	}
	if x.dt != w.dt {
		return nil, fmt.Errorf("%w: Conv2d of %v input and %v kernel", ErrDType, x.dt, w.dt)
	}
	g, err := NewConvGeom(x.Shape(), w.Shape(), stride, pad)
	if err != nil {
		return nil, err
	}
	dst, err = prepareDst("Conv2d", dst, x.dt, g.outShape())
	if err != nil {
		return nil, err
	}
	if x.dt == Float64 {
		conv64Forward(&g, dst.f64, x.f64, w.f64)
		return dst, nil
	}
	s := convPool.get()
	defer convPool.put(s)
	s.geom = g
	impl := simd.Active()
	if useWinograd(&g, impl) {
		s.winograd(impl, &g, w.f32, x.f32, dst.f32, false)
		return dst, nil
	}
	s.da = denseA{impl: impl, a: w.f32, lda: g.Cin * g.KH * g.KW}
	s.direct(impl, &s.da, x.f32, dst.f32)
	s.da.a = nil
	return dst, nil
}

// winograd runs the Winograd path (withShared).
func (s *convScratch) winograd(impl *simd.Impl, g *ConvGeom, w, x, y []float32, flip bool) {
	s.withShared(func(ws *winoScratch) { ws.winograd(impl, Threads(), g, w, x, y, flip) })
}

// withShared runs f, a call of the Winograd path, with its buffers in
// the storage the direct path uses for its own: the channels-last input
// copy xb in the direct path's input copy xbuf, U in dcol and a chunk's V
// and M in cbuf. A scratch then holds one of each whichever path its
// calls take: in ResNet-18, whose strided and 1x1 convolutions stay
// direct, the Winograd path grows them little (docs/conv.md, "Memory").
func (s *convScratch) withShared(f func(*winoScratch)) {
	w := &s.wino
	w.xb, w.u, w.vm = s.xbuf, s.dcol, s.cbuf
	f(w)
	s.xbuf, s.dcol, s.cbuf = w.xb, w.u, w.vm
	w.xb, w.u, w.vm, w.v, w.mt = nil, nil, nil, nil, nil
}

// direct computes the convolution of geometry s.geom of input x into y
// with kernel operand A as one implicit GEMM, choosing how B is read: in
// place from a padded copy of x (NCHW when output rows are whole pieces,
// else batch-innermost), or packed through im2col.
func (s *convScratch) direct(impl *simd.Impl, A aSource, x, y []float32) {
	g := &s.geom
	s.im.prepare(g, x)
	defer func() { s.im.x = nil }()
	k := g.Cin * g.KH * g.KW
	ohw := g.OH * g.OW
	switch {
	case usePadded(g, impl):
		s.pad.buf = s.xbuf
		s.pad.prepare(&s.im, g, impl, x)
		s.xbuf = s.pad.buf
		gemmSources(impl, Threads(), g.Cout, g.N*ohw, k, 1, A, &s.pad, y, ohw, ohw, g.Cout*ohw, true)
		s.pad.x = nil
	case useBatchInner(g, impl):
		b := &s.bin
		b.buf = s.xbuf
		b.prepare(g, impl, x)
		s.xbuf = b.buf
		s.cbuf = grow(s.cbuf, g.Cout*b.cols)
		gemmSources(impl, Threads(), g.Cout, b.cols, k, 1, A, b, s.cbuf, b.cols, 0, 0, true)
		b.x = nil
		b.scatter(y, s.cbuf)
	default:
		gemmSources(impl, Threads(), g.Cout, g.N*ohw, k, 1, A, &s.im, y, ohw, ohw, g.Cout*ohw, true)
	}
}

// Conv2dBackwardWeight returns the gradient of the kernel of Conv2d(x, w)
// given the output gradient gy: [Cout, Cin, kh, kw].
func Conv2dBackwardWeight(dst, x, gy *Tensor, kh, kw, stride, pad int) (*Tensor, error) {
	if err := nonNil("Conv2dBackwardWeight", x, gy); err != nil {
		return nil, err
	}
	if x.dt != gy.dt {
		return nil, fmt.Errorf("%w: Conv2dBackwardWeight of %v input and %v gradient", ErrDType, x.dt, gy.dt)
	}
	if gy.nd != 4 {
		return nil, fmt.Errorf("%w: Conv2dBackwardWeight: gradient %v is not 4-D", ErrShape, shapeString(gy.Shape()))
	}
	if x.nd != 4 {
		return nil, fmt.Errorf("%w: Conv2dBackwardWeight: input %v is not 4-D", ErrShape, shapeString(x.Shape()))
	}
	wshape := []int{gy.dims[1], x.dims[1], kh, kw}
	g, err := NewConvGeom(x.Shape(), wshape, stride, pad)
	if err != nil {
		return nil, err
	}
	if !equalInts(gy.Shape(), g.outShape()) {
		return nil, fmt.Errorf("%w: Conv2dBackwardWeight: gradient %v, but the output of %v with a %v kernel is %v", ErrShape, shapeString(gy.Shape()), shapeString(x.Shape()), shapeString(wshape), shapeString(g.outShape()))
	}
	dst, err = prepareDst("Conv2dBackwardWeight", dst, x.dt, wshape)
	if err != nil {
		return nil, err
	}
	if x.dt == Float64 {
		conv64BackwardWeight(&g, dst.f64, x.f64, gy.f64)
		return dst, nil
	}
	s := convPool.get()
	defer convPool.put(s)
	s.geom = g
	impl := simd.Active()
	if useWinogradGrad(&g, impl) {
		s.withShared(func(ws *winoScratch) { ws.weightGrad(impl, Threads(), &g, x.f32, gy.f32, dst.f32) })
		return dst, nil
	}
	s.oA = outA{g: &s.geom, c: g.Cout, y: gy.f32, impl: impl}
	defer func() { s.oA.y = nil }()
	k := g.Cin * g.KH * g.KW
	if useNHWC(&s.geom, impl) {
		// dW~[co, (kh, kw, ci)] with B read in place from a channels-last
		// padded copy of x, then reordered into dW.
		b := &s.nhwc
		b.buf = s.xbuf
		b.prepare(&s.geom, impl, x.f32)
		s.xbuf = b.buf
		s.cbuf = grow(s.cbuf, g.Cout*b.cols)
		gemmSources(impl, Threads(), g.Cout, b.cols, g.N*g.OH*g.OW, 1, &s.oA, b, s.cbuf, b.cols, 0, 0, true)
		b.x = nil
		b.unpermute(dst.f32, s.cbuf)
		return dst, nil
	}
	s.im.prepare(&s.geom, x.f32)
	s.imT = im2colT{im: &s.im, impl: impl}
	gemmSources(impl, Threads(), g.Cout, k, g.N*g.OH*g.OW, 1, &s.oA, &s.imT, dst.f32, k, 0, 0, true)
	s.im.x = nil
	return dst, nil
}

// Conv2dBackwardInput returns the gradient of the input of Conv2d(x, w)
// given the output gradient gy, for an input of height h and width wd:
// [N, Cin, h, wd]. (The input size is needed because strided
// convolutions map several input sizes to one output size.)
func Conv2dBackwardInput(dst, gy, w *Tensor, h, wd, stride, pad int) (*Tensor, error) {
	if err := nonNil("Conv2dBackwardInput", gy, w); err != nil {
		return nil, err
	}
	if gy.dt != w.dt {
		return nil, fmt.Errorf("%w: Conv2dBackwardInput of %v gradient and %v kernel", ErrDType, gy.dt, w.dt)
	}
	if gy.nd != 4 || w.nd != 4 {
		return nil, fmt.Errorf("%w: Conv2dBackwardInput: gradient %v and kernel %v must be 4-D", ErrShape, shapeString(gy.Shape()), shapeString(w.Shape()))
	}
	xshape := []int{gy.dims[0], w.dims[1], h, wd}
	g, err := NewConvGeom(xshape, w.Shape(), stride, pad)
	if err != nil {
		return nil, err
	}
	if !equalInts(gy.Shape(), g.outShape()) {
		return nil, fmt.Errorf("%w: Conv2dBackwardInput: gradient %v, but the output of %v with kernel %v is %v", ErrShape, shapeString(gy.Shape()), shapeString(xshape), shapeString(w.Shape()), shapeString(g.outShape()))
	}
	dst, err = prepareDst("Conv2dBackwardInput", dst, gy.dt, xshape)
	if err != nil {
		return nil, err
	}
	if gy.dt == Float64 {
		conv64BackwardInput(&g, dst.f64, gy.f64, w.f64)
		return dst, nil
	}
	s := convPool.get()
	defer convPool.put(s)
	impl := simd.Active()
	if stride == 1 && pad <= g.KH-1 && pad <= g.KW-1 && g.KH == g.KW {
		s.geom = g.inputGradForward()
		if useWinograd(&s.geom, impl) {
			s.winograd(impl, &s.geom, w.f32, gy.f32, dst.f32, true)
			return dst, nil
		}
		s.orig = g
		s.fA.g, s.fA.w, s.fA.impl = &s.orig, w.f32, impl
		s.direct(impl, &s.fA, gy.f32, dst.f32)
		s.fA.w = nil
		return dst, nil
	}
	// General stride: dX~ = W^T dY for a group of images at a time, then
	// col2im. The group keeps dX~ near 1 Mi floats.
	dst.Zero()
	s.geom = g
	k := g.Cin * g.KH * g.KW
	ohw := g.OH * g.OW
	group := max(1, min(g.N, (1<<20)/max(1, k*ohw)))
	s.dcol = grow(s.dcol, k*group*ohw)
	s.da = denseA{impl: impl, a: w.f32, lda: k, trans: true}
	for n0 := 0; n0 < g.N; n0 += group {
		gn := min(group, g.N-n0)
		dcol := s.dcol[:k*gn*ohw]
		s.oB = outB{g: &s.geom, c: g.Cout, y: gy.f32[n0*g.Cout*ohw : (n0+gn)*g.Cout*ohw]}
		gemmSources(impl, Threads(), k, gn*ohw, g.Cout, 1, &s.da, &s.oB, dcol, gn*ohw, 0, 0, true)
		col2im(&g, dst.f32[n0*g.Cin*g.H*g.W:], dcol, gn)
	}
	s.oB.y, s.da.a = nil, nil
	return dst, nil
}
