package tensor

import "github.com/flatfast/flatfast/simd"

// The element-wise kernels of a training step's activations (ReLU, tanh,
// sigmoid, exp, their backward passes, a linear layer's bias) run on the
// worker pool when they are large, rather than on one thread while the
// others wait for the next product. Every element is computed by the same
// kernel whatever the split, so results do not depend on Threads(). It
// buys little where products dominate: on the 2-vCPU Intel Xeon of
// 2026-12-03, two threads, the paper MLP's step ran 1% faster and
// ResNet-18's at batch 32 1.5% (medians of 5 and 3 interleaved runs,
// within the noise).

// elemParallel is the size (floats) from which an element-wise kernel is
// split over the pool; below it a wake-up costs more than half the pass.
const elemParallel = 1 << 16

// elemChunk is the number of floats of one unit.
const elemChunk = 4096

// elemThreads is the number of threads an element-wise pass over n
// floats runs on: one below elemParallel, else Threads().
func elemThreads(n int) int {
	if n < elemParallel {
		return 1
	}
	return Threads()
}

// elemTask is one element-wise pass over z (and x, y of the same length):
// f1(z, x) or f2(z, x, y), unit i being chunk i of elemChunk floats; or,
// with bias set, unit i adds bias to row i of z (rows of len(bias)).
type elemTask struct {
	f1      func(z, x []float32)
	f2      func(z, x, y []float32)
	z, x, y []float32
	bias    []float32
}

var elemPool freeList[elemTask]

func (e *elemTask) run(_, i int) {
	if n := len(e.bias); n > 0 {
		addBias(e.z[i*n:(i+1)*n], e.bias)
		return
	}
	lo := i * elemChunk
	hi := min(lo+elemChunk, len(e.z))
	if e.f2 != nil {
		e.f2(e.z[lo:hi], e.x[lo:hi], e.y[lo:hi])
		return
	}
	e.f1(e.z[lo:hi], e.x[lo:hi])
}

// each1 runs f(z, x) (len(x) >= len(z)), split over the pool when z is
// large. f must be a plain function (a kernel of package simd): a closure
// stored in the pooled task would be allocated at every call.
func each1(f func(z, x []float32), z, x []float32) {
	threads := elemThreads(len(z))
	if threads == 1 {
		f(z, x)
		return
	}
	e := elemPool.get()
	e.f1, e.z, e.x = f, z, x[:len(z)]
	e.runOn((len(z)+elemChunk-1)/elemChunk, threads)
}

// each2 is each1 for f(z, x, y).
func each2(f func(z, x, y []float32), z, x, y []float32) {
	threads := elemThreads(len(z))
	if threads == 1 {
		f(z, x, y)
		return
	}
	e := elemPool.get()
	e.f2, e.z, e.x, e.y = f, z, x[:len(z)], y[:len(z)]
	e.runOn((len(z)+elemChunk-1)/elemChunk, threads)
}

// eachRowBias adds bias to every row of z (rows of len(bias) floats), a
// row a unit, split over the pool when z is large.
func eachRowBias(z, bias []float32) {
	n := len(bias)
	if n == 0 {
		return
	}
	e := elemPool.get()
	e.z, e.bias = z, bias
	e.runOn(len(z)/n, elemThreads(len(z)))
}

// runOn runs e's units on threads workers (runs of consecutive units) and
// returns e, cleared, to its pool.
func (e *elemTask) runOn(units, threads int) {
	parallelForChunked(units, threads, e)
	*e = elemTask{}
	elemPool.put(e)
}

// addBias adds b to row (the same length).
func addBias(row, b []float32) { simd.Add(row, row, b) }
