package tensor

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flatfast/flatfast/simd"
)

const u32 = 1.0 / (1 << 24)

func randF32(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

type gemmCase struct {
	m, n, k int
}

// gemmShapes hits every edge of the blocking for the tile (mr, nr) and the
// block sizes b: sizes 1, primes, mr±1, nr±1, k = 1, and sizes just above
// kc, mc and nc (each large in one dimension only, to keep the float64
// reference quick).
func gemmShapes(mr, nr int, b blocking) []gemmCase {
	s := []gemmCase{
		{1, 1, 1}, {1, 1, 7}, {2, 3, 1}, {7, 5, 3}, {13, 17, 19},
		{mr - 1, nr - 1, 5}, {mr, nr, 8}, {mr + 1, nr + 1, 9},
		{2*mr + 1, 3*nr - 1, 31}, {mr, 1, 64}, {1, nr, 64},
		{37, 41, 1}, {64, 64, 64}, {100, 3, 250},
		{5, 7, b.kc + 1}, {3, 2*nr + 3, 2*b.kc + 5},
		{b.mc + 1, 3, 11}, {b.mc + mr + 1, nr + 2, 3},
		{3, b.nc + 1, 4}, {mr + 2, b.nc + nr + 5, 2},
	}
	return s
}

// gemmRef computes alpha*op(A)op(B) + beta*C0 in float64 and the error
// bound gamma_{k+3} * (|alpha| sum|a||b| + |beta||c0|): k fused or separate
// multiply-adds, one rounding for alpha (applied while packing A), and the
// final beta*C0 addition.
func gemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c0 []float32, ldc int) (ref, bound []float64) {
	ref = make([]float64, m*n)
	bound = make([]float64, m*n)
	g := float64(k+3) * u32 / (1 - float64(k+3)*u32)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if transA {
					av = float64(a[p*lda+i])
				} else {
					av = float64(a[i*lda+p])
				}
				if transB {
					bv = float64(b[j*ldb+p])
				} else {
					bv = float64(b[p*ldb+j])
				}
				s += av * bv
				abs += math.Abs(av * bv)
			}
			cv := 0.0
			if beta != 0 {
				cv = float64(beta) * float64(c0[i*ldc+j])
			}
			ref[i*n+j] = float64(alpha)*s + cv
			bound[i*n+j] = g * (math.Abs(float64(alpha))*abs + math.Abs(cv))
		}
	}
	return ref, bound
}

func TestGemmAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, impl := range simd.Implementations() {
		mr, nr := impl.GemmTile()
		blk := blocksFor(impl)
		t.Run(impl.String(), func(t *testing.T) {
			t.Logf("%s: tile %dx%d, kc=%d mc=%d nc=%d", impl, mr, nr, blk.kc, blk.mc, blk.nc)
			for ci, sh := range gemmShapes(mr, nr, blk) {
				for combo := 0; combo < 4; combo++ {
					transA, transB := combo&1 != 0, combo&2 != 0
					alphas := []float32{1, -0.5}
					betas := []float32{0, 1, 0.25}
					alpha, beta := alphas[(ci+combo)%2], betas[(ci+combo)%3]
					m, n, k := sh.m, sh.n, sh.k
					// Leading dimensions larger than needed, to catch
					// stride bugs.
					ar, ac := m, k
					if transA {
						ar, ac = k, m
					}
					br, bc := k, n
					if transB {
						br, bc = n, k
					}
					lda, ldb, ldc := ac+combo, bc+1, n+2
					a := randF32(r, (ar-1)*lda+ac)
					b := randF32(r, (br-1)*ldb+bc)
					c := randF32(r, (m-1)*ldc+n)
					if beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN()) // must not survive beta = 0
						}
					}
					c0 := append([]float32(nil), c...)
					ref, bound := gemmRef(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc)
					var first []float32
					for _, threads := range []int{1, 2, 3} {
						copy(c, c0)
						gemm32(impl, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								got := float64(c[i*ldc+j])
								if d := math.Abs(got - ref[i*n+j]); !(d <= bound[i*n+j]) {
									t.Fatalf("m=%d n=%d k=%d tA=%v tB=%v alpha=%v beta=%v threads=%d: C[%d,%d]=%v want %v (bound %g)",
										m, n, k, transA, transB, alpha, beta, threads, i, j, got, ref[i*n+j], bound[i*n+j])
								}
							}
							// Padding between rows is untouched.
							for j := n; j < ldc && i < m-1; j++ {
								if c[i*ldc+j] != c0[i*ldc+j] && !(beta == 0 && c0[i*ldc+j] != c0[i*ldc+j]) {
									t.Fatalf("wrote C padding at row %d col %d", i, j)
								}
							}
						}
						if first == nil {
							first = append([]float32(nil), c...)
						} else {
							if i := firstBitDiff(c, first); i >= 0 {
								t.Fatalf("m=%d n=%d k=%d: result with %d threads differs from 1 thread at %d: %v vs %v", m, n, k, threads, i, c[i], first[i])
							}
						}
					}
				}
			}
		})
	}
}

// TestGemmThreadsBitwise: products above the one-thread threshold, with
// several row blocks, column chunks and kc blocks (or nc blocks), on 2
// and 3 threads, bitwise against 1 thread. The B panels are packed by
// whichever unit needs them first (claimB) and each worker keeps its A
// block between units (affineUnit); each repetition has new data, so a
// unit reading a panel before it is packed, or an A block of another
// product or kc block, would see stale data and differ.
func TestGemmThreadsBitwise(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, impl := range simd.Implementations() {
		mr, nr := impl.GemmTile()
		b := blockSizes(mr, nr)
		shapes := []gemmCase{
			{2*b.mc + mr + 3, 5*nr + 3, b.kc + 7},
			{3*mr + 1, b.nc + 2*nr + 1, 40},
			{200, 12*nr + 5, 2048/nr + 1},
			// Two row blocks on two threads, three kc blocks: a worker
			// keeps the A block it packed last (affineUnit) only for the
			// same kc block.
			{min(b.mc-1, 16*mr+1), 4 * nr, 2*b.kc + 3},
		}
		for _, sh := range shapes {
			m, n, k := sh.m, sh.n, sh.k
			// Deep enough for the product to run on several threads
			// under any cache geometry (FLATFAST_CACHE).
			k = max(k, parallelThreshold/(2*m*n)+1)
			for _, tr := range [][2]bool{{false, false}, {true, true}} {
				lda, ldb := leadingDims(tr, m, n, k)
				for rep := range 3 {
					a, bb := randF32(r, m*k), randF32(r, k*n)
					one := make([]float32, m*n)
					gemm32(impl, 1, tr[0], tr[1], m, n, k, 1, a, lda, bb, ldb, 0, one, n)
					for _, threads := range []int{2, 3} {
						c := make([]float32, m*n)
						gemm32(impl, threads, tr[0], tr[1], m, n, k, 1, a, lda, bb, ldb, 0, c, n)
						if i := firstBitDiff(c, one); i >= 0 {
							t.Fatalf("%s %dx%dx%d trans=%v rep %d: %d threads give %v at %d, 1 thread %v", impl.Level(), m, n, k, tr, rep, threads, c[i], i, one[i])
						}
					}
				}
			}
		}
	}
}

// TestGemmOwnB: products whose workers pack B each for themselves
// (ownB), with several kc blocks, several nc blocks, a last partial panel,
// a last partial group of panels and rows that are not a multiple of mr,
// bitwise those of one thread on 2 and 3 threads, as stored and
// transposed. Which shapes take ownB depends on the cache geometry (a
// worker's A block must fit in L2: under qemu, whose L2 is the 256 KiB
// default, no product of several kc blocks does), so each shape is checked
// to take it, a shape that cannot is logged and left out, and the test
// fails when no shape took ownB at a level.
func TestGemmOwnB(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, impl := range simd.Implementations() {
		mr, nr := impl.GemmTile()
		b := blockSizes(mr, nr)
		wide := b.nc + 2*nr + 1
		shapes := []gemmCase{
			{3*ownBRowsPer + mr + 1, 3*nr + 5, 2*b.kc + 3},
			{2*ownBRowsPer + 7, wide, max(8, min(ownBLimit/wide, 2*b.mc*b.kc/(ownBRowsPer+8)))},
			{2*ownBRowsPer + 7, 3*nr + 5, 300},
		}
		took := 0
		for _, sh := range shapes {
			m, n, k := sh.m, sh.n, sh.k
			for _, tr := range [][2]bool{{false, false}, {true, true}} {
				lda, ldb := leadingDims(tr, m, n, k)
				a, bb := randF32(r, m*k), randF32(r, k*n)
				var one []float32
				for _, threads := range []int{2, 3} {
					if threads*ownBRowsPer > m {
						continue
					}
					if _, ok := ownBRows(&denseB{}, b, mr, b.kcFor(k), threads, m, n, k); !ok || 2*m*n*k < parallelThreshold {
						t.Logf("%s: %dx%dx%d on %d threads does not take ownB under this geometry (kc %d, mc %d)", impl.Level(), m, n, k, threads, b.kc, b.mc)
						continue
					}
					took++
					if one == nil {
						one = make([]float32, m*n)
						gemm32(impl, 1, tr[0], tr[1], m, n, k, 1, a, lda, bb, ldb, 0, one, n)
					}
					c := randF32(r, m*n) // overwritten: beta = 0
					gemm32(impl, threads, tr[0], tr[1], m, n, k, 1, a, lda, bb, ldb, 0, c, n)
					if i := firstBitDiff(c, one); i >= 0 {
						t.Fatalf("%s %dx%dx%d trans=%v: %d threads give %v at %d, 1 thread %v", impl.Level(), m, n, k, tr, threads, c[i], i, one[i])
					}
				}
			}
		}
		if took == 0 {
			t.Errorf("%s: no shape took ownB (kc %d, mc %d, nc %d)", impl.Level(), b.kc, b.mc, b.nc)
		}
	}
}

// leadingDims returns the row strides of a dense m x k A and k x n B
// stored as tr says (tr[0]: A transposed, tr[1]: B transposed).
func leadingDims(tr [2]bool, m, n, k int) (lda, ldb int) {
	lda, ldb = k, n
	if tr[0] {
		lda = m
	}
	if tr[1] {
		ldb = k
	}
	return lda, ldb
}

// slowB is a dense B whose packing of the panels from first = 0 takes
// delay longer, for TestGemmWaitsForPanels.
type slowB struct {
	denseB
	delay time.Duration
}

func (s *slowB) packB(w int, dst []float32, p0, kb, j0, nb, nr, first, count int) {
	if first == 0 {
		time.Sleep(s.delay)
	}
	s.denseB.packB(w, dst, p0, kb, j0, nb, nr, first, count)
}

// TestGemmWaitsForPanels: a product of one B panel cut into row units on
// two threads, whose panel takes 20 ms to pack: the units on the other
// worker must wait for it (claimB) rather than read the packing buffer
// before it is filled.
func TestGemmWaitsForPanels(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, impl := range simd.Implementations() {
		mr, nr := impl.GemmTile()
		// k short enough that the product is not split along k.
		n, k := nr, 64
		m := max(32*mr, (parallelThreshold/(2*n*k)/mr+1)*mr)
		if kSegments(impl, m, n, k) != 1 {
			t.Fatalf("%s: %dx%dx%d is split along k", impl.Level(), m, n, k)
		}
		a, b := randF32(r, m*k), randF32(r, k*n)
		want := make([]float32, m*n)
		gemmSources(impl, 1, m, n, k, 1, &denseA{impl: impl, a: a, lda: k}, &denseB{impl: impl, b: b, ldb: n}, want, n, 0, 0, true)
		// A product of other data, so that the pooled packing buffer
		// holds something else than this B's panel.
		other := make([]float32, m*n)
		gemmSources(impl, 1, m, n, k, 1, &denseA{impl: impl, a: a, lda: k}, &denseB{impl: impl, b: randF32(r, k*n), ldb: n}, other, n, 0, 0, true)
		got := make([]float32, m*n)
		gemmSources(impl, 2, m, n, k, 1, &denseA{impl: impl, a: a, lda: k}, &slowB{denseB{impl: impl, b: b, ldb: n}, 20 * time.Millisecond}, got, n, 0, 0, true)
		if i := firstBitDiff(got, want); i >= 0 {
			t.Fatalf("%s: C[%d] = %v, want %v", impl.Level(), i, got[i], want[i])
		}
	}
}

func TestGemmErrors(t *testing.T) {
	a := make([]float32, 6)
	c := make([]float32, 4)
	cases := []struct {
		name string
		err  error
	}{
		{"negative m", Gemm(false, false, -1, 2, 3, 1, a, 3, a, 2, 0, c, 2)},
		{"lda too small", Gemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, c, 2)},
		{"A too short", Gemm(false, false, 3, 2, 3, 1, a, 3, a, 2, 0, c, 2)},
		{"C too short", Gemm(false, false, 2, 3, 2, 1, a, 2, a, 3, 0, c, 3)},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if err := Gemm(false, false, 2, 2, 3, 1, a, 3, a, 2, 0, c, 2); err != nil {
		t.Errorf("valid call: %v", err)
	}
}

func TestMatMul(t *testing.T) {
	r := NewRNG(5)
	for _, dt := range []DType{Float32, Float64} {
		a := Must(New(dt, 4, 3))
		b := Must(New(dt, 3, 5))
		r.Normal(a, 0, 1)
		r.Normal(b, 0, 1)
		for _, tr := range []struct{ ta, tb bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			x, y := a, b
			if tr.ta {
				x = Must(Transpose(nil, a))
			}
			if tr.tb {
				y = Must(Transpose(nil, b))
			}
			c, err := MatMul(nil, x, y, tr.ta, tr.tb)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 4; i++ {
				for j := 0; j < 5; j++ {
					var s float64
					for p := 0; p < 3; p++ {
						av, _ := a.At(i, p)
						bv, _ := b.At(p, j)
						s += av * bv
					}
					got, _ := c.At(i, j)
					if math.Abs(got-s) > 1e-5*(1+math.Abs(s)) {
						t.Fatalf("%v %+v: C[%d,%d] = %v want %v", dt, tr, i, j, got, s)
					}
				}
			}
		}
		if _, err := MatMul(nil, a, a, false, false); err == nil {
			t.Errorf("%v: MatMul of [4 3] and [4 3] did not fail", dt)
		}
	}
	if _, err := MatMul(nil, Must(New(Float32, 2, 2)), Must(New(Float64, 2, 2)), false, false); err == nil {
		t.Error("mixed dtypes did not fail")
	}
}

func TestGemm64Deterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	m, n, k := 150, 170, 190
	a := make([]float64, m*k)
	b := make([]float64, k*n)
	for i := range a {
		a[i] = r.NormFloat64()
	}
	for i := range b {
		b[i] = r.NormFloat64()
	}
	c1 := make([]float64, m*n)
	c2 := make([]float64, m*n)
	if err := Gemm64(false, false, m, n, k, 1, a, k, b, n, 0, c1, n); err != nil {
		t.Fatal(err)
	}
	// gonum splits by GOMAXPROCS; compare against a naive product and
	// against a second run.
	if err := Gemm64(false, false, m, n, k, 1, a, k, b, n, 0, c2, n); err != nil {
		t.Fatal(err)
	}
	for i := range c1 {
		if c1[i] != c2[i] {
			t.Fatalf("Gemm64 not repeatable at %d", i)
		}
	}
	for i := 0; i < m; i += 17 {
		for j := 0; j < n; j += 13 {
			var s float64
			for p := 0; p < k; p++ {
				s += a[i*k+p] * b[p*n+j]
			}
			if math.Abs(s-c1[i*n+j]) > 1e-12*float64(k) {
				t.Fatalf("Gemm64[%d,%d] = %v want %v", i, j, c1[i*n+j], s)
			}
		}
	}
}

func TestGemmZeroAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	m, n, k := 200, 300, 250
	a, b, c := randF32(r, m*k), randF32(r, k*n), make([]float32, m*n)
	for _, threads := range []int{1, 2} {
		SetThreads(threads)
		allocs := testing.AllocsPerRun(5, func() {
			_ = Gemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
		})
		if allocs != 0 {
			t.Errorf("threads=%d: %v allocations per Gemm", threads, allocs)
		}
	}
	SetThreads(0)
}

func BenchmarkGemm(b *testing.B) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, s := range []gemmCase{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {512, 512, 784}} {
		a, bb, c := randF32(r, s.m*s.k), randF32(r, s.k*s.n), make([]float32, s.m*s.n)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%dx%d/threads=%d", s.m, s.n, s.k, threads), func(b *testing.B) {
				SetThreads(threads)
				defer SetThreads(0)
				b.ReportAllocs()
				for range b.N {
					_ = Gemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func TestPackedMatrix(t *testing.T) {
	r := NewRNG(7)
	for _, impl := range simd.Implementations() {
		prev := simd.ActiveLevel()
		if err := simd.Use(impl.Level()); err != nil {
			t.Fatal(err)
		}
		for _, sh := range []gemmCase{{1, 1, 1}, {3, 70, 500}, {24, 2500, 700}, {5, 4100, 33}} {
			for _, tb := range []bool{false, true} {
				for _, ta := range []bool{false, true} {
					bs := []int{sh.k, sh.n}
					if tb {
						bs = []int{sh.n, sh.k}
					}
					as := []int{sh.m, sh.k}
					if ta {
						as = []int{sh.k, sh.m}
					}
					b := randTensor(r, Float32, bs...)
					a := randTensor(r, Float32, as...)
					p, err := Pack(b, tb)
					if err != nil {
						t.Fatal(err)
					}
					got, err := p.MulInto(nil, a, ta)
					if err != nil {
						t.Fatal(err)
					}
					want := Must(MatMul(nil, a, b, ta, tb))
					for i := 0; i < want.Len(); i++ {
						if got.f32[i] != want.f32[i] {
							t.Fatalf("%s %+v ta=%v tb=%v: element %d = %v, Gemm gives %v", impl, sh, ta, tb, i, got.f32[i], want.f32[i])
						}
					}
					// A normal GEMM afterwards must not scribble on the
					// packed data.
					_ = Must(MatMul(nil, a, b, ta, tb))
					again, _ := p.MulInto(nil, a, ta)
					for i := range again.f32 {
						if again.f32[i] != got.f32[i] {
							t.Fatal("packed matrix changed by a later GEMM")
						}
					}
				}
			}
		}
		pm, _ := Pack(randTensor(r, Float32, 4, 5), false)
		if _, err := pm.MulInto(nil, randTensor(r, Float32, 3, 6), false); err == nil {
			t.Error("inner-size mismatch accepted")
		}
		_ = simd.Use(prev)
	}
}

func TestBatchMatMul(t *testing.T) {
	r := NewRNG(8)
	for _, dt := range []DType{Float32, Float64} {
		for _, tr := range []struct{ a, b bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
			as, bs := []int{3, 4, 5}, []int{3, 5, 6}
			if tr.a {
				as = []int{3, 5, 4}
			}
			if tr.b {
				bs = []int{3, 6, 5}
			}
			a, b := randTensor(r, dt, as...), randTensor(r, dt, bs...)
			c, err := BatchMatMul(nil, a, b, tr.a, tr.b)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				ai := Must(Must(a.Rows(i, i+1)).Reshape(as[1], as[2]))
				bi := Must(Must(b.Rows(i, i+1)).Reshape(bs[1], bs[2]))
				want := Must(MatMul(nil, ai, bi, tr.a, tr.b))
				for j := 0; j < want.Len(); j++ {
					if got := c.Flat(i*24 + j); got != want.Flat(j) {
						t.Fatalf("%v %+v batch %d element %d: %v want %v", dt, tr, i, j, got, want.Flat(j))
					}
				}
			}
		}
		if _, err := BatchMatMul(nil, randTensor(r, dt, 2, 3, 4), randTensor(r, dt, 3, 4, 5), false, false); err == nil {
			t.Error("batch mismatch accepted")
		}
	}
}

// TestPackStrips: every strip width (the tile widths take the levels'
// strip copies, the others copy()), full and partial strips, against the
// definition, with the padding zeroed over stale contents, at every level.
func TestPackStrips(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, impl := range simd.Implementations() {
		for w := 1; w <= 33; w++ {
			for _, cols := range []int{w, max(1, w-3)} {
				const ld, p0, c0, kb = 41, 2, 3, 7
				src := randF32(r, (p0+kb)*ld)
				dst := randF32(r, kb*w)
				packStrips(impl, dst, src, ld, p0, kb, c0, cols, w)
				for p := range kb {
					for c := range w {
						want := float32(0)
						if c < cols {
							want = src[(p0+p)*ld+c0+c]
						}
						if got := dst[p*w+c]; got != want {
							t.Fatalf("%s w=%d cols=%d: dst[%d,%d] = %v, want %v", impl, w, cols, p, c, got, want)
						}
					}
				}
			}
		}
	}
}

// TestPackRuns: a range of panels of a k-major block, against the
// definition, for the tile widths (whose full panels go through one
// CopyStrips call per step group) and another width, with step counts
// across packSteps groups, a last panel cut by n and not, and ranges that
// start past the first panel: the padding is zeroed over stale contents
// and the panels outside the range are left alone; at every level.
func TestPackRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, impl := range simd.Implementations() {
		for _, w := range []int{4, 6, 8, 12, 16, 32, 5} {
			for _, kb := range []int{1, packSteps - 1, packSteps, packSteps + 1, 3*packSteps + 2} {
				for _, n := range []int{3 * w, 3*w - 1, 2*w + 1} {
					np := (n + w - 1) / w
					for first := range np {
						for count := 1; first+count <= np; count++ {
							const ld, p0, c0 = 101, 3, 2
							src := randF32(r, (p0+kb)*ld)
							dst := randF32(r, np*w*kb)
							stale := append([]float32(nil), dst...)
							packRuns(impl, dst, src, ld, p0, kb, c0, n, w, first, count)
							for jp := range np {
								for p := range kb {
									for c := range w {
										i := jp*w*kb + p*w + c
										want := stale[i]
										if jp >= first && jp < first+count {
											want = 0
											if col := jp*w + c; col < n {
												want = src[(p0+p)*ld+c0+col]
											}
										}
										if dst[i] != want {
											t.Fatalf("%s w=%d kb=%d n=%d panels %d+%d: panel %d [%d,%d] = %v, want %v", impl, w, kb, n, first, count, jp, p, c, dst[i], want)
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestColChunks checks the column cut of the blocked loops: the 1024^3
// AVX-512 case it was made for, and for many shapes that the cut reaches
// the target, stays within the panels, and never spreads worse over the
// workers than the smallest cut that reaches the target.
func TestColChunks(t *testing.T) {
	if got := colChunks(3, 32, 2, 8); got != 4 {
		t.Errorf("colChunks(3 row blocks, 32 panels, 2 threads, target 8) = %d, want 4 (6+6 units of 8 panels, not 5+4 of 11)", got)
	}
	if got := colChunks(2, 16, 1, 1); got != 1 {
		t.Errorf("one thread: colChunks = %d, want 1", got)
	}
	cost := func(nI, panels, threads, nJ int) int {
		chunk := (panels + nJ - 1) / nJ
		units := nI * ((panels + chunk - 1) / chunk)
		return (units + threads - 1) / threads * chunk
	}
	for threads := 2; threads <= 5; threads++ {
		target := 4 * threads
		for nI := 1; nI <= 12; nI++ {
			for panels := 1; panels <= 70; panels++ {
				lo := min((target+nI-1)/nI, panels)
				got := colChunks(nI, panels, threads, target)
				if got < lo || got > panels {
					t.Fatalf("colChunks(%d, %d, %d, %d) = %d, outside [%d, %d]", nI, panels, threads, target, got, lo, panels)
				}
				if c, c0 := cost(nI, panels, threads, got), cost(nI, panels, threads, lo); c > c0 {
					t.Fatalf("colChunks(%d, %d, %d, %d) = %d costs %d rounds x panels, more than %d's %d", nI, panels, threads, target, got, c, lo, c0)
				}
			}
		}
	}
}

// TestLinear checks Linear against MatMul followed by Add of the bias
// (bitwise, in both dtypes, with and without bias, into a given dst) and
// that a bias of the wrong shape or type is refused before dst is written.
func TestLinear(t *testing.T) {
	r := NewRNG(9)
	for _, dt := range []DType{Float32, Float64} {
		x, w, b := randTensor(r, dt, 37, 19), randTensor(r, dt, 23, 19), randTensor(r, dt, 23)
		want := Must(Add(nil, Must(MatMul(nil, x, w, false, true)), b))
		dst := randTensor(r, dt, 37, 23)
		got, err := Linear(dst, x, w, b)
		if err != nil || got != dst {
			t.Fatalf("%v: Linear = %p, %v; want dst %p", dt, got, err, dst)
		}
		noBias := Must(Linear(nil, x, w, nil))
		plain := Must(MatMul(nil, x, w, false, true))
		for i := range want.Len() {
			if got.Flat(i) != want.Flat(i) {
				t.Fatalf("%v: element %d = %v, MatMul + Add gives %v", dt, i, got.Flat(i), want.Flat(i))
			}
			if noBias.Flat(i) != plain.Flat(i) {
				t.Fatalf("%v: no bias: element %d = %v, MatMul gives %v", dt, i, noBias.Flat(i), plain.Flat(i))
			}
		}
		keep := dst.Clone()
		for _, c := range []struct {
			name string
			b    *Tensor
			want error
		}{
			{"bias of Out+1", randTensor(r, dt, 24), ErrShape},
			{"2-D bias", randTensor(r, dt, 1, 23), ErrShape},
			{"bias of another dtype", randTensor(r, 1-dt, 23), ErrDType},
		} {
			if _, err := Linear(dst, x, w, c.b); !errors.Is(err, c.want) {
				t.Errorf("%v, %s: err = %v, want %v", dt, c.name, err, c.want)
			}
		}
		for i := range dst.Len() {
			if dst.Flat(i) != keep.Flat(i) {
				t.Fatalf("%v: a refused Linear wrote dst[%d]", dt, i)
			}
		}
		if _, err := Linear(nil, x, nil, b); err == nil {
			t.Errorf("%v: nil weight: no error", dt)
		}
	}
}
