package layers

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/tensor"
)

// Module is a part of a model: a function of a Value that may own
// parameters (trained) and buffers (state such as batch-norm running
// statistics, not trained).
type Module interface {
	// Forward computes the module's output on graph g.
	Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value
	// Params lists the parameters with names relative to the module (as
	// PyTorch's state_dict spells them), in a fixed order.
	Params() []Param
	// Buffers lists the non-trained state the same way.
	Buffers() []Buffer
	// SetTraining switches between training and evaluation behaviour
	// (batch normalisation uses batch statistics only when training).
	SetTraining(on bool)
}

// Param is a named parameter.
type Param struct {
	Name  string
	Value *autodiff.Value
}

// Buffer is a named non-trained tensor. Integer marks state that PyTorch
// keeps as int64 (num_batches_tracked), so files written for PyTorch say
// so.
type Buffer struct {
	Name    string
	Tensor  *tensor.Tensor
	Integer bool
}

// Parameters returns the parameter values of m, in order.
func Parameters(m Module) []*autodiff.Value {
	ps := m.Params()
	out := make([]*autodiff.Value, len(ps))
	for i, p := range ps {
		out[i] = p.Value
	}
	return out
}

// ParamTensors returns the parameter tensors of m, in order (for the
// optimizers).
func ParamTensors(m Module) []*tensor.Tensor {
	ps := m.Params()
	out := make([]*tensor.Tensor, len(ps))
	for i, p := range ps {
		out[i] = p.Value.Tensor()
	}
	return out
}

// NumParams returns the number of trained scalars of m.
func NumParams(m Module) int {
	n := 0
	for _, p := range m.Params() {
		n += p.Value.Tensor().Len()
	}
	return n
}

func prefixed(prefix string, ps []Param) []Param {
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = Param{Name: prefix + "." + p.Name, Value: p.Value}
	}
	return out
}

func prefixedBuffers(prefix string, bs []Buffer) []Buffer {
	out := make([]Buffer, len(bs))
	for i, b := range bs {
		out[i] = Buffer{Name: prefix + "." + b.Name, Tensor: b.Tensor, Integer: b.Integer}
	}
	return out
}

// stateless provides the Module methods of a layer without state.
type stateless struct{}

func (stateless) Params() []Param     { return nil }
func (stateless) Buffers() []Buffer   { return nil }
func (stateless) SetTraining(on bool) {}

// kaimingUniform fills t from U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's
// default for Linear and Conv2d weights (kaiming_uniform_ with a = sqrt(5))
// and biases.
func kaimingUniform(rng *tensor.RNG, t *tensor.Tensor, fanIn int) {
	b := 1 / math.Sqrt(float64(fanIn))
	rng.Uniform(t, -b, b)
}

func checkDType(dt tensor.DType) error {
	if dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("layers: unknown dtype %v", dt)
	}
	return nil
}

func checkRNG(what string, rng *tensor.RNG) error {
	if rng == nil {
		return fmt.Errorf("layers: %s needs a random generator, got nil", what)
	}
	return nil
}

// paramCount adds up the elements of a model's tensors before any is
// allocated, noting overflow, so that a model too large for memory is
// refused as a whole rather than after its first layers took the memory.
type paramCount struct {
	n    int
	over bool
}

// add counts times tensors of the given shape.
func (c *paramCount) add(times int, shape ...int) {
	p := times
	for _, d := range shape {
		hi, lo := bits.Mul64(uint64(p), uint64(d))
		if hi != 0 || lo > math.MaxInt {
			c.over = true
			return
		}
		p = int(lo)
	}
	if c.n > math.MaxInt-p {
		c.over = true
		return
	}
	c.n += p
}

// check returns an error naming what and its size unless the counted
// elements of type dt fit in memory.
func (c *paramCount) check(what string, dt tensor.DType) error {
	if c.over {
		return fmt.Errorf("layers: %s has more elements than an int holds: %w", what, tensor.ErrShape)
	}
	if err := tensor.CheckSize(dt, c.n); err != nil {
		return fmt.Errorf("layers: %s: %d parameters and buffers: %w", what, c.n, err)
	}
	return nil
}

// newTensor is tensor.New naming the layer whose tensor it is.
func newTensor(what string, dt tensor.DType, shape ...int) (*tensor.Tensor, error) {
	t, err := tensor.New(dt, shape...)
	if err != nil {
		return nil, fmt.Errorf("layers: %s: %w", what, err)
	}
	return t, nil
}

// Linear is y = x W^T + b for x [N, In], with W [Out, In] and b [Out]
// (PyTorch's layout).
type Linear struct {
	W, B    *autodiff.Value // B is nil without bias
	In, Out int
}

// NewLinear returns a Linear layer initialised like PyTorch's: W and b
// uniform in +-1/sqrt(in), drawn from rng.
func NewLinear(rng *tensor.RNG, dt tensor.DType, in, out int, bias bool) (*Linear, error) {
	if in < 1 || out < 1 {
		return nil, fmt.Errorf("layers: Linear(%d, %d): sizes must be positive", in, out)
	}
	if err := checkDType(dt); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("Linear(%d, %d)", in, out)
	if err := checkRNG(what, rng); err != nil {
		return nil, err
	}
	var c paramCount
	c.add(1, out, in)
	if bias {
		c.add(1, out)
	}
	if err := c.check(what, dt); err != nil {
		return nil, err
	}
	w, err := newTensor(what+" weight", dt, out, in)
	if err != nil {
		return nil, err
	}
	kaimingUniform(rng, w, in)
	l := &Linear{W: autodiff.NewParam(w), In: in, Out: out}
	if bias {
		b, err := newTensor(what+" bias", dt, out)
		if err != nil {
			return nil, err
		}
		kaimingUniform(rng, b, in)
		l.B = autodiff.NewParam(b)
	}
	return l, nil
}

// Forward computes x W^T + b.
func (l *Linear) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	return g.Linear(x, l.W, l.B)
}

// Params returns weight and bias.
func (l *Linear) Params() []Param {
	ps := []Param{{"weight", l.W}}
	if l.B != nil {
		ps = append(ps, Param{"bias", l.B})
	}
	return ps
}

// Buffers returns nothing.
func (l *Linear) Buffers() []Buffer { return nil }

// SetTraining does nothing.
func (l *Linear) SetTraining(bool) {}

// Conv2d is a 2-D convolution over NCHW input with kernel W [Out, In, K,
// K], the same stride and zero padding on both axes, and an optional bias
// [Out].
type Conv2d struct {
	W, B                    *autodiff.Value
	In, Out, K, Stride, Pad int
}

// NewConv2d returns a Conv2d initialised like PyTorch's (uniform in
// +-1/sqrt(in*k*k)).
func NewConv2d(rng *tensor.RNG, dt tensor.DType, in, out, k, stride, pad int, bias bool) (*Conv2d, error) {
	if in < 1 || out < 1 || k < 1 || stride < 1 || pad < 0 {
		return nil, fmt.Errorf("layers: Conv2d(in %d, out %d, kernel %d, stride %d, pad %d): invalid", in, out, k, stride, pad)
	}
	if err := checkDType(dt); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("Conv2d(in %d, out %d, kernel %d)", in, out, k)
	if err := checkRNG(what, rng); err != nil {
		return nil, err
	}
	var n paramCount
	n.add(1, out, in, k, k)
	if bias {
		n.add(1, out)
	}
	if err := n.check(what, dt); err != nil {
		return nil, err
	}
	w, err := newTensor(what+" weight", dt, out, in, k, k)
	if err != nil {
		return nil, err
	}
	fanIn := in * k * k // no overflow: w holds as many elements
	kaimingUniform(rng, w, fanIn)
	c := &Conv2d{W: autodiff.NewParam(w), In: in, Out: out, K: k, Stride: stride, Pad: pad}
	if bias {
		b, err := newTensor(what+" bias", dt, out)
		if err != nil {
			return nil, err
		}
		kaimingUniform(rng, b, fanIn)
		c.B = autodiff.NewParam(b)
	}
	return c, nil
}

// Forward convolves x.
func (c *Conv2d) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	y := g.Conv2d(x, c.W, c.Stride, c.Pad)
	if c.B != nil {
		y = g.Add(y, g.Reshape(c.B, 1, c.Out, 1, 1))
	}
	return y
}

// Params returns weight and bias.
func (c *Conv2d) Params() []Param {
	ps := []Param{{"weight", c.W}}
	if c.B != nil {
		ps = append(ps, Param{"bias", c.B})
	}
	return ps
}

// Buffers returns nothing.
func (c *Conv2d) Buffers() []Buffer { return nil }

// SetTraining does nothing.
func (c *Conv2d) SetTraining(bool) {}

// BatchNorm2d normalises each channel of NCHW input: with batch statistics
// while training (and then updates the running statistics as PyTorch does:
// running = (1-momentum)*running + momentum*batch, with the unbiased batch
// variance), with the running statistics in evaluation mode.
type BatchNorm2d struct {
	Gamma, Beta   *autodiff.Value
	RunningMean   *tensor.Tensor
	RunningVar    *tensor.Tensor
	NumBatches    *tensor.Tensor // a one-element count (int64 in PyTorch)
	Eps, Momentum float64
	C             int
	training      bool
}

// NewBatchNorm2d returns batch normalisation over c channels with
// PyTorch's defaults: gamma 1, beta 0, running mean 0 and variance 1,
// eps 1e-5, momentum 0.1, in training mode.
func NewBatchNorm2d(dt tensor.DType, c int) (*BatchNorm2d, error) {
	if c < 1 {
		return nil, fmt.Errorf("layers: BatchNorm2d(%d): channels must be positive", c)
	}
	if err := checkDType(dt); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("BatchNorm2d(%d)", c)
	var n paramCount
	n.add(4, c) // gamma, beta and the two running statistics
	if err := n.check(what, dt); err != nil {
		return nil, err
	}
	var ts [4]*tensor.Tensor
	for i := range ts {
		t, err := newTensor(what, dt, c)
		if err != nil {
			return nil, err
		}
		ts[i] = t
	}
	ts[0].Fill(1) // gamma
	ts[3].Fill(1) // running variance
	return &BatchNorm2d{
		Gamma:       autodiff.NewParam(ts[0]),
		Beta:        autodiff.NewParam(ts[1]),
		RunningMean: ts[2],
		RunningVar:  ts[3],
		NumBatches:  tensor.Must(tensor.New(tensor.Float64)), // one element
		Eps:         1e-5, Momentum: 0.1, C: c, training: true,
	}, nil
}

// Forward normalises x. The exported fields may have been changed since
// NewBatchNorm2d; they are checked here, and bad ones give a Value
// holding the error.
func (b *BatchNorm2d) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	if err := b.check(); err != nil {
		return g.Fail(err)
	}
	if !b.training {
		return g.BatchNorm2dEval(x, b.Gamma, b.Beta, b.RunningMean, b.RunningVar, b.Eps)
	}
	y, mean, variance := g.BatchNorm2d(x, b.Gamma, b.Beta, b.Eps)
	if y.Err() != nil {
		return y
	}
	xs := x.Shape()
	m := float64(xs[0] * xs[2] * xs[3])
	unbias := m / (m - 1)
	for c := 0; c < mean.Len(); c++ { // x's channels, checked against C
		b.RunningMean.SetFlat(c, (1-b.Momentum)*b.RunningMean.Flat(c)+b.Momentum*mean.Flat(c))
		b.RunningVar.SetFlat(c, (1-b.Momentum)*b.RunningVar.Flat(c)+b.Momentum*variance.Flat(c)*unbias)
	}
	b.NumBatches.SetFlat(0, b.NumBatches.Flat(0)+1)
	return y
}

// check validates the fields Forward uses.
func (b *BatchNorm2d) check() error {
	switch {
	case !(b.Momentum >= 0 && b.Momentum <= 1):
		return fmt.Errorf("layers: BatchNorm2d momentum must be in [0, 1], got %v", b.Momentum)
	case !(b.Eps >= 0) || math.IsInf(b.Eps, 0):
		return fmt.Errorf("layers: BatchNorm2d eps must be finite and >= 0, got %v", b.Eps)
	case b.NumBatches == nil || b.NumBatches.Len() != 1:
		return fmt.Errorf("layers: BatchNorm2d needs a one-element NumBatches")
	}
	for _, s := range []*tensor.Tensor{b.RunningMean, b.RunningVar} {
		if s == nil || s.Dims() != 1 || s.Len() != b.C {
			return fmt.Errorf("layers: BatchNorm2d of %d channels has running statistics of shape %v, want [%d]: %w", b.C, shapeOf(s), b.C, tensor.ErrShape)
		}
	}
	return nil
}

func shapeOf(t *tensor.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}

// Params returns gamma and beta as PyTorch names them.
func (b *BatchNorm2d) Params() []Param {
	return []Param{{"weight", b.Gamma}, {"bias", b.Beta}}
}

// Buffers returns the running statistics.
func (b *BatchNorm2d) Buffers() []Buffer {
	return []Buffer{{"running_mean", b.RunningMean, false}, {"running_var", b.RunningVar, false}, {"num_batches_tracked", b.NumBatches, true}}
}

// SetTraining switches between batch and running statistics.
func (b *BatchNorm2d) SetTraining(on bool) { b.training = on }

// Activation names an elementwise nonlinearity.
type Activation int

// The activations.
const (
	Identity Activation = iota
	ReLUAct
	TanhAct
)

func (a Activation) String() string {
	switch a {
	case Identity:
		return "identity"
	case ReLUAct:
		return "relu"
	case TanhAct:
		return "tanh"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// ParseActivation parses "identity" (or "linear"), "relu", "tanh".
func ParseActivation(s string) (Activation, error) {
	switch s {
	case "identity", "linear":
		return Identity, nil
	case "relu":
		return ReLUAct, nil
	case "tanh":
		return TanhAct, nil
	}
	return 0, fmt.Errorf("layers: unknown activation %q (want identity, relu or tanh)", s)
}

// check returns an error for a value that is none of the constants: an
// unknown activation must not act silently as the identity.
func (a Activation) check() error {
	switch a {
	case Identity, ReLUAct, TanhAct:
		return nil
	}
	return fmt.Errorf("layers: unknown activation %v (want Identity, ReLUAct or TanhAct)", a)
}

// Apply applies the activation on graph g; an unknown activation gives a
// Value holding the error.
func (a Activation) Apply(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	switch a {
	case ReLUAct:
		return g.ReLU(x)
	case TanhAct:
		return g.Tanh(x)
	case Identity:
		return x
	}
	return g.Fail(a.check())
}

// ReLU is the module max(x, 0).
type ReLU struct{ stateless }

// Forward applies ReLU.
func (ReLU) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value { return g.ReLU(x) }

// Tanh is the module tanh(x).
type Tanh struct{ stateless }

// Forward applies tanh.
func (Tanh) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value { return g.Tanh(x) }

// Flatten reshapes [N, ...] to [N, -1].
type Flatten struct{ stateless }

// Forward flattens.
func (Flatten) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value { return g.Flatten(x) }

// MaxPool2d is max pooling over K x K windows.
type MaxPool2d struct {
	stateless
	K, Stride, Pad int
}

// Forward pools.
func (p MaxPool2d) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	return g.MaxPool2d(x, p.K, p.Stride, p.Pad)
}

// AvgPool2d is average pooling over K x K windows.
type AvgPool2d struct {
	stateless
	K, Stride, Pad int
}

// Forward pools.
func (p AvgPool2d) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	return g.AvgPool2d(x, p.K, p.Stride, p.Pad)
}

// GlobalAvgPool averages each channel over its pixels: [N, C, H, W] to
// [N, C].
type GlobalAvgPool struct{ stateless }

// Forward pools.
func (GlobalAvgPool) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	return g.GlobalAvgPool(x)
}

// Sequential applies modules in order; their names are their indices, as
// in PyTorch's nn.Sequential.
type Sequential struct {
	Layers []Module
}

// Forward applies the layers in order.
func (s *Sequential) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	for _, l := range s.Layers {
		x = l.Forward(g, x)
	}
	return x
}

// Params returns the layers' parameters prefixed with their index.
func (s *Sequential) Params() []Param {
	var ps []Param
	for i, l := range s.Layers {
		ps = append(ps, prefixed(fmt.Sprint(i), l.Params())...)
	}
	return ps
}

// Buffers returns the layers' buffers prefixed with their index.
func (s *Sequential) Buffers() []Buffer {
	var bs []Buffer
	for i, l := range s.Layers {
		bs = append(bs, prefixedBuffers(fmt.Sprint(i), l.Buffers())...)
	}
	return bs
}

// SetTraining sets every layer's mode.
func (s *Sequential) SetTraining(on bool) {
	for _, l := range s.Layers {
		l.SetTraining(on)
	}
}
