package tensor

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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
	// left counts the workers other than the caller still in the region,
	// with parkedBit set once the caller has stopped spinning and waits
	// on done (await).
	left atomic.Int32
	done chan struct{}
}

const parkedBit = 1 << 30

// spinWait is how long the caller of a parallel region spins for the
// other workers to finish, and a worker for the next region, before
// parking. Parking and waking a goroutine costs tens of microseconds in
// a VM (and a parked wait allocates, now and then, the runtime's record
// of the waiter); the gaps between the regions of one product, and
// between the products of a training step, are mostly shorter. A spinning
// worker does not yield its thread while it spins (yielding moved the
// goroutines between threads, and their parked waits allocated more). In
// nanoseconds; 0 turns spinning off (the A/B measurement in docs/gemm.md).
var spinWait atomic.Int64

const defaultSpinWait = 200 * time.Microsecond

func init() { spinWait.Store(int64(defaultSpinWait)) }

// spinning calls check until it reports true or spinWait has passed, and
// reports which. It does not spin when the pool has more workers than
// GOMAXPROCS: a spinner would then hold a thread that a worker with units
// left is waiting for. Nor does it spin for spinBackoff after a spinner
// found its thread had been off the CPU (see spinGap).
func spinning(check func() bool) bool { return spinClock(check, monoNow) }

// spinClock is spinning with the clock now (tests give it one that jumps).
func spinClock(check func() bool, now func() int64) bool {
	limit := int64(spinWait.Load())
	if limit <= 0 || !pool.spin.Load() {
		return false
	}
	t0 := now()
	if t0 < spinOffUntil.Load() {
		return false
	}
	last := t0
	for i := 1; ; i++ {
		if check() {
			return true
		}
		if i%64 == 0 {
			t := now()
			if t-last > int64(spinGap) {
				spinOffUntil.Store(t + int64(spinBackoff))
				return false
			}
			if t-t0 > limit {
				return false
			}
			last = t
		}
	}
}

// spinGap and spinBackoff: 64 checks of a spin loop take well under a
// microsecond, so a gap of spinGap between two of its clock reads means
// the spinner's thread was descheduled, by the OS for another thread or,
// in a VM, by the host for another guest. Spinning then takes CPU time
// from the workers it waits for (on a host that runs both vCPUs of a VM on
// fewer cores, the spinning vCPU's turn is the working one's wait), so
// nobody spins for the next spinBackoff: the waits park, and the vCPUs
// halt instead. On the 2-vCPU Intel Xeon (family 6 model 207), two
// threads, medians of 8-10 batches alternating in one process: with a
// busy loop in another process, the paper's MLP step took 48.6 ms
// spinning 200 us, 37.8 ms not spinning and 40.0 ms with this backoff
// (1024^3: 16.4, 15.0, 15.0 ms); with the machine otherwise idle, 29.0,
// 31.0 and 28.2 ms (256^3: 0.200, 0.275, 0.190 ms), so spinning keeps its
// gain when nothing competes. In a contended phase of that VM's host,
// 256^3 had taken a median 0.68 ms spinning and 0.37 ms not (one thread
// 0.32).
const (
	spinGap     = 50 * time.Microsecond
	spinBackoff = 100 * time.Millisecond
)

// spinOffUntil is the monoNow time before which spinning does not spin.
var spinOffUntil atomic.Int64

// clockBase anchors monoNow.
var clockBase = time.Now()

// monoNow is the monotonic time since clockBase in nanoseconds.
func monoNow() int64 { return int64(time.Since(clockBase)) }

// await returns when every other worker of the region has left it.
func (r *region) await() {
	if spinning(func() bool { return r.left.Load() == 0 }) {
		return
	}
	for {
		v := r.left.Load()
		if v == 0 {
			return
		}
		if r.left.CompareAndSwap(v, v|parkedBit) {
			<-r.done
			return
		}
	}
}

// leave is a worker's exit from the region: the last one out wakes a
// parked caller.
func (r *region) leave() {
	if r.left.Add(-1) == parkedBit {
		r.done <- struct{}{}
	}
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
	// spin: the last region had no more workers than GOMAXPROCS, so
	// spinning for the next one takes no thread another worker needs.
	spin atomic.Bool
}

var pool = workerPool{wake: make(chan wake, 256), r: region{done: make(chan struct{}, 1)}}

// threadLimit is the number of threads set by SetThreads (0: GOMAXPROCS).
var threadLimit atomic.Int32

// maxWorkers bounds the per-call scratch; far above any core count here.
const maxWorkers = 64

// SetThreads sets the number of threads GEMM and convolution use; n <= 0
// restores the default, GOMAXPROCS. Results do not depend on it.
//
// A process that only computes does best with GOMAXPROCS equal to n: with
// Ps left idle, each preemption of a computing goroutine (every 10 ms)
// makes the Go scheduler wake a thread for an idle P, which spins and may
// move the goroutine to another core. The paper's MLP step on one thread
// ran 8% slower at GOMAXPROCS=2 than at 1 on a 2-vCPU Intel Xeon;
// `flatfast bench` sets both (cmd/flatfast's useThreads).
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
	pool.spin.Store(w <= runtime.GOMAXPROCS(0))
	r := &pool.r
	r.t, r.n, r.per = t, int64(n), int64(per)
	r.next.Store(0)
	r.left.Store(int32(w - 1))
	for i := 1; i < w; i++ {
		pool.wake <- wake{r, i}
	}
	func() {
		defer func() {
			if e := recover(); e != nil {
				r.next.Store(r.n) // stop the others taking new units
				r.await()
				r.t = nil
				panic(e)
			}
		}()
		r.loop(0)
	}()
	r.await()
	r.t = nil
}

func poolWorker() {
	for {
		// Spin a little for the next region before parking on the channel
		// (len is a safe, lock-free look at it).
		spinning(func() bool { return len(pool.wake) > 0 })
		m := <-pool.wake
		func() {
			defer m.r.leave()
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
