package optim

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/tensor"
)

// DivergenceError reports a NaN or infinite loss or parameter.
type DivergenceError struct {
	Step int
	What string // "loss" or "parameter i"
	Val  float64
}

func (e *DivergenceError) Error() string {
	return fmt.Sprintf("optim: training diverged at step %d: %s is %v", e.Step, e.What, e.Val)
}

// Loop is a training loop small enough to read: for each step it calls
// Step, checks the loss (and every CheckEvery steps the parameters) for
// NaN or Inf, calls Eval every EvalEvery steps and Log after each step.
// Any error stops the loop.
type Loop struct {
	Steps      int
	Step       func(step int) (loss float64, err error)
	Eval       func(step int) error // optional
	EvalEvery  int
	Log        func(step int, loss float64) // optional
	Params     []*tensor.Tensor             // checked for NaN/Inf, optional
	CheckEvery int                          // default 100
	Start      int                          // first step (to resume)
}

// Run runs steps Start..Steps-1.
func (l *Loop) Run() error {
	if l.Step == nil {
		return fmt.Errorf("optim: Loop without a Step function")
	}
	every := l.CheckEvery
	if every <= 0 {
		every = 100
	}
	for s := l.Start; s < l.Steps; s++ {
		loss, err := l.Step(s)
		if err != nil {
			return fmt.Errorf("step %d: %w", s, err)
		}
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return &DivergenceError{Step: s, What: "loss", Val: loss}
		}
		if (s+1)%every == 0 || s == l.Steps-1 {
			if err := CheckFinite(s, l.Params); err != nil {
				return err
			}
		}
		if l.Log != nil {
			l.Log(s, loss)
		}
		if l.Eval != nil && l.EvalEvery > 0 && ((s+1)%l.EvalEvery == 0 || s == l.Steps-1) {
			if err := l.Eval(s); err != nil {
				return fmt.Errorf("evaluation at step %d: %w", s, err)
			}
		}
	}
	return nil
}

// CheckFinite returns a DivergenceError naming the first parameter tensor
// holding a NaN or Inf.
func CheckFinite(step int, params []*tensor.Tensor) error {
	for i, p := range params {
		if p == nil {
			return fmt.Errorf("optim: parameter %d to check is nil", i)
		}
		for j := 0; j < p.Len(); j++ {
			if v := p.Flat(j); math.IsNaN(v) || math.IsInf(v, 0) {
				return &DivergenceError{Step: step, What: fmt.Sprintf("parameter %d (element %d)", i, j), Val: v}
			}
		}
	}
	return nil
}
