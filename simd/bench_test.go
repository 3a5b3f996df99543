package simd_test

import (
	"fmt"
	"testing"

	"github.com/flatfast/flatfast/internal/kernelbench"
	"github.com/flatfast/flatfast/simd"
)

// BenchmarkKernels times every kernel at every level this machine runs, at
// an L1-resident, an L2-resident and a memory-bound size. Compare levels
// with benchstat, e.g.
//
//	go test -run '^$' -bench 'Kernels/.*/dot' -count 10 ./simd | tee new.txt
func BenchmarkKernels(b *testing.B) {
	for _, k := range simd.Implementations() {
		for _, n := range []int{1024, 32768, 1 << 20} {
			for _, c := range kernelbench.Cases(k, n) {
				if c.Kernel == "gemm_kernel" && n != 1024 {
					continue
				}
				if c.Kernel == "gemm_kernel" {
					c = kernelbench.Cases(k, 256)[len(kernelbench.Names)-1]
				}
				b.Run(fmt.Sprintf("%s/%s/n=%d", k, c.Kernel, c.N), func(b *testing.B) {
					b.SetBytes(int64(c.Bytes))
					b.ReportAllocs()
					b.ResetTimer()
					c.Run(b.N)
					b.ReportMetric(c.Flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
