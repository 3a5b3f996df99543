package autodiff

import (
	"fmt"

	"github.com/flatfast/flatfast/tensor"
)

type logSoftmaxOp struct{}

func (logSoftmaxOp) name() string { return "LogSoftmax" }

// LogSoftmax returns log(softmax(a)) along the last axis.
func (g *Graph) LogSoftmax(a *Value) *Value { return g.unary(logSoftmaxOp{}, a, tensor.LogSoftmax) }

func (logSoftmaxOp) backward(g *Graph, out, gy *Value) {
	// gx = gy - softmax(x) * sum(gy) along the axis, softmax = exp(y).
	g.accum(out.in[0], g.Sub(gy, g.Mul(g.Exp(out), g.Sum(gy, -1, true))))
}

// SoftCrossEntropy returns the mean over rows of -sum_c t[i,c] log
// softmax(logits)[i,c] for logits [N, C] and target distributions t
// [N, C] (a constant or a value; rows need not be one-hot). This is the
// expected cross-entropy under label noise when t holds the noisy label
// distribution.
func (g *Graph) SoftCrossEntropy(logits, targets *Value) *Value {
	if err := g.check("SoftCrossEntropy", logits, targets); err != nil {
		return g.fail(err)
	}
	ls, ts := logits.Shape(), targets.Shape()
	if len(ls) != 2 || !equalShape(ls, ts) {
		return g.fail(fmt.Errorf("autodiff: SoftCrossEntropy of logits %v and targets %v: want equal [N C] shapes: %w", ls, ts, tensor.ErrShape))
	}
	n := max(1, ls[0])
	return g.Scale(g.SumAll(g.Mul(targets, g.LogSoftmax(logits))), -1/float64(n))
}

// CrossEntropy returns the mean cross-entropy of logits [N, C] against
// hard labels (len N, each in [0, C)).
func (g *Graph) CrossEntropy(logits *Value, labels []int) *Value {
	if err := g.check("CrossEntropy", logits); err != nil {
		return g.fail(err)
	}
	ls := logits.Shape()
	if len(ls) != 2 || ls[0] != len(labels) {
		return g.fail(fmt.Errorf("autodiff: CrossEntropy of logits %v with %d labels: %w", ls, len(labels), tensor.ErrShape))
	}
	oh, err := g.alloc(logits.t.DType(), ls)
	if err != nil {
		return g.wrap("CrossEntropy", err)
	}
	oh.Zero()
	for i, c := range labels {
		if c < 0 || c >= ls[1] {
			return g.fail(fmt.Errorf("autodiff: CrossEntropy: label %d of row %d outside [0, %d): %w", c, i, ls[1], tensor.ErrShape))
		}
		oh.SetFlat(i*ls[1]+c, 1)
	}
	return g.SoftCrossEntropy(logits, g.Const(oh))
}

// MSE returns the mean of (pred - target)^2 over all elements.
func (g *Graph) MSE(pred, target *Value) *Value {
	if err := g.check("MSE", pred, target); err != nil {
		return g.fail(err)
	}
	if !equalShape(pred.Shape(), target.Shape()) {
		return g.fail(fmt.Errorf("autodiff: MSE of %v and %v: %w", pred.Shape(), target.Shape(), tensor.ErrShape))
	}
	return g.MeanAll(g.Square(g.Sub(pred, target)))
}

type conv2dOp struct{}
type convInputOp struct{}
type convWeightOp struct{}

func (conv2dOp) name() string     { return "Conv2d" }
func (convInputOp) name() string  { return "Conv2dBackwardInput" }
func (convWeightOp) name() string { return "Conv2dBackwardWeight" }

// Conv2d convolves x [N, Cin, H, W] with w [Cout, Cin, KH, KW] (stride and
// zero padding on both axes), giving [N, Cout, OH, OW].
func (g *Graph) Conv2d(x, w *Value, stride, pad int) *Value {
	if err := g.check("Conv2d", x, w); err != nil {
		return g.fail(err)
	}
	dt, err := dtypeOf("Conv2d", x, w)
	if err != nil {
		return g.fail(err)
	}
	geo, err := tensor.NewConvGeom(x.Shape(), w.Shape(), stride, pad)
	if err != nil {
		return g.wrap("Conv2d", err)
	}
	dst, err := g.alloc(dt, []int{geo.N, geo.Cout, geo.OH, geo.OW})
	if err != nil {
		return g.wrap("Conv2d", err)
	}
	if _, err := tensor.Conv2d(dst, x.t, w.t, stride, pad); err != nil {
		return g.wrap("Conv2d", err)
	}
	v := g.result(conv2dOp{}, dst, x, w)
	v.iarg[0], v.iarg[1] = stride, pad
	return v
}

func (conv2dOp) backward(g *Graph, out, gy *Value) {
	x, w := out.in[0], out.in[1]
	s, p := out.iarg[0], out.iarg[1]
	if x.requires {
		xs := x.Shape()
		g.accum(x, g.Conv2dBackwardInput(gy, w, xs[2], xs[3], s, p))
	}
	if w.requires {
		ws := w.Shape()
		g.accum(w, g.Conv2dBackwardWeight(x, gy, ws[2], ws[3], s, p))
	}
}

// Conv2dBackwardInput is the input gradient of Conv2d (a transposed
// convolution of gy by w back to an h x wd image). It is bilinear in
// (gy, w) and differentiable in both.
func (g *Graph) Conv2dBackwardInput(gy, w *Value, h, wd, stride, pad int) *Value {
	if err := g.check("Conv2dBackwardInput", gy, w); err != nil {
		return g.fail(err)
	}
	dt, err := dtypeOf("Conv2dBackwardInput", gy, w)
	if err != nil {
		return g.fail(err)
	}
	if len(gy.Shape()) != 4 || len(w.Shape()) != 4 {
		return g.fail(fmt.Errorf("autodiff: Conv2dBackwardInput of %v and %v: %w", gy.Shape(), w.Shape(), tensor.ErrShape))
	}
	dst, err := g.alloc(dt, []int{gy.Shape()[0], w.Shape()[1], h, wd})
	if err != nil {
		return g.wrap("Conv2dBackwardInput", err)
	}
	if _, err := tensor.Conv2dBackwardInput(dst, gy.t, w.t, h, wd, stride, pad); err != nil {
		return g.wrap("Conv2dBackwardInput", err)
	}
	v := g.result(convInputOp{}, dst, gy, w)
	v.iarg[0], v.iarg[1] = stride, pad
	return v
}

func (convInputOp) backward(g *Graph, out, gz *Value) {
	gy, w := out.in[0], out.in[1]
	s, p := out.iarg[0], out.iarg[1]
	if gy.requires {
		g.accum(gy, g.Conv2d(gz, w, s, p))
	}
	if w.requires {
		ws := w.Shape()
		g.accum(w, g.Conv2dBackwardWeight(gz, gy, ws[2], ws[3], s, p))
	}
}

// Conv2dBackwardWeight is the kernel gradient of Conv2d: kh x kw kernels
// from input x and output gradient gy. It is bilinear in (x, gy).
func (g *Graph) Conv2dBackwardWeight(x, gy *Value, kh, kw, stride, pad int) *Value {
	if err := g.check("Conv2dBackwardWeight", x, gy); err != nil {
		return g.fail(err)
	}
	dt, err := dtypeOf("Conv2dBackwardWeight", x, gy)
	if err != nil {
		return g.fail(err)
	}
	if len(gy.Shape()) != 4 || len(x.Shape()) != 4 {
		return g.fail(fmt.Errorf("autodiff: Conv2dBackwardWeight of %v and %v: %w", x.Shape(), gy.Shape(), tensor.ErrShape))
	}
	dst, err := g.alloc(dt, []int{gy.Shape()[1], x.Shape()[1], kh, kw})
	if err != nil {
		return g.wrap("Conv2dBackwardWeight", err)
	}
	if _, err := tensor.Conv2dBackwardWeight(dst, x.t, gy.t, kh, kw, stride, pad); err != nil {
		return g.wrap("Conv2dBackwardWeight", err)
	}
	v := g.result(convWeightOp{}, dst, x, gy)
	v.iarg[0], v.iarg[1] = stride, pad
	return v
}

func (convWeightOp) backward(g *Graph, out, gz *Value) {
	x, gy := out.in[0], out.in[1]
	s, p := out.iarg[0], out.iarg[1]
	if x.requires {
		xs := x.Shape()
		g.accum(x, g.Conv2dBackwardInput(gy, gz, xs[2], xs[3], s, p))
	}
	if gy.requires {
		g.accum(gy, g.Conv2d(x, gz, s, p))
	}
}

type maxPoolOp struct{}
type scatterOp struct{}
type gatherOp struct{}

func (maxPoolOp) name() string { return "MaxPool2d" }
func (scatterOp) name() string { return "ScatterAdd" }
func (gatherOp) name() string  { return "Gather" }

// MaxPool2d takes the maximum over k x k windows of x [N, C, H, W] with
// the given stride and padding. Its gradient goes to the chosen elements.
func (g *Graph) MaxPool2d(x *Value, k, stride, pad int) *Value {
	if err := g.check("MaxPool2d", x); err != nil {
		return g.fail(err)
	}
	xs := x.Shape()
	if len(xs) != 4 || stride < 1 || k < 1 {
		return g.fail(fmt.Errorf("autodiff: MaxPool2d of %v (window %d, stride %d): %w", xs, k, stride, tensor.ErrShape))
	}
	oh, ow := (xs[2]+2*pad-k)/stride+1, (xs[3]+2*pad-k)/stride+1
	dst, err := g.alloc(x.t.DType(), []int{xs[0], xs[1], max(oh, 0), max(ow, 0)})
	if err != nil {
		return g.wrap("MaxPool2d", err)
	}
	_, idx, err := tensor.MaxPool2d(dst, x.t, k, stride, pad, g.int32s(dst.Len()))
	if err != nil {
		return g.wrap("MaxPool2d", err)
	}
	r := g.result(maxPoolOp{}, dst, x)
	r.idx = idx
	return r
}

func (maxPoolOp) backward(g *Graph, out, gy *Value) {
	x := out.in[0]
	g.accum(x, g.scatter(gy, out.idx, x.Shape()))
}

// scatter adds gy[i] at flat position idx[i] of a zero tensor of shape.
func (g *Graph) scatter(gy *Value, idx []int32, shape []int) *Value {
	if err := g.check("ScatterAdd", gy); err != nil {
		return g.fail(err)
	}
	dst, err := g.alloc(gy.t.DType(), shape)
	if err != nil {
		return g.wrap("ScatterAdd", err)
	}
	if _, err := tensor.ScatterAdd(dst, gy.t, idx, shape); err != nil {
		return g.wrap("ScatterAdd", err)
	}
	v := g.result(scatterOp{}, dst, gy)
	v.idx = idx
	return v
}

func (scatterOp) backward(g *Graph, out, gz *Value) {
	gy := out.in[0]
	g.accum(gy, g.gather(gz, out.idx, gy.Shape()))
}

// gather picks x at flat positions idx into a tensor of shape.
func (g *Graph) gather(x *Value, idx []int32, shape []int) *Value {
	if err := g.check("Gather", x); err != nil {
		return g.fail(err)
	}
	dst, err := g.alloc(x.t.DType(), shape)
	if err != nil {
		return g.wrap("Gather", err)
	}
	if _, err := tensor.Gather(dst, x.t, idx, shape); err != nil {
		return g.wrap("Gather", err)
	}
	v := g.result(gatherOp{}, dst, x)
	v.idx = idx
	return v
}

func (gatherOp) backward(g *Graph, out, gz *Value) {
	x := out.in[0]
	g.accum(x, g.scatter(gz, out.idx, x.Shape()))
}

type avgPoolOp struct{}
type avgPoolBackOp struct{}

func (avgPoolOp) name() string     { return "AvgPool2d" }
func (avgPoolBackOp) name() string { return "AvgPool2dBackward" }

// AvgPool2d averages k x k windows of x [N, C, H, W] (padding counts as
// zeros in the divisor, as PyTorch's default).
func (g *Graph) AvgPool2d(x *Value, k, stride, pad int) *Value {
	if err := g.check("AvgPool2d", x); err != nil {
		return g.fail(err)
	}
	xs := x.Shape()
	if len(xs) != 4 || stride < 1 || k < 1 {
		return g.fail(fmt.Errorf("autodiff: AvgPool2d of %v (window %d, stride %d): %w", xs, k, stride, tensor.ErrShape))
	}
	oh, ow := (xs[2]+2*pad-k)/stride+1, (xs[3]+2*pad-k)/stride+1
	dst, err := g.alloc(x.t.DType(), []int{xs[0], xs[1], max(oh, 0), max(ow, 0)})
	if err != nil {
		return g.wrap("AvgPool2d", err)
	}
	if _, err := tensor.AvgPool2d(dst, x.t, k, stride, pad); err != nil {
		return g.wrap("AvgPool2d", err)
	}
	v := g.result(avgPoolOp{}, dst, x)
	v.iarg[0], v.iarg[1], v.iarg[2] = k, stride, pad
	return v
}

func (avgPoolOp) backward(g *Graph, out, gy *Value) {
	x := out.in[0]
	g.accum(x, g.avgPoolBack(gy, x.Shape(), out.iarg[0], out.iarg[1], out.iarg[2]))
}

func (g *Graph) avgPoolBack(gy *Value, shape []int, k, stride, pad int) *Value {
	if err := g.check("AvgPool2dBackward", gy); err != nil {
		return g.fail(err)
	}
	dst, err := g.alloc(gy.t.DType(), shape)
	if err != nil {
		return g.wrap("AvgPool2dBackward", err)
	}
	if _, err := tensor.AvgPool2dBackward(dst, gy.t, shape, k, stride, pad); err != nil {
		return g.wrap("AvgPool2dBackward", err)
	}
	v := g.result(avgPoolBackOp{}, dst, gy)
	v.iarg[0], v.iarg[1], v.iarg[2] = k, stride, pad
	return v
}

func (avgPoolBackOp) backward(g *Graph, out, gz *Value) {
	gy := out.in[0]
	g.accum(gy, g.AvgPool2d(gz, out.iarg[0], out.iarg[1], out.iarg[2]))
}

// GlobalAvgPool averages each channel of x [N, C, H, W] over its H x W
// pixels, giving [N, C].
func (g *Graph) GlobalAvgPool(x *Value) *Value {
	if err := g.check("GlobalAvgPool", x); err != nil {
		return g.fail(err)
	}
	xs := x.Shape()
	if len(xs) != 4 {
		return g.fail(fmt.Errorf("autodiff: GlobalAvgPool of %v: want [N C H W]: %w", xs, tensor.ErrShape))
	}
	return g.Mean(g.Reshape(x, xs[0], xs[1], xs[2]*xs[3]), 2, false)
}
