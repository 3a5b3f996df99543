package bench

import (
	"slices"
	"time"
)

// Timing is the result of Measure: seconds per call.
type Timing struct {
	Median, Min float64
	Calls       int
}

// Measure times f(iters) in batches: it grows iters until one batch takes
// at least budget/batches, then runs that many batches and reports the
// median and minimum of the per-call times.
func Measure(f func(iters int), budget time.Duration, batches int) Timing {
	batches = max(batches, 1)
	target := budget / time.Duration(batches)
	f(1) // warm up caches, page in buffers
	iters := 1
	for {
		t0 := time.Now()
		f(iters)
		d := time.Since(t0)
		if d >= target || iters >= 1<<30 {
			break
		}
		if d <= 0 {
			iters *= 100
			continue
		}
		next := int(float64(iters) * 1.2 * float64(target) / float64(d))
		iters = min(max(next, iters+1), 100*iters)
	}
	per := make([]float64, batches)
	for b := range per {
		t0 := time.Now()
		f(iters)
		per[b] = time.Since(t0).Seconds() / float64(iters)
	}
	slices.Sort(per)
	return Timing{Median: per[batches/2], Min: per[0], Calls: iters * batches}
}
