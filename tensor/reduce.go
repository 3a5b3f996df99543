package tensor

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/simd"
)

// normAxis resolves a possibly negative axis against nd dimensions.
func normAxis(op string, axis, nd int) (int, error) {
	if axis < 0 {
		axis += nd
	}
	if axis < 0 || axis >= nd {
		return 0, fmt.Errorf("%w: %s: axis %d out of range for %d dimensions", ErrShape, op, axis, nd)
	}
	return axis, nil
}

// reducedShape is shape with dimension axis removed, or set to 1 when
// keepDims (returned as an array to stay off the heap).
func reducedShape(shape []int, axis int, keepDims bool) ([MaxDims]int, int) {
	var out [MaxDims]int
	n := copy(out[:], shape[:axis])
	if keepDims {
		out[n] = 1
		n++
	}
	n += copy(out[n:], shape[axis+1:])
	return out, n
}

// split3 views shape as [outer, n, inner] around axis.
func split3(shape []int, axis int) (outer, n, inner int) {
	outer, inner = 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	return outer, shape[axis], inner
}

// Sum returns the sum of a along axis (negative counts from the end), with
// that dimension removed, or kept with size 1 when keepDims.
func Sum(dst, a *Tensor, axis int, keepDims bool) (*Tensor, error) {
	if err := nonNil("Sum", a); err != nil {
		return nil, err
	}
	axis, err := normAxis("Sum", axis, a.nd)
	if err != nil {
		return nil, err
	}
	rs, rn := reducedShape(a.Shape(), axis, keepDims)
	dst, err = prepareDst("Sum", dst, a.dt, rs[:rn])
	if err != nil {
		return nil, err
	}
	outer, n, inner := split3(a.Shape(), axis)
	if a.dt == Float32 {
		sumAxis32(dst.f32, a.f32, outer, n, inner)
	} else {
		sumAxis64(dst.f64, a.f64, outer, n, inner)
	}
	return dst, nil
}

func sumAxis32(z, x []float32, outer, n, inner int) {
	if inner == 1 {
		for o := range outer {
			z[o] = simd.Sum(x[o*n : o*n+n])
		}
		return
	}
	for o := range outer {
		zr := z[o*inner : o*inner+inner]
		clear(zr)
		for k := range n {
			off := (o*n + k) * inner
			simd.Add(zr, zr, x[off:off+inner])
		}
	}
}

func sumAxis64(z, x []float64, outer, n, inner int) {
	for o := range outer {
		zr := z[o*inner : o*inner+inner]
		clear(zr)
		for k := range n {
			xr := x[(o*n+k)*inner : (o*n+k+1)*inner]
			for i, v := range xr {
				zr[i] += v
			}
		}
	}
}

// Mean returns the mean of a along axis (see Sum). As for Max, the axis
// must not be empty: a mean of no values is undefined, not 0.
func Mean(dst, a *Tensor, axis int, keepDims bool) (*Tensor, error) {
	if err := nonNil("Mean", a); err != nil {
		return nil, err
	}
	ax, err := normAxis("Mean", axis, a.nd)
	if err != nil {
		return nil, err
	}
	n := a.dims[ax]
	if n == 0 {
		return nil, fmt.Errorf("%w: Mean over an empty axis of %v", ErrShape, shapeString(a.Shape()))
	}
	dst, err = Sum(dst, a, ax, keepDims)
	if err != nil {
		return nil, err
	}
	return Scale(dst, dst, 1/float64(n))
}

// SumAll returns the sum of every element, accumulated in float64.
func SumAll(a *Tensor) float64 {
	var s float64
	if a.dt == Float32 {
		for _, v := range a.f32 {
			s += float64(v)
		}
		return s
	}
	for _, v := range a.f64 {
		s += v
	}
	return s
}

// Max returns the maximum of a along axis (see Sum); NaN where a row holds
// a NaN. The axis must not be empty.
func Max(dst, a *Tensor, axis int, keepDims bool) (*Tensor, error) {
	if err := nonNil("Max", a); err != nil {
		return nil, err
	}
	axis, err := normAxis("Max", axis, a.nd)
	if err != nil {
		return nil, err
	}
	if a.dims[axis] == 0 {
		return nil, fmt.Errorf("%w: Max over an empty axis of %v", ErrShape, shapeString(a.Shape()))
	}
	rs, rn := reducedShape(a.Shape(), axis, keepDims)
	dst, err = prepareDst("Max", dst, a.dt, rs[:rn])
	if err != nil {
		return nil, err
	}
	outer, n, inner := split3(a.Shape(), axis)
	if a.dt == Float32 && inner == 1 {
		for o := range outer {
			dst.f32[o] = simd.Max(a.f32[o*n : o*n+n])
		}
		return dst, nil
	}
	for o := range outer {
		for i := range inner {
			m := math.Inf(-1)
			for k := range n {
				v := a.Flat((o*n+k)*inner + i)
				if v != v {
					m = v
					break
				}
				m = math.Max(m, v)
			}
			dst.SetFlat(o*inner+i, m)
		}
	}
	return dst, nil
}

// ArgMax returns, for each position of the other dimensions (in row-major
// order), the index along axis of the largest element (the first one on
// ties; a NaN counts as largest).
func ArgMax(a *Tensor, axis int) ([]int, error) {
	if err := nonNil("ArgMax", a); err != nil {
		return nil, err
	}
	axis, err := normAxis("ArgMax", axis, a.nd)
	if err != nil {
		return nil, err
	}
	if a.dims[axis] == 0 {
		return nil, fmt.Errorf("%w: ArgMax over an empty axis of %v", ErrShape, shapeString(a.Shape()))
	}
	outer, n, inner := split3(a.Shape(), axis)
	idx := make([]int, outer*inner)
	for o := range outer {
		for i := range inner {
			best, bi := math.Inf(-1), 0
			for k := range n {
				v := a.Flat((o*n+k)*inner + i)
				if v != v {
					bi = k
					break
				}
				if v > best {
					best, bi = v, k
				}
			}
			idx[o*inner+i] = bi
		}
	}
	return idx, nil
}

// SumTo reduces a to shape by summing over the dimensions in which a was
// broadcast from shape: shape must broadcast to a's shape (right-aligned,
// each size equal to a's or 1, possibly fewer dimensions). It is the
// adjoint of BroadcastTo.
func SumTo(dst, a *Tensor, shape []int) (*Tensor, error) {
	if err := nonNil("SumTo", a); err != nil {
		return nil, err
	}
	full, nd, err := broadcastShapes(shape, a.Shape())
	if err != nil || !equalInts(full[:nd], a.Shape()) {
		return nil, fmt.Errorf("%w: SumTo: %v does not broadcast to %v", ErrShape, shapeString(shape), shapeString(a.Shape()))
	}
	dst, err = prepareDst("SumTo", dst, a.dt, shape)
	if err != nil {
		return nil, err
	}
	dst.Zero()
	if a.Len() == 0 {
		return dst, nil
	}
	p := makePlan(a.Shape(), shape, a.Shape())
	n := p.dims[p.nd-1]
	reduceInner := p.sa[p.nd-1] == 0
	if a.dt == Float32 {
		z, x := dst.f32, a.f32
		p.each(func(xo, zo, _ int) {
			if reduceInner {
				z[zo] += simd.Sum(x[xo : xo+n])
			} else {
				simd.Add(z[zo:zo+n], z[zo:zo+n], x[xo:xo+n])
			}
		})
		return dst, nil
	}
	// Inline over the plan (no call per row: rows are often short, see
	// shortRow), in the same order as the float32 loop above.
	z, x := dst.f64, a.f64
	var idx [MaxDims]int
	zo, unused := 0, 0
	for xo := 0; xo < a.Len(); xo += n {
		if reduceInner {
			var s float64
			for _, v := range x[xo : xo+n] {
				s += v
			}
			z[zo] += s
		} else {
			zr := z[zo : zo+n]
			for i, v := range x[xo : xo+n] {
				zr[i] += v
			}
		}
		p.advance(&idx, &zo, &unused)
	}
	return dst, nil
}

// BroadcastTo expands a to shape by NumPy's broadcasting rules.
func BroadcastTo(dst, a *Tensor, shape []int) (*Tensor, error) {
	if err := nonNil("BroadcastTo", a); err != nil {
		return nil, err
	}
	full, nd, err := broadcastShapes(a.Shape(), shape)
	if err != nil || !equalInts(full[:nd], shape) {
		return nil, fmt.Errorf("%w: BroadcastTo: %v does not broadcast to %v", ErrShape, shapeString(a.Shape()), shapeString(shape))
	}
	dst, err = prepareDst("BroadcastTo", dst, a.dt, shape)
	if err != nil {
		return nil, err
	}
	if dst.Len() == 0 {
		return dst, nil
	}
	p := makePlan(shape, a.Shape(), shape)
	n := p.dims[p.nd-1]
	bcastInner := p.sa[p.nd-1] == 0
	if a.dt == Float32 {
		broadcastRun(&p, n, bcastInner, dst.f32[:dst.Len()], a.f32)
	} else {
		broadcastRun(&p, n, bcastInner, dst.f64[:dst.Len()], a.f64)
	}
	return dst, nil
}

// broadcastRun walks the plan inline (no call per row: rows are often
// short, see shortRow).
func broadcastRun[T float](p *plan, n int, bcastInner bool, z, x []T) {
	var idx [MaxDims]int
	xo, unused := 0, 0
	for zo := 0; zo < len(z); zo += n {
		zr := z[zo : zo+n]
		if bcastInner {
			v := x[xo]
			for i := range zr {
				zr[i] = v
			}
		} else {
			copy(zr, x[xo:xo+n])
		}
		p.advance(&idx, &xo, &unused)
	}
}

// OneHot returns a [len(idx), classes] tensor with row i equal to the unit
// vector e_idx[i].
func OneHot(dt DType, idx []int, classes int) (*Tensor, error) {
	t, err := New(dt, len(idx), classes)
	if err != nil {
		return nil, err
	}
	for i, c := range idx {
		if c < 0 || c >= classes {
			return nil, fmt.Errorf("%w: OneHot: index %d at %d outside [0, %d)", ErrShape, c, i, classes)
		}
		t.SetFlat(i*classes+c, 1)
	}
	return t, nil
}

// LogSoftmax returns log(softmax(a)) along the last axis, computed as
// a - max - log(sum(exp(a - max))) so that large logits do not overflow.
func LogSoftmax(dst, a *Tensor) (*Tensor, error) {
	if err := nonNil("LogSoftmax", a); err != nil {
		return nil, err
	}
	if a.nd == 0 || a.dims[a.nd-1] == 0 {
		return nil, fmt.Errorf("%w: LogSoftmax of %v", ErrShape, shapeString(a.Shape()))
	}
	dst, err := prepareDst("LogSoftmax", dst, a.dt, a.Shape())
	if err != nil {
		return nil, err
	}
	n := a.dims[a.nd-1]
	rows := a.Len() / n
	if a.dt == Float32 {
		for r := 0; r < rows; r++ {
			x, y := a.f32[r*n:(r+1)*n], dst.f32[r*n:(r+1)*n]
			m := simd.Max(x)
			for i, v := range x {
				y[i] = v - m
			}
			// exp into y temporarily is not possible (y holds x-m), so
			// accumulate in float64 directly.
			var s float64
			for _, v := range y {
				s += math.Exp(float64(v))
			}
			ls := float32(math.Log(s))
			for i := range y {
				y[i] -= ls
			}
		}
		return dst, nil
	}
	for r := 0; r < rows; r++ {
		x, y := a.f64[r*n:(r+1)*n], dst.f64[r*n:(r+1)*n]
		m := math.Inf(-1)
		for _, v := range x {
			m = math.Max(m, v)
		}
		var s float64
		for _, v := range x {
			s += math.Exp(v - m)
		}
		ls := m + math.Log(s)
		for i, v := range x {
			y[i] = v - ls
		}
	}
	return dst, nil
}
