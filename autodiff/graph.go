package autodiff

import (
	"errors"
	"fmt"

	"github.com/flatfast/flatfast/tensor"
)

// ErrStale is wrapped by the error of an operation on a Value that
// belonged to a Graph before its last Reset.
var ErrStale = errors.New("autodiff: value used after its graph was reset")

// Value is a tensor in a computation: a parameter or constant (a leaf), or
// the result of an operation on a Graph. A Value produced while recording
// remembers the operation, so gradients can flow back through it.
//
// Errors are sticky: an operation with bad inputs (mismatched shapes, say)
// returns a Value holding the error instead of panicking, every operation
// on such a Value returns it again, and Grad reports it. Check Err, or the
// error of Grad, once at the end.
type Value struct {
	t        *tensor.Tensor
	g        *Graph
	gen      uint64
	requires bool
	err      error

	// The recorded operation (op == nil for leaves and unrecorded results).
	op   op
	in   [3]*Value
	nin  int
	iarg [6]int
	farg float64
	aux  *tensor.Tensor // a saved constant (a mask, one-hot targets, ...)
	aux2 *tensor.Tensor
	idx  []int32  // saved indices (max pooling)
	lin  Operator // the operator of ApplyOperator / AdjointOperator

	gacc *Value // gradient accumulated during a backward pass
	at   int    // position on the tape

	// Bookkeeping of an unrecorded backward pass, which frees each
	// gradient as soon as nothing needs it (see Graph.release).
	own   bool   // t came from the pool for this value alone
	taken bool   // t was taken over from an input by an in-place op
	view  *Value // the value whose storage t shares (Reshape)
	pass  uint32 // the unrecorded backward pass that made it (0: none)
	holds int32  // gradient slots (and views) referring to this value
	freed bool
}

// NewParam returns a leaf that requires a gradient: a model parameter. It
// wraps t without copying and belongs to no graph, so it can be used in
// any graph and survives Reset. A nil t gives a Value holding an error
// (see Value), reported by Err and by every operation on it.
func NewParam(t *tensor.Tensor) *Value {
	if t == nil {
		return &Value{err: errNilTensor("NewParam"), requires: true}
	}
	return &Value{t: t, requires: true}
}

// NewConst returns a leaf that does not require a gradient; a nil t gives
// a Value holding an error, as for NewParam.
func NewConst(t *tensor.Tensor) *Value {
	if t == nil {
		return &Value{err: errNilTensor("NewConst")}
	}
	return &Value{t: t}
}

func errNilTensor(op string) error {
	return fmt.Errorf("autodiff: %s of a nil tensor: %w", op, tensor.ErrShape)
}

// Tensor returns the value's tensor (nil if the value holds an error).
// Tensors of graph-owned values are recycled by Graph.Reset.
func (v *Value) Tensor() *tensor.Tensor { return v.t }

// Err returns the value's error, if an operation that led to it failed.
func (v *Value) Err() error { return v.err }

// RequiresGrad reports whether gradients flow to this value.
func (v *Value) RequiresGrad() bool { return v.requires }

// Shape returns the shape of the value's tensor.
func (v *Value) Shape() []int {
	if v.t == nil {
		return nil
	}
	return v.t.Shape()
}

// Item returns the single value of a one-element Value.
func (v *Value) Item() (float64, error) {
	if v.err != nil {
		return 0, v.err
	}
	return v.t.Item()
}

// Graph records operations on Values for differentiation and owns the
// memory of their results. One training step typically builds a graph,
// calls Grad, updates parameters, and calls Reset, which recycles all the
// step's tensors: in steady state a step allocates nothing. A Graph is not
// safe for concurrent use; use one per goroutine.
type Graph struct {
	pool   *tensor.Pool
	slabs  [][]Value
	nvals  int
	tape   []*Value
	gen    uint64
	record bool

	touched []*Value

	idxFree map[int][][]int32 // recycled index buffers by length
	idxOut  [][]int32

	freeing bool   // inside an unrecorded backward pass
	pass    uint32 // its number
}

const slabSize = 256

// NewGraph returns an empty graph that records operations.
func NewGraph() *Graph {
	return &Graph{pool: tensor.NewPool(), record: true, gen: 1, idxFree: map[int][][]int32{}}
}

// Reset forgets every recorded operation and recycles the tensors of all
// values the graph produced. Values obtained before Reset must not be used
// after it (operations on them report ErrStale); parameters and constants
// made with NewParam and NewConst are not affected.
func (g *Graph) Reset() {
	for i := range g.tape {
		g.tape[i] = nil
	}
	g.tape = g.tape[:0]
	// Cleared slots keep their graph but not its generation, so an
	// operation on a value from before the Reset reports ErrStale (until
	// the slot is handed out again).
	for s := range g.slabs {
		for i := range g.slabs[s] {
			g.slabs[s][i] = Value{g: g}
		}
	}
	g.nvals = 0
	g.pool.Release()
	for i, b := range g.idxOut {
		g.idxFree[len(b)] = append(g.idxFree[len(b)], b)
		g.idxOut[i] = nil
	}
	g.idxOut = g.idxOut[:0]
	g.gen++
}

// Bytes returns the storage the graph's tensor pool holds (in use or
// free for reuse): the graph's memory footprint, constant from the second
// identical step on.
func (g *Graph) Bytes() int64 { return g.pool.Bytes() }

// Recording reports whether new operations are recorded.
func (g *Graph) Recording() bool { return g.record }

// SetRecording turns recording on or off and returns the previous setting.
// With recording off (for evaluation and optimizer updates) operations
// compute their results but remember nothing, so no gradient flows through
// them.
func (g *Graph) SetRecording(on bool) bool {
	prev := g.record
	g.record = on
	return prev
}

// NoGrad runs f with recording off.
func (g *Graph) NoGrad(f func()) {
	prev := g.SetRecording(false)
	defer g.SetRecording(prev)
	f()
}

// Len returns the number of operations recorded since the last Reset.
func (g *Graph) Len() int { return len(g.tape) }

func (g *Graph) newValue() *Value {
	s, i := g.nvals/slabSize, g.nvals%slabSize
	if s == len(g.slabs) {
		g.slabs = append(g.slabs, make([]Value, slabSize))
	}
	g.nvals++
	v := &g.slabs[s][i]
	v.g, v.gen = g, g.gen
	if g.freeing {
		v.pass = g.pass
	}
	return v
}

// Const wraps t as a constant of this graph (no copy, no gradient); a nil
// t gives a Value holding an error.
func (g *Graph) Const(t *tensor.Tensor) *Value {
	if t == nil {
		return g.fail(errNilTensor("Const"))
	}
	v := g.newValue()
	v.t = t
	return v
}

// owned wraps a tensor fresh from g.alloc as a constant owning it.
func (g *Graph) owned(t *tensor.Tensor) *Value {
	v := g.Const(t)
	v.own = true
	return v
}

// Scalar returns a constant one-element tensor of type dt.
func (g *Graph) Scalar(dt tensor.DType, x float64) *Value {
	t, err := g.pool.Get(dt)
	if err != nil {
		return g.wrap("Scalar", err)
	}
	t.SetFlat(0, x)
	return g.Const(t)
}

// Zeros returns a constant zero tensor.
func (g *Graph) Zeros(dt tensor.DType, shape ...int) *Value {
	t, err := g.pool.Get(dt, shape...)
	if err != nil {
		return g.fail(err)
	}
	t.Zero()
	return g.Const(t)
}

// int32s returns an index buffer of length n, recycled by Reset.
func (g *Graph) int32s(n int) []int32 {
	var b []int32
	if l := g.idxFree[n]; len(l) > 0 {
		b = l[len(l)-1]
		g.idxFree[n] = l[:len(l)-1]
	} else {
		b = make([]int32, n)
	}
	g.idxOut = append(g.idxOut, b)
	return b
}

// alloc returns a pool tensor for an op result.
func (g *Graph) alloc(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	return g.pool.Get(dt, shape...)
}

// Fail returns a Value holding err (or a generic error if err is nil).
// Code outside this package that builds on a Graph (a module checking its
// own settings, say) reports bad input with it, so that its callers see
// the error where they see an operation's: in Err, in every operation on
// the Value, and in Grad.
func (g *Graph) Fail(err error) *Value {
	if err == nil {
		err = errors.New("autodiff: Fail with a nil error")
	}
	return g.fail(err)
}

// fail returns a Value carrying err.
func (g *Graph) fail(err error) *Value {
	v := g.newValue()
	v.err = err
	return v
}

// check returns the first error among the inputs of an op, including use
// of a stale or foreign value.
func (g *Graph) check(op string, vs ...*Value) error {
	for _, v := range vs {
		switch {
		case v == nil:
			return fmt.Errorf("autodiff: %s: nil input", op)
		case v.err != nil:
			return v.err
		case v.t == nil:
			// A Value{} made by hand, not by NewParam or NewConst.
			return fmt.Errorf("autodiff: %s: input has no tensor: %w", op, tensor.ErrShape)
		case v.g != nil && v.g != g:
			return fmt.Errorf("autodiff: %s: input belongs to another graph", op)
		case v.g == g && v.gen != g.gen:
			return fmt.Errorf("%w (%s)", ErrStale, op)
		}
	}
	return nil
}

// result records the output of an op: t computed from inputs in. The op is
// remembered when recording and some input requires a gradient.
func (g *Graph) result(o op, t *tensor.Tensor, in ...*Value) *Value {
	v := g.newValue()
	v.t, v.own = t, true
	if !g.record {
		return v
	}
	for _, x := range in {
		if x.requires {
			v.requires = true
			break
		}
	}
	if !v.requires {
		return v
	}
	v.op = o
	v.nin = copy(v.in[:], in)
	v.at = len(g.tape)
	g.tape = append(g.tape, v)
	return v
}

// wrap attaches the op name to an error from package tensor.
func (g *Graph) wrap(op string, err error) *Value {
	return g.fail(fmt.Errorf("autodiff: %s: %w", op, err))
}
