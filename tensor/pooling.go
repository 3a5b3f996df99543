package tensor

import (
	"fmt"
	"math"
)

// poolGeom is the geometry of a square pooling window over NCHW.
type poolGeom struct {
	n, c, h, w     int
	k, stride, pad int
	oh, ow         int
}

func newPoolGeom(op string, x []int, k, stride, pad int) (poolGeom, error) {
	if len(x) != 4 {
		return poolGeom{}, fmt.Errorf("%w: %s wants a 4-D input [N C H W], got %v", ErrShape, op, shapeString(x))
	}
	g := poolGeom{n: x[0], c: x[1], h: x[2], w: x[3], k: k, stride: stride, pad: pad}
	// The bounds keep h+2*pad and the output sizes far from overflow.
	if k < 1 || stride < 1 || pad < 0 || pad > k/2 || k > maxElems || stride > maxElems {
		return g, fmt.Errorf("%w: %s: window %d, stride %d, padding %d (padding may be at most half the window)", ErrShape, op, k, stride, pad)
	}
	if g.h+2*pad < k || g.w+2*pad < k {
		return g, fmt.Errorf("%w: %s: window %d larger than the padded input %v", ErrShape, op, k, shapeString(x))
	}
	g.oh = (g.h+2*pad-k)/stride + 1
	g.ow = (g.w+2*pad-k)/stride + 1
	return g, nil
}

// MaxPool2d returns the maximum over k x k windows of x [N, C, H, W] with
// the given stride and implicit -Inf padding, and for each output element
// the flat index into x of the element chosen (the first on ties; a NaN is
// chosen and propagates). idx is reused when it has room.
func MaxPool2d(dst, x *Tensor, k, stride, pad int, idx []int32) (*Tensor, []int32, error) {
	if err := nonNil("MaxPool2d", x); err != nil {
		return nil, nil, err
	}
	g, err := newPoolGeom("MaxPool2d", x.Shape(), k, stride, pad)
	if err != nil {
		return nil, nil, err
	}
	if x.Len() > math.MaxInt32 {
		return nil, nil, fmt.Errorf("%w: MaxPool2d input %v too large for 32-bit indices", ErrShape, shapeString(x.Shape()))
	}
	dst, err = prepareDst("MaxPool2d", dst, x.dt, []int{g.n, g.c, g.oh, g.ow})
	if err != nil {
		return nil, nil, err
	}
	if cap(idx) < dst.Len() {
		idx = make([]int32, dst.Len())
	}
	idx = idx[:dst.Len()]
	o := 0
	for nc := 0; nc < g.n*g.c; nc++ {
		base := nc * g.h * g.w
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				best, bi := math.Inf(-1), -1
				g.window(oh, ow, func(at int) {
					v := x.Flat(base + at)
					if bi < 0 || v > best || (v != v && best == best) {
						best, bi = v, base+at
					}
				})
				dst.SetFlat(o, best)
				idx[o] = int32(bi)
				o++
			}
		}
	}
	return dst, idx, nil
}

// ScatterAdd returns a tensor of the given shape, zero except that g[i] is
// added at flat position idx[i] (the backward of MaxPool2d and of Gather).
func ScatterAdd(dst, g *Tensor, idx []int32, shape []int) (*Tensor, error) {
	if err := nonNil("ScatterAdd", g); err != nil {
		return nil, err
	}
	if len(idx) != g.Len() {
		return nil, fmt.Errorf("%w: ScatterAdd: %d indices for %d values", ErrShape, len(idx), g.Len())
	}
	dst, err := prepareDst("ScatterAdd", dst, g.dt, shape)
	if err != nil {
		return nil, err
	}
	dst.Zero()
	n := dst.Len()
	for i, at := range idx {
		if int(at) < 0 || int(at) >= n {
			return nil, fmt.Errorf("%w: ScatterAdd: index %d out of range for %v", ErrShape, at, shapeString(shape))
		}
		if g.dt == Float32 {
			dst.f32[at] += g.f32[i]
		} else {
			dst.f64[at] += g.f64[i]
		}
	}
	return dst, nil
}

// Gather returns a tensor of the given shape whose element i is
// x[idx[i]] (flat indices): the adjoint of ScatterAdd.
func Gather(dst, x *Tensor, idx []int32, shape []int) (*Tensor, error) {
	if err := nonNil("Gather", x); err != nil {
		return nil, err
	}
	dst, err := prepareDst("Gather", dst, x.dt, shape)
	if err != nil {
		return nil, err
	}
	if len(idx) != dst.Len() {
		return nil, fmt.Errorf("%w: Gather: %d indices for shape %v", ErrShape, len(idx), shapeString(shape))
	}
	n := x.Len()
	for i, at := range idx {
		if int(at) < 0 || int(at) >= n {
			return nil, fmt.Errorf("%w: Gather: index %d out of range for %v", ErrShape, at, shapeString(x.Shape()))
		}
		if x.dt == Float32 {
			dst.f32[i] = x.f32[at]
		} else {
			dst.f64[i] = x.f64[at]
		}
	}
	return dst, nil
}

// AvgPool2d returns the mean over k x k windows of x [N, C, H, W] with the
// given stride and zero padding; padded positions count in the divisor
// (PyTorch's count_include_pad=True).
func AvgPool2d(dst, x *Tensor, k, stride, pad int) (*Tensor, error) {
	if err := nonNil("AvgPool2d", x); err != nil {
		return nil, err
	}
	g, err := newPoolGeom("AvgPool2d", x.Shape(), k, stride, pad)
	if err != nil {
		return nil, err
	}
	dst, err = prepareDst("AvgPool2d", dst, x.dt, []int{g.n, g.c, g.oh, g.ow})
	if err != nil {
		return nil, err
	}
	inv := 1 / (float64(k) * float64(k)) // k*k may overflow an int
	o := 0
	for nc := 0; nc < g.n*g.c; nc++ {
		base := nc * g.h * g.w
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				var s float64
				g.window(oh, ow, func(at int) { s += x.Flat(base + at) })
				dst.SetFlat(o, s*inv)
				o++
			}
		}
	}
	return dst, nil
}

// AvgPool2dBackward returns the gradient of the input of AvgPool2d given
// the output gradient gy; inShape is the input's shape. It is also the
// adjoint (transpose) of AvgPool2d.
func AvgPool2dBackward(dst, gy *Tensor, inShape []int, k, stride, pad int) (*Tensor, error) {
	if err := nonNil("AvgPool2dBackward", gy); err != nil {
		return nil, err
	}
	g, err := newPoolGeom("AvgPool2dBackward", inShape, k, stride, pad)
	if err != nil {
		return nil, err
	}
	if !equalInts(gy.Shape(), []int{g.n, g.c, g.oh, g.ow}) {
		return nil, fmt.Errorf("%w: AvgPool2dBackward: gradient %v for input %v (output would be %v)", ErrShape, shapeString(gy.Shape()), shapeString(inShape), shapeString([]int{g.n, g.c, g.oh, g.ow}))
	}
	dst, err = prepareDst("AvgPool2dBackward", dst, gy.dt, inShape)
	if err != nil {
		return nil, err
	}
	dst.Zero()
	inv := 1 / (float64(k) * float64(k))
	o := 0
	for nc := 0; nc < g.n*g.c; nc++ {
		base := nc * g.h * g.w
		for oh := 0; oh < g.oh; oh++ {
			for ow := 0; ow < g.ow; ow++ {
				d := gy.Flat(o) * inv
				g.window(oh, ow, func(at int) { dst.SetFlat(base+at, dst.Flat(base+at)+d) })
				o++
			}
		}
	}
	return dst, nil
}

// window calls f with the in-plane offset of every in-bounds element of
// the window of output (oh, ow), in row-major order. The loops run over
// the in-bounds part only, so a window far larger than the input (a huge
// k with padding k/2 is valid) costs the input's size, not k*k.
func (g *poolGeom) window(oh, ow int, f func(at int)) {
	h0, w0 := oh*g.stride-g.pad, ow*g.stride-g.pad
	for ih := max(h0, 0); ih < min(h0+g.k, g.h); ih++ {
		for iw := max(w0, 0); iw < min(w0+g.k, g.w); iw++ {
			f(ih*g.w + iw)
		}
	}
}
