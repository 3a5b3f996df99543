package tensor

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/simd"
)

type float interface{ ~float32 | ~float64 }

// BroadcastShape returns the shape of the result of an elementwise
// operation on tensors of shapes a and b, by NumPy's rules: shapes are
// aligned at their last dimension and each pair of sizes must be equal or
// contain a 1.
func BroadcastShape(a, b []int) ([]int, error) {
	s, n, err := broadcastShapes(a, b)
	if err != nil {
		return nil, err
	}
	return append([]int(nil), s[:n]...), nil
}

// BroadcastDims is BroadcastShape without allocation: the result is the
// first n entries of the returned array.
func BroadcastDims(a, b []int) (dims [MaxDims]int, n int, err error) {
	return broadcastShapes(a, b)
}

func broadcastShapes(a, b []int) ([MaxDims]int, int, error) {
	var out [MaxDims]int
	n := max(len(a), len(b))
	if n > MaxDims {
		return out, 0, fmt.Errorf("%w: shapes %v and %v: %d dimensions, at most %d supported", ErrShape, shapeString(a), shapeString(b), n, MaxDims)
	}
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		if da < 0 || db < 0 {
			return out, 0, fmt.Errorf("%w: negative dimension in %v or %v", ErrShape, shapeString(a), shapeString(b))
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return out, 0, fmt.Errorf("%w: shapes %v and %v do not broadcast", ErrShape, shapeString(a), shapeString(b))
		}
	}
	return out, n, nil
}

// plan is a broadcast iteration with size-1 dimensions dropped and
// adjacent dimensions merged where both inputs allow it. Strides are in
// elements; a broadcast input has stride 0 along the broadcast dimension.
// The innermost stride of each input is 0 or 1.
type plan struct {
	nd     int
	dims   [MaxDims]int
	sa, sb [MaxDims]int
}

func inputStrides(out []int, in []int) [MaxDims]int {
	var s [MaxDims]int
	stride := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := len(in) - len(out) + i
		if j < 0 || in[j] == 1 {
			s[i] = 0
		} else {
			s[i] = stride
		}
		if j >= 0 {
			stride *= in[j]
		}
	}
	return s
}

func makePlan(out, a, b []int) plan {
	sa, sb := inputStrides(out, a), inputStrides(out, b)
	var p plan
	for i, d := range out {
		if d == 1 {
			continue
		}
		if p.nd > 0 {
			last := p.nd - 1
			// Merge with the previous dimension when, for both inputs,
			// stepping the previous dimension equals stepping this one d
			// times.
			if canMerge(p.sa[last], sa[i], d) && canMerge(p.sb[last], sb[i], d) {
				p.dims[last] *= d
				p.sa[last], p.sb[last] = sa[i], sb[i]
				continue
			}
		}
		p.dims[p.nd], p.sa[p.nd], p.sb[p.nd] = d, sa[i], sb[i]
		p.nd++
	}
	if p.nd == 0 {
		p.nd, p.dims[0] = 1, 1
	}
	return p
}

// canMerge reports whether an outer stride so and inner stride si over d
// elements describe one contiguous (or wholly broadcast) run.
func canMerge(so, si, d int) bool { return so == si*d }

// each calls row(zoff, aoff, boff, n) for every innermost row of the plan.
func (p *plan) each(row func(zoff, aoff, boff int)) {
	n := p.dims[p.nd-1]
	outer := 1
	for _, d := range p.dims[:p.nd-1] {
		outer *= d
	}
	var idx [MaxDims]int
	aoff, boff := 0, 0
	for r := 0; r < outer; r++ {
		row(r*n, aoff, boff)
		p.advance(&idx, &aoff, &boff)
	}
}

// advance moves the inputs' offsets from one innermost row to the next:
// an odometer over the outer dimensions, idx its digits.
func (p *plan) advance(idx *[MaxDims]int, aoff, boff *int) {
	for k := p.nd - 2; k >= 0; k-- {
		idx[k]++
		*aoff += p.sa[k]
		*boff += p.sb[k]
		if idx[k] < p.dims[k] {
			return
		}
		*aoff -= p.sa[k] * p.dims[k]
		*boff -= p.sb[k] * p.dims[k]
		idx[k] = 0
	}
}

// shortRow is the row length under which the broadcasting loops walk the
// plan inline rather than through a call per row: for rows of a few
// elements (the batched vector UV model's [R, n, P] products have P = 5)
// the call and the row set-up cost more than the row. The results are the
// same either way (each element is one rounded operation).
const shortRow = 16

type binOp uint8

const (
	opAdd binOp = iota
	opSub
	opMul
	opDiv
	opMax
	opMin
)

var binNames = [...]string{"Add", "Sub", "Mul", "Div", "Maximum", "Minimum"}

// Add returns a + b elementwise with broadcasting, written into dst (a new
// tensor when dst is nil; otherwise dst must have the result's shape and
// type, and may be a or b itself).
func Add(dst, a, b *Tensor) (*Tensor, error) { return binary(opAdd, dst, a, b) }

// Sub returns a - b elementwise with broadcasting (see Add).
func Sub(dst, a, b *Tensor) (*Tensor, error) { return binary(opSub, dst, a, b) }

// Mul returns a * b elementwise with broadcasting (see Add).
func Mul(dst, a, b *Tensor) (*Tensor, error) { return binary(opMul, dst, a, b) }

// Div returns a / b elementwise with broadcasting (see Add).
func Div(dst, a, b *Tensor) (*Tensor, error) { return binary(opDiv, dst, a, b) }

// Maximum returns max(a, b) elementwise with broadcasting; NaN if either is.
func Maximum(dst, a, b *Tensor) (*Tensor, error) { return binary(opMax, dst, a, b) }

// Minimum returns min(a, b) elementwise with broadcasting; NaN if either is.
func Minimum(dst, a, b *Tensor) (*Tensor, error) { return binary(opMin, dst, a, b) }

func binary(op binOp, dst, a, b *Tensor) (*Tensor, error) {
	if err := nonNil(binNames[op], a, b); err != nil {
		return nil, err
	}
	if a.dt != b.dt {
		return nil, fmt.Errorf("%w: %s of %v and %v", ErrDType, binNames[op], a.dt, b.dt)
	}
	shape, nd, err := broadcastShapes(a.Shape(), b.Shape())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", binNames[op], err)
	}
	dst, err = prepareDst(binNames[op], dst, a.dt, shape[:nd])
	if err != nil {
		return nil, err
	}
	if dst.Len() == 0 {
		return dst, nil
	}
	// A destination that aliases an input is fine when it is that input
	// exactly (same shape: every element is read before it is written);
	// a broadcast input smaller than dst is never dst.
	p := makePlan(shape[:nd], a.Shape(), b.Shape())
	if a.dt == Float32 {
		binaryRun(op, &p, dst.f32[:dst.Len()], a.f32, b.f32)
	} else {
		binaryRun(op, &p, dst.f64[:dst.Len()], a.f64, b.f64)
	}
	return dst, nil
}

func binaryRun[T float](op binOp, p *plan, z, x, y []T) {
	n := p.dims[p.nd-1]
	sx, sy := p.sa[p.nd-1], p.sb[p.nd-1]
	if n < shortRow {
		binaryShort(op, p, z, x, y)
		return
	}
	p.each(func(zo, xo, yo int) {
		zr := z[zo : zo+n]
		xr := x[xo : xo+max(1, sx*n)]
		yr := y[yo : yo+max(1, sy*n)]
		binaryRow(op, zr, xr, sx, yr, sy)
	})
}

// binaryShort is binaryRun for rows shorter than shortRow: the loop over
// rows inline, the case of the inner strides chosen once.
func binaryShort[T float](op binOp, p *plan, z, x, y []T) {
	n := p.dims[p.nd-1]
	sx, sy := p.sa[p.nd-1], p.sb[p.nd-1]
	var idx [MaxDims]int
	xo, yo := 0, 0
	switch {
	case op == opMul && sx == 1 && sy == 0:
		for zo := 0; zo < len(z); zo += n {
			zr, xr, c := z[zo:zo+n], x[xo:xo+n], y[yo]
			for i := range zr {
				zr[i] = xr[i] * c
			}
			p.advance(&idx, &xo, &yo)
		}
	case op == opMul && sx == 0 && sy == 1:
		for zo := 0; zo < len(z); zo += n {
			zr, c, yr := z[zo:zo+n], x[xo], y[yo:yo+n]
			for i := range zr {
				zr[i] = c * yr[i]
			}
			p.advance(&idx, &xo, &yo)
		}
	case op == opMul && sx == 1 && sy == 1:
		for zo := 0; zo < len(z); zo += n {
			zr, xr, yr := z[zo:zo+n], x[xo:xo+n], y[yo:yo+n]
			for i := range zr {
				zr[i] = xr[i] * yr[i]
			}
			p.advance(&idx, &xo, &yo)
		}
	default:
		for zo := 0; zo < len(z); zo += n {
			zr := z[zo : zo+n]
			for i := range zr {
				zr[i] = apply(op, x[xo+i*sx], y[yo+i*sy])
			}
			p.advance(&idx, &xo, &yo)
		}
	}
}

// binaryRow applies op to one row; an input with stride 0 is a scalar.
func binaryRow[T float](op binOp, z, x []T, sx int, y []T, sy int) {
	if sx == 1 && sy == 1 {
		if z32, ok := any(z).([]float32); ok && op <= opMul {
			x32, y32 := any(x).([]float32), any(y).([]float32)
			switch op {
			case opAdd:
				simd.Add(z32, x32, y32)
			case opSub:
				simd.Sub(z32, x32, y32)
			case opMul:
				simd.Mul(z32, x32, y32)
			}
			return
		}
		x, y = x[:len(z)], y[:len(z)]
		for i := range z {
			z[i] = apply(op, x[i], y[i])
		}
		return
	}
	switch {
	case sx == 1:
		c := y[0]
		x = x[:len(z)]
		switch op {
		case opAdd:
			for i := range z {
				z[i] = x[i] + c
			}
		case opMul:
			for i := range z {
				z[i] = x[i] * c
			}
		default:
			for i := range z {
				z[i] = apply(op, x[i], c)
			}
		}
	case sy == 1:
		c := x[0]
		y = y[:len(z)]
		for i := range z {
			z[i] = apply(op, c, y[i])
		}
	default:
		v := apply(op, x[0], y[0])
		for i := range z {
			z[i] = v
		}
	}
}

func apply[T float](op binOp, a, b T) T {
	switch op {
	case opAdd:
		return a + b
	case opSub:
		return a - b
	case opMul:
		return a * b
	case opDiv:
		return a / b
	case opMax:
		if a != a || b != b {
			return T(math.NaN())
		}
		return max(a, b)
	default:
		if a != a || b != b {
			return T(math.NaN())
		}
		return min(a, b)
	}
}

// unary applies f elementwise into dst (new when nil).
func unary(name string, dst, a *Tensor, f32 func(z, x []float32), f64 func(z, x []float64)) (*Tensor, error) {
	if err := nonNil(name, a); err != nil {
		return nil, err
	}
	dst, err := prepareDst(name, dst, a.dt, a.Shape())
	if err != nil {
		return nil, err
	}
	if a.dt == Float32 {
		f32(dst.f32, a.f32)
	} else {
		f64(dst.f64, a.f64)
	}
	return dst, nil
}

func mapf[T float](f func(T) T) func(z, x []T) {
	return func(z, x []T) {
		x = x[:len(z)]
		for i, v := range x {
			z[i] = f(v)
		}
	}
}

func via64(f func(float64) float64) func(z, x []float32) {
	return func(z, x []float32) {
		x = x[:len(z)]
		for i, v := range x {
			z[i] = float32(f(float64(v)))
		}
	}
}

// Neg returns -a.
func Neg(dst, a *Tensor) (*Tensor, error) {
	return unary("Neg", dst, a, mapf(func(v float32) float32 { return -v }), mapf(func(v float64) float64 { return -v }))
}

// Exp returns e^a (float32 through the SIMD kernel, 1 ulp).
func Exp(dst, a *Tensor) (*Tensor, error) {
	return unary("Exp", dst, a, func(z, x []float32) { each1(simd.Exp, z, x) }, mapf(math.Exp))
}

// Log returns the natural logarithm of a.
func Log(dst, a *Tensor) (*Tensor, error) {
	return unary("Log", dst, a, via64(math.Log), mapf(math.Log))
}

// Sqrt returns the square root of a.
func Sqrt(dst, a *Tensor) (*Tensor, error) {
	return unary("Sqrt", dst, a, mapf(func(v float32) float32 { return float32(math.Sqrt(float64(v))) }), mapf(math.Sqrt))
}

// Square returns a*a.
func Square(dst, a *Tensor) (*Tensor, error) {
	return unary("Square", dst, a, func(z, x []float32) { simd.Mul(z, x, x) }, mapf(func(v float64) float64 { return v * v }))
}

// Abs returns |a|.
func Abs(dst, a *Tensor) (*Tensor, error) {
	return unary("Abs", dst, a, mapf(func(v float32) float32 { return float32(math.Abs(float64(v))) }), mapf(math.Abs))
}

// Tanh returns tanh(a) (float32: simd.Tanh, within 1 ulp of the correctly
// rounded result).
func Tanh(dst, a *Tensor) (*Tensor, error) {
	return unary("Tanh", dst, a, func(z, x []float32) { each1(simd.Tanh, z, x) }, mapf(math.Tanh))
}

// Sigmoid returns 1/(1+e^-a) (float32: simd.Sigmoid, within 2 ulp).
func Sigmoid(dst, a *Tensor) (*Tensor, error) {
	return unary("Sigmoid", dst, a, func(z, x []float32) { each1(simd.Sigmoid, z, x) }, mapf(sigmoid64))
}

// TanhBackward returns g*(1-y^2), the gradient through y = tanh(x) from
// the output y, in one pass (as g*((1-y)*(1+y)), accurate as |y| nears
// 1). g and y must have the same shape and type; dst may be g or y.
func TanhBackward(dst, g, y *Tensor) (*Tensor, error) {
	return activationBackward("TanhBackward", dst, g, y, simd.TanhBackward, func(g, y float64) float64 { return g * ((1 - y) * (1 + y)) })
}

// SigmoidBackward returns g*y*(1-y), the gradient through y = sigmoid(x)
// from the output y, in one pass. g and y must have the same shape and
// type; dst may be g or y.
func SigmoidBackward(dst, g, y *Tensor) (*Tensor, error) {
	return activationBackward("SigmoidBackward", dst, g, y, simd.SigmoidBackward, func(g, y float64) float64 { return g * (y * (1 - y)) })
}

func activationBackward(name string, dst, g, y *Tensor, f32 func(z, g, y []float32), f64 func(g, y float64) float64) (*Tensor, error) {
	if err := sameTypeShape(name, g, y); err != nil {
		return nil, err
	}
	dst, err := prepareDst(name, dst, g.dt, g.Shape())
	if err != nil {
		return nil, err
	}
	if g.dt == Float32 {
		each2(f32, dst.f32, g.f32, y.f32)
		return dst, nil
	}
	for i, v := range y.f64 {
		dst.f64[i] = f64(g.f64[i], v)
	}
	return dst, nil
}

func sigmoid64(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}

// ReLU returns max(a, 0) (NaN stays NaN; see simd.ReLU).
func ReLU(dst, a *Tensor) (*Tensor, error) {
	return unary("ReLU", dst, a, func(z, x []float32) { each1(simd.ReLU, z, x) }, mapf(func(v float64) float64 {
		if v < 0 {
			return 0
		}
		return v
	}))
}

// ReLUMask returns g where x > 0 and 0 elsewhere: the backward of ReLU.
// g and x must have the same shape and type.
func ReLUMask(dst, g, x *Tensor) (*Tensor, error) {
	if err := sameTypeShape("ReLUMask", g, x); err != nil {
		return nil, err
	}
	dst, err := prepareDst("ReLUMask", dst, g.dt, g.Shape())
	if err != nil {
		return nil, err
	}
	if g.dt == Float32 {
		each2(simd.ReLUBackward, dst.f32, g.f32, x.f32)
		return dst, nil
	}
	for i, v := range x.f64 {
		if v > 0 {
			dst.f64[i] = g.f64[i]
		} else {
			dst.f64[i] = 0
		}
	}
	return dst, nil
}

// Scale returns s*a.
func Scale(dst, a *Tensor, s float64) (*Tensor, error) {
	f := float32(s)
	return unary("Scale", dst, a, func(z, x []float32) {
		copy(z, x) // a no-op when z is x
		simd.Scale(f, z)
	}, mapf(func(v float64) float64 { return s * v }))
}

// AddScalar returns a + s.
func AddScalar(dst, a *Tensor, s float64) (*Tensor, error) {
	f := float32(s)
	return unary("AddScalar", dst, a, mapf(func(v float32) float32 { return v + f }), mapf(func(v float64) float64 { return v + s }))
}

// PowScalar returns a^p elementwise (math.Pow semantics).
func PowScalar(dst, a *Tensor, p float64) (*Tensor, error) {
	return unary("PowScalar", dst, a, via64(func(v float64) float64 { return math.Pow(v, p) }), mapf(func(v float64) float64 { return math.Pow(v, p) }))
}

// Axpy computes y += alpha*x in place; x and y must have the same shape
// and type.
func Axpy(alpha float64, x, y *Tensor) error {
	if err := sameTypeShape("Axpy", x, y); err != nil {
		return err
	}
	if x.dt == Float32 {
		simd.Axpy(float32(alpha), x.f32, y.f32)
		return nil
	}
	for i, v := range x.f64 {
		y.f64[i] += alpha * v
	}
	return nil
}
