package optim

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/tensor"
)

// Momentum is heavy-ball SGD in the paper's form (eq. 1):
//
//	pi <- beta*pi - g
//	w  <- w + eta*pi
//
// with pi = 0 at the start. It is the same trajectory as PyTorch's
// torch.optim.SGD(params, lr=eta, momentum=beta, dampening=0) with its
// momentum buffer v = -pi (v <- beta*v + g, w <- w - eta*v). Label noise
// enters through the gradient (the loss is computed on noisy targets).
type Momentum struct {
	params []*tensor.Tensor
	pi     []*tensor.Tensor
	eta    float64
	beta   float64
}

// NewMomentum returns the optimizer for params with learning rate eta > 0
// and momentum 0 <= beta < 1.
func NewMomentum(params []*tensor.Tensor, eta, beta float64) (*Momentum, error) {
	if err := checkLR(eta); err != nil {
		return nil, err
	}
	if !(beta >= 0 && beta < 1) {
		return nil, fmt.Errorf("optim: momentum beta must be in [0, 1), got %v", beta)
	}
	m := &Momentum{params: params, eta: eta, beta: beta}
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("optim: parameter %d is nil", i)
		}
		pi, err := stateLike(i, p)
		if err != nil {
			return nil, err
		}
		m.pi = append(m.pi, pi)
	}
	return m, nil
}

// stateLike returns a zero tensor shaped as parameter i for an
// optimizer's state; it fails only when memory cannot hold another copy.
func stateLike(i int, p *tensor.Tensor) (*tensor.Tensor, error) {
	t, err := tensor.New(p.DType(), p.Shape()...)
	if err != nil {
		return nil, fmt.Errorf("optim: state for parameter %d: %w", i, err)
	}
	return t, nil
}

func checkLR(eta float64) error {
	if !(eta > 0) || math.IsInf(eta, 0) {
		return fmt.Errorf("optim: learning rate must be positive and finite, got %v", eta)
	}
	return nil
}

// SetLR changes the learning rate (for schedules).
func (m *Momentum) SetLR(eta float64) error {
	if err := checkLR(eta); err != nil {
		return err
	}
	m.eta = eta
	return nil
}

// LR returns the learning rate.
func (m *Momentum) LR() float64 { return m.eta }

// Beta returns the momentum.
func (m *Momentum) Beta() float64 { return m.beta }

// Velocity returns the momentum buffers pi (the optimizer's state, for
// checkpoints).
func (m *Momentum) Velocity() []*tensor.Tensor { return m.pi }

// Step applies one update from grads (one per parameter, same shapes).
func (m *Momentum) Step(grads []*tensor.Tensor) error {
	if err := checkGrads(m.params, grads); err != nil {
		return err
	}
	for i, p := range m.params {
		if err := tensor.MomentumUpdate(p, m.pi[i], grads[i], m.beta, m.eta); err != nil {
			return err
		}
	}
	return nil
}

func checkGrads(params, grads []*tensor.Tensor) error {
	if len(grads) != len(params) {
		return fmt.Errorf("optim: %d gradients for %d parameters", len(grads), len(params))
	}
	for i, g := range grads {
		if g == nil || !g.SameShape(params[i]) || g.DType() != params[i].DType() {
			return fmt.Errorf("optim: gradient %d does not match parameter %d (%v %v): %w", i, i, params[i].DType(), params[i].Shape(), tensor.ErrShape)
		}
	}
	return nil
}
