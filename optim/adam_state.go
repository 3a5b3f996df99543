package optim

import (
	"fmt"

	"github.com/flatfast/flatfast/tensor"
)

// Adam's state, for checkpoints: a run resumed from the moments and the
// step count continues bit-identically (the bias corrections depend on
// the step count, so the moments alone are not enough).

// Moments returns the first and second moment buffers, one per parameter,
// in the parameters' order. They are the optimizer's own tensors: copying
// saved values into them restores a checkpoint.
func (a *Adam) Moments() (m, v []*tensor.Tensor) { return a.m, a.v }

// Steps returns the number of steps taken (t in the bias corrections).
func (a *Adam) Steps() int { return a.t }

// SetSteps sets the step count, for restoring a checkpoint together with
// the moments; t must be >= 0.
func (a *Adam) SetSteps(t int) error {
	if t < 0 {
		return fmt.Errorf("optim: Adam step count %d, want >= 0", t)
	}
	a.t = t
	return nil
}
