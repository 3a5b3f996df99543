package simd

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// tanhULPBound and sigmoidULPBound are the accuracy of every Tanh and
// Sigmoid kernel against the correctly rounded result, over every float32
// (subnormal results included). TestActivationExhaustive (FLATFAST_LONG=1)
// measures all 2^32 inputs at each level; the bounds are its worst cases,
// so a change that costs accuracy fails here.
const (
	tanhULPBound    = 1
	sigmoidULPBound = 2
)

func tanhRef(x float32) float32 { return float32(math.Tanh(float64(x))) }

func sigmoidRef(x float32) float32 {
	v := float64(x)
	if v >= 0 {
		return float32(1 / (1 + math.Exp(-v)))
	}
	e := math.Exp(v)
	return float32(e / (1 + e))
}

// actULPs is the distance in ulps of got from want, 0 for two NaNs and
// the largest int64 for a NaN against a number; results of different
// signs (+0 against -0 included) are 2^31 or more apart.
func actULPs(got, want float32) int64 {
	if got != got || want != want {
		if got != got && want != want {
			return 0
		}
		return math.MaxInt64
	}
	return ulps(got, want)
}

type activation struct {
	name  string
	run   func(k *Impl, z, x []float32)
	ref   func(float32) float32
	bound int64
}

var activations = []activation{
	{"Tanh", (*Impl).Tanh, tanhRef, tanhULPBound},
	{"Sigmoid", (*Impl).Sigmoid, sigmoidRef, sigmoidULPBound},
}

// TestActivationSweep: every 4099th float32 bit pattern (both signs, all
// magnitudes: about a million inputs), random inputs on the range where
// the curves bend, and points either side of the branch and saturation
// thresholds, within the bound at every level.
func TestActivationSweep(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	var xs []float32
	for b := uint64(0); b < 1<<32; b += 4099 {
		xs = append(xs, math.Float32frombits(uint32(b)))
	}
	for i := 0; i < 100000; i++ {
		xs = append(xs, float32(r.NormFloat64()*4))
	}
	for _, c := range []float32{tanhSmall, 9.01, 17.33, 87.33, 88.72, 103.97, 104} {
		for _, v := range []float32{c, -c} {
			b := math.Float32bits(v)
			for d := uint32(0); d < 64; d++ {
				xs = append(xs, math.Float32frombits(b-d), math.Float32frombits(b+d))
			}
		}
	}
	for _, k := range impls {
		for _, a := range activations {
			t.Run(k.String()+"/"+a.name, func(t *testing.T) {
				z := make([]float32, len(xs))
				a.run(k, z, xs)
				var worst int64
				var worstX float32
				for i, x := range xs {
					d := actULPs(z[i], a.ref(x))
					if d > a.bound {
						t.Fatalf("%s(%v) = %v (%#x), want %v (%#x)", a.name, x, z[i], math.Float32bits(z[i]), a.ref(x), math.Float32bits(a.ref(x)))
					}
					if d > worst {
						worst, worstX = d, x
					}
				}
				t.Logf("max error %d ulp (at x=%v) over %d points", worst, worstX, len(xs))
			})
		}
	}
}

// TestActivationSpecialValues: the documented special values, exactly.
func TestActivationSpecialValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	sub := float32(math.SmallestNonzeroFloat32)
	cases := []struct {
		name    string
		run     func(k *Impl, z, x []float32)
		x, want float32
	}{
		{"Tanh", (*Impl).Tanh, 0, 0},
		{"Tanh", (*Impl).Tanh, negZero, negZero},
		{"Tanh", (*Impl).Tanh, inf, 1},
		{"Tanh", (*Impl).Tanh, -inf, -1},
		{"Tanh", (*Impl).Tanh, nan, nan},
		{"Tanh", (*Impl).Tanh, sub, sub},
		{"Tanh", (*Impl).Tanh, -sub, -sub},
		{"Tanh", (*Impl).Tanh, 1e-30, 1e-30},
		{"Tanh", (*Impl).Tanh, -1e-5, -1e-5},
		{"Tanh", (*Impl).Tanh, 1.0 / 8192, 1.0 / 8192},
		{"Tanh", (*Impl).Tanh, 9.02, 1},
		{"Tanh", (*Impl).Tanh, -9.02, -1},
		{"Tanh", (*Impl).Tanh, 1000, 1},
		{"Tanh", (*Impl).Tanh, -math.MaxFloat32, -1},
		{"Sigmoid", (*Impl).Sigmoid, 0, 0.5},
		{"Sigmoid", (*Impl).Sigmoid, negZero, 0.5},
		{"Sigmoid", (*Impl).Sigmoid, inf, 1},
		{"Sigmoid", (*Impl).Sigmoid, -inf, 0},
		{"Sigmoid", (*Impl).Sigmoid, nan, nan},
		{"Sigmoid", (*Impl).Sigmoid, 1e-30, 0.5},
		{"Sigmoid", (*Impl).Sigmoid, -sub, 0.5},
		{"Sigmoid", (*Impl).Sigmoid, 17.5, 1},
		{"Sigmoid", (*Impl).Sigmoid, math.MaxFloat32, 1},
		{"Sigmoid", (*Impl).Sigmoid, -104, 0},
		{"Sigmoid", (*Impl).Sigmoid, -math.MaxFloat32, 0},
	}
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, c := range cases {
				// Alone (the tail) and in lane 5 of 37 (the vector loops).
				for _, n := range []int{1, 37} {
					x := make([]float32, n)
					for i := range x {
						x[i] = 0.25
					}
					x[min(5, n-1)] = c.x
					z := make([]float32, n)
					c.run(k, z, x)
					if got := z[min(5, n-1)]; !sameBits(got, c.want) {
						t.Errorf("%s(%v) = %v (%#x), want %v (%#x)", c.name, c.x, got, math.Float32bits(got), c.want, math.Float32bits(c.want))
					}
				}
			}
			// The ranges where the result is exactly x, 1/2 or ±1, swept
			// (every 997th pattern, and the 2000 at each end; both signs
			// for Tanh, and for Sigmoid below 2^-26).
			ranges := []struct {
				name   string
				run    func(k *Impl, z, x []float32)
				lo, hi float32 // the magnitudes [lo, hi)
				want   func(x float32) float32
			}{
				{"Tanh", (*Impl).Tanh, 0, 1.0 / 4096, func(x float32) float32 { return x }},
				{"Tanh", (*Impl).Tanh, 9.02, inf, func(x float32) float32 { return float32(math.Copysign(1, float64(x))) }},
				{"Sigmoid", (*Impl).Sigmoid, 0, 1.0 / (1 << 26), func(float32) float32 { return 0.5 }},
				{"Sigmoid", (*Impl).Sigmoid, 17.33, inf, func(float32) float32 { return 1 }},
			}
			for _, c := range ranges {
				var xs []float32
				lo, hi := math.Float32bits(c.lo), math.Float32bits(c.hi)
				add := func(b uint32) {
					xs = append(xs, math.Float32frombits(b))
					if c.name == "Tanh" || c.hi < 1 {
						xs = append(xs, math.Float32frombits(b|signBit))
					}
				}
				for b := lo; b < hi; b += 997 {
					add(b)
				}
				for d := uint32(0); d < 2000; d++ {
					add(lo + d)
					add(hi - 1 - d)
				}
				z := make([]float32, len(xs))
				c.run(k, z, xs)
				for i, v := range xs {
					if !sameBits(z[i], c.want(v)) {
						t.Fatalf("%s(%v) = %v, want %v", c.name, v, z[i], c.want(v))
					}
				}
			}
			// Subnormal sigmoids are e^x's: within one step of 2^-149.
			x := []float32{-88, -90, -95, -100, -103}
			z := make([]float32, len(x))
			k.Sigmoid(z, x)
			for i, v := range x {
				if want := math.Exp(float64(v)); math.Abs(float64(z[i])-want) > math.SmallestNonzeroFloat32 {
					t.Errorf("Sigmoid(%v) = %v, want %v", v, z[i], want)
				}
			}
		})
	}
}

// TestActivationEveryOffset: Tanh, Sigmoid and their backward kernels at
// every length 0..300 (and the long ones) at unaligned offsets, with
// special values sprinkled in, also in place (z is x, or z is g); the
// backward kernels bitwise against the generic code.
func TestActivationEveryOffset(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	backward := []struct {
		name string
		run  func(k *Impl, z, g, y []float32)
		ref  func(z, g, y []float32)
		fwd  func(float32) float32
	}{
		{"TanhBackward", (*Impl).TanhBackward, tanhBackwardGeneric, tanhScalar},
		{"SigmoidBackward", (*Impl).SigmoidBackward, sigmoidBackwardGeneric, sigmoidScalar},
	}
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, n := range lengths {
				for _, off := range offsets {
					x := withSpecials(r, randSlice(r, n, 4))
					for i := range x {
						if r.IntN(3) == 0 {
							x[i] *= 8
						}
					}
					for _, a := range activations {
						xs, xok := placed(t, x, off)
						z, zok := placed(t, make([]float32, n), (off+1)%4)
						a.run(k, z, xs)
						zok()
						for i := range z {
							if d := actULPs(z[i], a.ref(x[i])); d > a.bound {
								t.Fatalf("%s n=%d off=%d: z[%d] = %v, want %v (x=%v)", a.name, n, off, i, z[i], a.ref(x[i]), x[i])
							}
						}
						a.run(k, xs, xs)
						xok()
						for i := range z {
							if !sameBits(xs[i], z[i]) {
								t.Fatalf("%s in place n=%d off=%d: z[%d] = %v, out of place %v", a.name, n, off, i, xs[i], z[i])
							}
						}
					}
					g := withSpecials(r, randSlice(r, n, 4))
					for _, b := range backward {
						y := make([]float32, n)
						for i, v := range x {
							y[i] = b.fwd(v)
							if r.IntN(8) == 0 {
								y[i] = float32(r.NormFloat64())
							}
						}
						want := make([]float32, n)
						b.ref(want, g, y)
						gs, gok := placed(t, g, (off+2)%5)
						ys, yok := placed(t, y, off)
						z, zok := placed(t, make([]float32, n), (off+1)%4)
						b.run(k, z, gs, ys)
						zok()
						b.run(k, gs, gs, ys)
						gok()
						yok()
						for i := range z {
							if !sameBits(z[i], want[i]) || !sameBits(gs[i], want[i]) {
								t.Fatalf("%s n=%d off=%d: z[%d] = %v (in place %v), want %v (g=%v y=%v)", b.name, n, off, i, z[i], gs[i], want[i], g[i], y[i])
							}
						}
					}
				}
			}
		})
	}
}

// TestActivationExhaustive checks Tanh and Sigmoid on every float32 (all
// 2^32 bit patterns, NaNs included) at every level against the correctly
// rounded result. It takes minutes, so it runs only with FLATFAST_LONG=1.
//
// The float64 reference is needed only where the result is not known
// exactly: tanh(x) rounds to x for |x| < 2^-13 (|tanh x - x| < |x|^3/3 <
// 2^-27|x|, under half the gap below |x|, which is at least 2^-25|x|) and to
// ±1 for |x| >= 9.1 (1 - tanh|x| < 2e^-18.2 < 2^-25, half the gap below 1);
// sigmoid(x) rounds to 1/2 for |x| < 2^-27 (|x|/4 < 2^-26, half the gap
// below 1/2), to 1 for x >= 17.5 (e^-17.5 < 2^-25) and to 0 for x <= -105
// (e^-105 < 2^-150).
func TestActivationExhaustive(t *testing.T) {
	if os.Getenv("FLATFAST_LONG") == "" {
		t.Skip("set FLATFAST_LONG=1 to run")
	}
	tref := func(x float32) float32 {
		a := math.Abs(float64(x))
		switch {
		case a < 1.0/8192:
			return x
		case a >= 9.1:
			return float32(math.Copysign(1, float64(x)))
		}
		return tanhRef(x)
	}
	sref := func(x float32) float32 {
		switch {
		case math.Abs(float64(x)) < 1.0/(1<<27):
			return 0.5
		case x >= 17.5:
			return 1
		case x <= -105:
			return 0
		}
		return sigmoidRef(x)
	}
	const block = 1 << 16
	x := make([]float32, block)
	z := make([]float32, block)
	want := [2][]float32{make([]float32, block), make([]float32, block)}
	for _, k := range impls {
		// One subtest per level, so that a level can be run alone (the
		// NEON one under qemu: -test.run 'ActivationExhaustive/neon').
		t.Run(k.String(), func(t *testing.T) {
			var worst [2]int64
			var worstX [2]float32
			for base := uint64(0); base < 1<<32; base += block {
				for j := range x {
					x[j] = math.Float32frombits(uint32(base) + uint32(j))
					want[0][j], want[1][j] = tref(x[j]), sref(x[j])
				}
				for ai, a := range activations {
					a.run(k, z, x)
					for j, v := range z {
						if d := actULPs(v, want[ai][j]); d > worst[ai] {
							worst[ai], worstX[ai] = d, x[j]
						}
					}
				}
				if next := base + block; next%(1<<28) == 0 && testing.Verbose() {
					t.Logf("%s: %d/16 done, worst so far tanh %d ulp, sigmoid %d ulp", k, next>>28, worst[0], worst[1])
				}
			}
			for ai, a := range activations {
				t.Logf("%s %s: max error %d ulp at x=%v", k, a.name, worst[ai], worstX[ai])
				if worst[ai] > a.bound {
					t.Errorf("%s %s: %d ulp exceeds the bound %d", k, a.name, worst[ai], a.bound)
				}
			}
		})
	}
}

// BenchmarkActivations times Tanh and Sigmoid on 1<<16 floats (256 KiB in,
// 256 KiB out) at every level:
//
//	go test -run '^$' -bench 'Activations/.*/tanh' ./simd
func BenchmarkActivations(b *testing.B) {
	const n = 1 << 16
	r := rand.New(rand.NewPCG(35, 36))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 2)
	}
	z := make([]float32, n)
	for _, k := range impls {
		for _, a := range []struct {
			name string
			run  func(k *Impl, z, x []float32)
		}{{"tanh", (*Impl).Tanh}, {"sigmoid", (*Impl).Sigmoid}} {
			b.Run(k.String()+"/"+a.name, func(b *testing.B) {
				b.SetBytes(8 * n)
				b.ReportAllocs()
				for b.Loop() {
					a.run(k, z, x)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/elem")
			})
		}
	}
}
