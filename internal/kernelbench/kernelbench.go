// Package kernelbench holds the timed cases of the simd kernels, shared by
// simd's `go test -bench` benchmarks and `flatfast bench kernels`, so that
// both time the same work. It depends on simd alone, so that simd's tests
// do not compile the rest of flatfast (internal/bench, which times GEMM,
// convolution and training steps, reuses its Case).
package kernelbench

import (
	"math/rand/v2"

	"github.com/flatfast/flatfast/simd"
)

// Case is one timed unit of work.
type Case struct {
	Kernel string
	N      int     // problem size (elements, or kc for the GEMM micro-kernel)
	Flops  float64 // floating-point operations per call (one per element for max, relu, exp)
	Bytes  float64 // bytes read and written per call
	Run    func(iters int)
}

// Names lists the kernels Cases covers, in report order.
var Names = []string{"dot", "axpy", "scale", "add", "sub", "mul", "sum", "max", "relu", "relu_backward", "exp", "affine", "affine2", "sqdev", "transpose", "gemm_kernel"}

// Cases returns one case per kernel of implementation k at size n, in the
// order of Names. For the GEMM micro-kernel n is the depth kc of the
// packed panels.
func Cases(k *simd.Impl, n int) []Case {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	vec := func() []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	x, y, z := vec(), vec(), vec()
	var sink float32
	f := float64(n)
	mr, nr := k.GemmTile()
	a := make([]float32, n*mr)
	b := make([]float32, n*nr)
	for i := range a {
		a[i] = float32(r.NormFloat64())
	}
	for i := range b {
		b[i] = float32(r.NormFloat64())
	}
	c := make([]float32, mr*nr)
	tr := min(32, max(1, n))
	cases := []Case{
		{"dot", n, 2 * f, 8 * f, func(it int) {
			for range it {
				sink += k.Dot(x, y)
			}
		}},
		{"axpy", n, 2 * f, 12 * f, func(it int) {
			for range it {
				k.Axpy(1e-7, x, y)
			}
		}},
		{"scale", n, f, 8 * f, func(it int) {
			for range it {
				k.Scale(1, z)
			}
		}},
		{"add", n, f, 12 * f, func(it int) {
			for range it {
				k.Add(z, x, y)
			}
		}},
		{"sub", n, f, 12 * f, func(it int) {
			for range it {
				k.Sub(z, x, y)
			}
		}},
		{"mul", n, f, 12 * f, func(it int) {
			for range it {
				k.Mul(z, x, y)
			}
		}},
		{"sum", n, f, 4 * f, func(it int) {
			for range it {
				sink += k.Sum(x)
			}
		}},
		{"max", n, f, 4 * f, func(it int) {
			for range it {
				sink += k.Max(x)
			}
		}},
		{"relu", n, f, 8 * f, func(it int) {
			for range it {
				k.ReLU(z, x)
			}
		}},
		{"relu_backward", n, f, 12 * f, func(it int) {
			for range it {
				k.ReLUBackward(z, y, x)
			}
		}},
		{"exp", n, f, 8 * f, func(it int) {
			for range it {
				k.Exp(z, x)
			}
		}},
		{"affine", n, 2 * f, 8 * f, func(it int) {
			for range it {
				k.Affine(z, x, 1.5, 0.25)
			}
		}},
		{"affine2", n, 4 * f, 12 * f, func(it int) {
			for range it {
				k.Affine2(z, x, y, 1.5, -0.5, 0.25)
			}
		}},
		{"sqdev", n, 2 * f, 4 * f, func(it int) {
			for range it {
				sink += k.SumSquaredDeviation(x, 0.5)
			}
		}},
		// A rows x n/rows matrix (32 x 32 at n = 1024); one "flop" per
		// element moved, as for max and relu.
		{"transpose", n, float64(tr * (n / tr)), 8 * float64(tr*(n/tr)), func(it int) {
			for range it {
				k.Transpose(z, tr, x, n/tr, tr, n/tr)
			}
		}},
		{"gemm_kernel", n, 2 * float64(mr*nr) * f, 4 * (float64(mr+nr)*f + 2*float64(mr*nr)), func(it int) {
			for range it {
				k.GemmKernel(n, a, b, c, nr, true)
			}
		}},
	}
	Sink = sink
	return cases
}

// Sink keeps reductions from being optimised away.
var Sink float32
