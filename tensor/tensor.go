package tensor

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"
)

// DType is the element type of a tensor.
type DType uint8

// The element types.
const (
	Float32 DType = iota // the SIMD fast path
	Float64              // for precision-sensitive work and gradient checks
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	}
	return fmt.Sprintf("DType(%d)", int(d))
}

// MaxDims is the largest number of dimensions a tensor may have.
const MaxDims = 8

// maxElems bounds the elements of one tensor (4 TiB of float32) so that
// size arithmetic cannot overflow.
const maxElems = 1 << 40

// ErrShape is wrapped by every error about incompatible or invalid shapes.
var ErrShape = errors.New("tensor: shape error")

// ErrDType is wrapped by every error about mismatched element types.
var ErrDType = errors.New("tensor: dtype error")

// Tensor is a dense, row-major (C-order), contiguous array of float32 or
// float64 values with a shape of at most MaxDims dimensions. A tensor of no
// dimensions is a scalar holding one value.
//
// Views made by Reshape and Rows share storage with their source; every
// other operation writes into a destination tensor (allocated when the
// caller passes nil). Tensors are not safe for concurrent mutation.
type Tensor struct {
	dims [MaxDims]int
	nd   int
	dt   DType
	f32  []float32
	f64  []float64
	slot int // 1 + index in the handing-out Pool's list, 0 when none
}

func shapeString(s []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, d)
	}
	b.WriteByte(']')
	return b.String()
}

// checkShape validates a shape and returns its number of elements, which
// must be at most maxElems (a zero dimension anywhere makes it 0).
func checkShape(shape []int) (int, error) { return checkShapeOf("", shape) }

// checkShapeOf is checkShape naming what the shape is of ("float32 ",
// with the space, or ""). It must not allocate unless it fails: Pool.Get
// calls it in every training step.
func checkShapeOf(what string, shape []int) (int, error) {
	if len(shape) > MaxDims {
		return 0, fmt.Errorf("%w: %s%v: %d dimensions, at most %d supported", ErrShape, what, shapeString(shape), len(shape), MaxDims)
	}
	n, over := uint64(1), false
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: %snegative dimension in %v", ErrShape, what, shapeString(shape))
		}
		hi, lo := bits.Mul64(n, uint64(d))
		over = over || hi != 0
		n = lo
	}
	switch {
	case n == 0 && slices.Contains(shape, 0):
		return 0, nil
	case over:
		return 0, fmt.Errorf("%w: %s%v: more elements than an int holds", ErrShape, what, shapeString(shape))
	case n > maxElems:
		return 0, fmt.Errorf("%w: %s%v: %d elements, more than %d, the limit for one tensor", ErrShape, what, shapeString(shape), n, maxElems)
	}
	return int(n), nil
}

// elemSize returns the bytes of one element, 0 for an unknown dtype.
func elemSize(dt DType) int64 {
	switch dt {
	case Float32:
		return 4
	case Float64:
		return 8
	}
	return 0
}

// allocLimit returns the most bytes one allocation may ask for: the
// machine's memory (see systemMemory). A larger request can never succeed,
// and Go's runtime answers it with a fatal error that no caller can
// recover from, so New refuses it with an error instead. Tests replace it.
var allocLimit = sync.OnceValue(systemMemory)

// CheckSize returns an error unless elems elements of type dt could be
// allocated: the dtype must be known, the count at most the limit for one
// tensor and its bytes no more than the machine's memory. New and
// Pool.Get check this for every tensor; a constructor that makes many
// tensors calls it with their total first, so that a model too large to
// fit fails before it allocates its first layer.
func CheckSize(dt DType, elems int) error {
	size := elemSize(dt)
	switch {
	case size == 0:
		return fmt.Errorf("%w: unknown dtype %v", ErrDType, dt)
	case elems < 0:
		return fmt.Errorf("%w: negative element count %d", ErrShape, elems)
	case elems > maxElems:
		return fmt.Errorf("%w: %d %v elements, more than %d, the limit for one tensor", ErrShape, elems, dt, maxElems)
	}
	if need, limit := int64(elems)*size, allocLimit(); need > limit {
		return fmt.Errorf("%w: %d %v elements need %s, more than the %s of memory this machine has", ErrShape, elems, dt, byteString(need), byteString(limit))
	}
	return nil
}

// checkAlloc is CheckSize for a tensor of the given shape, naming it.
func checkAlloc(dt DType, shape []int) (int, error) {
	size := elemSize(dt)
	if size == 0 {
		return 0, fmt.Errorf("%w: unknown dtype %v", ErrDType, dt)
	}
	what := "float32 "
	if dt == Float64 {
		what = "float64 "
	}
	n, err := checkShapeOf(what, shape)
	if err != nil {
		return 0, err
	}
	if need, limit := int64(n)*size, allocLimit(); need > limit {
		return 0, fmt.Errorf("%w: a %v tensor of shape %v needs %s, more than the %s of memory this machine has", ErrShape, dt, shapeString(shape), byteString(need), byteString(limit))
	}
	return n, nil
}

// byteString formats a byte count in binary units (4.0 GiB).
func byteString(b int64) string {
	const units = "KMGTPE"
	if b < 1024 {
		return fmt.Sprintf("%d B", b)
	}
	v, i := float64(b)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}

func (t *Tensor) setShape(shape []int) {
	t.nd = copy(t.dims[:], shape)
	clear(t.dims[t.nd:])
}

// New returns a zero-filled tensor of the given type and shape. A shape
// too large for the machine's memory is an error (see CheckSize).
func New(dt DType, shape ...int) (*Tensor, error) {
	n, err := checkAlloc(dt, shape)
	if err != nil {
		return nil, err
	}
	t := &Tensor{dt: dt}
	t.setShape(shape)
	if dt == Float32 {
		t.f32 = make([]float32, n)
	} else {
		t.f64 = make([]float64, n)
	}
	return t, nil
}

// Must returns t, panicking if err is not nil. It is for shapes known to
// be valid (literals in tests and examples), never for user input.
func Must(t *Tensor, err error) *Tensor {
	if err != nil {
		panic(err)
	}
	return t
}

// FromFloat32 wraps data (without copying) in a tensor of the given shape.
func FromFloat32(data []float32, shape ...int) (*Tensor, error) {
	n, err := checkShape(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("%w: %d values do not fill shape %v (%d elements)", ErrShape, len(data), shapeString(shape), n)
	}
	t := &Tensor{dt: Float32, f32: data}
	t.setShape(shape)
	return t, nil
}

// FromFloat64 wraps data (without copying) in a tensor of the given shape.
func FromFloat64(data []float64, shape ...int) (*Tensor, error) {
	n, err := checkShape(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("%w: %d values do not fill shape %v (%d elements)", ErrShape, len(data), shapeString(shape), n)
	}
	t := &Tensor{dt: Float64, f64: data}
	t.setShape(shape)
	return t, nil
}

// Scalar returns a 0-dimensional tensor holding v; the dtype may come
// from input, so an unknown one is an error.
func Scalar(dt DType, v float64) (*Tensor, error) {
	t, err := New(dt)
	if err != nil {
		return nil, err
	}
	t.SetFlat(0, v)
	return t, nil
}

// Full returns a tensor of the given shape with every element v.
func Full(dt DType, v float64, shape ...int) (*Tensor, error) {
	t, err := New(dt, shape...)
	if err != nil {
		return nil, err
	}
	t.Fill(v)
	return t, nil
}

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dt }

// Shape returns the dimensions. The slice is the tensor's own: do not
// modify it.
func (t *Tensor) Shape() []int { return t.dims[:t.nd:t.nd] }

// Dims returns the number of dimensions.
func (t *Tensor) Dims() int { return t.nd }

// Dim returns the size of dimension i; negative i counts from the end. An
// i outside the tensor's dimensions panics, as a slice index would, with a
// message naming the shape.
func (t *Tensor) Dim(i int) int {
	j := i
	if j < 0 {
		j += t.nd
	}
	if j < 0 || j >= t.nd {
		panic(fmt.Sprintf("tensor: Dim(%d) of shape %v", i, shapeString(t.Shape())))
	}
	return t.dims[j]
}

// Len returns the number of elements.
func (t *Tensor) Len() int {
	if t.dt == Float32 {
		return len(t.f32)
	}
	return len(t.f64)
}

// Float32s returns the underlying float32 storage (nil for a float64
// tensor). Writes through it change the tensor.
func (t *Tensor) Float32s() []float32 { return t.f32 }

// Float64s returns the underlying float64 storage (nil for a float32
// tensor).
func (t *Tensor) Float64s() []float64 { return t.f64 }

// SameShape reports whether t and u have the same shape.
func (t *Tensor) SameShape(u *Tensor) bool {
	return t.nd == u.nd && t.dims == u.dims // dims beyond nd are kept zero
}

// Flat returns element i of the flattened tensor as a float64.
func (t *Tensor) Flat(i int) float64 {
	if t.dt == Float32 {
		return float64(t.f32[i])
	}
	return t.f64[i]
}

// SetFlat sets element i of the flattened tensor.
func (t *Tensor) SetFlat(i int, v float64) {
	if t.dt == Float32 {
		t.f32[i] = float32(v)
	} else {
		t.f64[i] = v
	}
}

// offset returns the flat index of idx, or an error.
func (t *Tensor) offset(idx []int) (int, error) {
	if len(idx) != t.nd {
		return 0, fmt.Errorf("%w: %d indices for shape %v", ErrShape, len(idx), shapeString(t.Shape()))
	}
	off := 0
	for i, v := range idx {
		if v < 0 || v >= t.dims[i] {
			return 0, fmt.Errorf("%w: index %v out of range for shape %v", ErrShape, idx, shapeString(t.Shape()))
		}
		off = off*t.dims[i] + v
	}
	return off, nil
}

// At returns the element at idx (one index per dimension).
func (t *Tensor) At(idx ...int) (float64, error) {
	off, err := t.offset(idx)
	if err != nil {
		return 0, err
	}
	return t.Flat(off), nil
}

// Set sets the element at idx.
func (t *Tensor) Set(v float64, idx ...int) error {
	off, err := t.offset(idx)
	if err != nil {
		return err
	}
	t.SetFlat(off, v)
	return nil
}

// Item returns the single value of a tensor with one element.
func (t *Tensor) Item() (float64, error) {
	if t.Len() != 1 {
		return 0, fmt.Errorf("%w: Item of a tensor of shape %v", ErrShape, shapeString(t.Shape()))
	}
	return t.Flat(0), nil
}

// Fill sets every element to v.
func (t *Tensor) Fill(v float64) {
	if t.dt == Float32 {
		f := float32(v)
		for i := range t.f32 {
			t.f32[i] = f
		}
		return
	}
	for i := range t.f64 {
		t.f64[i] = v
	}
}

// Zero sets every element to 0.
func (t *Tensor) Zero() {
	clear(t.f32)
	clear(t.f64)
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{dims: t.dims, nd: t.nd, dt: t.dt}
	if t.f32 != nil {
		c.f32 = append([]float32(nil), t.f32...)
	}
	if t.f64 != nil {
		c.f64 = append([]float64(nil), t.f64...)
	}
	if c.f32 == nil && t.dt == Float32 {
		c.f32 = []float32{}
	}
	if c.f64 == nil && t.dt == Float64 {
		c.f64 = []float64{}
	}
	return c
}

// CopyFrom copies src's values into t; the shapes must match. Converting
// between float32 and float64 is allowed.
func (t *Tensor) CopyFrom(src *Tensor) error {
	if src == nil {
		return fmt.Errorf("%w: CopyFrom a nil tensor into %v", ErrShape, shapeString(t.Shape()))
	}
	if !t.SameShape(src) {
		return fmt.Errorf("%w: CopyFrom %v into %v", ErrShape, shapeString(src.Shape()), shapeString(t.Shape()))
	}
	switch {
	case t.dt == src.dt && t.dt == Float32:
		copy(t.f32, src.f32)
	case t.dt == src.dt:
		copy(t.f64, src.f64)
	case t.dt == Float32:
		for i, v := range src.f64 {
			t.f32[i] = float32(v)
		}
	default:
		for i, v := range src.f32 {
			t.f64[i] = float64(v)
		}
	}
	return nil
}

// As returns a copy of t converted to dtype dt (t itself if it already
// has that type). The dtype may come from input, so an unknown one, like a
// copy too large for memory, is an error (wrapping ErrDType or ErrShape);
// wrap a conversion to a constant dtype in Must.
func (t *Tensor) As(dt DType) (*Tensor, error) {
	if t.dt == dt {
		return t, nil
	}
	c, err := New(dt, t.Shape()...)
	if err != nil {
		return nil, err
	}
	if err := c.CopyFrom(t); err != nil {
		return nil, err // same shape by construction
	}
	return c, nil
}

// Reshape returns a view of t with a new shape of the same number of
// elements. One dimension may be -1, meaning whatever makes the count
// match.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	v := &Tensor{}
	if err := v.viewOf(t, shape); err != nil {
		return nil, err
	}
	return v, nil
}

// viewOf makes v a view of src with the given shape (see Reshape).
func (v *Tensor) viewOf(src *Tensor, shape []int) error {
	if len(shape) > MaxDims {
		return fmt.Errorf("%w: reshape to %d dimensions", ErrShape, len(shape))
	}
	if src == nil {
		return fmt.Errorf("%w: reshape of a nil tensor", ErrShape)
	}
	var s [MaxDims]int
	copy(s[:], shape)
	infer := -1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
			s[i] = 1
		case d < 0:
			return fmt.Errorf("%w: cannot reshape %v to %v", ErrShape, shapeString(src.Shape()), shapeString(shape))
		}
	}
	// The product is checked for overflow: a wrapped-around count could
	// match the source's length and give a view far larger than its
	// storage.
	n, err := checkShape(s[:len(shape)])
	if err != nil {
		return fmt.Errorf("cannot reshape %v to %v: %w", shapeString(src.Shape()), shapeString(shape), err)
	}
	if infer >= 0 {
		if n == 0 || src.Len()%n != 0 {
			return fmt.Errorf("%w: cannot reshape %v to %v", ErrShape, shapeString(src.Shape()), shapeString(shape))
		}
		s[infer] = src.Len() / n
		n = src.Len()
	}
	if n != src.Len() {
		return fmt.Errorf("%w: cannot reshape %v (%d elements) to %v", ErrShape, shapeString(src.Shape()), src.Len(), shapeString(shape))
	}
	*v = Tensor{dims: s, nd: len(shape), dt: src.dt, f32: src.f32, f64: src.f64}
	return nil
}

// Rows returns a view of the slice [i:j) along the first dimension.
func (t *Tensor) Rows(i, j int) (*Tensor, error) {
	if t.nd == 0 {
		return nil, fmt.Errorf("%w: Rows of a scalar", ErrShape)
	}
	if i < 0 || j < i || j > t.dims[0] {
		return nil, fmt.Errorf("%w: rows [%d:%d) of shape %v", ErrShape, i, j, shapeString(t.Shape()))
	}
	inner := 1
	for _, d := range t.dims[1:t.nd] {
		inner *= d
	}
	v := &Tensor{dims: t.dims, nd: t.nd, dt: t.dt}
	v.dims[0] = j - i
	if t.dt == Float32 {
		v.f32 = t.f32[i*inner : j*inner : j*inner]
	} else {
		v.f64 = t.f64[i*inner : j*inner : j*inner]
	}
	return v, nil
}

// String formats small tensors in full and large ones by shape.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tensor.%v%v", t.dt, shapeString(t.Shape()))
	if t.Len() <= 64 {
		b.WriteString("{")
		for i := 0; i < t.Len(); i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%.6g", t.Flat(i))
		}
		b.WriteString("}")
	}
	return b.String()
}

// nonNil returns an error naming op if any of ts is nil: a nil tensor
// argument is bad input, not a receiver, so it gets an error like any
// other.
func nonNil(op string, ts ...*Tensor) error {
	for i, t := range ts {
		if t == nil {
			return fmt.Errorf("%w: %s: tensor argument %d is nil", ErrShape, op, i+1)
		}
	}
	return nil
}

// sameTypeShape checks that a and b have the same dtype and shape.
func sameTypeShape(op string, a, b *Tensor) error {
	if err := nonNil(op, a, b); err != nil {
		return err
	}
	if a.dt != b.dt {
		return fmt.Errorf("%w: %s of %v and %v", ErrDType, op, a.dt, b.dt)
	}
	if !a.SameShape(b) {
		return fmt.Errorf("%w: %s of shapes %v and %v", ErrShape, op, shapeString(a.Shape()), shapeString(b.Shape()))
	}
	return nil
}

// prepareDst returns dst if it already has the given type and shape, a new
// tensor if dst is nil, and an error otherwise.
func prepareDst(op string, dst *Tensor, dt DType, shape []int) (*Tensor, error) {
	if dst == nil {
		return New(dt, shape...)
	}
	if dst.dt != dt {
		return nil, fmt.Errorf("%w: %s: destination is %v, result is %v", ErrDType, op, dst.dt, dt)
	}
	if dst.nd != len(shape) || !equalInts(dst.Shape(), shape) {
		return nil, fmt.Errorf("%w: %s: destination has shape %v, result has shape %v", ErrShape, op, shapeString(dst.Shape()), shapeString(shape))
	}
	return dst, nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
