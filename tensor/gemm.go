package tensor

import (
	"fmt"

	"github.com/flatfast/flatfast/simd"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// The float32 GEMM's parts: the entry points (this file: Gemm and the
// dense gemm32 for tensors, gemmSources for the convolutions' operands),
// the operand interfaces and dense packing (gemm_operands.go), the block
// sizes (blocking.go), the blocked loops and the job every product runs
// on (gemm_drive.go), the flat driver for B read in place (gemm_flat.go),
// and the split of a long inner dimension (gemm_split.go).

// Gemm computes C = alpha*op(A)*op(B) + beta*C for row-major float32
// matrices, where op(X) is X or its transpose, op(A) is m x k, op(B) is
// k x n and C is m x n, with leading dimensions (row strides) lda, ldb,
// ldc. As in BLAS, beta = 0 overwrites C without reading it. It uses the
// active simd level and Threads() goroutines, allocates nothing in steady
// state, and gives bitwise the same result for any thread count.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) error {
	if err := checkGemmArgs(transA, transB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c)); err != nil {
		return err
	}
	gemm32(simd.Active(), Threads(), transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

func checkGemmArgs(transA, transB bool, m, n, k, lda, ldb, ldc, la, lb, lc int) error {
	if m < 0 || n < 0 || k < 0 {
		return fmt.Errorf("%w: Gemm: negative size m=%d n=%d k=%d", ErrShape, m, n, k)
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	switch {
	case lda < max(1, ac):
		return fmt.Errorf("%w: Gemm: lda=%d < %d columns of A", ErrShape, lda, ac)
	case ldb < max(1, bc):
		return fmt.Errorf("%w: Gemm: ldb=%d < %d columns of B", ErrShape, ldb, bc)
	case ldc < max(1, n):
		return fmt.Errorf("%w: Gemm: ldc=%d < n=%d", ErrShape, ldc, n)
	case ar > 0 && ac > 0 && la < (ar-1)*lda+ac:
		return fmt.Errorf("%w: Gemm: A has %d elements, a %dx%d matrix with lda=%d needs %d", ErrShape, la, ar, ac, lda, (ar-1)*lda+ac)
	case br > 0 && bc > 0 && lb < (br-1)*ldb+bc:
		return fmt.Errorf("%w: Gemm: B has %d elements, a %dx%d matrix with ldb=%d needs %d", ErrShape, lb, br, bc, ldb, (br-1)*ldb+bc)
	case m > 0 && n > 0 && lc < (m-1)*ldc+n:
		return fmt.Errorf("%w: Gemm: C has %d elements, a %dx%d matrix with ldc=%d needs %d", ErrShape, lc, m, n, ldc, (m-1)*ldc+n)
	}
	return nil
}

func gemm32(impl *simd.Impl, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	overwrite := beta == 0 && k > 0 && alpha != 0
	if !overwrite {
		scaleC(beta, c, m, n, ldc)
		if k == 0 || alpha == 0 {
			return
		}
	}
	j := jobPool.get()
	j.da = denseA{impl: impl, a: a, lda: lda, trans: transA}
	j.db = denseB{impl: impl, b: b, ldb: ldb, trans: transB}
	j.setup(impl, threads, m, n, k, alpha, &j.da, &j.db, c, ldc, 0, 0, overwrite)
	j.drive()
	j.release()
	jobPool.put(j)
}

// scaleC sets C = beta*C over m x n (BLAS semantics: beta = 0 overwrites,
// so NaNs in C do not survive).
func scaleC(beta float32, c []float32, m, n, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else {
			simd.Scale(beta, row)
		}
	}
}

// gemmSources runs C = alpha * A * B (overwrite) or C += alpha * A * B
// for packing sources A (m x k) and B (k x n) into C addressed as
// described at gemmJob.img.
func gemmSources(impl *simd.Impl, threads, m, n, k int, alpha float32, A aSource, B bSource, c []float32, ldc, img, imgStride int, overwrite bool) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		if overwrite {
			forRuns(m, n, ldc, img, imgStride, func(off, l int) { clear(c[off : off+l]) })
		}
		return
	}
	if img == 0 {
		if segs := kSegments(impl, m, n, k); segs > 1 {
			splitK(impl, threads, segs, m, n, k, alpha, A, B, c, ldc, overwrite)
			return
		}
	}
	j := jobPool.get()
	if _, nr := impl.GemmTile(); img > 0 && img%nr != 0 {
		// Small images: most tiles would straddle two images and need a
		// scatter each. Compute into a dense scratch C instead and add it
		// in one pass, an image-row run at a time.
		j.dense = grow(j.dense, m*n)
		j.setup(impl, threads, m, n, k, alpha, A, B, j.dense, n, 0, 0, true)
		j.drive()
		for i := 0; i < m; i++ {
			src := j.dense[i*n : (i+1)*n]
			for s := 0; s < n; s += img {
				dst := c[(s/img)*imgStride+i*ldc:][:img]
				if overwrite {
					copy(dst, src[s:s+img])
				} else {
					impl.Add(dst, dst, src[s:s+img])
				}
			}
		}
	} else {
		j.setup(impl, threads, m, n, k, alpha, A, B, c, ldc, img, imgStride, overwrite)
		j.drive()
	}
	j.release()
	jobPool.put(j)
}

// gemmSourcesAt computes with job j the dense m x n product C = (with
// overwrite) or += alpha*A*B over inner indices k0 .. k0+k-1 into c (row
// stride ldc), on the calling worker w alone: a product that is one unit
// of an outer parallel loop. The caller owns j (one per worker: jobs
// from jobPool would move between workers from call to call, and each
// would grow to the largest product any worker ran).
func gemmSourcesAt(j *gemmJob, impl *simd.Impl, w, k0, m, n, k int, alpha float32, A aSource, B bSource, c []float32, ldc int, overwrite bool) {
	j.setup(impl, 1, m, n, k, alpha, A, B, c, ldc, 0, 0, overwrite)
	j.k0, j.wid = k0, w
	j.drive()
	j.release()
}

// workerJobs holds a GEMM job per worker of an outer parallel loop,
// made on a worker's first product, for gemmSourcesAt.
type workerJobs [maxWorkers]*gemmJob

// of returns worker w's job.
func (js *workerJobs) of(w int) *gemmJob {
	if js[w] == nil {
		js[w] = new(gemmJob)
	}
	return js[w]
}

// forRuns calls f(offset, length) for each contiguous run of the m x n
// C addressed as described at gemmJob.img.
func forRuns(m, n, ldc, img, imgStride int, f func(off, l int)) {
	if img == 0 {
		img, imgStride = n, 0
	}
	for s := 0; s < n; s += img {
		for i := 0; i < m; i++ {
			f((s/img)*imgStride+i*ldc, img)
		}
	}
}

// Gemm64 is Gemm for float64, computed by gonum's pure-Go BLAS (blocked and
// parallel, deterministic for any GOMAXPROCS).
func Gemm64(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) error {
	if err := checkGemmArgs(transA, transB, m, n, k, lda, ldb, ldc, len(a), len(b), len(c)); err != nil {
		return err
	}
	if m == 0 || n == 0 {
		return nil
	}
	if k == 0 || alpha == 0 {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			for j := range row {
				if beta == 0 {
					row[j] = 0
				} else {
					row[j] *= beta
				}
			}
		}
		return nil
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	gonum.Implementation{}.Dgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	return nil
}

// MatMul returns op(a) @ op(b) for 2-D tensors, where op transposes when
// the flag is set, written into dst (new when nil).
func MatMul(dst, a, b *Tensor, transA, transB bool) (*Tensor, error) {
	if err := nonNil("MatMul", a, b); err != nil {
		return nil, err
	}
	if a.dt != b.dt {
		return nil, fmt.Errorf("%w: MatMul of %v and %v", ErrDType, a.dt, b.dt)
	}
	if a.nd != 2 || b.nd != 2 {
		return nil, fmt.Errorf("%w: MatMul of %v and %v: want 2-D tensors", ErrShape, shapeString(a.Shape()), shapeString(b.Shape()))
	}
	m, k := a.dims[0], a.dims[1]
	if transA {
		m, k = k, m
	}
	k2, n := b.dims[0], b.dims[1]
	if transB {
		k2, n = n, k2
	}
	if k != k2 {
		return nil, fmt.Errorf("%w: MatMul of %v (trans=%v) and %v (trans=%v): inner sizes %d and %d differ",
			ErrShape, shapeString(a.Shape()), transA, shapeString(b.Shape()), transB, k, k2)
	}
	dst, err := prepareDst("MatMul", dst, a.dt, []int{m, n})
	if err != nil {
		return nil, err
	}
	if a.dt == Float32 {
		gemm32(simd.Active(), Threads(), transA, transB, m, n, k, 1, a.f32, a.dims[1], b.f32, b.dims[1], 0, dst.f32, n)
		return dst, nil
	}
	return dst, Gemm64(transA, transB, m, n, k, 1, a.f64, max(1, a.dims[1]), b.f64, max(1, b.dims[1]), 0, dst.f64, max(1, n))
}

// Linear returns x @ w^T + b, the fully connected layer, for x [R, In],
// w [Out, In] and b [Out] (or nil: no bias), written into dst (new when
// nil). The bias is added in place, row by row, after the product: the
// result is bitwise MatMul(x, w, false, true) followed by Add of b, without
// a second [R, Out] tensor and its pass through memory.
func Linear(dst, x, w, b *Tensor) (*Tensor, error) {
	if err := nonNil("Linear", x, w); err != nil {
		return nil, err
	}
	if b != nil {
		if b.dt != w.dt {
			return nil, fmt.Errorf("%w: Linear: bias is %v, weight %v", ErrDType, b.dt, w.dt)
		}
		if b.nd != 1 || w.nd != 2 || b.dims[0] != w.dims[0] {
			return nil, fmt.Errorf("%w: Linear: bias %v for weight %v: want [Out] for [Out, In]", ErrShape, shapeString(b.Shape()), shapeString(w.Shape()))
		}
	}
	dst, err := MatMul(dst, x, w, false, true)
	if err != nil || b == nil {
		return dst, err
	}
	n := b.dims[0]
	if dst.dt == Float32 {
		eachRowBias(dst.f32, b.f32)
		return dst, nil
	}
	for r := range dst.dims[0] {
		row := dst.f64[r*n : (r+1)*n]
		for j, v := range b.f64 {
			row[j] += v
		}
	}
	return dst, nil
}

// BatchMatMul returns op(a[i]) @ op(b[i]) for each i of 3-D tensors
// a [B, m, k] and b [B, k, n] (or their transposes per flag): [B, m, n].
// Each product is an independent GEMM, so results are as deterministic as
// MatMul's.
func BatchMatMul(dst, a, b *Tensor, transA, transB bool) (*Tensor, error) {
	if err := nonNil("BatchMatMul", a, b); err != nil {
		return nil, err
	}
	if a.dt != b.dt {
		return nil, fmt.Errorf("%w: BatchMatMul of %v and %v", ErrDType, a.dt, b.dt)
	}
	if a.nd != 3 || b.nd != 3 || a.dims[0] != b.dims[0] {
		return nil, fmt.Errorf("%w: BatchMatMul of %v and %v: want [B m k] and [B k n] with the same B", ErrShape, shapeString(a.Shape()), shapeString(b.Shape()))
	}
	bt, ar, ac, br, bc := a.dims[0], a.dims[1], a.dims[2], b.dims[1], b.dims[2]
	m, k := ar, ac
	if transA {
		m, k = ac, ar
	}
	k2, n := br, bc
	if transB {
		k2, n = bc, br
	}
	if k != k2 {
		return nil, fmt.Errorf("%w: BatchMatMul of %v (trans=%v) and %v (trans=%v): inner sizes %d and %d differ",
			ErrShape, shapeString(a.Shape()), transA, shapeString(b.Shape()), transB, k, k2)
	}
	dst, err := prepareDst("BatchMatMul", dst, a.dt, []int{bt, m, n})
	if err != nil {
		return nil, err
	}
	sa, sb, sc := ar*ac, br*bc, m*n
	for i := 0; i < bt; i++ {
		if a.dt == Float32 {
			gemm32(simd.Active(), Threads(), transA, transB, m, n, k, 1, a.f32[i*sa:(i+1)*sa], ac, b.f32[i*sb:(i+1)*sb], bc, 0, dst.f32[i*sc:(i+1)*sc], n)
			continue
		}
		if err := Gemm64(transA, transB, m, n, k, 1, a.f64[i*sa:(i+1)*sa], max(1, ac), b.f64[i*sb:(i+1)*sb], max(1, bc), 0, dst.f64[i*sc:(i+1)*sc], max(1, n)); err != nil {
			return nil, err
		}
	}
	return dst, nil
}
