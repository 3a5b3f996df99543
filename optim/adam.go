package optim

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/tensor"
)

// Adam is the optimizer of Kingma and Ba (2015), as in PyTorch's
// torch.optim.Adam without weight decay or amsgrad:
//
//	m <- b1*m + (1-b1)*g,  v <- b2*v + (1-b2)*g^2
//	w <- w - lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
//
// The paper uses it (lr 1e-4, full batch) to project onto the zero-loss
// valley after the label-noise phase.
type Adam struct {
	params         []*tensor.Tensor
	m, v           []*tensor.Tensor
	lr, b1, b2, ep float64
	t              int
}

// NewAdam returns Adam with learning rate lr and PyTorch's defaults
// beta1 = 0.9, beta2 = 0.999, eps = 1e-8.
func NewAdam(params []*tensor.Tensor, lr float64) (*Adam, error) {
	return NewAdamWith(params, lr, 0.9, 0.999, 1e-8)
}

// NewAdamWith returns Adam with explicit coefficients.
func NewAdamWith(params []*tensor.Tensor, lr, beta1, beta2, eps float64) (*Adam, error) {
	if err := checkLR(lr); err != nil {
		return nil, err
	}
	// An infinite eps would make every step 0, silently.
	if !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps > 0) || math.IsInf(eps, 0) {
		return nil, fmt.Errorf("optim: Adam needs 0 <= beta1, beta2 < 1 and a finite eps > 0 (got %v, %v, %v)", beta1, beta2, eps)
	}
	a := &Adam{params: params, lr: lr, b1: beta1, b2: beta2, ep: eps}
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("optim: parameter %d is nil", i)
		}
		m, err := stateLike(i, p)
		if err != nil {
			return nil, err
		}
		v, err := stateLike(i, p)
		if err != nil {
			return nil, err
		}
		a.m, a.v = append(a.m, m), append(a.v, v)
	}
	return a, nil
}

// SetLR changes the learning rate.
func (a *Adam) SetLR(lr float64) error {
	if err := checkLR(lr); err != nil {
		return err
	}
	a.lr = lr
	return nil
}

// Step applies one update.
func (a *Adam) Step(grads []*tensor.Tensor) error {
	if err := checkGrads(a.params, grads); err != nil {
		return err
	}
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	for i, p := range a.params {
		if f := p.Float32s(); f != nil {
			m, v, g := a.m[i].Float32s(), a.v[i].Float32s(), grads[i].Float32s()
			b1, b2 := float32(a.b1), float32(a.b2)
			for j, gj := range g {
				m[j] = b1*m[j] + (1-b1)*gj
				v[j] = b2*v[j] + (1-b2)*gj*gj
				mh := float64(m[j]) / c1
				vh := float64(v[j]) / c2
				f[j] -= float32(a.lr * mh / (math.Sqrt(vh) + a.ep))
			}
			continue
		}
		w, m, v, g := p.Float64s(), a.m[i].Float64s(), a.v[i].Float64s(), grads[i].Float64s()
		for j, gj := range g {
			m[j] = a.b1*m[j] + (1-a.b1)*gj
			v[j] = a.b2*v[j] + (1-a.b2)*gj*gj
			w[j] -= a.lr * (m[j] / c1) / (math.Sqrt(v[j]/c2) + a.ep)
		}
	}
	return nil
}
