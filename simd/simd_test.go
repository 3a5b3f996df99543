package simd

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// u is the unit roundoff of float32.
const u = 1.0 / (1 << 24)

// gamma is Higham's gamma_n = n*u/(1-n*u): whatever the order in which n
// terms are added (and whether products are fused), the computed dot
// product or sum differs from the exact one by at most gamma_n * sum|terms|.
// The bound is what makes reassociating levels comparable.
func gamma(n int) float64 { return float64(n) * u / (1 - float64(n)*u) }

var (
	lengths = func() []int {
		var l []int
		for n := 0; n <= 300; n++ {
			l = append(l, n)
		}
		return append(l, 511, 1000, 1024, 4097, chunk-1, chunk, chunk+1, 3*chunk+17)
	}()
	offsets = []int{0, 1, 3, 7}
)

func TestMain(m *testing.M) {
	if os.Getenv("FLATFAST_SIMD_CHILD") != "" {
		// Child of TestEnvironmentOverride: report and stop.
		g := Cache()
		fmt.Printf("level=%s err=%v\n", ActiveLevel(), ConfigError())
		fmt.Printf("cache=%d/%s,%d/%s,%d/%s err=%v\n", g.L1D, g.L1DSource, g.L2, g.L2Source, g.L3, g.L3Source, ConfigError())
		os.Exit(0)
	}
	if err := ConfigError(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "simd: %s; active level %s; implementations %s\n", CPUDescription(), ActiveLevel(), availableNames())
	os.Exit(m.Run())
}

// randSlice returns n values, mostly N(0,1), with about one in frac
// replaced by a value of a wide range of magnitudes (when frac > 0).
func randSlice(r *rand.Rand, n int, frac int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
		if frac > 0 && r.IntN(frac) == 0 {
			x[i] = float32(math.Ldexp(r.Float64()-0.5, r.IntN(60)-30))
		}
	}
	return x
}

// specials are sprinkled into elementwise tests: exactness there must hold
// for every float32, not only for nice ones.
var specials = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
	math.SmallestNonzeroFloat32, -math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32, 1e-40,
}

func withSpecials(r *rand.Rand, x []float32) []float32 {
	for i := range x {
		if r.IntN(8) == 0 {
			x[i] = specials[r.IntN(len(specials))]
		}
	}
	return x
}

// placed copies x into a fresh buffer at offset off, surrounded by
// sentinels, and returns the slice and a check that the sentinels survived.
func placed(t *testing.T, x []float32, off int) ([]float32, func()) {
	const guard = 40
	buf := make([]float32, off+len(x)+guard)
	for i := range buf {
		buf[i] = -12345
	}
	s := buf[off : off+len(x) : off+len(x)]
	copy(s, x)
	return s, func() {
		t.Helper()
		for i, v := range buf {
			if (i < off || i >= off+len(x)) && v != -12345 {
				t.Fatalf("wrote outside the slice: buf[%d] = %v (slice at [%d:%d])", i, v, off, off+len(x))
			}
		}
	}
}

func sameBits(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

func TestDispatch(t *testing.T) {
	if impls[0] != genericImpl {
		t.Fatal("the generic implementation must come first")
	}
	if !Supported(Generic) {
		t.Fatal("generic must always be supported")
	}
	prev := Active()
	defer func() { active = prev }()
	for l := Generic; l <= NEON; l++ {
		err := Use(l)
		if Supported(l) != (err == nil) {
			t.Errorf("Use(%s) = %v but Supported = %v", l, err, Supported(l))
		}
		if err == nil && ActiveLevel() != l {
			t.Errorf("after Use(%s) the active level is %s", l, ActiveLevel())
		}
	}
	if _, err := ParseLevel("sse9"); err == nil {
		t.Error("ParseLevel accepted an unknown name")
	}
	for l := Generic; l <= NEON; l++ {
		if got, err := ParseLevel(l.String()); err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %v, %v", l.String(), got, err)
		}
	}
}

// TestEnvironmentOverride runs this test binary again with FLATFAST_SIMD
// set, checking that a valid level is honoured and that an impossible one is
// reported by ConfigError instead of crashing.
func TestEnvironmentOverride(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	cases := []struct{ env, want string }{
		{"generic", "level=generic err=<nil>"},
		{"nonsense", "unknown level"},
	}
	for _, l := range []Level{AVX2, AVX512, NEON} {
		if !Supported(l) {
			cases = append(cases, struct{ env, want string }{l.String(), "not available on this machine"})
		} else {
			cases = append(cases, struct{ env, want string }{l.String(), "level=" + l.String() + " err=<nil>"})
		}
	}
	for _, c := range cases {
		t.Run(c.env, func(t *testing.T) {
			out, err := runChild(exe, c.env)
			if errors.Is(err, syscall.ENOEXEC) {
				t.Skip("cannot re-execute the test binary (emulated without binfmt):", err)
			}
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !containsLine(out, c.want) {
				t.Errorf("FLATFAST_SIMD=%s: output %q does not contain %q", c.env, out, c.want)
			}
		})
	}
}

func TestElementwiseExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type op struct {
		name string
		run  func(k *Impl, z, x, y []float32)
		ref  func(x, y float32) float32
	}
	ops := []op{
		{"Add", func(k *Impl, z, x, y []float32) { k.Add(z, x, y) }, func(x, y float32) float32 { return x + y }},
		{"Sub", func(k *Impl, z, x, y []float32) { k.Sub(z, x, y) }, func(x, y float32) float32 { return x - y }},
		{"Mul", func(k *Impl, z, x, y []float32) { k.Mul(z, x, y) }, func(x, y float32) float32 { return x * y }},
		{"ReLU", func(k *Impl, z, x, _ []float32) { k.ReLU(z, x) }, func(x, _ float32) float32 {
			if x < 0 {
				return 0
			}
			return x
		}},
		{"ReLUBackward", func(k *Impl, z, g, x []float32) { k.ReLUBackward(z, g, x) }, func(g, x float32) float32 {
			if x > 0 {
				return g
			}
			return 0
		}},
		{"Scale", func(k *Impl, z, x, y []float32) { copy(z, x); k.Scale(y[0], z) }, nil},
	}
	for _, k := range impls {
		for _, o := range ops {
			t.Run(k.String()+"/"+o.name, func(t *testing.T) {
				for _, n := range lengths {
					for _, off := range offsets {
						x := withSpecials(r, randSlice(r, n, 4))
						y := withSpecials(r, randSlice(r, n, 4))
						if o.name == "Scale" {
							y = []float32{float32(r.NormFloat64())}
							if n == 0 {
								y = append(y, 0)[:1]
							}
						}
						xs, xok := placed(t, x, off)
						ys := y
						if o.name != "Scale" {
							var yok func()
							ys, yok = placed(t, y, (off+2)%5)
							defer yok()
						}
						z, zok := placed(t, make([]float32, n), (off+1)%4)
						o.run(k, z, xs, ys)
						zok()
						xok()
						for i := range z {
							var want float32
							if o.ref != nil {
								want = o.ref(x[i], y[i])
							} else {
								want = x[i] * y[0]
							}
							if !sameBits(z[i], want) {
								t.Fatalf("n=%d off=%d: z[%d] = %v (%#x), want %v (%#x) from x=%v y=%v",
									n, off, i, z[i], math.Float32bits(z[i]), want, math.Float32bits(want), x[i], y[min(i, len(y)-1)])
							}
						}
					}
				}
			})
		}
	}
}

func TestInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, n := range []int{0, 1, 17, 100, 1000} {
				x := randSlice(r, n, 0)
				y := randSlice(r, n, 0)
				z := append([]float32(nil), x...)
				k.Add(z, z, y)
				for i := range z {
					if z[i] != x[i]+y[i] {
						t.Fatalf("Add in place: z[%d]=%v want %v", i, z[i], x[i]+y[i])
					}
				}
				z = append(z[:0], x...)
				k.ReLU(z, z)
				for i := range z {
					if z[i] != max(x[i], 0) {
						t.Fatalf("ReLU in place: z[%d]=%v want %v", i, z[i], max(x[i], 0))
					}
				}
			}
		})
	}
}

func TestAxpy(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, n := range lengths {
				for _, off := range offsets {
					a := float32(r.NormFloat64())
					x := randSlice(r, n, 4)
					y := randSlice(r, n, 4)
					xs, xok := placed(t, x, off)
					ys, yok := placed(t, y, (off+3)%4)
					k.Axpy(a, xs, ys)
					xok()
					yok()
					for i := range ys {
						ax := float64(a) * float64(x[i])
						exact := ax + float64(y[i])
						// One rounding of the product and one of the sum
						// (or a single fused rounding): 2u relative to the
						// magnitudes involved.
						bound := 2*u*(math.Abs(ax)+math.Abs(float64(y[i]))) + math.SmallestNonzeroFloat32
						if d := math.Abs(float64(ys[i]) - exact); d > bound {
							t.Fatalf("n=%d off=%d: y[%d] = %v, exact %v, error %g > %g", n, off, i, ys[i], exact, d, bound)
						}
					}
				}
			}
		})
	}
}

func TestReductions(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, n := range lengths {
				for _, off := range offsets {
					x := randSlice(r, n, 4)
					y := randSlice(r, n, 4)
					xs, xok := placed(t, x, off)
					ys, yok := placed(t, y, (off+1)%4)

					var dot, dotAbs, sum, sumAbs float64
					mx := math.Inf(-1)
					for i := range x {
						p := float64(x[i]) * float64(y[i])
						dot += p
						dotAbs += math.Abs(p)
						sum += float64(x[i])
						sumAbs += math.Abs(float64(x[i]))
						mx = math.Max(mx, float64(x[i]))
					}
					// The float64 sums of float32 products carry their own
					// error, at most gamma_n(float64)*abs, negligible here
					// but added for honesty.
					slack := func(abs float64) float64 { return abs * float64(n) * 0x1p-52 }
					if got := k.Dot(xs, ys); math.Abs(float64(got)-dot) > gamma(n)*dotAbs+slack(dotAbs) {
						t.Fatalf("Dot n=%d off=%d: %v, exact %v, error %g > bound %g", n, off, got, dot, math.Abs(float64(got)-dot), gamma(n)*dotAbs)
					}
					if got := k.Sum(xs); math.Abs(float64(got)-sum) > gamma(n)*sumAbs+slack(sumAbs) {
						t.Fatalf("Sum n=%d off=%d: %v, exact %v, error %g > bound %g", n, off, got, sum, math.Abs(float64(got)-sum), gamma(n)*sumAbs)
					}
					if got := k.Max(xs); float64(got) != mx {
						t.Fatalf("Max n=%d off=%d: %v, want %v", n, off, got, mx)
					}
					xok()
					yok()
				}
			}
		})
	}
}

func TestSpecialValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	isNaN := func(v float32) bool { return v != v }
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, n := range []int{1, 5, 16, 33, 100, 200} {
				for pos := 0; pos < n; pos += max(1, n/7) {
					x := make([]float32, n)
					for i := range x {
						x[i] = float32(i%5) - 2
					}
					ones := make([]float32, n)
					for i := range ones {
						ones[i] = 1
					}
					x[pos] = nan
					if got := k.Max(x); !isNaN(got) {
						t.Errorf("Max with NaN at %d of %d = %v, want NaN", pos, n, got)
					}
					if got := k.Sum(x); !isNaN(got) {
						t.Errorf("Sum with NaN at %d of %d = %v, want NaN", pos, n, got)
					}
					if got := k.Dot(x, ones); !isNaN(got) {
						t.Errorf("Dot with NaN at %d of %d = %v, want NaN", pos, n, got)
					}
					x[pos] = inf
					if got := k.Max(x); got != inf {
						t.Errorf("Max with +Inf at %d of %d = %v", pos, n, got)
					}
					if got := k.Sum(x); got != inf {
						t.Errorf("Sum with +Inf at %d of %d = %v", pos, n, got)
					}
					if n > 1 {
						x[(pos+1)%n] = -inf
						if got := k.Sum(x); !isNaN(got) {
							t.Errorf("Sum with +Inf and -Inf = %v, want NaN", got)
						}
					}
				}
				negs := make([]float32, n)
				for i := range negs {
					negs[i] = -inf
				}
				if got := k.Max(negs); got != -inf {
					t.Errorf("Max of all -Inf = %v", got)
				}
			}
			if got := k.Max(nil); got != -inf {
				t.Errorf("Max(empty) = %v, want -Inf", got)
			}
			if got := k.Sum(nil); got != 0 {
				t.Errorf("Sum(empty) = %v", got)
			}
		})
	}
}

// ulps is the distance between two non-negative float32 values in units in
// the last place.
func ulps(a, b float32) int64 {
	d := int64(math.Float32bits(a)) - int64(math.Float32bits(b))
	if d < 0 {
		d = -d
	}
	return d
}

// expULPBound is the accuracy of every Exp kernel against the correctly
// rounded e^x, over the normal range of the result. TestExpExhaustive
// (FLATFAST_LONG=1) checks all 2.2e9 float32 inputs in [-104, 89] at each
// level and finds 1 ulp at worst, so the bound is not a guess: a change
// that costs accuracy fails here.
const expULPBound = 1

func TestExp(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	// A dense sweep of bit patterns over the interesting range plus
	// random points.
	var xs []float32
	for b := math.Float32bits(-104); b > math.Float32bits(-1e-8); b -= 997 {
		xs = append(xs, math.Float32frombits(b))
	}
	for b := math.Float32bits(1e-8); b < math.Float32bits(89); b += 997 {
		xs = append(xs, math.Float32frombits(b))
	}
	for i := 0; i < 100000; i++ {
		xs = append(xs, float32(r.Float64()*200-105))
	}
	xs = append(xs, 0, float32(math.Copysign(0, -1)), 88.72283, 88.72284, 88.7229, -87.33654, -87.3366, -103.97, -103.98, 1e-30, -1e-30)
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			z := make([]float32, len(xs))
			k.Exp(z, xs)
			var worst int64
			var worstX float32
			for i, x := range xs {
				want := float32(math.Exp(float64(x)))
				var bad bool
				if want < math.SmallestNonzeroFloat32*(1<<23) {
					// Subnormal results: absolute error of a couple of
					// subnormal steps (the scaling multiply rounds once).
					bad = math.Abs(float64(z[i])-float64(want)) > 2*math.SmallestNonzeroFloat32
				} else if math.IsInf(float64(want), 1) {
					bad = !math.IsInf(float64(z[i]), 1)
				} else {
					d := ulps(z[i], want)
					if d > worst {
						worst, worstX = d, x
					}
					bad = d > expULPBound
				}
				if bad {
					t.Fatalf("Exp(%v) = %v (%#x), want %v (%#x)", x, z[i], math.Float32bits(z[i]), want, math.Float32bits(want))
				}
			}
			t.Logf("%s: max error %d ulp (at x=%v) over %d points", k, worst, worstX, len(xs))
			special := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1000, -1000}
			got := make([]float32, len(special))
			k.Exp(got, special)
			if !math.IsInf(float64(got[0]), 1) || got[1] != 0 || got[2] == got[2] || !math.IsInf(float64(got[3]), 1) || got[4] != 0 {
				t.Errorf("Exp(+Inf, -Inf, NaN, 1000, -1000) = %v", got)
			}
		})
	}
}

func TestExpTails(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, n := range lengths {
				off := n % 4
				x := randSlice(r, n, 0)
				xs, xok := placed(t, x, off)
				z, zok := placed(t, make([]float32, n), (off+1)%4)
				k.Exp(z, xs)
				xok()
				zok()
				for i := range z {
					if d := ulps(z[i], float32(math.Exp(float64(x[i])))); d > expULPBound {
						t.Fatalf("n=%d: Exp(%v) off by %d ulp", n, x[i], d)
					}
				}
			}
		})
	}
}

func TestGemmKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, k := range impls {
		mr, nr := k.GemmTile()
		if mr*nr > MaxTile {
			t.Fatalf("%s tile %dx%d exceeds MaxTile", k, mr, nr)
		}
		t.Run(k.String(), func(t *testing.T) {
			for _, kc := range []int{0, 1, 2, 3, 7, 64, 255, 256, maxKC + 3} {
				a := randSlice(r, kc*mr, 0)
				b := randSlice(r, kc*nr, 0)
				for _, ldc := range []int{nr, nr + 3} {
					for _, acc := range []bool{true, false} {
						// Full tile.
						c0 := randSlice(r, (mr-1)*ldc+nr, 0)
						c, cok := placed(t, c0, 1)
						k.GemmKernel(kc, a, b, c, ldc, acc)
						cok()
						checkTile(t, k, kc, a, b, c0, c, ldc, mr, nr, acc)
						// Every edge corner.
						for m := 1; m <= mr; m++ {
							for n := 1; n <= nr; n++ {
								if kc > 64 && (m+n)%5 != 0 {
									continue // keep the long panels quick
								}
								c0 := randSlice(r, (m-1)*ldc+n, 0)
								c, cok := placed(t, c0, 3)
								k.GemmKernelEdge(kc, a, b, c, ldc, m, n, make([]float32, mr*nr), acc)
								cok()
								checkTile(t, k, kc, a, b, c0, c, ldc, m, n, acc)
							}
						}
					}
				}
			}
		})
	}
}

func checkTile(t *testing.T, k *Impl, kc int, a, b, c0, c []float32, ldc, m, n int, acc bool) {
	t.Helper()
	mr, nr := k.GemmTile()
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			exact := 0.0
			if acc {
				exact = float64(c0[i*ldc+j])
			}
			abs := math.Abs(exact)
			for p := 0; p < kc; p++ {
				v := float64(a[p*mr+i]) * float64(b[p*nr+j])
				exact += v
				abs += math.Abs(v)
			}
			if d := math.Abs(float64(c[i*ldc+j]) - exact); d > gamma(kc+1)*abs {
				t.Fatalf("kc=%d ldc=%d corner %dx%d: C[%d,%d] = %v, exact %v, error %g > %g", kc, ldc, m, n, i, j, c[i*ldc+j], exact, d, gamma(kc+1)*abs)
			}
		}
		for j := n; j < ldc && i < m-1; j++ {
			if c[i*ldc+j] != c0[i*ldc+j] {
				t.Fatalf("corner %dx%d: C[%d,%d] beyond the corner changed", m, n, i, j)
			}
		}
	}
}

func TestLengthMismatchPanics(t *testing.T) {
	for _, f := range []func(){
		func() { Dot(make([]float32, 3), make([]float32, 4)) },
		func() { Add(make([]float32, 3), make([]float32, 3), make([]float32, 2)) },
		func() { Axpy(1, make([]float32, 3), make([]float32, 2)) },
		func() { Active().GemmKernel(4, make([]float32, 1), make([]float32, 1), make([]float32, 1), 1, true) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on mismatched lengths")
				}
			}()
			f()
		}()
	}
}

func runChild(exe, level string) (string, error) {
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "FLATFAST_SIMD_CHILD=1", EnvVar+"="+level)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func containsLine(out, want string) bool { return strings.Contains(out, want) }

// TestExpExhaustive checks every float32 in [-104, 89] at every level. It
// takes about a minute, so it runs only with FLATFAST_LONG=1.
func TestExpExhaustive(t *testing.T) {
	if os.Getenv("FLATFAST_LONG") == "" {
		t.Skip("set FLATFAST_LONG=1 to run")
	}
	const block = 1 << 16
	x := make([]float32, 0, block)
	z := make([]float32, block)
	for _, k := range impls {
		var worst int64
		var worstX float32
		flush := func() {
			k.Exp(z[:len(x)], x)
			for i, v := range x {
				want := float32(math.Exp(float64(v)))
				if want < math.SmallestNonzeroFloat32*(1<<23) || math.IsInf(float64(want), 1) {
					continue
				}
				if d := ulps(z[i], want); d > worst {
					worst, worstX = d, v
				}
			}
			x = x[:0]
		}
		for _, sign := range []uint32{0, 1 << 31} {
			limit := math.Float32bits(89)
			if sign != 0 {
				limit = math.Float32bits(104) // magnitude bits of -104
			}
			for b := uint32(0); b <= limit; b++ {
				x = append(x, math.Float32frombits(sign|b))
				if len(x) == block {
					flush()
				}
			}
			flush()
		}
		t.Logf("%s: max error %d ulp at x=%v", k, worst, worstX)
		if worst > expULPBound {
			t.Errorf("%s: %d ulp exceeds the bound %d", k, worst, expULPBound)
		}
	}
}

func TestTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	var sizes []int
	for n := 1; n <= 20; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 31, 32, 33, 100, 1030, 2100)
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, rows := range sizes {
				for _, cols := range sizes {
					if rows*cols > 40000 && (rows+cols)%3 != 0 {
						continue
					}
					lds, ldd := cols+rows%3, rows+cols%5
					src := randSlice(r, (rows-1)*lds+cols, 0)
					dst, ok := placed(t, make([]float32, (cols-1)*ldd+rows), 1)
					k.Transpose(dst, ldd, src, lds, rows, cols)
					ok()
					checkTranspose(t, fmt.Sprintf("%dx%d", rows, cols), dst, ldd, src, lds, rows, cols)
				}
			}
		})
	}
}

// checkTranspose: dst[c*ldd+r] = src[r*lds+c] for every r < rows and
// c < cols, and the entries r >= rows of each dst row (within dst) are
// still the 0 they were made with. what names the case.
func checkTranspose(t *testing.T, what string, dst []float32, ldd int, src []float32, lds, rows, cols int) {
	t.Helper()
	for c := 0; c < cols; c++ {
		for rr := 0; rr < ldd && c*ldd+rr < len(dst); rr++ {
			want := float32(0)
			if rr < rows {
				want = src[rr*lds+c]
			}
			if dst[c*ldd+rr] != want {
				t.Fatalf("%s (lds %d, ldd %d): dst[%d*ldd+%d] = %v, want %v", what, lds, ldd, c, rr, dst[c*ldd+rr], want)
			}
		}
	}
}

// TestGemmIndirect: the in-place-B kernel equals GemmKernel on the panel
// its offsets describe, for full tiles and every edge corner, with each
// number of pieces the level accepts.
func TestGemmIndirect(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, k := range impls {
		if k.IndirectPieces() == 0 {
			continue
		}
		mr, nr := k.GemmTile()
		for _, nv := range []int{k.IndirectPieces(), 2 * k.IndirectPieces()} {
			if !k.AcceptsIndirectPieces(nv) {
				continue
			}
			testGemmIndirect(t, r, k, mr, nr, nv)
		}
		if k.AcceptsIndirectPieces(3) || k.AcceptsIndirectPieces(4*k.IndirectPieces()) {
			t.Errorf("%s accepts 3 or %d pieces", k, 4*k.IndirectPieces())
		}
	}
	if k := Active(); k.Level() == AVX512 && !k.AcceptsIndirectPieces(4) {
		t.Errorf("avx512 does not take 4 pieces")
	}
}

func testGemmIndirect(t *testing.T, r *rand.Rand, k *Impl, mr, nr, nv int) {
	piece := nr / nv
	{
		t.Run(fmt.Sprintf("%s/%dpieces", k, nv), func(t *testing.T) {
			// kc around 32, the prefetching kernels' distance, and around
			// 35, where AVX2's groups of four stop prefetching: all of
			// the steps, some or none run the prefetching loop, and the
			// groups leave 0 to 3 single steps.
			for _, kc := range []int{0, 1, 5, 31, 32, 33, 35, 36, 37, 38, 39, 64, maxKC + 7} {
				base := randSlice(r, 5000, 0)
				koff := make([]int32, kc)
				pieces := make([]int, nv)
				for v := range pieces {
					pieces[v] = r.IntN(1000)
				}
				b := make([]float32, kc*nr) // the same panel, packed
				for p := 0; p < kc; p++ {
					koff[p] = int32(r.IntN(len(base) - 1000 - piece + 1))
					for v := 0; v < nv; v++ {
						o := pieces[v] + int(koff[p])
						copy(b[p*nr+v*piece:], base[o:o+piece])
					}
				}
				tab := NewIndirectTable(koff)
				a := randSlice(r, kc*mr, 0)
				for _, ldc := range []int{nr, nr + 5} {
					c0 := randSlice(r, (mr-1)*ldc+nr, 0)
					want := append([]float32(nil), c0...)
					acc := ldc == nr
					k.GemmKernel(kc, a, b, want, ldc, acc)
					for _, tab := range []IndirectTable{tab, tab.Prefetching()} {
						got := append([]float32(nil), c0...)
						k.GemmIndirect(kc, a, base, tab, pieces, got, ldc, acc)
						for i := range want {
							if got[i] != want[i] {
								t.Fatalf("kc=%d ldc=%d prefetch %v: C[%d] = %v, packed kernel %v", kc, ldc, tab.prefetch, i, got[i], want[i])
							}
						}
					}
					for m := 1; m <= mr; m++ {
						for _, n := range []int{1, nr/2 + 1, nr - 1, nr} {
							want := append([]float32(nil), c0...)
							got := append([]float32(nil), c0...)
							sc := make([]float32, mr*nr)
							k.GemmKernelEdge(kc, a, b, want, ldc, m, n, sc, acc)
							k.GemmIndirectEdge(kc, a, base, tab, pieces, got, ldc, m, n, sc, acc)
							for i := range want {
								if got[i] != want[i] {
									t.Fatalf("edge %dx%d kc=%d: C[%d] = %v, packed kernel %v", m, n, kc, i, got[i], want[i])
								}
							}
						}
					}
				}
			}
			// A piece running past the base panics instead of reading
			// out of bounds, as does a missing piece start.
			for _, pieces := range [][]int{make([]int, nv), {}} {
				func() {
					defer func() {
						if recover() == nil {
							t.Errorf("pieces %v: out-of-range read accepted", pieces)
						}
					}()
					if len(pieces) > 0 {
						pieces[nv-1] = 10 - piece + 1
					}
					k.GemmIndirect(1, make([]float32, mr), make([]float32, 10), NewIndirectTable([]int32{0}), pieces, make([]float32, (mr-1)*nr+nr), nr, true)
				}()
			}
		})
	}
}

// TestAffineAndSquaredDeviation: the batch-norm kernels against float64,
// for every length and offset, with the error bounds of one or two fused
// roundings (affine) and of recursive summation (the squared deviation).
func TestAffineAndSquaredDeviation(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, n := range lengths {
				off := n % 5
				x, y := randSlice(r, n, 4), randSlice(r, n, 4)
				a, b, c := float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())
				xs, xok := placed(t, x, off)
				ys, yok := placed(t, y, (off+2)%5)
				z, zok := placed(t, make([]float32, n), (off+1)%5)
				k.Affine(z, xs, a, b)
				for i := range z {
					e := float64(a)*float64(x[i]) + float64(b)
					bound := 2*u*(math.Abs(float64(a)*float64(x[i]))+math.Abs(float64(b))) + math.SmallestNonzeroFloat32
					if math.Abs(float64(z[i])-e) > bound {
						t.Fatalf("Affine n=%d: z[%d] = %v, exact %v", n, i, z[i], e)
					}
				}
				k.Affine2(z, xs, ys, a, b, c)
				for i := range z {
					ax, by := float64(a)*float64(x[i]), float64(b)*float64(y[i])
					e := ax + by + float64(c)
					bound := 3*u*(math.Abs(ax)+math.Abs(by)+math.Abs(float64(c))) + math.SmallestNonzeroFloat32
					if math.Abs(float64(z[i])-e) > bound {
						t.Fatalf("Affine2 n=%d: z[%d] = %v, exact %v", n, i, z[i], e)
					}
				}
				zok()
				xok()
				yok()
				var exact, abs float64
				for _, v := range x {
					d := float64(v - c) // the difference is exact-ish; bound below covers its rounding
					exact += (float64(v) - float64(c)) * (float64(v) - float64(c))
					abs += d * d
				}
				got := k.SumSquaredDeviation(xs, c)
				if math.Abs(float64(got)-exact) > gamma(n+2)*abs+1e-30 {
					t.Fatalf("SumSquaredDeviation n=%d: %v, exact %v", n, got, exact)
				}
			}
		})
	}
}
