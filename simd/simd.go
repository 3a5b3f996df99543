package simd

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// Level names one implementation of the kernels.
type Level uint8

// The levels, from the pure-Go reference up.
const (
	Generic Level = iota // pure Go, every platform
	AVX2                 // amd64 with AVX2 and FMA
	AVX512               // amd64 with AVX512F (and AVX2, FMA)
	NEON                 // arm64 Advanced SIMD
)

var levelNames = [...]string{Generic: "generic", AVX2: "avx2", AVX512: "avx512", NEON: "neon"}

// String returns the level's name as FLATFAST_SIMD spells it.
func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel parses a level name (generic, avx2, avx512, neon).
func ParseLevel(s string) (Level, error) {
	for l, name := range levelNames {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return Level(l), nil
		}
	}
	return 0, fmt.Errorf("simd: unknown level %q (want one of %s)", s, strings.Join(levelNames[:], ", "))
}

// EnvVar is the environment variable that forces a level at start-up.
const EnvVar = "FLATFAST_SIMD"

// chunk bounds the elements one assembly call processes, so that a
// goroutine is never stuck in assembly (which cannot be preempted) for more
// than a few microseconds.
const chunk = 1 << 15

// maxKC bounds the k extent of one micro-kernel call for the same reason.
const maxKC = 1024

// Impl is one implementation of every kernel. Its methods check their
// arguments and split long inputs into bounded assembly calls; the package
// level functions call the methods of the active Impl.
type Impl struct {
	level  Level
	mr, nr int

	dot          func(x, y []float32) float32
	sum          func(x []float32) float32
	max          func(x []float32) float32
	axpy         func(a float32, x, y []float32)
	scale        func(a float32, x []float32)
	add          func(z, x, y []float32)
	sub          func(z, x, y []float32)
	mul          func(z, x, y []float32)
	relu         func(z, x []float32)
	reluBackward func(z, g, x []float32)
	exp          func(z, x []float32)
	tanh         func(z, x []float32)
	sigmoid      func(z, x []float32)
	// The activations' backward rules, z from g and the forward output y.
	tanhBackward    func(z, g, y []float32)
	sigmoidBackward func(z, g, y []float32)
	gemm            func(k int, a, b, c []float32, ldc, acc int)
	transpose       func(dst []float32, ldd int, src []float32, lds int, rows, cols int)
	copyStrips      func(dst []float32, stride int, src []float32, ld, kb, w, count int)
	// gemmIndirect is the micro-kernel with B read from base at
	// pieces[v]+koff[p] (nv pieces per B row); nil where a level has none.
	gemmIndirect func(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)
	// gemmIndirectPF is gemmIndirect prefetching B rows some k steps
	// ahead (for tables marked Prefetching); nil where a level has none.
	gemmIndirectPF func(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)
	nv             int
	// The same with 2*nv pieces of nr/(2*nv) floats (p4: its prefetching
	// variant p4PF, short kernels in short[i].p4); nil where a level has
	// none.
	p4, p4PF func(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)
	// short holds kernels computing only the first rows rows of a tile
	// (A still packed mr per k step), by increasing rows, for the last
	// row panel of a matrix whose rows are not a multiple of mr.
	short   []shortKernel
	affine  func(z, x []float32, a, b float32)
	affine2 func(z, x, y []float32, a, b, c float32)
	sqdev   func(x []float32, c float32) float32
	// The Winograd F(4, 3) row transforms (winograd.go) on a multiple of
	// lanes floats; nil where a level has none (the generic loops then do
	// all of it).
	winoIn4, winoOut4 func(dst []float32, ds int, src []float32, ss int, n int)
	winoKer4          func(dst []float32, ds int, g0, g1, g2 []float32)
	// Their adjoints A and G^T (the weight gradient's), likewise.
	winoOutAdj4, winoKerAdj4 func(dst []float32, ds int, src []float32, ss int, n int)
	lanes                    int

	// band, when set, replaces the streaming kernels dot, sum and axpy for
	// inputs whose footprint lies in (bandLo, bandHi] bytes: see
	// docs/simd.md for why the AVX-512 level hands that L2-resident band to
	// the AVX2 kernels.
	band           *Impl
	bandLo, bandHi int
}

// streaming returns the implementation to use for a streaming kernel that
// touches the given number of bytes.
func (k *Impl) streaming(bytes int) *Impl {
	if k.band != nil && bytes > k.bandLo && bytes <= k.bandHi {
		return k.band
	}
	return k
}

// Level reports which level this implementation is.
func (k *Impl) Level() Level { return k.level }

// String returns the level name.
func (k *Impl) String() string { return k.level.String() }

var (
	impls     []*Impl // generic first, then the arch levels this CPU runs, ascending
	active    *Impl
	configErr error
)

func init() {
	impls = append([]*Impl{genericImpl}, archImpls()...)
	for _, k := range impls[1:] {
		// A level without its own transpose uses the generic one (the
		// kernels behind it are all loads and stores).
		if k.transpose == nil {
			k.transpose = transposeGeneric
		}
		if k.copyStrips == nil {
			k.copyStrips = copyStripsGeneric
		}
		if k.affine == nil {
			k.affine, k.affine2, k.sqdev = affineGeneric, affine2Generic, sqdevGeneric
		}
		if k.tanh == nil {
			k.tanh, k.sigmoid = tanhGeneric, sigmoidGeneric
			k.tanhBackward, k.sigmoidBackward = tanhBackwardGeneric, sigmoidBackwardGeneric
		}
	}
	active = preferred()
	if s, ok := os.LookupEnv(EnvVar); ok && s != "" {
		l, err := ParseLevel(s)
		if err == nil {
			err = Use(l)
		}
		if err != nil {
			configErr = fmt.Errorf("%s=%s: %w", EnvVar, s, err)
		}
	}
}

// preferred is the level chosen when nothing is forced: the highest one the
// CPU runs. (On the CPUs measured so far the widest vectors are never
// slower; docs/simd.md has the figures.)
func preferred() *Impl { return impls[len(impls)-1] }

// Implementations returns every implementation this machine can run, the
// generic reference first.
func Implementations() []*Impl { return append([]*Impl(nil), impls...) }

// Supported reports whether this machine can run level l.
func Supported(l Level) bool { return lookup(l) != nil }

func lookup(l Level) *Impl {
	for _, k := range impls {
		if k.level == l {
			return k
		}
	}
	return nil
}

// Use makes level l the active implementation. It fails if this CPU (or this
// build: the purego tag leaves only generic) cannot run l. Use must not be
// called while kernels run on other goroutines.
func Use(l Level) error {
	k := lookup(l)
	if k == nil {
		return fmt.Errorf("simd: level %s is not available on this machine (%s); available: %s",
			l, CPUDescription(), availableNames())
	}
	active = k
	return nil
}

func availableNames() string {
	names := make([]string, len(impls))
	for i, k := range impls {
		names[i] = k.level.String()
	}
	return strings.Join(names, ", ")
}

// Active returns the implementation the package-level functions use.
func Active() *Impl { return active }

// ActiveLevel returns the level of the active implementation.
func ActiveLevel() Level { return active.level }

// ConfigError returns the error in FLATFAST_SIMD, if it named an unknown
// level or one this machine cannot run, and the error in FLATFAST_CACHE, if
// it was malformed (CacheConfigError); nil when both are fine. The
// automatically chosen level and the sizes from cpuid stay in use then.
func ConfigError() error { return errors.Join(configErr, cacheConfigErr) }

func mismatch(op string, lens ...int) string {
	return fmt.Sprintf("simd.%s: slice lengths differ: %v", op, lens)
}

// Dot returns sum_i x[i]*y[i].
func (k *Impl) Dot(x, y []float32) float32 {
	if len(x) != len(y) {
		panic(mismatch("Dot", len(x), len(y)))
	}
	k = k.streaming(8 * len(x))
	var s float32
	for len(x) > chunk {
		s += k.dot(x[:chunk], y[:chunk])
		x, y = x[chunk:], y[chunk:]
	}
	return s + k.dot(x, y)
}

// Sum returns sum_i x[i].
func (k *Impl) Sum(x []float32) float32 {
	k = k.streaming(4 * len(x))
	var s float32
	for len(x) > chunk {
		s += k.sum(x[:chunk])
		x = x[chunk:]
	}
	return s + k.sum(x)
}

// Max returns the largest element of x, NaN if any element is NaN, and -Inf
// if x is empty.
func (k *Impl) Max(x []float32) float32 {
	m := float32(math.Inf(-1))
	for len(x) > 0 {
		n := min(len(x), chunk)
		c := k.max(x[:n])
		if c != c {
			return c
		}
		m = max(m, c)
		x = x[n:]
	}
	return m
}

// Axpy computes y[i] += a*x[i].
func (k *Impl) Axpy(a float32, x, y []float32) {
	if len(x) != len(y) {
		panic(mismatch("Axpy", len(x), len(y)))
	}
	k = k.streaming(8 * len(x))
	for len(x) > chunk {
		k.axpy(a, x[:chunk], y[:chunk])
		x, y = x[chunk:], y[chunk:]
	}
	k.axpy(a, x, y)
}

// Scale computes x[i] *= a.
func (k *Impl) Scale(a float32, x []float32) {
	for len(x) > chunk {
		k.scale(a, x[:chunk])
		x = x[chunk:]
	}
	k.scale(a, x)
}

func (k *Impl) binary(op string, f func(z, x, y []float32), z, x, y []float32) {
	if len(z) != len(x) || len(z) != len(y) {
		panic(mismatch(op, len(z), len(x), len(y)))
	}
	for len(z) > chunk {
		f(z[:chunk], x[:chunk], y[:chunk])
		z, x, y = z[chunk:], x[chunk:], y[chunk:]
	}
	f(z, x, y)
}

// Add computes z[i] = x[i] + y[i].
func (k *Impl) Add(z, x, y []float32) { k.binary("Add", k.add, z, x, y) }

// Sub computes z[i] = x[i] - y[i].
func (k *Impl) Sub(z, x, y []float32) { k.binary("Sub", k.sub, z, x, y) }

// Mul computes z[i] = x[i] * y[i].
func (k *Impl) Mul(z, x, y []float32) { k.binary("Mul", k.mul, z, x, y) }

// ReLUBackward computes z[i] = g[i] if x[i] > 0, else 0.
func (k *Impl) ReLUBackward(z, g, x []float32) { k.binary("ReLUBackward", k.reluBackward, z, g, x) }

func (k *Impl) unary(op string, f func(z, x []float32), z, x []float32) {
	if len(z) != len(x) {
		panic(mismatch(op, len(z), len(x)))
	}
	for len(z) > chunk {
		f(z[:chunk], x[:chunk])
		z, x = z[chunk:], x[chunk:]
	}
	f(z, x)
}

// ReLU computes z[i] = x[i] unless x[i] < 0, in which case z[i] = +0.
func (k *Impl) ReLU(z, x []float32) { k.unary("ReLU", k.relu, z, x) }

// Exp computes z[i] = e^x[i].
func (k *Impl) Exp(z, x []float32) { k.unary("Exp", k.exp, z, x) }

// GemmTile returns the micro-kernel's tile: mr rows by nr columns of C.
func (k *Impl) GemmTile() (mr, nr int) { return k.mr, k.nr }

// GemmKernel computes C[i*ldc+j] += sum_{p<kc} a[p*mr+i] * b[p*nr+j] for
// i < mr, j < nr (see the package documentation for the packed layouts);
// with accumulate false it overwrites C with the sum instead, without
// reading C (which saves clearing C before a product).
func (k *Impl) GemmKernel(kc int, a, b, c []float32, ldc int, accumulate bool) {
	k.checkGemm(kc, a, b, c, ldc, k.mr, k.nr)
	acc := b2i(accumulate)
	for first := true; first || kc > 0; first = false {
		n := min(kc, maxKC)
		k.gemm(n, a, b, c, ldc, acc)
		a, b = a[n*k.mr:], b[n*k.nr:]
		kc -= n
		acc = 1
	}
}

type shortKernel struct {
	rows         int
	gemm         func(k int, a, b, c []float32, ldc, acc int)
	gemmIndirect func(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)
	p4           func(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int)
}

// shortFor returns the smallest short kernel covering m rows, or nil.
func (k *Impl) shortFor(m int) *shortKernel {
	for i := range k.short {
		if k.short[i].rows >= m {
			return &k.short[i]
		}
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// addOrSet adds (or copies) the top-left m x n corner of the tile t (row
// length nr) into C.
func addOrSet(c []float32, ldc int, t []float32, nr, m, n int, accumulate bool) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		src := t[i*nr : i*nr+n]
		if !accumulate {
			copy(row, src)
			continue
		}
		for j, v := range src {
			row[j] += v
		}
	}
}

// IndirectPieces returns how many pieces GemmIndirect reads each row of B
// in (each nr/IndirectPieces floats long), or 0 if this level has no
// indirect kernel.
func (k *Impl) IndirectPieces() int {
	if k.gemmIndirect == nil {
		return 0
	}
	return k.nv
}

// AcceptsIndirectPieces reports whether GemmIndirect and GemmIndirectEdge
// take n pieces per row of B, each nr/n floats long: IndirectPieces(), and
// on AVX-512 also twice as many half-length pieces (4 pieces of 8 floats,
// so that a convolution with 8-pixel output rows reads its input in
// place).
func (k *Impl) AcceptsIndirectPieces(n int) bool {
	return k.gemmIndirect != nil && (n == k.nv || (n == 2*k.nv && k.p4 != nil))
}

// indirectKernels returns the kernels for n pieces per B row: the full
// tile's (prefetching or not, as t asks) and the short one for m rows with
// its row count.
func (k *Impl) indirectKernels(n int, t IndirectTable, m int) (full, short func(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int), rows int) {
	full, rows = k.gemmIndirect, k.mr
	if t.prefetch && k.gemmIndirectPF != nil {
		full = k.gemmIndirectPF
	}
	if n != k.nv {
		full = k.p4
		if t.prefetch && k.p4PF != nil {
			full = k.p4PF
		}
	}
	short = full
	if sk := k.shortFor(m); sk != nil {
		short, rows = sk.gemmIndirect, sk.rows
		if n != k.nv {
			short = sk.p4
		}
	}
	return full, short, rows
}

// IndirectTable holds the per-k-step offsets of GemmIndirect, checked
// once: a kernel call then checks only its piece starts, so one table
// built per block of k steps serves every panel and tile of the block.
type IndirectTable struct {
	koff     []int32
	max      int // the largest offset
	prefetch bool
}

// Prefetching returns t marked for GemmIndirect to prefetch the B rows of
// the step a fixed distance ahead at each k step, on levels that have such
// a kernel (AVX-512 and AVX2, full tiles). It pays where the rows jump
// about in a way the hardware prefetchers do not follow, as the taps of a
// padded image do (5-7% on ResNet's 128-channel convolution); where the
// rows run in order (a channels-last input, one pixel per k step) the extra
// loads cost about as much, so it is the caller's choice.
func (t IndirectTable) Prefetching() IndirectTable {
	t.prefetch = true
	return t
}

// NewIndirectTable returns the table of the k-step offsets koff; it panics
// on a negative offset.
func NewIndirectTable(koff []int32) IndirectTable {
	m := 0
	for i, o := range koff {
		if o < 0 {
			panic(fmt.Sprintf("simd.NewIndirectTable: negative offset %d at step %d", o, i))
		}
		m = max(m, int(o))
	}
	return IndirectTable{koff: koff, max: m}
}

// GemmIndirect is GemmKernel with B not packed but read in place: row p of
// the kc x nr panel is the concatenation of nv = IndirectPieces() pieces
// of nr/nv floats, piece v being base[pieces[v]+koff[p]:] with koff the
// table's offsets. The offsets separate because a convolution's im2col
// entry is (where the output pixel starts) + (where the kernel tap is): a
// convolution reads B straight from a zero-padded input image, each piece
// a run of output pixels (or of images, in a batch-innermost layout), with
// no im2col copy.
func (k *Impl) GemmIndirect(kc int, a, base []float32, t IndirectTable, pieces []int, c []float32, ldc int, accumulate bool) {
	k.checkIndirect(kc, a, base, t, pieces, c, ldc, k.mr, k.nr)
	koff := t.koff
	acc := b2i(accumulate)
	gemm, _, _ := k.indirectKernels(len(pieces), t, k.mr)
	for first := true; first || kc > 0; first = false {
		n := min(kc, maxKC)
		gemm(n, a, base, koff, pieces, c, ldc, acc)
		a, koff = a[n*k.mr:], koff[n:]
		kc -= n
		acc = 1
	}
}

// GemmIndirectEdge is GemmIndirect updating only the top-left m x n corner
// of C (see GemmKernelEdge; scratch holds at least mr*nr floats).
func (k *Impl) GemmIndirectEdge(kc int, a, base []float32, t IndirectTable, pieces []int, c []float32, ldc, m, n int, scratch []float32, accumulate bool) {
	if m <= 0 || n <= 0 || m > k.mr || n > k.nr || len(scratch) < k.mr*k.nr {
		panic(fmt.Sprintf("simd.GemmIndirectEdge: corner %dx%d of a %dx%d tile, scratch %d", m, n, k.mr, k.nr, len(scratch)))
	}
	k.checkIndirect(kc, a, base, t, pieces, c, ldc, m, n)
	_, gemm, rows := k.indirectKernels(len(pieces), t, m)
	koff := t.koff
	if rows == m && n == k.nr {
		acc := b2i(accumulate)
		for first := true; first || kc > 0; first = false {
			b := min(kc, maxKC)
			gemm(b, a, base, koff, pieces, c, ldc, acc)
			a, koff = a[b*k.mr:], koff[b:]
			kc -= b
			acc = 1
		}
		return
	}
	s := scratch[:rows*k.nr]
	acc := 0
	for first := true; first || kc > 0; first = false {
		b := min(kc, maxKC)
		gemm(b, a, base, koff, pieces, s, k.nr, acc)
		a, koff = a[b*k.mr:], koff[b:]
		kc -= b
		acc = 1
	}
	addOrSet(c, ldc, s, k.nr, m, n, accumulate)
}

func (k *Impl) checkIndirect(kc int, a, base []float32, t IndirectTable, pieces []int, c []float32, ldc, m, n int) {
	if k.gemmIndirect == nil {
		panic("simd.GemmIndirect: level " + k.level.String() + " has no indirect kernel")
	}
	ok := kc >= 0 && len(a) >= kc*k.mr && len(t.koff) >= kc && ldc >= n && len(c) >= (m-1)*ldc+n && k.AcceptsIndirectPieces(len(pieces))
	if ok {
		piece := k.nr / len(pieces)
		for _, p := range pieces {
			if p < 0 || p+t.max+piece > len(base) {
				ok = false
			}
		}
	}
	if !ok {
		panic(fmt.Sprintf("simd.GemmIndirect: kc=%d, tile %dx%d, corner %dx%d: len(a)=%d, %d offsets, pieces %v (largest offset %d), base %d floats, len(c)=%d ldc=%d",
			kc, k.mr, k.nr, m, n, len(a), len(t.koff), pieces, t.max, len(base), len(c), ldc))
	}
}

// MaxTile is the largest mr*nr of any implementation: a scratch tile of
// this many floats serves GemmKernelEdge at every level.
const MaxTile = 12 * 32

// GemmKernelEdge is GemmKernel for a tile at the ragged edge of C: the
// panels are full mr and nr wide (the caller pads them, with zeros or
// anything else), but only the top-left m x n corner of C is updated. The
// full tile is computed into scratch (at least mr*nr floats, overwritten),
// which the caller provides so that the call allocates nothing.
func (k *Impl) GemmKernelEdge(kc int, a, b, c []float32, ldc, m, n int, scratch []float32, accumulate bool) {
	if m <= 0 || n <= 0 || m > k.mr || n > k.nr {
		panic(fmt.Sprintf("simd.GemmKernelEdge: corner %dx%d outside the %dx%d tile", m, n, k.mr, k.nr))
	}
	if len(scratch) < k.mr*k.nr {
		panic(fmt.Sprintf("simd.GemmKernelEdge: scratch of %d floats, need %d", len(scratch), k.mr*k.nr))
	}
	k.checkGemm(kc, a, b, c, ldc, m, n)
	gemm, rows := k.gemm, k.mr
	if sk := k.shortFor(m); sk != nil {
		gemm, rows = sk.gemm, sk.rows
	}
	if rows == m && n == k.nr {
		// A short kernel fits the corner exactly: straight into C.
		acc := b2i(accumulate)
		for first := true; first || kc > 0; first = false {
			s := min(kc, maxKC)
			gemm(s, a, b, c, ldc, acc)
			a, b = a[s*k.mr:], b[s*k.nr:]
			kc -= s
			acc = 1
		}
		return
	}
	t := scratch[:rows*k.nr]
	acc := 0
	for first := true; first || kc > 0; first = false {
		s := min(kc, maxKC)
		gemm(s, a, b, t, k.nr, acc)
		a, b = a[s*k.mr:], b[s*k.nr:]
		kc -= s
		acc = 1
	}
	addOrSet(c, ldc, t, k.nr, m, n, accumulate)
}

func (k *Impl) checkGemm(kc int, a, b, c []float32, ldc, m, n int) {
	switch {
	case kc < 0:
		panic(fmt.Sprintf("simd.GemmKernel: negative kc %d", kc))
	case len(a) < kc*k.mr || len(b) < kc*k.nr:
		panic(fmt.Sprintf("simd.GemmKernel: panels too short for kc=%d, tile %dx%d: len(a)=%d len(b)=%d", kc, k.mr, k.nr, len(a), len(b)))
	case ldc < n || len(c) < (m-1)*ldc+n:
		panic(fmt.Sprintf("simd.GemmKernel: C too short for a %dx%d tile with ldc=%d: len(c)=%d", m, n, ldc, len(c)))
	}
}

// Affine computes z[i] = a*x[i] + b (fused where the level has FMA, so the
// last bit may differ between levels, as for Axpy).
func (k *Impl) Affine(z, x []float32, a, b float32) {
	if len(z) != len(x) {
		panic(mismatch("Affine", len(z), len(x)))
	}
	for len(z) > chunk {
		k.affine(z[:chunk], x[:chunk], a, b)
		z, x = z[chunk:], x[chunk:]
	}
	k.affine(z, x, a, b)
}

// Affine2 computes z[i] = a*x[i] + b*y[i] + c (see Affine).
func (k *Impl) Affine2(z, x, y []float32, a, b, c float32) {
	if len(z) != len(x) || len(z) != len(y) {
		panic(mismatch("Affine2", len(z), len(x), len(y)))
	}
	for len(z) > chunk {
		k.affine2(z[:chunk], x[:chunk], y[:chunk], a, b, c)
		z, x, y = z[chunk:], x[chunk:], y[chunk:]
	}
	k.affine2(z, x, y, a, b, c)
}

// SumSquaredDeviation returns sum_i (x[i] - c)^2, the second pass of a
// two-pass variance.
func (k *Impl) SumSquaredDeviation(x []float32, c float32) float32 {
	var s float32
	for len(x) > chunk {
		s += k.sqdev(x[:chunk], c)
		x = x[chunk:]
	}
	return s + k.sqdev(x, c)
}

// Transpose writes dst[c*ldd+r] = src[r*lds+c] for r < rows, c < cols: the
// rows x cols matrix at src (row stride lds) transposed into dst (row
// stride ldd). GEMM packing and tensor transposes use it; the amd64 levels
// transpose 8x8 and 4x4 blocks in registers.
func (k *Impl) Transpose(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if lds < cols || ldd < rows || len(src) < (rows-1)*lds+cols || len(dst) < (cols-1)*ldd+rows {
		panic(fmt.Sprintf("simd.Transpose: %dx%d with lds=%d ldd=%d: len(src)=%d len(dst)=%d", rows, cols, lds, ldd, len(src), len(dst)))
	}
	// Bound each call to about 8K elements (the assembly cannot be
	// preempted): 8 rows of up to 1024 columns, or, for narrower
	// matrices, as many 8-row strips as fit.
	const colChunk, chunk = 1024, 8 << 10
	rowChunk := max(8, chunk/min(cols, colChunk)/8*8)
	for r := 0; r < rows; r += rowChunk {
		nr := min(rowChunk, rows-r)
		for c := 0; c < cols; c += colChunk {
			nc := min(colChunk, cols-c)
			k.transpose(dst[c*ldd+r:], ldd, src[r*lds+c:], lds, nr, nc)
		}
	}
}

// Dot returns sum_i x[i]*y[i] with the active implementation.
func Dot(x, y []float32) float32 { return active.Dot(x, y) }

// Sum returns sum_i x[i] with the active implementation.
func Sum(x []float32) float32 { return active.Sum(x) }

// Max returns the largest element (NaN if any is NaN, -Inf if x is empty).
func Max(x []float32) float32 { return active.Max(x) }

// Axpy computes y[i] += a*x[i].
func Axpy(a float32, x, y []float32) { active.Axpy(a, x, y) }

// Scale computes x[i] *= a.
func Scale(a float32, x []float32) { active.Scale(a, x) }

// Add computes z[i] = x[i] + y[i].
func Add(z, x, y []float32) { active.Add(z, x, y) }

// Sub computes z[i] = x[i] - y[i].
func Sub(z, x, y []float32) { active.Sub(z, x, y) }

// Mul computes z[i] = x[i] * y[i].
func Mul(z, x, y []float32) { active.Mul(z, x, y) }

// ReLU computes z[i] = x[i] unless x[i] < 0, in which case z[i] = +0.
func ReLU(z, x []float32) { active.ReLU(z, x) }

// ReLUBackward computes z[i] = g[i] where x[i] > 0, else 0.
func ReLUBackward(z, g, x []float32) { active.ReLUBackward(z, g, x) }

// Exp computes z[i] = e^x[i].
func Exp(z, x []float32) { active.Exp(z, x) }

// Affine computes z[i] = a*x[i] + b.
func Affine(z, x []float32, a, b float32) { active.Affine(z, x, a, b) }

// Affine2 computes z[i] = a*x[i] + b*y[i] + c.
func Affine2(z, x, y []float32, a, b, c float32) { active.Affine2(z, x, y, a, b, c) }

// SumSquaredDeviation returns sum_i (x[i] - c)^2.
func SumSquaredDeviation(x []float32, c float32) float32 { return active.SumSquaredDeviation(x, c) }

// Transpose writes dst[c*ldd+r] = src[r*lds+c] for r < rows, c < cols.
func Transpose(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	active.Transpose(dst, ldd, src, lds, rows, cols)
}
