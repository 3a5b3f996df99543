package autodiff

import (
	"errors"
	"fmt"
	"math"

	"github.com/flatfast/flatfast/tensor"
)

// Hessian is the Hessian of a scalar loss with respect to a list of
// parameter tensors, viewed as one block vector, available as exact
// Hessian-vector products. It records the gradient graph once (GradGraph)
// and then differentiates <grad, v> for each v, so many products (the
// probes of a trace estimate, the steps of a power iteration) share one
// recorded backward pass.
type Hessian struct {
	g      *Graph
	params []*Value
	grads  []*Value
	dt     tensor.DType
}

// Hessian records the gradient of loss with respect to params. The graph
// must not be Reset while the Hessian is in use.
func (g *Graph) Hessian(loss *Value, params ...*Value) (*Hessian, error) {
	if len(params) == 0 {
		return nil, errors.New("autodiff: Hessian of no parameters")
	}
	prev := g.SetRecording(true)
	defer g.SetRecording(prev)
	grads, err := g.GradGraph(loss, params...)
	if err != nil {
		return nil, err
	}
	return &Hessian{g: g, params: params, grads: grads, dt: loss.t.DType()}, nil
}

// Dim returns the number of parameters (the Hessian is Dim x Dim).
func (h *Hessian) Dim() int {
	n := 0
	for _, p := range h.params {
		n += p.t.Len()
	}
	return n
}

// mark is a point in a graph's history to rewind to: everything recorded
// and allocated after it is forgotten.
type mark struct{ tape, vals, pool, idx int }

func (g *Graph) mark() mark {
	return mark{len(g.tape), g.nvals, g.pool.InUse(), len(g.idxOut)}
}

func (g *Graph) rewind(m mark) {
	for i := m.tape; i < len(g.tape); i++ {
		g.tape[i] = nil
	}
	g.tape = g.tape[:m.tape]
	for i := m.vals; i < g.nvals; i++ {
		g.slabs[i/slabSize][i%slabSize] = Value{g: g}
	}
	g.nvals = m.vals
	g.pool.ReleaseTo(m.pool)
	for i := m.idx; i < len(g.idxOut); i++ {
		b := g.idxOut[i]
		g.idxFree[len(b)] = append(g.idxFree[len(b)], b)
		g.idxOut[i] = nil
	}
	g.idxOut = g.idxOut[:m.idx]
}

// Apply computes H v into dst (one tensor per parameter, of its shape and
// dtype; allocated when dst is nil) and returns it. Everything Apply
// records is released before it returns.
func (h *Hessian) Apply(v, dst []*tensor.Tensor) ([]*tensor.Tensor, error) {
	if len(v) != len(h.params) {
		return nil, fmt.Errorf("autodiff: Hessian.Apply: %d vectors for %d parameters", len(v), len(h.params))
	}
	if err := h.matches("vector", v); err != nil {
		return nil, err
	}
	if dst == nil {
		var err error
		if dst, err = h.newVectors(); err != nil {
			return nil, err
		}
	} else if len(dst) != len(h.params) {
		return nil, fmt.Errorf("autodiff: Hessian.Apply: %d destinations for %d parameters", len(dst), len(h.params))
	} else if err := h.matches("destination", dst); err != nil {
		return nil, err
	}
	g := h.g
	m := g.mark()
	defer g.rewind(m)
	prev := g.SetRecording(true)
	var s *Value
	for i, gr := range h.grads {
		d := g.SumAll(g.Mul(gr, g.Const(v[i])))
		if s == nil {
			s = d
		} else {
			s = g.Add(s, d)
		}
	}
	g.SetRecording(prev)
	if s.err != nil {
		return nil, s.err
	}
	hv := make([]*Value, len(h.params))
	if !s.requires {
		// The gradient does not depend on the parameters: H = 0.
		for _, t := range dst {
			t.Zero()
		}
		return dst, nil
	}
	if err := g.backprop(hv, s, nil, h.params, false); err != nil {
		return nil, err
	}
	for i, t := range hv {
		if err := dst[i].CopyFrom(t.t); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// matches checks that ts has one tensor of each parameter's shape and
// dtype (len(ts) == len(h.params) is checked by the caller).
func (h *Hessian) matches(what string, ts []*tensor.Tensor) error {
	for i, p := range h.params {
		switch t := ts[i]; {
		case t == nil:
			return fmt.Errorf("autodiff: Hessian.Apply: %s %d is nil, parameter %d is %v %v: %w", what, i, i, p.t.DType(), p.Shape(), tensor.ErrShape)
		case t.DType() != p.t.DType():
			return fmt.Errorf("autodiff: Hessian.Apply: %s %d is %v, parameter %d is %v: %w", what, i, t.DType(), i, p.t.DType(), tensor.ErrDType)
		case !t.SameShape(p.t):
			return fmt.Errorf("autodiff: Hessian.Apply: %s %d has shape %v, parameter %d has %v: %w", what, i, t.Shape(), i, p.Shape(), tensor.ErrShape)
		}
	}
	return nil
}

// HVP returns the exact Hessian-vector product H v of the scalar loss with
// respect to params (v has one tensor per parameter).
func (g *Graph) HVP(loss *Value, params []*Value, v []*tensor.Tensor) ([]*tensor.Tensor, error) {
	h, err := g.Hessian(loss, params...)
	if err != nil {
		return nil, err
	}
	return h.Apply(v, nil)
}

func dotAll(a, b []*tensor.Tensor) float64 {
	var s float64
	for i := range a {
		for j := 0; j < a[i].Len(); j++ {
			s += a[i].Flat(j) * b[i].Flat(j)
		}
	}
	return s
}

// newVectors allocates one tensor per parameter; the parameters exist, so
// this fails only when memory cannot hold another copy of them.
func (h *Hessian) newVectors() ([]*tensor.Tensor, error) {
	out := make([]*tensor.Tensor, len(h.params))
	for i, p := range h.params {
		t, err := tensor.New(p.t.DType(), p.Shape()...)
		if err != nil {
			return nil, fmt.Errorf("autodiff: Hessian: %w", err)
		}
		out[i] = t
	}
	return out, nil
}

// newVectors2 is two calls of newVectors.
func (h *Hessian) newVectors2() (a, b []*tensor.Tensor, err error) {
	if a, err = h.newVectors(); err != nil {
		return nil, nil, err
	}
	if b, err = h.newVectors(); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// TraceEstimate is a Hutchinson estimate of the Hessian trace.
type TraceEstimate struct {
	Trace  float64 // the mean of z^T H z over the probes
	StdErr float64 // its standard error (NaN with one probe)
	Probes int
}

// HessianTrace estimates tr(H) by Hutchinson's method: the mean of
// z^T H z over probes vectors z of independent Rademacher signs drawn from
// rng (which makes the estimator unbiased, with variance 2 * the sum of the
// squared off-diagonal entries over the probe count).
func (h *Hessian) HessianTrace(probes int, rng *tensor.RNG) (TraceEstimate, error) {
	if probes < 1 {
		return TraceEstimate{}, fmt.Errorf("autodiff: HessianTrace with %d probes", probes)
	}
	if rng == nil {
		return TraceEstimate{}, errors.New("autodiff: HessianTrace needs a random generator")
	}
	z, hz, err := h.newVectors2()
	if err != nil {
		return TraceEstimate{}, err
	}
	samples := make([]float64, probes)
	for k := range samples {
		for _, t := range z {
			rng.Rademacher(t)
		}
		if _, err := h.Apply(z, hz); err != nil {
			return TraceEstimate{}, err
		}
		samples[k] = dotAll(z, hz)
	}
	mean, se := meanStdErr(samples)
	return TraceEstimate{Trace: mean, StdErr: se, Probes: probes}, nil
}

func meanStdErr(x []float64) (mean, se float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1) / float64(len(x)))
}

// ExactTrace returns tr(H) = sum_i e_i^T H e_i, one Hessian-vector product
// per parameter: for small models, and to check the estimators.
func (h *Hessian) ExactTrace() (float64, error) {
	e, he, err := h.newVectors2()
	if err != nil {
		return 0, err
	}
	var tr float64
	for i := range e {
		for j := 0; j < e[i].Len(); j++ {
			e[i].SetFlat(j, 1)
			if _, err := h.Apply(e, he); err != nil {
				return 0, err
			}
			tr += he[i].Flat(j)
			e[i].SetFlat(j, 0)
		}
	}
	return tr, nil
}

// ErrNotConverged is returned by TopEigenvalue when the power iteration
// stops at its iteration limit; the last estimate is returned with it.
var ErrNotConverged = errors.New("autodiff: power iteration did not converge")

// TopEigenvalue returns the eigenvalue of H of largest magnitude (with its
// sign) by power iteration from a random start drawn from rng: v <- Hv/|Hv|
// with the Rayleigh quotient v^T H v as the estimate, until two successive
// estimates differ by at most tol times the latest (or maxIter products).
// The rate of convergence is the ratio of the two largest eigenvalue
// magnitudes.
func (h *Hessian) TopEigenvalue(rng *tensor.RNG, tol float64, maxIter int) (lambda float64, iters int, err error) {
	if rng == nil || !(tol > 0) || math.IsInf(tol, 0) || maxIter < 1 {
		return 0, 0, fmt.Errorf("autodiff: TopEigenvalue needs a generator, a finite tol > 0 and maxIter >= 1 (tol %v, maxIter %d)", tol, maxIter)
	}
	v, hv, err := h.newVectors2()
	if err != nil {
		return 0, 0, err
	}
	for _, t := range v {
		rng.Normal(t, 0, 1)
	}
	normalize(v)
	prev := math.NaN()
	for iters = 1; iters <= maxIter; iters++ {
		if _, err := h.Apply(v, hv); err != nil {
			return 0, iters, err
		}
		lambda = dotAll(v, hv)
		if math.Abs(lambda-prev) <= tol*math.Abs(lambda) {
			return lambda, iters, nil
		}
		prev = lambda
		if normalize(hv) == 0 {
			return 0, iters, nil // H v = 0: v lies in the null space
		}
		v, hv = hv, v
	}
	return lambda, maxIter, ErrNotConverged
}

// normalize scales the block vector to unit norm and returns its old norm.
func normalize(v []*tensor.Tensor) float64 {
	n := math.Sqrt(dotAll(v, v))
	if n == 0 {
		return 0
	}
	for _, t := range v {
		_, _ = tensor.Scale(t, t, 1/n)
	}
	return n
}
