package tensor

import "github.com/flatfast/flatfast/simd"

// kSegments returns how many segments of the inner dimension a product
// from gemmSources is cut into: 1, except when k dwarfs the output (a
// convolution's weight gradient, where k runs over every output pixel of
// the batch and C is only Cout x 9Cin). Then the blocked loops would run
// many kc blocks of little work each, with a barrier after each; instead
// each segment is a whole product on one worker into its own partial C,
// summed at the end in segment order. The cut depends on the shape alone,
// never on the thread count, so results stay bitwise the same for any
// number of threads.
func kSegments(impl *simd.Impl, m, n, k int) int {
	kc := blocksFor(impl).kc
	if k < 8*kc || k < 16*max(m, n) || m*n > 1<<20 {
		return 1
	}
	return min(maxSegments, k/(2*kc))
}

const maxSegments = 8

// splitJob runs the segments of a k-split product (kSegments).
type splitJob struct {
	impl          *simd.Impl
	segs, m, n, k int
	alpha         float32
	A             aSource
	B             bSource
	parts         []float32 // segs partial products, m x n each
	stg           stageTask
	// The sum of the parts into c (ldc, overwrite), split by rows once
	// the parts are done.
	c         []float32
	ldc       int
	overwrite bool
	// jobs[w] runs the segments worker w takes: segments have equal
	// shapes, so each job's scratch settles after the first product
	// (jobs from the shared list would swap between workers from one call
	// to the next and keep regrowing).
	jobs workerJobs
}

var splitPool freeList[splitJob]

func (s *splitJob) run(w, i int) {
	if s.c != nil {
		s.sum(i)
		return
	}
	k0, k1 := i*s.k/s.segs, (i+1)*s.k/s.segs
	mn := s.m * s.n
	gemmSourcesAt(s.jobs.of(w), s.impl, w, k0, s.m, s.n, k1-k0, s.alpha, s.A, s.B, s.parts[i*mn:(i+1)*mn], s.n, true)
}

// splitK computes C = (or +=) alpha*A*B for a dense C as segs partial
// products summed in order.
func splitK(impl *simd.Impl, threads, segs, m, n, k int, alpha float32, A aSource, B bSource, c []float32, ldc int, overwrite bool) {
	s := splitPool.get()
	ensureStaged(B, threads, &s.stg)
	s.impl, s.segs, s.m, s.n, s.k, s.alpha, s.A, s.B = impl, segs, m, n, k, alpha, A, B
	s.parts = grow(s.parts, segs*m*n)
	parallelFor(segs, threads, s)
	s.c, s.ldc, s.overwrite = c, ldc, overwrite
	parallelForChunked(m, threads, s)
	s.A, s.B, s.c = nil, nil, nil
	splitPool.put(s)
}

// sum adds row i of the parts, in segment order, into C.
func (s *splitJob) sum(i int) {
	m, n := s.m, s.n
	dst := s.c[i*s.ldc : i*s.ldc+n]
	if s.overwrite {
		copy(dst, s.parts[i*n:(i+1)*n])
	} else {
		s.impl.Add(dst, dst, s.parts[i*n:(i+1)*n])
	}
	for p := 1; p < s.segs; p++ {
		s.impl.Add(dst, dst, s.parts[(p*m+i)*n:(p*m+i+1)*n])
	}
}
