package optim

import "math"

// Schedule gives the learning rate at a step (counting from 0).
type Schedule func(step int) float64

// Constant is the schedule lr at every step.
func Constant(lr float64) Schedule { return func(int) float64 { return lr } }

// LinearWarmup rises linearly from lr/warmup at step 0 to lr at step
// warmup-1 and stays at lr after.
func LinearWarmup(lr float64, warmup int) Schedule {
	return func(step int) float64 {
		if warmup <= 0 || step >= warmup {
			return lr
		}
		return lr * float64(step+1) / float64(warmup)
	}
}

// Cosine decays from lr at step 0 to 0 at step total (and stays at 0),
// along half a cosine.
func Cosine(lr float64, total int) Schedule {
	return func(step int) float64 {
		if total <= 0 || step >= total {
			return 0
		}
		return lr * 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(total)))
	}
}

// WarmupCosine is the paper's phase-1 schedule: linear warm-up to lr over
// warmup steps, then a cosine decay over decay steps.
func WarmupCosine(lr float64, warmup, decay int) Schedule {
	w, c := LinearWarmup(lr, warmup), Cosine(lr, decay)
	return func(step int) float64 {
		if step < warmup {
			return w(step)
		}
		return c(step - warmup)
	}
}
