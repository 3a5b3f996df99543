package layers

import (
	"fmt"
	"math"
	"slices"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/tensor"
)

// NewMLP returns a multilayer perceptron as a Sequential of Linear layers
// (widths[i] -> widths[i+1], with bias) each followed by acts[i] (Identity
// adds no module), so its parameter names match PyTorch's
// nn.Sequential(Linear, ReLU, Linear, ...).
func NewMLP(rng *tensor.RNG, dt tensor.DType, widths []int, acts []Activation) (*Sequential, error) {
	if len(widths) < 2 || len(acts) != len(widths)-1 {
		return nil, fmt.Errorf("layers: MLP needs at least 2 widths and one activation per layer (got %d widths, %d activations)", len(widths), len(acts))
	}
	if err := checkDType(dt); err != nil {
		return nil, err
	}
	if err := checkRNG("MLP", rng); err != nil {
		return nil, err
	}
	var c paramCount
	for i := 0; i+1 < len(widths); i++ {
		if widths[i] < 1 || widths[i+1] < 1 {
			return nil, fmt.Errorf("layers: MLP widths %v must be positive", widths)
		}
		if err := acts[i].check(); err != nil {
			return nil, err
		}
		c.add(1, widths[i+1], widths[i]+1) // weight and bias
	}
	if err := c.check(fmt.Sprintf("MLP of widths %v", widths), dt); err != nil {
		return nil, err
	}
	s := &Sequential{}
	for i := 0; i+1 < len(widths); i++ {
		l, err := NewLinear(rng, dt, widths[i], widths[i+1], true)
		if err != nil {
			return nil, err
		}
		s.Layers = append(s.Layers, l)
		switch acts[i] {
		case ReLUAct:
			s.Layers = append(s.Layers, ReLU{})
		case TanhAct:
			s.Layers = append(s.Layers, Tanh{})
		case Identity:
		default:
			return nil, fmt.Errorf("layers: unknown activation %v", acts[i])
		}
	}
	return s, nil
}

// PaperMLPWidths are the widths of the paper's FashionMNIST network.
var PaperMLPWidths = []int{784, 512, 512, 512, 512, 512, 10}

// NewPaperMLP returns the paper's 6-layer FashionMNIST MLP (App. A.4):
// 784-512-512-512-512-512-10, ReLU after layers 1-4, tanh after layer 5,
// linear logits.
func NewPaperMLP(rng *tensor.RNG, dt tensor.DType) (*Sequential, error) {
	return NewMLP(rng, dt, PaperMLPWidths, []Activation{ReLUAct, ReLUAct, ReLUAct, ReLUAct, TanhAct, Identity})
}

// BasicBlock is the residual block of ResNet-18: two 3x3 convolutions with
// batch norm, and a 1x1 convolution with batch norm on the shortcut when
// the shape changes.
type BasicBlock struct {
	Conv1, Conv2 *Conv2d
	BN1, BN2     *BatchNorm2d
	ShortConv    *Conv2d // nil for the identity shortcut
	ShortBN      *BatchNorm2d
}

func newBasicBlock(rng *tensor.RNG, dt tensor.DType, in, out, stride int) (*BasicBlock, error) {
	b := &BasicBlock{}
	var err error
	if b.Conv1, err = NewConv2d(rng, dt, in, out, 3, stride, 1, false); err != nil {
		return nil, err
	}
	if b.BN1, err = NewBatchNorm2d(dt, out); err != nil {
		return nil, err
	}
	if b.Conv2, err = NewConv2d(rng, dt, out, out, 3, 1, 1, false); err != nil {
		return nil, err
	}
	if b.BN2, err = NewBatchNorm2d(dt, out); err != nil {
		return nil, err
	}
	if stride != 1 || in != out {
		if b.ShortConv, err = NewConv2d(rng, dt, in, out, 1, stride, 0, false); err != nil {
			return nil, err
		}
		if b.ShortBN, err = NewBatchNorm2d(dt, out); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Forward computes relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
// The ReLUs and the sum work in place on the batch-norm outputs (nothing
// else reads those), so a block keeps as many tensors as PyTorch's.
func (b *BasicBlock) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	s := x
	if b.ShortConv != nil {
		s = b.ShortBN.Forward(g, b.ShortConv.Forward(g, x))
	}
	h := g.ReLUInPlace(b.BN1.Forward(g, b.Conv1.Forward(g, x)))
	h = b.BN2.Forward(g, b.Conv2.Forward(g, h))
	return g.ReLUInPlace(g.AddInPlace(h, s))
}

func (b *BasicBlock) parts() ([]string, []Module) {
	names := []string{"conv1", "bn1", "conv2", "bn2"}
	mods := []Module{b.Conv1, b.BN1, b.Conv2, b.BN2}
	if b.ShortConv != nil {
		names = append(names, "shortcut.0", "shortcut.1")
		mods = append(mods, b.ShortConv, b.ShortBN)
	}
	return names, mods
}

// Params returns the block's parameters with PyTorch's names.
func (b *BasicBlock) Params() []Param {
	names, mods := b.parts()
	var ps []Param
	for i, m := range mods {
		ps = append(ps, prefixed(names[i], m.Params())...)
	}
	return ps
}

// Buffers returns the block's batch-norm statistics.
func (b *BasicBlock) Buffers() []Buffer {
	names, mods := b.parts()
	var bs []Buffer
	for i, m := range mods {
		bs = append(bs, prefixedBuffers(names[i], m.Buffers())...)
	}
	return bs
}

// SetTraining sets the batch norms' mode.
func (b *BasicBlock) SetTraining(on bool) {
	_, mods := b.parts()
	for _, m := range mods {
		m.SetTraining(on)
	}
}

// ResNetConfig sizes a CIFAR ResNet: Width multiplies the channel counts
// 64-128-256-512 (rounded, at least 1), Blocks gives the BasicBlocks per
// stage, Classes the outputs.
type ResNetConfig struct {
	Width   float64
	Blocks  [4]int
	Classes int
}

// ResNet18Config is the standard ResNet-18 for CIFAR-10.
var ResNet18Config = ResNetConfig{Width: 1, Blocks: [4]int{2, 2, 2, 2}, Classes: 10}

// ResNet is the CIFAR variant of ResNet (3x3 stem without max pooling,
// stages at strides 1, 2, 2, 2, global average pooling, a linear
// classifier), laid out and named as the widely used PyTorch
// implementation the paper cites (kuangliu/pytorch-cifar), so that its
// state moves between the two.
type ResNet struct {
	Conv1  *Conv2d
	BN1    *BatchNorm2d
	Stages [4][]*BasicBlock
	Linear *Linear
}

// NewResNet builds a CIFAR ResNet for 3-channel input.
func NewResNet(rng *tensor.RNG, dt tensor.DType, cfg ResNetConfig) (*ResNet, error) {
	if !(cfg.Width > 0) || cfg.Classes < 1 {
		return nil, fmt.Errorf("layers: ResNet width %v, classes %d: both must be positive", cfg.Width, cfg.Classes)
	}
	if err := checkDType(dt); err != nil {
		return nil, err
	}
	if err := checkRNG("ResNet", rng); err != nil {
		return nil, err
	}
	widths := [4]int{}
	for i, c := range [4]int{64, 128, 256, 512} {
		// A channel count must convert to an int exactly (a float beyond
		// the int range converts to garbage, Inf included).
		w := math.Round(float64(c) * cfg.Width)
		if !(w <= maxChannels) {
			return nil, fmt.Errorf("layers: ResNet width %v gives %v channels in stage %d, more than %d", cfg.Width, w, i+1, maxChannels)
		}
		widths[i] = max(1, int(w))
		if cfg.Blocks[i] < 1 {
			return nil, fmt.Errorf("layers: ResNet stage %d has %d blocks, need at least 1", i+1, cfg.Blocks[i])
		}
	}
	if err := resNetSize(cfg, widths).check(fmt.Sprintf("ResNet of width %v, blocks %v, %d classes", cfg.Width, cfg.Blocks, cfg.Classes), dt); err != nil {
		return nil, err
	}
	r := &ResNet{}
	var err error
	if r.Conv1, err = NewConv2d(rng, dt, 3, widths[0], 3, 1, 1, false); err != nil {
		return nil, err
	}
	if r.BN1, err = NewBatchNorm2d(dt, widths[0]); err != nil {
		return nil, err
	}
	in := widths[0]
	for s := 0; s < 4; s++ {
		for b := 0; b < cfg.Blocks[s]; b++ {
			stride := 1
			if s > 0 && b == 0 {
				stride = 2
			}
			blk, err := newBasicBlock(rng, dt, in, widths[s], stride)
			if err != nil {
				return nil, err
			}
			r.Stages[s] = append(r.Stages[s], blk)
			in = widths[s]
		}
	}
	if r.Linear, err = NewLinear(rng, dt, in, cfg.Classes, true); err != nil {
		return nil, err
	}
	return r, nil
}

// maxChannels bounds a ResNet's channel counts, far above any real
// network, so that the float computing them converts to an int exactly.
const maxChannels = 1 << 40

// resNetSize counts the parameters and buffers NewResNet would allocate.
func resNetSize(cfg ResNetConfig, widths [4]int) *paramCount {
	var c paramCount
	bn := func(times, ch int) { c.add(4*times, ch); c.add(times) }
	c.add(1, widths[0], 3, 3, 3)
	bn(1, widths[0])
	in := widths[0]
	for s, w := range widths {
		// The first block of a stage may change the shape (a shortcut
		// convolution); the others map w channels to w.
		c.add(1, w, in, 3, 3)
		c.add(1, w, w, 3, 3)
		bn(2, w)
		if s > 0 || in != w {
			c.add(1, w, in)
			bn(1, w)
		}
		c.add(cfg.Blocks[s]-1, 2*9, w, w)
		bn(2*(cfg.Blocks[s]-1), w)
		in = w
	}
	c.add(1, cfg.Classes, in+1)
	return &c
}

// Forward maps images [N, 3, H, W] to logits [N, Classes].
func (r *ResNet) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	h := g.ReLUInPlace(r.BN1.Forward(g, r.Conv1.Forward(g, x)))
	for _, st := range r.Stages {
		for _, b := range st {
			h = b.Forward(g, h)
		}
	}
	return r.Linear.Forward(g, g.GlobalAvgPool(h))
}

func (r *ResNet) parts() ([]string, []Module) {
	names := []string{"conv1", "bn1"}
	mods := []Module{r.Conv1, r.BN1}
	for s, st := range r.Stages {
		for b, blk := range st {
			names = append(names, fmt.Sprintf("layer%d.%d", s+1, b))
			mods = append(mods, blk)
		}
	}
	return append(names, "linear"), append(mods, r.Linear)
}

// Params returns the network's parameters with PyTorch's names.
func (r *ResNet) Params() []Param {
	names, mods := r.parts()
	var ps []Param
	for i, m := range mods {
		ps = append(ps, prefixed(names[i], m.Params())...)
	}
	return ps
}

// Buffers returns the batch-norm statistics with PyTorch's names.
func (r *ResNet) Buffers() []Buffer {
	names, mods := r.parts()
	var bs []Buffer
	for i, m := range mods {
		bs = append(bs, prefixedBuffers(names[i], m.Buffers())...)
	}
	return bs
}

// SetTraining sets every batch norm's mode.
func (r *ResNet) SetTraining(on bool) {
	_, mods := r.parts()
	for _, m := range mods {
		m.SetTraining(on)
	}
}

// UV is the two-layer network of the paper's Sec. 3.4,
// f(x) = U act(V x) / sqrt(n), with V [n, d] and U [m, n]: the "UV model"
// (identity activation) and its nonlinear variants. Forward maps inputs
// [P, d] to outputs [P, m].
type UV struct {
	U, V *autodiff.Value
	Act  Activation
	N    int
}

// NewUV returns a UV model with U and V drawn i.i.d. from N(0, 1), as in
// the paper's experiments.
func NewUV(rng *tensor.RNG, dt tensor.DType, d, n, m int, act Activation) (*UV, error) {
	if d < 1 || n < 1 || m < 1 {
		return nil, fmt.Errorf("layers: UV model sizes d=%d n=%d m=%d must be positive", d, n, m)
	}
	if err := checkDType(dt); err != nil {
		return nil, err
	}
	if err := act.check(); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("UV model d=%d n=%d m=%d", d, n, m)
	if err := checkRNG(what, rng); err != nil {
		return nil, err
	}
	var c paramCount
	c.add(1, m, n)
	c.add(1, n, d)
	if err := c.check(what, dt); err != nil {
		return nil, err
	}
	u, err := newTensor(what+" U", dt, m, n)
	if err != nil {
		return nil, err
	}
	v, err := newTensor(what+" V", dt, n, d)
	if err != nil {
		return nil, err
	}
	rng.Normal(u, 0, 1)
	rng.Normal(v, 0, 1)
	return &UV{U: autodiff.NewParam(u), V: autodiff.NewParam(v), Act: act, N: n}, nil
}

// Forward computes act(x V^T) U^T / sqrt(n). N, an exported field, must
// still be V's number of rows.
func (m *UV) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	if m.V == nil || m.V.Err() != nil || len(m.V.Shape()) != 2 || m.V.Shape()[0] != m.N {
		return g.Fail(fmt.Errorf("layers: UV model of width N=%d with V of shape %v: %w", m.N, valueShape(m.V), tensor.ErrShape))
	}
	h := m.Act.Apply(g, g.MatMul(x, m.V, false, true))
	return g.Scale(g.MatMul(h, m.U, false, true), 1/math.Sqrt(float64(m.N)))
}

// Params returns U and V.
func (m *UV) Params() []Param { return []Param{{"U", m.U}, {"V", m.V}} }

// Buffers returns nothing.
func (m *UV) Buffers() []Buffer { return nil }

// SetTraining does nothing.
func (m *UV) SetTraining(bool) {}

// VectorUV is R independent vector UV models (d = m = 1) evaluated in
// lockstep, f_r(x) = sum_k u[r,k] act(v[r,k] x) / sqrt(n): U and V are
// [R, n], inputs are the P scalar data points [P], outputs [R, P]. Batching
// many small runs into one graph amortises the per-operation overhead; the
// runs do not interact.
type VectorUV struct {
	U, V *autodiff.Value
	Act  Activation
	N    int
}

// NewVectorUV returns R copies of the vector UV model with the given
// starting vectors u, v (length n each), as the paper keeps one fixed
// initialisation for all runs.
func NewVectorUV(dt tensor.DType, runs int, u, v []float64, act Activation) (*VectorUV, error) {
	n := len(u)
	if runs < 1 || n < 1 || len(v) != n {
		return nil, fmt.Errorf("layers: VectorUV needs runs >= 1 and u, v of equal positive length (got %d runs, %d and %d)", runs, len(u), len(v))
	}
	if err := checkDType(dt); err != nil {
		return nil, err
	}
	if err := act.check(); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("VectorUV of %d runs, width %d", runs, n)
	var c paramCount
	c.add(2, runs, n)
	if err := c.check(what, dt); err != nil {
		return nil, err
	}
	ut, err := newTensor(what, dt, runs, n)
	if err != nil {
		return nil, err
	}
	vt, err := newTensor(what, dt, runs, n)
	if err != nil {
		return nil, err
	}
	for r := 0; r < runs; r++ {
		for k := 0; k < n; k++ {
			ut.SetFlat(r*n+k, u[k])
			vt.SetFlat(r*n+k, v[k])
		}
	}
	return &VectorUV{U: autodiff.NewParam(ut), V: autodiff.NewParam(vt), Act: act, N: n}, nil
}

// Forward maps the data points x [P] to outputs [R, P].
func (m *VectorUV) Forward(g *autodiff.Graph, x *autodiff.Value) *autodiff.Value {
	for _, v := range []*autodiff.Value{x, m.U, m.V} {
		if v != nil && v.Err() != nil {
			return g.Fail(v.Err())
		}
	}
	us, vs, xs := valueShape(m.U), valueShape(m.V), valueShape(x)
	if len(us) != 2 || !slices.Equal(us, vs) || len(xs) != 1 {
		return g.Fail(fmt.Errorf("layers: VectorUV with U %v, V %v on data %v: want U and V [R n], data [P]: %w", us, vs, xs, tensor.ErrShape))
	}
	s := m.U.Shape()
	r, n := s[0], s[1]
	p := x.Shape()[0]
	// h[r, k, a] = act(v[r, k] x[a])
	h := m.Act.Apply(g, g.Mul(g.Reshape(m.V, r, n, 1), g.Reshape(x, 1, 1, p)))
	// f[r, a] = sum_k u[r, k] h[r, k, a] / sqrt(n)
	f := g.Sum(g.Mul(g.Reshape(m.U, r, n, 1), h), 1, false)
	return g.Scale(f, 1/math.Sqrt(float64(n)))
}

// Params returns U and V.
func (m *VectorUV) Params() []Param { return []Param{{"U", m.U}, {"V", m.V}} }

// Buffers returns nothing.
func (m *VectorUV) Buffers() []Buffer { return nil }

// SetTraining does nothing.
func (m *VectorUV) SetTraining(bool) {}

// valueShape is v's shape, nil for a nil Value.
func valueShape(v *autodiff.Value) []int {
	if v == nil {
		return nil
	}
	return v.Shape()
}
