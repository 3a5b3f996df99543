package autodiff

import (
	"errors"
	"fmt"
	"slices"

	"github.com/flatfast/flatfast/tensor"
)

// ErrNoGrad is returned by Grad for an output that does not depend on any
// value requiring a gradient (or was computed with recording off).
var ErrNoGrad = errors.New("autodiff: output was not computed from anything that requires a gradient")

// op is a recorded operation. backward receives the operation's output
// out and its gradient gy and adds the gradients of out's inputs with
// g.accum. It computes them with the Graph's own differentiable operations,
// so that when the backward pass is recorded (GradGraph) its result can be
// differentiated again.
type op interface {
	name() string
	backward(g *Graph, out, gy *Value)
}

// accum adds grad to x's gradient for the running backward pass.
func (g *Graph) accum(x, grad *Value) {
	if !x.requires || grad == nil {
		return
	}
	if x.gacc == nil {
		x.gacc = grad
		grad.holds++
		g.touched = append(g.touched, x)
		return
	}
	old := x.gacc
	x.gacc = g.Add(old, grad)
	x.gacc.holds++
	g.drop(old)
}

// An unrecorded backward pass frees gradients as it goes, so that its
// peak memory is the gradients in flight rather than one per recorded
// value: each value made during the pass counts the gradient slots (gacc)
// and views holding it, and its tensor goes back to the pool when the
// count falls to zero, or, for a temporary nobody took, when the backward
// rule that made it returns. Values from before the pass (the forward
// results) are never freed here; they live until Reset.

// drop removes one hold on v and frees it when none remain.
func (g *Graph) drop(v *Value) {
	if !g.freeing || v == nil {
		return
	}
	v.holds--
	if v.holds <= 0 {
		g.release(v)
	}
}

// release frees the storage of a value made during the running unrecorded
// backward pass.
func (g *Graph) release(v *Value) {
	if v.pass != g.pass || !g.freeing || v.freed {
		return
	}
	v.freed = true
	if v.view != nil {
		src := v.view
		v.view = nil
		g.drop(src)
		return
	}
	if v.own {
		g.pool.Free(v.t)
	}
}

// Grad returns the gradient of the one-element value y with respect to
// each x, as values of x's shape (zeros for an x that y does not depend
// on). The backward pass is not recorded: the gradients are plain values.
func (g *Graph) Grad(y *Value, xs ...*Value) ([]*Value, error) {
	out := make([]*Value, len(xs))
	return out, g.backprop(out, y, nil, xs, false)
}

// GradInto is Grad writing the gradients into out (len(out) == len(xs)),
// for loops that must not allocate.
func (g *Graph) GradInto(out []*Value, y *Value, xs ...*Value) error {
	if len(out) != len(xs) {
		return fmt.Errorf("autodiff: GradInto: %d slots for %d values", len(out), len(xs))
	}
	return g.backprop(out, y, nil, xs, false)
}

// GradGraph is Grad with the backward pass recorded (PyTorch's
// create_graph=True): the gradients are themselves differentiable, which
// is how Hessian-vector products are formed.
func (g *Graph) GradGraph(y *Value, xs ...*Value) ([]*Value, error) {
	out := make([]*Value, len(xs))
	return out, g.backprop(out, y, nil, xs, true)
}

// VJP returns the vector-Jacobian products seed^T dy/dx for a y of any
// shape and a seed of y's shape; record chooses whether the backward pass
// is recorded.
func (g *Graph) VJP(y, seed *Value, record bool, xs ...*Value) ([]*Value, error) {
	if seed == nil {
		return nil, fmt.Errorf("autodiff: VJP: nil seed")
	}
	out := make([]*Value, len(xs))
	return out, g.backprop(out, y, seed, xs, record)
}

func (g *Graph) backprop(out []*Value, y, seed *Value, xs []*Value, record bool) error {
	if err := g.check("Grad", y); err != nil {
		return err
	}
	for _, x := range xs {
		if err := g.check("Grad", x); err != nil {
			return err
		}
	}
	if seed == nil {
		if y.t.Len() != 1 {
			return fmt.Errorf("autodiff: Grad of a value of shape %v: want one element (use VJP)", y.Shape())
		}
		ones, err := g.alloc(y.t.DType(), y.Shape())
		if err != nil {
			return err
		}
		ones.Fill(1)
		seed = g.Const(ones)
	} else if err := g.check("VJP", seed); err != nil {
		return err
	} else if !y.t.SameShape(seed.t) || y.t.DType() != seed.t.DType() {
		return fmt.Errorf("autodiff: VJP: seed %v %v for output %v %v", seed.t.DType(), seed.Shape(), y.t.DType(), y.Shape())
	}
	if !y.requires {
		return ErrNoGrad
	}
	prev := g.SetRecording(record)
	defer g.SetRecording(prev)
	defer g.clearGrads()
	g.freeing = !record
	g.pass++
	defer func() { g.freeing = false }()

	end := len(g.tape) - 1
	if y.op != nil {
		end = y.at
	}
	y.gacc = seed
	seed.holds++
	g.touched = append(g.touched, y)
	for i := end; i >= 0; i-- {
		v := g.tape[i]
		if v.gacc == nil {
			continue
		}
		if v.gacc.err != nil {
			return v.gacc.err
		}
		n0 := g.nvals
		v.op.backward(g, v, v.gacc)
		if !g.freeing {
			continue
		}
		// Temporaries of the rule that nothing holds, then v's own
		// gradient unless the caller asked for it.
		for k := n0; k < g.nvals; k++ {
			if u := &g.slabs[k/slabSize][k%slabSize]; u.holds <= 0 {
				g.release(u)
			}
		}
		if !slices.Contains(xs, v) {
			g.drop(v.gacc)
		}
	}
	for i, x := range xs {
		gx := x.gacc
		if gx == nil {
			gx = g.Zeros(x.t.DType(), x.Shape()...)
		}
		if gx.err != nil {
			return gx.err
		}
		out[i] = gx
	}
	return nil
}

func (g *Graph) clearGrads() {
	for i, v := range g.touched {
		v.gacc = nil
		g.touched[i] = nil
	}
	g.touched = g.touched[:0]
}

// dtypeOf returns the dtype shared by the inputs, or an error.
func dtypeOf(op string, vs ...*Value) (tensor.DType, error) {
	dt := vs[0].t.DType()
	for _, v := range vs[1:] {
		if v.t.DType() != dt {
			return dt, fmt.Errorf("autodiff: %s: mixed dtypes %v and %v: %w", op, dt, v.t.DType(), tensor.ErrDType)
		}
	}
	return dt, nil
}
