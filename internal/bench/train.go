package bench

import (
	"fmt"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/tensor"
)

// Trainer is one model's training step (forward, backward, momentum
// update) on a fixed random batch, the unit of `flatfast bench train`.
type Trainer struct {
	Model  layers.Module
	g      *autodiff.Graph
	x      *tensor.Tensor
	labels []int
	params []*autodiff.Value
	grads  []*autodiff.Value
	gt     []*tensor.Tensor
	opt    *optim.Momentum
	// Loss of the last step.
	Loss float64
}

// NewTrainer builds "mlp" (the paper's FashionMNIST MLP, inputs 784) or
// "resnet18" (CIFAR ResNet-18, 3x32x32 inputs) with a batch of the given
// size, float32.
func NewTrainer(model string, batch int) (*Trainer, error) {
	rng := tensor.NewRNG(1)
	t := &Trainer{g: autodiff.NewGraph()}
	var err error
	switch model {
	case "mlp":
		t.Model, err = layers.NewPaperMLP(rng, tensor.Float32)
		t.x = tensor.Must(tensor.New(tensor.Float32, batch, 784))
	case "resnet18":
		t.Model, err = layers.NewResNet(rng, tensor.Float32, layers.ResNet18Config)
		t.x = tensor.Must(tensor.New(tensor.Float32, batch, 3, 32, 32))
	default:
		return nil, fmt.Errorf("unknown model %q (want mlp or resnet18)", model)
	}
	if err != nil {
		return nil, err
	}
	rng.Normal(t.x, 0, 1)
	t.labels = make([]int, batch)
	for i := range t.labels {
		t.labels[i] = rng.IntN(10)
	}
	t.params = layers.Parameters(t.Model)
	t.grads = make([]*autodiff.Value, len(t.params))
	t.opt, err = optim.NewMomentum(layers.ParamTensors(t.Model), 0.01, 0.9)
	return t, err
}

// Step runs one training step.
func (t *Trainer) Step() error {
	g := t.g
	loss := g.CrossEntropy(t.Model.Forward(g, g.Const(t.x)), t.labels)
	if err := g.GradInto(t.grads, loss, t.params...); err != nil {
		return err
	}
	t.Loss, _ = loss.Item()
	t.gt = autodiff.Tensors(t.gt, t.grads)
	if err := t.opt.Step(t.gt); err != nil {
		return err
	}
	g.Reset()
	return nil
}

// MLPLoss builds the paper's MLP loss on graph g for autodiff benchmarks:
// it returns the loss and the parameters.
func MLPLoss(g *autodiff.Graph, m layers.Module, x *tensor.Tensor, labels []int) *autodiff.Value {
	return g.CrossEntropy(m.Forward(g, g.Const(x)), labels)
}

// AutodiffCases returns, for the paper's MLP at the given batch (float32):
// one gradient, one Hessian-vector product, and a 10-probe Hutchinson
// trace sharing one recorded backward pass.
func AutodiffCases(batch int) ([]Case, error) {
	tr, err := NewTrainer("mlp", batch)
	if err != nil {
		return nil, err
	}
	g := tr.g
	v := make([]*tensor.Tensor, len(tr.params))
	hv := make([]*tensor.Tensor, len(tr.params))
	rng := tensor.NewRNG(2)
	for i, p := range tr.params {
		v[i] = tensor.Must(tensor.New(tensor.Float32, p.Shape()...))
		hv[i] = tensor.Must(tensor.New(tensor.Float32, p.Shape()...))
		rng.Normal(v[i], 0, 1)
	}
	grad := func(it int) {
		for range it {
			if err := g.GradInto(tr.grads, MLPLoss(g, tr.Model, tr.x, tr.labels), tr.params...); err != nil {
				panic(err)
			}
			g.Reset()
		}
	}
	hvp := func(it int) {
		for range it {
			h, err := g.Hessian(MLPLoss(g, tr.Model, tr.x, tr.labels), tr.params...)
			if err != nil {
				panic(err)
			}
			if _, err := h.Apply(v, hv); err != nil {
				panic(err)
			}
			g.Reset()
		}
	}
	hutch := func(it int) {
		for range it {
			h, err := g.Hessian(MLPLoss(g, tr.Model, tr.x, tr.labels), tr.params...)
			if err != nil {
				panic(err)
			}
			if _, err := h.HessianTrace(10, rng); err != nil {
				panic(err)
			}
			g.Reset()
		}
	}
	return []Case{
		{Kernel: "mlp_grad", N: batch, Run: grad},
		{Kernel: "mlp_hvp", N: batch, Run: hvp},
		{Kernel: "mlp_hutchinson10", N: batch, Run: hutch},
	}, nil
}
