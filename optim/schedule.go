package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate at a step (counting from 0; a
// negative step gets the rate of step 0).
type Schedule func(step int) float64

// The constructors check their arguments once, so that a bad length or
// rate is an error when the schedule is made rather than a NaN or a zero
// rate at every step of a run.

func checkLength(what string, n, least int) error {
	if n < least {
		return fmt.Errorf("optim: %s must be at least %d steps, got %d", what, least, n)
	}
	return nil
}

// Constant is the schedule lr at every step; lr must be positive and
// finite.
func Constant(lr float64) (Schedule, error) {
	if err := checkLR(lr); err != nil {
		return nil, err
	}
	return func(int) float64 { return lr }, nil
}

// LinearWarmup rises linearly from lr/warmup at step 0 to lr at step
// warmup-1 and stays at lr after; warmup must be at least 1.
func LinearWarmup(lr float64, warmup int) (Schedule, error) {
	if err := checkLR(lr); err != nil {
		return nil, err
	}
	if err := checkLength("LinearWarmup warm-up", warmup, 1); err != nil {
		return nil, err
	}
	return func(step int) float64 {
		step = max(step, 0)
		if step >= warmup {
			return lr
		}
		return lr * float64(step+1) / float64(warmup)
	}, nil
}

// Cosine decays from lr at step 0 to 0 at step total (and stays at 0),
// along half a cosine; total must be at least 1.
func Cosine(lr float64, total int) (Schedule, error) {
	if err := checkLR(lr); err != nil {
		return nil, err
	}
	if err := checkLength("Cosine length", total, 1); err != nil {
		return nil, err
	}
	return func(step int) float64 {
		step = max(step, 0)
		if step >= total {
			return 0
		}
		return lr * 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(total)))
	}, nil
}

// WarmupCosine is the paper's phase-1 schedule: linear warm-up to lr over
// warmup steps (0: none), then a cosine decay over decay steps (at least
// 1).
func WarmupCosine(lr float64, warmup, decay int) (Schedule, error) {
	if err := checkLength("WarmupCosine warm-up", warmup, 0); err != nil {
		return nil, err
	}
	c, err := Cosine(lr, decay)
	if err != nil {
		return nil, err
	}
	w := c
	if warmup > 0 {
		if w, err = LinearWarmup(lr, warmup); err != nil {
			return nil, err
		}
	}
	return func(step int) float64 {
		step = max(step, 0)
		if step < warmup {
			return w(step)
		}
		return c(step - warmup)
	}, nil
}
