package tensor

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// countTask records how often each unit ran, and on which workers.
type countTask struct {
	runs    []atomic.Int32
	badW    atomic.Int32
	threads int
	sleep   time.Duration // per unit
	// panicCaller: the first unit the caller (worker 0) runs panics.
	panicCaller bool
	panicked    atomic.Bool
}

func (c *countTask) Run(w, i int) {
	if w < 0 || w >= c.threads {
		c.badW.Add(1)
	}
	if c.panicCaller && w == 0 && c.panicked.CompareAndSwap(false, true) {
		panic(fmt.Sprintf("unit %d", i))
	}
	if c.sleep > 0 {
		time.Sleep(c.sleep)
	}
	c.runs[i].Add(1)
}

// withSpin runs f with spinWait set to d.
func withSpin(d time.Duration, f func()) {
	old := spinWait.Swap(int64(d))
	defer spinWait.Store(old)
	f()
}

// TestParallelForRunsEachUnitOnce checks the pool's regions with the
// caller and the workers spinning (briefly, or longer than any gap) and
// parking (no spin, and units that sleep so that every worker gets some
// and the caller must wait for the others):
// every unit runs exactly once, on a worker index below the thread count,
// before ParallelFor returns.
func TestParallelForRunsEachUnitOnce(t *testing.T) {
	defer SetThreads(0)
	for _, spin := range []time.Duration{0, 200 * time.Microsecond, 50 * time.Millisecond} {
		for _, threads := range []int{1, 2, 3, 8} {
			for _, n := range []int{0, 1, 7, 64, 1000} {
				for _, sleep := range []time.Duration{0, 100 * time.Microsecond} {
					if n > 64 && sleep > 0 {
						continue
					}
					withSpin(spin, func() {
						SetThreads(threads)
						c := &countTask{runs: make([]atomic.Int32, n), threads: threads, sleep: sleep}
						ParallelFor(n, c)
						for i := range c.runs {
							if got := c.runs[i].Load(); got != 1 {
								t.Fatalf("spin %v, %d threads, %d units, sleep %v: unit %d ran %d times", spin, threads, n, sleep, i, got)
							}
						}
						if c.badW.Load() != 0 {
							t.Fatalf("spin %v, %d threads: a unit ran on a worker index outside [0, %d)", spin, threads, threads)
						}
					})
				}
			}
		}
	}
}

// TestParallelForPanicThenReuse: a panic in a unit reaches the caller
// (after the other workers have left the region), and the pool runs the
// next region normally.
func TestParallelForPanicThenReuse(t *testing.T) {
	defer SetThreads(0)
	SetThreads(2)
	for _, spin := range []time.Duration{0, 200 * time.Microsecond} {
		withSpin(spin, func() {
			// The panic is on the caller's goroutine (a worker's ends the
			// process); units sleep, so the caller gets some.
			c := &countTask{runs: make([]atomic.Int32, 64), threads: 2, sleep: 100 * time.Microsecond, panicCaller: true}
			func() {
				defer func() {
					if e := recover(); e == nil {
						t.Fatalf("spin %v: the unit's panic did not reach the caller", spin)
					}
				}()
				ParallelFor(64, c)
			}()
			d := &countTask{runs: make([]atomic.Int32, 100), threads: 2}
			ParallelFor(100, d)
			for i := range d.runs {
				if d.runs[i].Load() != 1 {
					t.Fatalf("spin %v: after a panic, unit %d ran %d times", spin, i, d.runs[i].Load())
				}
			}
		})
	}
}

// TestSpinningNeedsThreads: more pool workers than GOMAXPROCS turn
// spinning off (a spinner would hold a thread a busy worker needs).
func TestSpinningNeedsThreads(t *testing.T) {
	defer SetThreads(0)
	procs := runtime.GOMAXPROCS(0)
	SetThreads(procs + 1)
	c := &countTask{runs: make([]atomic.Int32, 10*(procs+1)), threads: procs + 1}
	ParallelFor(len(c.runs), c)
	if pool.spin.Load() {
		t.Errorf("%d workers on GOMAXPROCS = %d: spinning still on", procs+1, procs)
	}
	if procs > 1 {
		SetThreads(2)
		ParallelFor(len(c.runs), &countTask{runs: make([]atomic.Int32, len(c.runs)), threads: 2})
		if !pool.spin.Load() {
			t.Errorf("2 workers on GOMAXPROCS = %d: spinning off", procs)
		}
	}
}

// A spinner whose clock jumps by more than spinGap between two reads (its
// thread was descheduled) stops spinning, and nobody spins for spinBackoff
// after; past it, spinning resumes.
func TestSpinBacksOffAfterGap(t *testing.T) {
	defer withPoolSpin(true)()
	defer spinWait.Store(spinWait.Swap(int64(time.Hour)))
	defer spinOffUntil.Store(spinOffUntil.Load())
	spinOffUntil.Store(0)

	var clock int64 = 1e9
	reads := 0
	jumpAt := 3 // the third read jumps
	now := func() int64 {
		reads++
		if reads == jumpAt {
			clock += int64(spinGap) + 1
		} else {
			clock += 10 // 10 ns a read: a spinner that is on the CPU
		}
		return clock
	}
	checks := 0
	check := func() bool { checks++; return checks >= 1000000 }
	if spinClock(check, now) {
		t.Fatalf("spin reported its event after a %v gap; want it to give up", spinGap)
	}
	if checks >= 1000000 || checks < 64*(jumpAt-1) {
		t.Fatalf("spin ran %d checks; want it to stop at the gap, after about %d", checks, 64*(jumpAt-1))
	}
	if got, want := spinOffUntil.Load(), clock+int64(spinBackoff); got != want {
		t.Fatalf("spinOffUntil = %d, want the gap's end plus spinBackoff, %d", got, want)
	}

	// Within the backoff: no spin at all.
	checks, jumpAt = 0, -1
	if spinClock(check, now) || checks != 0 {
		t.Fatalf("within the backoff: spin ran %d checks; want none", checks)
	}

	// Past it: spinning again, until the event.
	clock += int64(spinBackoff)
	checks = 1000000 - 500
	if !spinClock(check, now) {
		t.Fatalf("after the backoff: spin gave up before its event")
	}
}

// withPoolSpin sets the pool's spin flag and returns its restore.
func withPoolSpin(on bool) func() {
	old := pool.spin.Swap(on)
	return func() { pool.spin.Store(old) }
}
