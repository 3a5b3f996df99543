package autodiff

import (
	"fmt"

	"github.com/flatfast/flatfast/tensor"
)

type batchMatMulOp struct{}

func (batchMatMulOp) name() string { return "BatchMatMul" }

// BatchMatMul returns op(a[i]) @ op(b[i]) for 3-D values a [B, m, k] and
// b [B, k, n] (transposed per flag): [B, m, n].
func (g *Graph) BatchMatMul(a, b *Value, transA, transB bool) *Value {
	if err := g.check("BatchMatMul", a, b); err != nil {
		return g.fail(err)
	}
	dt, err := dtypeOf("BatchMatMul", a, b)
	if err != nil {
		return g.fail(err)
	}
	as, bs := a.Shape(), b.Shape()
	if len(as) != 3 || len(bs) != 3 {
		return g.fail(fmt.Errorf("autodiff: BatchMatMul of %v and %v: want 3-D values: %w", as, bs, tensor.ErrShape))
	}
	m, n := as[1], bs[2]
	if transA {
		m = as[2]
	}
	if transB {
		n = bs[1]
	}
	dst, err := g.alloc(dt, []int{as[0], m, n})
	if err != nil {
		return g.wrap("BatchMatMul", err)
	}
	if _, err := tensor.BatchMatMul(dst, a.t, b.t, transA, transB); err != nil {
		return g.wrap("BatchMatMul", err)
	}
	v := g.result(batchMatMulOp{}, dst, a, b)
	v.iarg[0], v.iarg[1] = b2i(transA), b2i(transB)
	return v
}

func (batchMatMulOp) backward(g *Graph, out, gy *Value) {
	a, b := out.in[0], out.in[1]
	ta, tb := out.iarg[0] == 1, out.iarg[1] == 1
	// The same rules as MatMul, batch by batch.
	if a.requires {
		if !ta {
			g.accum(a, g.BatchMatMul(gy, b, false, !tb))
		} else {
			g.accum(a, g.BatchMatMul(b, gy, tb, true))
		}
	}
	if b.requires {
		if !tb {
			g.accum(b, g.BatchMatMul(a, gy, !ta, false))
		} else {
			g.accum(b, g.BatchMatMul(gy, a, true, ta))
		}
	}
}

type linearOp struct{}

func (linearOp) name() string { return "Linear" }

// Linear returns x @ w^T + b, the fully connected layer, for x [R, In],
// w [Out, In] and b [Out] (nil: no bias). It is MatMul(x, w, false, true)
// plus b, bitwise, in one op: the bias goes into the product's own output
// instead of a second [R, Out] value (tensor.Linear), and its gradients
// are those of the two ops (gx = gy w, gw = gy^T x, gb = gy summed over
// rows), recorded as ops, so that Hessian products go through it exactly.
func (g *Graph) Linear(x, w, b *Value) *Value {
	in := []*Value{x, w, b}
	if b == nil {
		in = in[:2]
	}
	if err := g.check("Linear", in...); err != nil {
		return g.fail(err)
	}
	dt, err := dtypeOf("Linear", in...)
	if err != nil {
		return g.fail(err)
	}
	xs, ws := x.Shape(), w.Shape()
	if len(xs) != 2 || len(ws) != 2 {
		return g.fail(fmt.Errorf("autodiff: Linear of %v and weight %v: want 2-D values: %w", xs, ws, tensor.ErrShape))
	}
	dst, err := g.alloc(dt, []int{xs[0], ws[0]})
	if err != nil {
		return g.wrap("Linear", err)
	}
	var bt *tensor.Tensor
	if b != nil {
		bt = b.t
	}
	if _, err := tensor.Linear(dst, x.t, w.t, bt); err != nil {
		return g.wrap("Linear", err)
	}
	return g.result(linearOp{}, dst, in...)
}

func (linearOp) backward(g *Graph, out, gy *Value) {
	x, w := out.in[0], out.in[1]
	if x.requires {
		g.accum(x, g.MatMul(gy, w, false, false))
	}
	if w.requires {
		g.accum(w, g.MatMul(gy, x, true, false))
	}
	if out.nin == 3 && out.in[2].requires {
		g.accum(out.in[2], g.SumTo(gy, out.in[2].Shape()...))
	}
}

// Operator is a constant linear map from rows of length In() to rows of
// length Out(): Forward maps x [R, In] to [R, Out], Adjoint maps y
// [R, Out] back to [R, In] by the transposed map. It lets a fixed,
// possibly prepacked or structured matrix (a measurement operator, say)
// take part in a graph without being a Value; ApplyOperator differentiates
// through it exactly, to any order.
type Operator interface {
	In() int
	Out() int
	Forward(dst, x *tensor.Tensor) error
	Adjoint(dst, y *tensor.Tensor) error
}

// MatrixOperator is the Operator x -> x M^T of a matrix M [Out, In] (any
// dtype), through MatMul.
type MatrixOperator struct{ M *tensor.Tensor }

// In returns the columns of M (0 when M is not a matrix, which Forward
// then reports).
func (m MatrixOperator) In() int {
	if m.M == nil || m.M.Dims() != 2 {
		return 0
	}
	return m.M.Dim(1)
}

// Out returns the rows of M (0 when M is not a matrix).
func (m MatrixOperator) Out() int {
	if m.M == nil || m.M.Dims() != 2 {
		return 0
	}
	return m.M.Dim(0)
}

func (m MatrixOperator) check() error {
	if m.M == nil || m.M.Dims() != 2 {
		return fmt.Errorf("autodiff: MatrixOperator of %v: want a matrix: %w", shapeOrNil(m.M), tensor.ErrShape)
	}
	return nil
}

// Forward computes x M^T.
func (m MatrixOperator) Forward(dst, x *tensor.Tensor) error {
	if err := m.check(); err != nil {
		return err
	}
	_, err := tensor.MatMul(dst, x, m.M, false, true)
	return err
}

// Adjoint computes y M.
func (m MatrixOperator) Adjoint(dst, y *tensor.Tensor) error {
	if err := m.check(); err != nil {
		return err
	}
	_, err := tensor.MatMul(dst, y, m.M, false, false)
	return err
}

// PackedOperator is the Operator x -> x M^T of a float32 matrix M
// [Out, In] with both M^T and M packed once for the GEMM (see
// tensor.PackedMatrix): for a large constant operator applied every step.
type PackedOperator struct {
	fwd, adj *tensor.PackedMatrix
}

// NewPackedOperator packs M [Out, In] (float32) both ways; it takes twice
// M's memory.
func NewPackedOperator(m *tensor.Tensor) (*PackedOperator, error) {
	if m == nil || m.DType() != tensor.Float32 || m.Dims() != 2 {
		return nil, fmt.Errorf("autodiff: NewPackedOperator of %v: want a 2-D float32 matrix: %w", shapeOrNil(m), tensor.ErrShape)
	}
	f, err := tensor.Pack(m, true)
	if err != nil {
		return nil, err
	}
	a, err := tensor.Pack(m, false)
	if err != nil {
		return nil, err
	}
	return &PackedOperator{fwd: f, adj: a}, nil
}

// errNoOperator is the error of a nil or zero PackedOperator, which
// NewPackedOperator never returns.
var errNoOperator = fmt.Errorf("autodiff: PackedOperator not made by NewPackedOperator: %w", tensor.ErrShape)

// In returns the input width (0 for a nil operator, which Forward then
// reports).
func (p *PackedOperator) In() int {
	if p == nil || p.fwd == nil {
		return 0
	}
	return p.fwd.Rows()
}

// Out returns the output width.
func (p *PackedOperator) Out() int {
	if p == nil || p.fwd == nil {
		return 0
	}
	return p.fwd.Cols()
}

// Forward computes x M^T.
func (p *PackedOperator) Forward(dst, x *tensor.Tensor) error {
	if p == nil || p.fwd == nil {
		return errNoOperator
	}
	_, err := p.fwd.MulInto(dst, x, false)
	return err
}

// Adjoint computes y M.
func (p *PackedOperator) Adjoint(dst, y *tensor.Tensor) error {
	if p == nil || p.adj == nil {
		return errNoOperator
	}
	_, err := p.adj.MulInto(dst, y, false)
	return err
}

type operatorOp struct{}
type adjointOp struct{}

func (operatorOp) name() string { return "ApplyOperator" }
func (adjointOp) name() string  { return "AdjointOperator" }

// ApplyOperator returns op.Forward(x) for x [R, op.In()].
func (g *Graph) ApplyOperator(op Operator, x *Value) *Value {
	if op == nil {
		return g.fail(fmt.Errorf("autodiff: ApplyOperator: nil operator"))
	}
	return g.applyOp(operatorOp{}, op, x, op.In(), op.Out(), op.Forward)
}

// AdjointOperator returns op.Adjoint(y) for y [R, op.Out()].
func (g *Graph) AdjointOperator(op Operator, y *Value) *Value {
	if op == nil {
		return g.fail(fmt.Errorf("autodiff: AdjointOperator: nil operator"))
	}
	return g.applyOp(adjointOp{}, op, y, op.Out(), op.In(), op.Adjoint)
}

func (g *Graph) applyOp(o op, lin Operator, x *Value, in, out int, f func(dst, x *tensor.Tensor) error) *Value {
	if err := g.check(o.name(), x); err != nil {
		return g.fail(err)
	}
	xs := x.Shape()
	if len(xs) != 2 || xs[1] != in {
		return g.fail(fmt.Errorf("autodiff: %s: input %v, the operator takes rows of %d: %w", o.name(), xs, in, tensor.ErrShape))
	}
	dst, err := g.alloc(x.t.DType(), []int{xs[0], out})
	if err != nil {
		return g.wrap(o.name(), err)
	}
	if err := f(dst, x.t); err != nil {
		return g.wrap(o.name(), err)
	}
	v := g.result(o, dst, x)
	v.lin = lin
	return v
}

func (operatorOp) backward(g *Graph, out, gy *Value) {
	g.accum(out.in[0], g.AdjointOperator(out.lin, gy))
}

func (adjointOp) backward(g *Graph, out, gy *Value) {
	g.accum(out.in[0], g.ApplyOperator(out.lin, gy))
}
