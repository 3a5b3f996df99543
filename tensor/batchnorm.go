package tensor

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/simd"
)

// BatchNormForward normalises x [N, C, H, W] with the statistics of the
// batch (batch norm in training mode):
// y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c, with the mean
// and biased variance of each channel over N, H and W, accumulated in
// float64. It writes y (x's shape) and, [C] each, mean, variance and
// inv = 1/sqrt(var_c + eps), which BatchNormBackward takes. Every tensor
// has x's dtype and must be given (there is no allocation on nil).
// Channels run in parallel on Threads() workers, each on its own, so
// results are bitwise the same for any thread count; nothing is allocated
// in steady state.
func BatchNormForward(y, mean, variance, inv, x, gamma, beta *Tensor, eps float64) error {
	const op = "BatchNormForward"
	if err := nonNil(op, y, mean, variance, inv, x, gamma, beta); err != nil {
		return err
	}
	if err := checkBatchNorm(op, x, y, gamma, beta, mean, variance, inv); err != nil {
		return err
	}
	if !(eps >= 0) || math.IsInf(eps, 0) {
		return fmt.Errorf("%w: %s needs a finite eps >= 0, got %v", ErrShape, op, eps)
	}
	j := bnPool.get()
	*j = bnJob{forward: true, x: x, out: y, gamma: gamma, beta: beta, mean: mean, vari: variance, inv: inv,
		n: x.dims[0], c: x.dims[1], hw: x.dims[2] * x.dims[3], eps: eps}
	parallelForChunked(j.c, Threads(), j)
	*j = bnJob{}
	bnPool.put(j)
	return nil
}

// BatchNormBackward computes the gradients of BatchNormForward(x, gamma,
// beta) given the output gradient gy (x's shape), from x, gamma and the
// mean and inv that BatchNormForward wrote: gx (x's shape), ggamma and
// gbeta ([C]), each left out when nil. With xhat = (x - mean)*inv and M
// = N*H*W values per channel, gbeta = sum gy, ggamma = sum gy*xhat and
// gx = gamma*inv/M * (M*gy - gbeta - xhat*ggamma), through the batch
// statistics. Every tensor has x's dtype. Like BatchNormForward it runs
// channels in parallel, gives bitwise the same results for any thread
// count and allocates nothing in steady state.
func BatchNormBackward(gx, ggamma, gbeta, gy, x, gamma, mean, inv *Tensor) error {
	const op = "BatchNormBackward"
	if err := nonNil(op, gy, x, gamma, mean, inv); err != nil {
		return err
	}
	if err := checkBatchNorm(op, x, gy, gamma, mean, inv, ggamma, gbeta); err != nil {
		return err
	}
	if gx != nil {
		if err := checkBatchNorm(op, x, gx); err != nil {
			return err
		}
	}
	j := bnPool.get()
	*j = bnJob{x: x, gamma: gamma, mean: mean, inv: inv, gy: gy, gx: gx, gg: ggamma, gb: gbeta,
		n: x.dims[0], c: x.dims[1], hw: x.dims[2] * x.dims[3]}
	parallelForChunked(j.c, Threads(), j)
	*j = bnJob{}
	bnPool.put(j)
	return nil
}

// checkBatchNorm checks that x is a 4-D tensor [N, C, H, W] with at least
// one value per channel, that full has x's shape and every tensor of
// perChannel the shape [C], all of x's dtype; nil tensors are passed over.
func checkBatchNorm(op string, x, full *Tensor, perChannel ...*Tensor) error {
	if x.nd != 4 || x.dims[0]*x.dims[2]*x.dims[3] < 1 {
		return fmt.Errorf("%w: %s wants [N C H W] with N*H*W >= 1, got %v", ErrShape, op, shapeString(x.Shape()))
	}
	if full != nil {
		if full.dt != x.dt {
			return fmt.Errorf("%w: %s of %v and %v tensors", ErrDType, op, x.dt, full.dt)
		}
		if !full.SameShape(x) {
			return fmt.Errorf("%w: %s: tensor %v, want x's shape %v", ErrShape, op, shapeString(full.Shape()), shapeString(x.Shape()))
		}
	}
	for _, t := range perChannel {
		if t == nil {
			continue
		}
		if t.dt != x.dt {
			return fmt.Errorf("%w: %s of %v and %v tensors", ErrDType, op, x.dt, t.dt)
		}
		if t.nd != 1 || t.dims[0] != x.dims[1] {
			return fmt.Errorf("%w: %s: per-channel tensor %v, want [%d] for x %v", ErrShape, op, shapeString(t.Shape()), x.dims[1], shapeString(x.Shape()))
		}
	}
	return nil
}

// bnJob runs the fused batch-norm loops one channel per unit (channels
// are independent, so the result does not depend on the thread count).
type bnJob struct {
	forward                              bool
	x, out, gamma, beta, mean, vari, inv *Tensor
	gy, gx, gg, gb                       *Tensor
	n, c, hw                             int
	eps                                  float64
}

var bnPool freeList[bnJob]

// run processes channel ch.
func (j *bnJob) run(_, ch int) {
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
func channelStats(x *Tensor, n, c, hw, ch int) (mean, variance float64) {
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
func affineChannel(y, x *Tensor, n, c, hw, ch int, a, b float64) {
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

// channelDots returns sum gy and sum gy*x over channel ch.
func channelDots(gy, x *Tensor, n, c, hw, ch int) (sg, sgx float64) {
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
func affine2Channel(z, u, v *Tensor, n, ch0, hw, ch int, a, b, c float64) {
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
