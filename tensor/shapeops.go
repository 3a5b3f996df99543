package tensor

import "fmt"

// Permute returns a copy of a with its dimensions reordered: dimension i of
// the result is dimension axes[i] of a.
func Permute(dst, a *Tensor, axes ...int) (*Tensor, error) {
	if err := nonNil("Permute", a); err != nil {
		return nil, err
	}
	if len(axes) != a.nd {
		return nil, fmt.Errorf("%w: Permute of %v needs %d axes, got %v", ErrShape, shapeString(a.Shape()), a.nd, axes)
	}
	var seen [MaxDims]bool
	var shape [MaxDims]int
	for i, ax := range axes {
		if ax < 0 || ax >= a.nd || seen[ax] {
			return nil, fmt.Errorf("%w: Permute axes %v are not a permutation of %d dimensions", ErrShape, axes, a.nd)
		}
		seen[ax] = true
		shape[i] = a.dims[ax]
	}
	dst, err := prepareDst("Permute", dst, a.dt, shape[:a.nd])
	if err != nil {
		return nil, err
	}
	if dst == a && a.Len() > 1 {
		return nil, fmt.Errorf("%w: Permute cannot write in place", ErrShape)
	}
	// Source strides in the order of the result's dimensions.
	var src [MaxDims]int
	stride := 1
	var st [MaxDims]int
	for i := a.nd - 1; i >= 0; i-- {
		st[i] = stride
		stride *= a.dims[i]
	}
	for i, ax := range axes {
		src[i] = st[ax]
	}
	if a.dt == Float32 {
		permuteRun(dst.f32, a.f32, shape[:a.nd], src[:a.nd])
	} else {
		permuteRun(dst.f64, a.f64, shape[:a.nd], src[:a.nd])
	}
	return dst, nil
}

func permuteRun[T float](z, x []T, shape, src []int) {
	if len(z) == 0 {
		return
	}
	nd := len(shape)
	if nd == 0 {
		z[0] = x[0]
		return
	}
	var idx [MaxDims]int
	n := shape[nd-1]
	s := src[nd-1]
	off := 0
	for zo := 0; zo < len(z); zo += n {
		row := z[zo : zo+n]
		for j := range row {
			row[j] = x[off+j*s]
		}
		for k := nd - 2; k >= 0; k-- {
			idx[k]++
			off += src[k]
			if idx[k] < shape[k] {
				break
			}
			off -= src[k] * shape[k]
			idx[k] = 0
		}
	}
}

// Transpose returns the transpose of a 2-D tensor.
func Transpose(dst, a *Tensor) (*Tensor, error) {
	if err := nonNil("Transpose", a); err != nil {
		return nil, err
	}
	if a.nd != 2 {
		return nil, fmt.Errorf("%w: Transpose of %v: want 2 dimensions", ErrShape, shapeString(a.Shape()))
	}
	return Permute(dst, a, 1, 0)
}

// Concat joins tensors along the first dimension; the other dimensions and
// the types must agree.
func Concat(dst *Tensor, ts ...*Tensor) (*Tensor, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w: Concat of nothing", ErrShape)
	}
	if err := nonNil("Concat", ts...); err != nil {
		return nil, err
	}
	first := ts[0]
	if first.nd == 0 {
		return nil, fmt.Errorf("%w: Concat of scalars", ErrShape)
	}
	rows := 0
	for i, t := range ts {
		if t.dt != first.dt {
			return nil, fmt.Errorf("%w: Concat of %v and %v", ErrDType, first.dt, t.dt)
		}
		if t.nd != first.nd || !equalInts(t.dims[1:t.nd], first.dims[1:first.nd]) {
			return nil, fmt.Errorf("%w: Concat: tensor %d has shape %v, tensor 0 has %v", ErrShape, i, shapeString(t.Shape()), shapeString(first.Shape()))
		}
		rows += t.dims[0]
	}
	shape := append([]int{rows}, first.dims[1:first.nd]...)
	dst, err := prepareDst("Concat", dst, first.dt, shape)
	if err != nil {
		return nil, err
	}
	off := 0
	for _, t := range ts {
		if t.dt == Float32 {
			off += copy(dst.f32[off:], t.f32)
		} else {
			off += copy(dst.f64[off:], t.f64)
		}
	}
	return dst, nil
}

// Split cuts a along the first dimension into views of the given numbers
// of rows, which must add up to the first dimension.
func Split(a *Tensor, rows ...int) ([]*Tensor, error) {
	if err := nonNil("Split", a); err != nil {
		return nil, err
	}
	if a.nd == 0 {
		return nil, fmt.Errorf("%w: Split of a scalar", ErrShape)
	}
	total := 0
	for _, r := range rows {
		if r < 0 {
			return nil, fmt.Errorf("%w: Split into negative rows %v", ErrShape, rows)
		}
		total += r
	}
	if total != a.dims[0] {
		return nil, fmt.Errorf("%w: Split of %v into rows %v (sum %d)", ErrShape, shapeString(a.Shape()), rows, total)
	}
	out := make([]*Tensor, len(rows))
	at := 0
	for i, r := range rows {
		v, err := a.Rows(at, at+r)
		if err != nil {
			return nil, err
		}
		out[i] = v
		at += r
	}
	return out, nil
}
