package autodiff

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/tensor"
)

type batchNormOp struct{}

func (batchNormOp) name() string { return "BatchNorm2d" }

// BatchNorm2d normalises x [N, C, H, W] with the statistics of the batch
// (training mode): y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c,
// with mean and (biased) variance over N, H and W, and gamma, beta of
// shape [C]. It also returns the batch mean and biased variance ([C]
// tensors owned by the graph) for the caller's running statistics.
//
// The forward pass and the plain backward pass are fused loops
// (tensor.BatchNormForward and tensor.BatchNormBackward). A recorded
// backward pass (GradGraph) instead builds the gradient from Graph
// operations that recompute the statistics from x, so second derivatives
// through the batch statistics are exact.
func (g *Graph) BatchNorm2d(x, gamma, beta *Value, eps float64) (y *Value, mean, variance *tensor.Tensor) {
	if err := g.check("BatchNorm2d", x, gamma, beta); err != nil {
		return g.fail(err), nil, nil
	}
	dt, err := dtypeOf("BatchNorm2d", x, gamma, beta)
	if err != nil {
		return g.fail(err), nil, nil
	}
	xs := x.Shape()
	if len(xs) != 4 || !equalShape(gamma.Shape(), xs[1:2]) || !equalShape(beta.Shape(), xs[1:2]) {
		return g.fail(fmt.Errorf("autodiff: BatchNorm2d of x %v, gamma %v, beta %v: want [N C H W], [C], [C]: %w", xs, gamma.Shape(), beta.Shape(), tensor.ErrShape)), nil, nil
	}
	if xs[0]*xs[2]*xs[3] < 2 || !(eps >= 0) || math.IsInf(eps, 0) {
		return g.fail(fmt.Errorf("autodiff: BatchNorm2d needs at least 2 values per channel and a finite eps >= 0 (x %v, eps %v): %w", xs, eps, tensor.ErrShape)), nil, nil
	}
	out, err1 := g.alloc(dt, xs)
	mt, err2 := g.alloc(dt, xs[1:2])
	vt, err3 := g.alloc(dt, xs[1:2])
	it, err4 := g.alloc(dt, xs[1:2])
	for _, e := range []error{err1, err2, err3, err4} {
		if e != nil {
			return g.wrap("BatchNorm2d", e), nil, nil
		}
	}
	if err := tensor.BatchNormForward(out, mt, vt, it, x.t, gamma.t, beta.t, eps); err != nil {
		return g.wrap("BatchNorm2d", err), nil, nil
	}
	r := g.result(batchNormOp{}, out, x, gamma, beta)
	r.aux, r.aux2, r.farg = mt, it, eps
	return r, mt, vt
}

func (batchNormOp) backward(g *Graph, out, gy *Value) {
	x, gamma, beta := out.in[0], out.in[1], out.in[2]
	if g.record {
		bnBackwardRecorded(g, x, gamma, beta, gy, out.farg)
		return
	}
	xs := x.Shape()
	dt := x.t.DType()
	var gx, gg, gb *tensor.Tensor
	if x.requires {
		gx, _ = g.alloc(dt, xs)
	}
	if gamma.requires {
		gg, _ = g.alloc(dt, xs[1:2])
	}
	if beta.requires {
		gb, _ = g.alloc(dt, xs[1:2])
	}
	if err := tensor.BatchNormBackward(gx, gg, gb, gy.t, x.t, gamma.t, out.aux, out.aux2); err != nil {
		for _, v := range [...]*Value{x, gamma, beta} {
			g.accum(v, g.wrap("BatchNorm2d backward", err))
		}
		return
	}
	if gx != nil {
		g.accum(x, g.owned(gx))
	}
	if gg != nil {
		g.accum(gamma, g.owned(gg))
	}
	if gb != nil {
		g.accum(beta, g.owned(gb))
	}
}

// bnBackwardRecorded is the batch-norm backward in Graph operations.
func bnBackwardRecorded(g *Graph, x, gamma, beta, gy *Value, eps float64) {
	xs := x.Shape()
	c := xs[1]
	m := float64(xs[0] * xs[2] * xs[3])
	mean := g.channelMean(x)
	xc := g.Sub(x, mean)
	variance := g.channelMean(g.Square(xc))
	inv := g.PowScalar(g.AddScalar(variance, eps), -0.5)
	xhat := g.Mul(xc, inv)
	dbeta := g.SumTo(gy, 1, c, 1, 1)
	dgamma := g.SumTo(g.Mul(gy, xhat), 1, c, 1, 1)
	if x.requires {
		gm := g.Reshape(gamma, 1, c, 1, 1)
		k := g.Scale(g.Mul(gm, inv), 1/m)
		inner := g.Sub(g.Sub(g.Scale(gy, m), dbeta), g.Mul(xhat, dgamma))
		g.accum(x, g.Mul(k, inner))
	}
	if gamma.requires {
		g.accum(gamma, g.Reshape(dgamma, c))
	}
	if beta.requires {
		g.accum(beta, g.Reshape(dbeta, c))
	}
}

// channelMean returns the mean of x [N, C, H, W] per channel, [1, C, 1, 1].
func (g *Graph) channelMean(x *Value) *Value {
	xs := x.Shape()
	return g.Scale(g.SumTo(x, 1, xs[1], 1, 1), 1/float64(xs[0]*xs[2]*xs[3]))
}

// BatchNorm2dEval normalises x [N, C, H, W] with fixed statistics
// (evaluation mode): y = (x - mean) / sqrt(var + eps) * gamma + beta, with
// mean and variance constant [C] tensors (the running statistics).
func (g *Graph) BatchNorm2dEval(x, gamma, beta *Value, mean, variance *tensor.Tensor, eps float64) *Value {
	if err := g.check("BatchNorm2dEval", x, gamma, beta); err != nil {
		return g.fail(err)
	}
	xs := x.Shape()
	if len(xs) != 4 || mean == nil || variance == nil || !equalShape(mean.Shape(), xs[1:2]) || !equalShape(variance.Shape(), xs[1:2]) {
		return g.fail(fmt.Errorf("autodiff: BatchNorm2dEval of x %v with statistics of shape %v: %w", xs, shapeOrNil(mean), tensor.ErrShape))
	}
	if !(eps >= 0) || math.IsInf(eps, 0) {
		return g.fail(fmt.Errorf("autodiff: BatchNorm2dEval needs a finite eps >= 0, got %v", eps))
	}
	c := xs[1]
	// y = x*scale + shift with scale = gamma/sqrt(var+eps), shift = beta -
	// mean*scale, both differentiable in gamma and beta.
	inv, err := g.alloc(x.t.DType(), []int{1, c, 1, 1})
	if err != nil {
		return g.wrap("BatchNorm2dEval", err)
	}
	mu, err := g.alloc(x.t.DType(), []int{1, c, 1, 1})
	if err != nil {
		return g.wrap("BatchNorm2dEval", err)
	}
	for ch := 0; ch < c; ch++ {
		inv.SetFlat(ch, 1/math.Sqrt(variance.Flat(ch)+eps))
		mu.SetFlat(ch, mean.Flat(ch))
	}
	scale := g.Mul(g.Reshape(gamma, 1, c, 1, 1), g.Const(inv))
	shift := g.Sub(g.Reshape(beta, 1, c, 1, 1), g.Mul(g.Const(mu), scale))
	return g.Add(g.Mul(x, scale), shift)
}

func shapeOrNil(t *tensor.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}
