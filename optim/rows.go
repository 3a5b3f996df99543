package optim

import (
	"fmt"

	"github.com/flatfast/flatfast/tensor"
)

// RowMomentum is Momentum for many independent runs stepped in lockstep:
// every parameter has a leading run axis of length R, and row r follows
// eq. 1 with its own learning rate eta[r] and momentum beta[r]. Each row's
// trajectory is exactly that of Momentum on that row alone.
type RowMomentum struct {
	params    []*tensor.Tensor
	pi        []*tensor.Tensor
	eta, beta []float64
}

// NewRowMomentum returns the optimizer for params whose first dimension is
// len(eta) == len(beta), with each eta[r] > 0 and 0 <= beta[r] < 1.
func NewRowMomentum(params []*tensor.Tensor, eta, beta []float64) (*RowMomentum, error) {
	if len(eta) != len(beta) || len(eta) == 0 {
		return nil, fmt.Errorf("optim: RowMomentum needs one eta and one beta per run (got %d and %d)", len(eta), len(beta))
	}
	for r := range eta {
		if err := checkLR(eta[r]); err != nil {
			return nil, fmt.Errorf("run %d: %w", r, err)
		}
		if !(beta[r] >= 0 && beta[r] < 1) {
			return nil, fmt.Errorf("optim: run %d: momentum beta must be in [0, 1), got %v", r, beta[r])
		}
	}
	m := &RowMomentum{params: params, eta: append([]float64(nil), eta...), beta: append([]float64(nil), beta...)}
	for i, p := range params {
		if p == nil || p.Dims() == 0 || p.Dim(0) != len(eta) {
			return nil, fmt.Errorf("optim: parameter %d must have %d rows", i, len(eta))
		}
		pi, err := stateLike(i, p)
		if err != nil {
			return nil, err
		}
		m.pi = append(m.pi, pi)
	}
	return m, nil
}

// Velocity returns the momentum buffers (rows as the parameters').
func (m *RowMomentum) Velocity() []*tensor.Tensor { return m.pi }

// Step applies one update to every row.
func (m *RowMomentum) Step(grads []*tensor.Tensor) error {
	if err := checkGrads(m.params, grads); err != nil {
		return err
	}
	for i, p := range m.params {
		per := p.Len() / len(m.eta)
		if w := p.Float64s(); w != nil {
			pi, g := m.pi[i].Float64s(), grads[i].Float64s()
			for r := range m.eta {
				e, b := m.eta[r], m.beta[r]
				lo, hi := r*per, (r+1)*per
				pr, gr, wr := pi[lo:hi], g[lo:hi], w[lo:hi]
				for j := range pr {
					pr[j] = b*pr[j] - gr[j]
					wr[j] += e * pr[j]
				}
			}
			continue
		}
		w, pi, g := p.Float32s(), m.pi[i].Float32s(), grads[i].Float32s()
		for r := range m.eta {
			e, b := float32(m.eta[r]), float32(m.beta[r])
			lo, hi := r*per, (r+1)*per
			pr, gr, wr := pi[lo:hi], g[lo:hi], w[lo:hi]
			for j := range pr {
				pr[j] = b*pr[j] - gr[j]
				wr[j] += e * pr[j]
			}
		}
	}
	return nil
}
