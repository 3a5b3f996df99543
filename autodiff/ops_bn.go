package autodiff

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/simd"
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
// The forward pass and the plain backward pass are fused loops. A recorded
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
	c := xs[1]
	out, err1 := g.alloc(dt, xs)
	mt, err2 := g.alloc(dt, xs[1:2])
	vt, err3 := g.alloc(dt, xs[1:2])
	it, err4 := g.alloc(dt, xs[1:2])
	for _, e := range []error{err1, err2, err3, err4} {
		if e != nil {
			return g.wrap("BatchNorm2d", e), nil, nil
		}
	}
	g.bn = bnJob{forward: true, x: x.t, out: out, gamma: gamma.t, beta: beta.t, mean: mt, vari: vt, inv: it,
		n: xs[0], c: c, hw: xs[2] * xs[3], eps: eps}
	tensor.ParallelFor(c, &g.bn)
	g.bn = bnJob{}
	r := g.result(batchNormOp{}, out, x, gamma, beta)
	r.aux, r.aux2, r.farg = mt, it, eps
	return r, mt, vt
}

// bnJob runs the fused batch-norm loops one channel per unit (channels
// are independent, so the result does not depend on the thread count).
type bnJob struct {
	forward                              bool
	x, out, gamma, beta, mean, vari, inv *tensor.Tensor
	gy, gx, gg, gb                       *tensor.Tensor
	n, c, hw                             int
	eps                                  float64
}

// Run processes channel ch.
func (j *bnJob) Run(_, ch int) {
	n, c, hw := j.n, j.c, j.hw
	if j.forward {
		m, v := channelStats(j.x, n, c, hw, ch)
		inv := 1 / math.Sqrt(v+j.eps)
		j.mean.SetFlat(ch, m)
		j.vari.SetFlat(ch, v)
		j.inv.SetFlat(ch, inv)
		a := inv * j.gamma.Flat(ch)
		affineChannel(j.out, j.x, n, c, hw, ch, a, j.beta.Flat(ch)-m*a)
		return
	}
	mean, inv := j.mean.Flat(ch), j.inv.Flat(ch)
	m := float64(n * hw)
	// dbeta = sum gy, dgamma = sum gy*xhat = inv*(sum gy*x - mean*sum gy)
	sg, sgx := channelDots(j.gy, j.x, n, c, hw, ch)
	dbeta := sg
	dgamma := inv * (sgx - mean*sg)
	if j.gg != nil {
		j.gg.SetFlat(ch, dgamma)
	}
	if j.gb != nil {
		j.gb.SetFlat(ch, dbeta)
	}
	if j.gx != nil {
		// gx = gamma*inv/M * (M*gy - dbeta - xhat*dgamma), affine in gy
		// and x: A*gy + B*x + C.
		gm := j.gamma.Flat(ch)
		a := gm * inv
		b := -gm * inv * inv * dgamma / m
		cc := -a*dbeta/m + gm*inv*inv*dgamma*mean/m
		affine2Channel(j.gx, j.gy, j.x, n, c, hw, ch, a, b, cc)
	}
}

// channelStats returns the mean and biased variance of channel ch of an
// [n, c, hw] tensor, accumulated in float64 in two passes.
func channelStats(x *tensor.Tensor, n, c, hw, ch int) (mean, variance float64) {
	var s float64
	if f := x.Float32s(); f != nil {
		// Planes (at most a few thousand values) are summed in float32 by
		// the SIMD kernels and the planes added in float64.
		for i := 0; i < n; i++ {
			s += float64(simd.Sum(f[(i*c+ch)*hw : (i*c+ch+1)*hw]))
		}
		mean = s / float64(n*hw)
		var q float64
		for i := 0; i < n; i++ {
			q += float64(simd.SumSquaredDeviation(f[(i*c+ch)*hw:(i*c+ch+1)*hw], float32(mean)))
		}
		return mean, q / float64(n*hw)
	}
	f := x.Float64s()
	for i := 0; i < n; i++ {
		for _, v := range f[(i*c+ch)*hw : (i*c+ch+1)*hw] {
			s += v
		}
	}
	mean = s / float64(n*hw)
	var q float64
	for i := 0; i < n; i++ {
		for _, v := range f[(i*c+ch)*hw : (i*c+ch+1)*hw] {
			d := v - mean
			q += d * d
		}
	}
	return mean, q / float64(n*hw)
}

// affineChannel writes y = a*x + b over channel ch.
func affineChannel(y, x *tensor.Tensor, n, c, hw, ch int, a, b float64) {
	if f := x.Float32s(); f != nil {
		o := y.Float32s()
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			simd.Affine(o[off:off+hw], f[off:off+hw], float32(a), float32(b))
		}
		return
	}
	f, o := x.Float64s(), y.Float64s()
	for i := 0; i < n; i++ {
		off := (i*c + ch) * hw
		src, dst := f[off:off+hw], o[off:off+hw]
		for j, v := range src {
			dst[j] = v*a + b
		}
	}
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
	g.bn = bnJob{x: x.t, gamma: gamma.t, mean: out.aux, inv: out.aux2, gy: gy.t, gx: gx, gg: gg, gb: gb,
		n: xs[0], c: xs[1], hw: xs[2] * xs[3]}
	tensor.ParallelFor(xs[1], &g.bn)
	g.bn = bnJob{}
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

// channelDots returns sum gy and sum gy*x over channel ch.
func channelDots(gy, x *tensor.Tensor, n, c, hw, ch int) (sg, sgx float64) {
	if f := x.Float32s(); f != nil {
		gf := gy.Float32s()
		for i := 0; i < n; i++ {
			off := (i*c + ch) * hw
			sg += float64(simd.Sum(gf[off : off+hw]))
			sgx += float64(simd.Dot(gf[off:off+hw], f[off:off+hw]))
		}
		return sg, sgx
	}
	f, gf := x.Float64s(), gy.Float64s()
	for i := 0; i < n; i++ {
		off := (i*c + ch) * hw
		gr, xr := gf[off:off+hw], f[off:off+hw]
		for j, v := range gr {
			sg += v
			sgx += v * xr[j]
		}
	}
	return sg, sgx
}

// affine2Channel writes z = a*u + b*v + c over channel ch.
func affine2Channel(z, u, v *tensor.Tensor, n, ch0, hw, ch int, a, b, c float64) {
	if zf := z.Float32s(); zf != nil {
		uf, vf := u.Float32s(), v.Float32s()
		for i := 0; i < n; i++ {
			off := (i*ch0 + ch) * hw
			simd.Affine2(zf[off:off+hw], uf[off:off+hw], vf[off:off+hw], float32(a), float32(b), float32(c))
		}
		return
	}
	zf, uf, vf := z.Float64s(), u.Float64s(), v.Float64s()
	for i := 0; i < n; i++ {
		off := (i*ch0 + ch) * hw
		zr, ur, vr := zf[off:off+hw], uf[off:off+hw], vf[off:off+hw]
		for j := range zr {
			zr[j] = a*ur[j] + b*vr[j] + c
		}
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
