package bench

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

// KernelNames lists the kernels KernelCases covers, in report order.
var KernelNames = []string{"dot", "axpy", "scale", "add", "sub", "mul", "sum", "max", "relu", "relu_backward", "exp", "gemm_kernel"}

// KernelCases returns one case per kernel of implementation k at size n.
// For the GEMM micro-kernel n is the depth kc of the packed panels.
func KernelCases(k *simd.Impl, n int) []Case {
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
