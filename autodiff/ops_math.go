package autodiff

import (
	"fmt"

	"github.com/flatfast/flatfast/tensor"
)

// Each operation is a Graph method: it checks its inputs, computes the
// result into a tensor from the graph's pool, and (when recording and some
// input requires a gradient) records itself with a backward rule written in
// terms of other Graph operations.

// unary computes f(a) into a pool tensor of a's shape.
func (g *Graph) unary(o op, a *Value, f func(dst, a *tensor.Tensor) (*tensor.Tensor, error)) *Value {
	if err := g.check(o.name(), a); err != nil {
		return g.fail(err)
	}
	dst, err := g.alloc(a.t.DType(), a.Shape())
	if err != nil {
		return g.wrap(o.name(), err)
	}
	if _, err := f(dst, a.t); err != nil {
		return g.wrap(o.name(), err)
	}
	return g.result(o, dst, a)
}

// binary computes f(a, b) with broadcasting into a pool tensor.
func (g *Graph) binary(o op, a, b *Value, f func(dst, a, b *tensor.Tensor) (*tensor.Tensor, error)) *Value {
	if err := g.check(o.name(), a, b); err != nil {
		return g.fail(err)
	}
	dt, err := dtypeOf(o.name(), a, b)
	if err != nil {
		return g.fail(err)
	}
	dims, n, err := tensor.BroadcastDims(a.Shape(), b.Shape())
	if err != nil {
		return g.wrap(o.name(), err)
	}
	dst, err := g.alloc(dt, dims[:n])
	if err != nil {
		return g.wrap(o.name(), err)
	}
	if _, err := f(dst, a.t, b.t); err != nil {
		return g.wrap(o.name(), err)
	}
	return g.result(o, dst, a, b)
}

type addOp struct{}
type subOp struct{}
type mulOp struct{}
type divOp struct{}

func (addOp) name() string { return "Add" }
func (subOp) name() string { return "Sub" }
func (mulOp) name() string { return "Mul" }
func (divOp) name() string { return "Div" }

// Add returns a + b with NumPy broadcasting.
func (g *Graph) Add(a, b *Value) *Value { return g.binary(addOp{}, a, b, tensor.Add) }

// Sub returns a - b with NumPy broadcasting.
func (g *Graph) Sub(a, b *Value) *Value { return g.binary(subOp{}, a, b, tensor.Sub) }

// Mul returns a * b elementwise with NumPy broadcasting.
func (g *Graph) Mul(a, b *Value) *Value { return g.binary(mulOp{}, a, b, tensor.Mul) }

// Div returns a / b elementwise with NumPy broadcasting.
func (g *Graph) Div(a, b *Value) *Value { return g.binary(divOp{}, a, b, tensor.Div) }

// reduceTo sums a gradient down to the shape of the input it flows to
// (undoing broadcasting); it is gy itself when the shapes agree.
func (g *Graph) reduceTo(gy, x *Value) *Value {
	if gy.t.SameShape(x.t) {
		return gy
	}
	return g.SumTo(gy, x.Shape()...)
}

func (addOp) backward(g *Graph, out, gy *Value) {
	a, b := out.in[0], out.in[1]
	g.accum(a, g.reduceTo(gy, a))
	g.accum(b, g.reduceTo(gy, b))
}

func (subOp) backward(g *Graph, out, gy *Value) {
	a, b := out.in[0], out.in[1]
	g.accum(a, g.reduceTo(gy, a))
	if b.requires {
		g.accum(b, g.Neg(g.reduceTo(gy, b)))
	}
}

func (mulOp) backward(g *Graph, out, gy *Value) {
	a, b := out.in[0], out.in[1]
	if a.requires {
		g.accum(a, g.reduceTo(g.Mul(gy, b), a))
	}
	if b.requires {
		g.accum(b, g.reduceTo(g.Mul(gy, a), b))
	}
}

func (divOp) backward(g *Graph, out, gy *Value) {
	a, b := out.in[0], out.in[1]
	if a.requires {
		g.accum(a, g.reduceTo(g.Div(gy, b), a))
	}
	if b.requires {
		// d(a/b)/db = -a/b^2 = -out/b
		g.accum(b, g.reduceTo(g.Neg(g.Div(g.Mul(gy, out), b)), b))
	}
}

type negOp struct{}

func (negOp) name() string { return "Neg" }

// Neg returns -a.
func (g *Graph) Neg(a *Value) *Value { return g.unary(negOp{}, a, tensor.Neg) }

func (negOp) backward(g *Graph, out, gy *Value) { g.accum(out.in[0], g.Neg(gy)) }

type scaleOp struct{}

func (scaleOp) name() string { return "Scale" }

// Scale returns s*a.
func (g *Graph) Scale(a *Value, s float64) *Value {
	v := g.unary(scaleOp{}, a, func(dst, a *tensor.Tensor) (*tensor.Tensor, error) { return tensor.Scale(dst, a, s) })
	v.farg = s
	return v
}

func (scaleOp) backward(g *Graph, out, gy *Value) { g.accum(out.in[0], g.Scale(gy, out.farg)) }

type addScalarOp struct{}

func (addScalarOp) name() string { return "AddScalar" }

// AddScalar returns a + s.
func (g *Graph) AddScalar(a *Value, s float64) *Value {
	return g.unary(addScalarOp{}, a, func(dst, a *tensor.Tensor) (*tensor.Tensor, error) { return tensor.AddScalar(dst, a, s) })
}

func (addScalarOp) backward(g *Graph, out, gy *Value) { g.accum(out.in[0], gy) }

type powOp struct{}

func (powOp) name() string { return "PowScalar" }

// PowScalar returns a^p elementwise.
func (g *Graph) PowScalar(a *Value, p float64) *Value {
	v := g.unary(powOp{}, a, func(dst, a *tensor.Tensor) (*tensor.Tensor, error) { return tensor.PowScalar(dst, a, p) })
	v.farg = p
	return v
}

func (powOp) backward(g *Graph, out, gy *Value) {
	a, p := out.in[0], out.farg
	if p == 1 {
		g.accum(a, gy)
		return
	}
	// p * a^(p-1) * gy
	g.accum(a, g.Mul(gy, g.Scale(g.PowScalar(a, p-1), p)))
}

type expOp struct{}

func (expOp) name() string { return "Exp" }

// Exp returns e^a.
func (g *Graph) Exp(a *Value) *Value { return g.unary(expOp{}, a, tensor.Exp) }

func (expOp) backward(g *Graph, out, gy *Value) { g.accum(out.in[0], g.Mul(gy, out)) }

type logOp struct{}

func (logOp) name() string { return "Log" }

// Log returns the natural logarithm of a.
func (g *Graph) Log(a *Value) *Value { return g.unary(logOp{}, a, tensor.Log) }

func (logOp) backward(g *Graph, out, gy *Value) { g.accum(out.in[0], g.Div(gy, out.in[0])) }

type sqrtOp struct{}

func (sqrtOp) name() string { return "Sqrt" }

// Sqrt returns the square root of a.
func (g *Graph) Sqrt(a *Value) *Value { return g.unary(sqrtOp{}, a, tensor.Sqrt) }

func (sqrtOp) backward(g *Graph, out, gy *Value) {
	g.accum(out.in[0], g.Div(g.Scale(gy, 0.5), out))
}

type squareOp struct{}

func (squareOp) name() string { return "Square" }

// Square returns a*a.
func (g *Graph) Square(a *Value) *Value { return g.unary(squareOp{}, a, tensor.Square) }

func (squareOp) backward(g *Graph, out, gy *Value) {
	g.accum(out.in[0], g.Mul(gy, g.Scale(out.in[0], 2)))
}

type reluOp struct{}

func (reluOp) name() string { return "ReLU" }

// ReLU returns max(a, 0).
func (g *Graph) ReLU(a *Value) *Value { return g.unary(reluOp{}, a, tensor.ReLU) }

func (reluOp) backward(g *Graph, out, gy *Value) { g.accum(out.in[0], g.ReLUMask(gy, out.in[0])) }

// The in-place variants below save memory in models (a ResNet keeps one
// tensor less per batch norm and per residual sum). They overwrite their
// first input's tensor, so that input must have no other use: it must be
// the newest value of the graph (nothing has read it yet), nothing may read
// it afterwards, and its own backward rule must not need its value (true
// of batch norm, convolution and sums, checked). When a condition fails
// they silently compute out of place, with the same result.

// writable reports whether a's tensor may be overwritten by an in-place op.
func (g *Graph) writable(a *Value) bool {
	if a.g != g || a.gen != g.gen || !(a.own || a.taken) || g.nvals == 0 {
		return false
	}
	if a != &g.slabs[(g.nvals-1)/slabSize][(g.nvals-1)%slabSize] {
		return false
	}
	switch a.op.(type) {
	case batchNormOp, conv2dOp, addOp, nil:
		return true
	}
	return false
}

// takeOver makes the result of an in-place op on a: a value sharing a's
// tensor.
func (g *Graph) takeOver(o op, a *Value, in ...*Value) *Value {
	v := g.result(o, a.t, in...)
	v.own, v.taken = false, true
	return v
}

type reluInPlaceOp struct{}

func (reluInPlaceOp) name() string { return "ReLUInPlace" }

// ReLUInPlace is ReLU writing into a's tensor when it can (see above).
func (g *Graph) ReLUInPlace(a *Value) *Value {
	if err := g.check("ReLUInPlace", a); err != nil {
		return g.fail(err)
	}
	if !g.writable(a) {
		return g.ReLU(a)
	}
	if _, err := tensor.ReLU(a.t, a.t); err != nil {
		return g.wrap("ReLUInPlace", err)
	}
	return g.takeOver(reluInPlaceOp{}, a, a)
}

// The mask comes from the output: relu(a) > 0 exactly where a > 0.
func (reluInPlaceOp) backward(g *Graph, out, gy *Value) {
	g.accum(out.in[0], g.ReLUMask(gy, out))
}

// AddInPlace is Add writing a + b into a's tensor when it can (see above;
// also, a must have the result's shape: only b may broadcast).
func (g *Graph) AddInPlace(a, b *Value) *Value {
	if err := g.check("AddInPlace", a, b); err != nil {
		return g.fail(err)
	}
	if a == b || !g.writable(a) {
		return g.Add(a, b)
	}
	if _, err := dtypeOf("AddInPlace", a, b); err != nil {
		return g.fail(err)
	}
	dims, n, err := tensor.BroadcastDims(a.Shape(), b.Shape())
	if err != nil {
		return g.wrap("AddInPlace", err)
	}
	if !equalShape(dims[:n], a.Shape()) {
		return g.Add(a, b)
	}
	if _, err := tensor.Add(a.t, a.t, b.t); err != nil {
		return g.wrap("AddInPlace", err)
	}
	return g.takeOver(addOp{}, a, a, b)
}

type reluMaskOp struct{}

func (reluMaskOp) name() string { return "ReLUMask" }

// ReLUMask returns gy where x > 0 and 0 elsewhere: the derivative of ReLU
// applied to gy. It is linear in gy; x only selects (its derivative is 0
// almost everywhere and is not propagated).
func (g *Graph) ReLUMask(gy, x *Value) *Value {
	if err := g.check("ReLUMask", gy, x); err != nil {
		return g.fail(err)
	}
	dst, err := g.alloc(gy.t.DType(), gy.Shape())
	if err != nil {
		return g.wrap("ReLUMask", err)
	}
	if _, err := tensor.ReLUMask(dst, gy.t, x.t); err != nil {
		return g.wrap("ReLUMask", err)
	}
	v := g.result(reluMaskOp{}, dst, gy)
	v.in[1] = x // kept for the backward rule, not differentiated
	return v
}

func (reluMaskOp) backward(g *Graph, out, gy *Value) {
	g.accum(out.in[0], g.ReLUMask(gy, out.in[1]))
}

type tanhOp struct{}

func (tanhOp) name() string { return "Tanh" }

// Tanh returns tanh(a).
func (g *Graph) Tanh(a *Value) *Value { return g.unary(tanhOp{}, a, tensor.Tanh) }

func (tanhOp) backward(g *Graph, out, gy *Value) {
	g.accum(out.in[0], g.activationGrad(tanhGradOp{}, gy, out, tensor.TanhBackward))
}

type sigmoidOp struct{}

func (sigmoidOp) name() string { return "Sigmoid" }

// Sigmoid returns 1/(1+e^-a).
func (g *Graph) Sigmoid(a *Value) *Value { return g.unary(sigmoidOp{}, a, tensor.Sigmoid) }

func (sigmoidOp) backward(g *Graph, out, gy *Value) {
	g.accum(out.in[0], g.activationGrad(sigmoidGradOp{}, gy, out, tensor.SigmoidBackward))
}

// The backward rules of Tanh and Sigmoid are operations of their own:
// z = gy*(1-y^2) and z = gy*y*(1-y) from the output y, each one fused
// pass (tensor.TanhBackward, tensor.SigmoidBackward) whether or not the
// backward pass is recorded, and differentiable in both gy and y, so that
// a recorded gradient can be differentiated again (HVPs, third
// derivatives).
type tanhGradOp struct{}
type sigmoidGradOp struct{}

func (tanhGradOp) name() string    { return "TanhGrad" }
func (sigmoidGradOp) name() string { return "SigmoidGrad" }

// activationGrad computes f(gy, y) into a pool tensor and records it as
// op o with inputs gy and y.
func (g *Graph) activationGrad(o op, gy, y *Value, f func(dst, g, y *tensor.Tensor) (*tensor.Tensor, error)) *Value {
	if err := g.check(o.name(), gy, y); err != nil {
		return g.fail(err)
	}
	dst, err := g.alloc(gy.t.DType(), gy.Shape())
	if err != nil {
		return g.wrap(o.name(), err)
	}
	if _, err := f(dst, gy.t, y.t); err != nil {
		return g.wrap(o.name(), err)
	}
	return g.result(o, dst, gy, y)
}

func (tanhGradOp) backward(g *Graph, out, gz *Value) {
	gy, y := out.in[0], out.in[1]
	if gy.requires {
		// Linear in gy: the same rule.
		g.accum(gy, g.activationGrad(tanhGradOp{}, gz, y, tensor.TanhBackward))
	}
	if y.requires {
		// d/dy gy*(1-y^2) = -2*gy*y
		g.accum(y, g.Scale(g.Mul(g.Mul(gz, gy), y), -2))
	}
}

func (sigmoidGradOp) backward(g *Graph, out, gz *Value) {
	gy, y := out.in[0], out.in[1]
	if gy.requires {
		g.accum(gy, g.activationGrad(sigmoidGradOp{}, gz, y, tensor.SigmoidBackward))
	}
	if y.requires {
		// d/dy gy*y*(1-y) = gy*(1-2y)
		g.accum(y, g.Mul(g.Mul(gz, gy), g.AddScalar(g.Scale(y, -2), 1)))
	}
}

type sumOp struct{}

func (sumOp) name() string { return "Sum" }

// Sum returns the sum of a along axis (negative counts from the end), the
// dimension removed or, with keepDims, kept with size 1.
func (g *Graph) Sum(a *Value, axis int, keepDims bool) *Value {
	if err := g.check("Sum", a); err != nil {
		return g.fail(err)
	}
	nd := len(a.Shape())
	ax := axis
	if ax < 0 {
		ax += nd
	}
	if ax < 0 || ax >= nd {
		return g.fail(fmt.Errorf("autodiff: Sum: axis %d out of range for shape %v: %w", axis, a.Shape(), tensor.ErrShape))
	}
	var dims [tensor.MaxDims]int
	n := 0
	for i, d := range a.Shape() {
		if i == ax {
			if !keepDims {
				continue
			}
			d = 1
		}
		dims[n] = d
		n++
	}
	dst, err := g.alloc(a.t.DType(), dims[:n])
	if err != nil {
		return g.wrap("Sum", err)
	}
	if _, err := tensor.Sum(dst, a.t, ax, keepDims); err != nil {
		return g.wrap("Sum", err)
	}
	v := g.result(sumOp{}, dst, a)
	v.iarg[0] = ax
	return v
}

func (sumOp) backward(g *Graph, out, gy *Value) {
	a := out.in[0]
	// Restore the reduced axis as size 1, then broadcast.
	var dims [tensor.MaxDims]int
	n := copy(dims[:], a.Shape())
	dims[out.iarg[0]] = 1
	g.accum(a, g.BroadcastTo(g.Reshape(gy, dims[:n]...), a.Shape()...))
}

// Mean returns the mean of a along axis (see Sum). The axis must not be
// empty: a mean of no values is undefined (tensor.Mean and tensor.Max
// refuse it too).
func (g *Graph) Mean(a *Value, axis int, keepDims bool) *Value {
	s := g.Sum(a, axis, keepDims)
	if s.err != nil {
		return s
	}
	ax := axis
	if ax < 0 {
		ax += len(a.Shape())
	}
	n := a.Shape()[ax]
	if n == 0 {
		return g.fail(fmt.Errorf("autodiff: Mean over an empty axis of %v: %w", a.Shape(), tensor.ErrShape))
	}
	return g.Scale(s, 1/float64(n))
}

// SumAll returns the sum of all elements as a one-element value of shape
// [].
func (g *Graph) SumAll(a *Value) *Value {
	if err := g.check("SumAll", a); err != nil {
		return g.fail(err)
	}
	return g.SumTo(a)
}

// MeanAll returns the mean of all elements, shape []; a value with no
// elements is an error, as for Mean.
func (g *Graph) MeanAll(a *Value) *Value {
	s := g.SumAll(a)
	if s.err != nil {
		return s
	}
	if a.t.Len() == 0 {
		return g.fail(fmt.Errorf("autodiff: MeanAll of no elements (shape %v): %w", a.Shape(), tensor.ErrShape))
	}
	return g.Scale(s, 1/float64(a.t.Len()))
}

type sumToOp struct{}

func (sumToOp) name() string { return "SumTo" }

// SumTo sums a down to shape, over the dimensions in which a is a
// broadcast of shape (the adjoint of BroadcastTo). SumTo(a) with no shape
// sums everything into a scalar.
func (g *Graph) SumTo(a *Value, shape ...int) *Value {
	if err := g.check("SumTo", a); err != nil {
		return g.fail(err)
	}
	dst, err := g.alloc(a.t.DType(), shape)
	if err != nil {
		return g.wrap("SumTo", err)
	}
	if _, err := tensor.SumTo(dst, a.t, shape); err != nil {
		return g.wrap("SumTo", err)
	}
	return g.result(sumToOp{}, dst, a)
}

func (sumToOp) backward(g *Graph, out, gy *Value) {
	a := out.in[0]
	g.accum(a, g.BroadcastTo(gy, a.Shape()...))
}

type broadcastOp struct{}

func (broadcastOp) name() string { return "BroadcastTo" }

// BroadcastTo expands a to shape by NumPy's rules.
func (g *Graph) BroadcastTo(a *Value, shape ...int) *Value {
	if err := g.check("BroadcastTo", a); err != nil {
		return g.fail(err)
	}
	if equalShape(a.Shape(), shape) {
		return a
	}
	dst, err := g.alloc(a.t.DType(), shape)
	if err != nil {
		return g.wrap("BroadcastTo", err)
	}
	if _, err := tensor.BroadcastTo(dst, a.t, shape); err != nil {
		return g.wrap("BroadcastTo", err)
	}
	return g.result(broadcastOp{}, dst, a)
}

func (broadcastOp) backward(g *Graph, out, gy *Value) {
	a := out.in[0]
	g.accum(a, g.SumTo(gy, a.Shape()...))
}

func equalShape(a, b []int) bool {
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

type reshapeOp struct{}

func (reshapeOp) name() string { return "Reshape" }

// Reshape returns a with a new shape of the same size (one dimension may
// be -1). The result shares a's storage.
func (g *Graph) Reshape(a *Value, shape ...int) *Value {
	if err := g.check("Reshape", a); err != nil {
		return g.fail(err)
	}
	t, err := g.pool.View(a.t, shape...)
	if err != nil {
		return g.wrap("Reshape", err)
	}
	v := g.result(reshapeOp{}, t, a)
	v.own = false
	if g.freeing {
		v.view = a
		a.holds++
	}
	return v
}

func (reshapeOp) backward(g *Graph, out, gy *Value) {
	a := out.in[0]
	g.accum(a, g.Reshape(gy, a.Shape()...))
}

// Flatten reshapes [N, d1, d2, ...] to [N, d1*d2*...].
func (g *Graph) Flatten(a *Value) *Value {
	if err := g.check("Flatten", a); err != nil {
		return g.fail(err)
	}
	if len(a.Shape()) == 0 {
		return g.fail(fmt.Errorf("autodiff: Flatten of a scalar: %w", tensor.ErrShape))
	}
	return g.Reshape(a, a.Shape()[0], -1)
}

type permuteOp struct{}

func (permuteOp) name() string { return "Permute" }

// Permute reorders the dimensions of a: dimension i of the result is
// dimension axes[i] of a.
func (g *Graph) Permute(a *Value, axes ...int) *Value {
	if err := g.check("Permute", a); err != nil {
		return g.fail(err)
	}
	if len(axes) != len(a.Shape()) || len(axes) > len(Value{}.iarg) {
		return g.fail(fmt.Errorf("autodiff: Permute of %v by %v: %w", a.Shape(), axes, tensor.ErrShape))
	}
	var dims [tensor.MaxDims]int
	for i, ax := range axes {
		if ax < 0 || ax >= len(axes) {
			return g.fail(fmt.Errorf("autodiff: Permute of %v by %v: %w", a.Shape(), axes, tensor.ErrShape))
		}
		dims[i] = a.Shape()[ax]
	}
	dst, err := g.alloc(a.t.DType(), dims[:len(axes)])
	if err != nil {
		return g.wrap("Permute", err)
	}
	if _, err := tensor.Permute(dst, a.t, axes...); err != nil {
		return g.wrap("Permute", err)
	}
	v := g.result(permuteOp{}, dst, a)
	copy(v.iarg[:], axes)
	return v
}

func (permuteOp) backward(g *Graph, out, gy *Value) {
	nd := len(out.Shape())
	var inv [len(Value{}.iarg)]int
	for i := 0; i < nd; i++ {
		inv[out.iarg[i]] = i
	}
	g.accum(out.in[0], g.Permute(gy, inv[:nd]...))
}

// Transpose returns the transpose of a 2-D value.
func (g *Graph) Transpose(a *Value) *Value { return g.Permute(a, 1, 0) }

type matmulOp struct{}

func (matmulOp) name() string { return "MatMul" }

// MatMul returns op(a) @ op(b) for 2-D values, where op transposes when the
// flag is set (no transposed copy is made).
func (g *Graph) MatMul(a, b *Value, transA, transB bool) *Value {
	if err := g.check("MatMul", a, b); err != nil {
		return g.fail(err)
	}
	dt, err := dtypeOf("MatMul", a, b)
	if err != nil {
		return g.fail(err)
	}
	as, bs := a.Shape(), b.Shape()
	if len(as) != 2 || len(bs) != 2 {
		return g.fail(fmt.Errorf("autodiff: MatMul of %v and %v: want 2-D values: %w", as, bs, tensor.ErrShape))
	}
	m, n := as[0], bs[1]
	if transA {
		m = as[1]
	}
	if transB {
		n = bs[0]
	}
	dst, err := g.alloc(dt, []int{m, n}[:2:2])
	if err != nil {
		return g.wrap("MatMul", err)
	}
	if _, err := tensor.MatMul(dst, a.t, b.t, transA, transB); err != nil {
		return g.wrap("MatMul", err)
	}
	v := g.result(matmulOp{}, dst, a, b)
	v.iarg[0], v.iarg[1] = b2i(transA), b2i(transB)
	return v
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (matmulOp) backward(g *Graph, out, gy *Value) {
	a, b := out.in[0], out.in[1]
	ta, tb := out.iarg[0] == 1, out.iarg[1] == 1
	// C = op(A) op(B): dL/dop(A) = gC op(B)^T, dL/dop(B) = op(A)^T gC,
	// transposed back when the operand was used transposed.
	if a.requires {
		if !ta {
			g.accum(a, g.MatMul(gy, b, false, !tb))
		} else {
			g.accum(a, g.MatMul(b, gy, tb, true))
		}
	}
	if b.requires {
		if !tb {
			g.accum(b, g.MatMul(a, gy, !ta, false))
		} else {
			g.accum(b, g.MatMul(gy, a, true, ta))
		}
	}
}
