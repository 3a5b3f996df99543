package tensor

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// The worker pool behind GEMM and convolution. Work is cut into numbered
// units by a partition that depends only on the problem's shape; which
// goroutine runs which unit is decided at run time, but each unit writes
// its own part of the output in a fixed order, so results are bitwise the
// same for any number of threads.

// task is a parallel loop body; run executes unit i on worker w (0 is the
// calling goroutine). Workers own per-worker scratch indexed by w.
type task interface {
	run(w, i int)
}

// Task is a parallel loop body for ParallelFor: Run(w, i) executes unit i
// on worker w (0 <= w < Threads()).
type Task interface {
	Run(w, i int)
}

type exported struct{ t Task }

func (e *exported) run(w, i int) { e.t.Run(w, i) }

var exportedPool freeList[exported]

// ParallelFor runs t for units 0..n-1 on the GEMM worker pool, up to
// Threads() at a time; workers take runs of consecutive units, about
// eight runs per thread. Units must write disjoint outputs (then results
// do not depend on the thread count). It allocates nothing in steady state
// when t is a pointer.
func ParallelFor(n int, t Task) {
	if n <= 0 {
		return
	}
	e := exportedPool.get()
	e.t = t
	parallelForChunked(n, Threads(), e)
	e.t = nil
	exportedPool.put(e)
}

type region struct {
	t    task
	n    int64
	per  int64 // units per claim
	next atomic.Int64
	wg   sync.WaitGroup
}

func (r *region) loop(w int) {
	for {
		i := (r.next.Add(1) - 1) * r.per
		if i >= r.n {
			return
		}
		for u := i; u < min(i+r.per, r.n); u++ {
			r.t.run(w, int(u))
		}
	}
}

type wake struct {
	r *region
	w int
}

type workerPool struct {
	mu      sync.Mutex // held by the goroutine running a parallel region
	wake    chan wake
	started int
	r       region
}

var pool = workerPool{wake: make(chan wake, 256)}

// threadLimit is the number of threads set by SetThreads (0: GOMAXPROCS).
var threadLimit atomic.Int32

// maxWorkers bounds the per-call scratch; far above any core count here.
const maxWorkers = 64

// SetThreads sets the number of threads GEMM and convolution use; n <= 0
// restores the default, GOMAXPROCS. Results do not depend on it.
func SetThreads(n int) {
	if n < 0 {
		n = 0
	}
	threadLimit.Store(int32(min(n, maxWorkers)))
}

// Threads returns the number of threads GEMM and convolution use.
func Threads() int {
	n := int(threadLimit.Load())
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return min(n, maxWorkers)
}

// parallelFor runs t for units 0..n-1 on up to threads goroutines. When
// another parallel region is running (tensor ops called from several
// goroutines at once), it runs the units on the calling goroutine instead
// of waiting.
func parallelFor(n, threads int, t task) { parallelForPer(n, threads, 1, t) }

// parallelForChunked is parallelFor for many small units (a plane, a row):
// workers claim them in chunks of consecutive units, about eight chunks
// per thread, since claiming each unit on its own through the shared
// counter made copies of 100-float planes slower on two threads than on
// one.
func parallelForChunked(n, threads int, t task) {
	parallelForPer(n, threads, max(1, n/(8*max(1, threads))), t)
}

func parallelForPer(n, threads, per int, t task) {
	w := min(threads, (n+per-1)/per)
	if w <= 1 || !pool.mu.TryLock() {
		for i := 0; i < n; i++ {
			t.run(0, i)
		}
		return
	}
	defer pool.mu.Unlock()
	for pool.started < w-1 {
		pool.started++
		go poolWorker()
	}
	r := &pool.r
	r.t, r.n, r.per = t, int64(n), int64(per)
	r.next.Store(0)
	r.wg.Add(w - 1)
	for i := 1; i < w; i++ {
		pool.wake <- wake{r, i}
	}
	func() {
		defer func() {
			if e := recover(); e != nil {
				r.next.Store(r.n) // stop the others taking new units
				r.wg.Wait()
				r.t = nil
				panic(e)
			}
		}()
		r.loop(0)
	}()
	r.wg.Wait()
	r.t = nil
}

func poolWorker() {
	for m := range pool.wake {
		func() {
			defer m.r.wg.Done()
			defer func() {
				if e := recover(); e != nil {
					// A panic in a kernel is a bug in this package; report
					// it with the unit that failed rather than hang.
					panic(fmt.Sprintf("tensor: worker %d panicked: %v", m.w, e))
				}
			}()
			m.r.loop(m.w)
		}()
	}
}

// freeList recycles scratch objects. Unlike sync.Pool it is never emptied
// by the garbage collector, so a steady loop of GEMMs or convolutions
// allocates nothing even when something else triggers a collection.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
}

func (f *freeList[T]) get() *T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.items); n > 0 {
		t := f.items[n-1]
		f.items = f.items[:n-1]
		return t
	}
	return new(T)
}

func (f *freeList[T]) put(t *T) {
	f.mu.Lock()
	f.items = append(f.items, t)
	f.mu.Unlock()
}
