package tensor

import (
	"math/rand/v2"
)

// RNG is an explicit, seeded random generator (PCG-DXSM from math/rand/v2).
// Every draw in flatfast comes from one of these, passed in by the caller;
// tensors are filled sequentially in row-major order, so a stream depends on
// the seed and the sequence of calls only, never on GOMAXPROCS. An RNG is
// not safe for concurrent use: give each goroutine its own, made with
// Split.
type RNG struct {
	src *rand.PCG
	r   *rand.Rand
}

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG {
	src := rand.NewPCG(seed, 0x9e3779b97f4a7c15)
	return &RNG{src: src, r: rand.New(src)}
}

// Split returns a new generator seeded from two draws of g: a child
// stream, independent for practical purposes, whose seed depends only on
// g's state.
func (g *RNG) Split() *RNG {
	src := rand.NewPCG(g.r.Uint64(), g.r.Uint64())
	return &RNG{src: src, r: rand.New(src)}
}

// MarshalBinary returns the generator's state (for checkpoints).
func (g *RNG) MarshalBinary() ([]byte, error) { return g.src.MarshalBinary() }

// UnmarshalBinary restores a state written by MarshalBinary.
func (g *RNG) UnmarshalBinary(b []byte) error {
	if g.src == nil {
		g.src = rand.NewPCG(0, 0)
		g.r = rand.New(g.src)
	}
	return g.src.UnmarshalBinary(b)
}

// Uint64 returns a uniformly distributed 64-bit value.
func (g *RNG) Uint64() uint64 { return g.r.Uint64() }

// Float64 returns a uniform value in [0, 1).
func (g *RNG) Float64() float64 { return g.r.Float64() }

// NormFloat64 returns a standard normal value.
func (g *RNG) NormFloat64() float64 { return g.r.NormFloat64() }

// IntN returns a uniform integer in [0, n); n must be positive.
func (g *RNG) IntN(n int) int { return g.r.IntN(n) }

// Perm returns a uniformly random permutation of 0..n-1.
func (g *RNG) Perm(n int) []int { return g.r.Perm(n) }

// Shuffle permutes n elements with swap (Fisher-Yates).
func (g *RNG) Shuffle(n int, swap func(i, j int)) { g.r.Shuffle(n, swap) }

// Uniform fills t with values uniform in [lo, hi).
func (g *RNG) Uniform(t *Tensor, lo, hi float64) {
	w := hi - lo
	for i := 0; i < t.Len(); i++ {
		t.SetFlat(i, lo+w*g.r.Float64())
	}
}

// Normal fills t with values from N(mean, std^2).
func (g *RNG) Normal(t *Tensor, mean, std float64) {
	for i := 0; i < t.Len(); i++ {
		t.SetFlat(i, mean+std*g.r.NormFloat64())
	}
}

// Rademacher fills t with independent random signs, +1 or -1 with equal
// probability (the probes of Hutchinson's trace estimator).
func (g *RNG) Rademacher(t *Tensor) {
	var bits uint64
	for i := 0; i < t.Len(); i++ {
		if i%64 == 0 {
			bits = g.r.Uint64()
		}
		t.SetFlat(i, float64(int(bits&1)*2-1))
		bits >>= 1
	}
}
