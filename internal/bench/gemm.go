package bench

import (
	"math/rand/v2"

	"github.com/flatfast/flatfast/tensor"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// GemmShape is one C[m x n] = A[m x k] B[k x n] problem.
type GemmShape struct{ M, N, K int }

// GemmShapes are the shapes `flatfast bench gemm` covers by default: the
// square sizes of the comparison with OpenBLAS and the MLP layer
// 512x784 @ 784x512.
var GemmShapes = []GemmShape{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {2048, 2048, 2048}, {512, 512, 784}}

// GemmCase returns flatfast's and gonum's Sgemm on shape s (row-major, no
// transposes, alpha 1, beta 0), sharing the same operands.
func GemmCase(s GemmShape) (flatfast, gonumSgemm Case) {
	r := rand.New(rand.NewPCG(uint64(s.M), uint64(s.K)))
	fill := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	a, b, c := fill(s.M*s.K), fill(s.K*s.N), make([]float32, s.M*s.N)
	flops := 2 * float64(s.M) * float64(s.N) * float64(s.K)
	bytes := 4 * float64(s.M*s.K+s.K*s.N+s.M*s.N)
	flatfast = Case{Kernel: "sgemm", N: s.N, Flops: flops, Bytes: bytes, Run: func(it int) {
		for range it {
			if err := tensor.Gemm(false, false, s.M, s.N, s.K, 1, a, s.K, b, s.N, 0, c, s.N); err != nil {
				panic(err)
			}
		}
	}}
	gonumSgemm = Case{Kernel: "gonum_sgemm", N: s.N, Flops: flops, Bytes: bytes, Run: func(it int) {
		for range it {
			gonum.Implementation{}.Sgemm(blas.NoTrans, blas.NoTrans, s.M, s.N, s.K, 1, a, s.K, b, s.N, 0, c, s.N)
		}
	}}
	return flatfast, gonumSgemm
}
