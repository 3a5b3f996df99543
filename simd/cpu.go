package simd

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// CPUDescription names the CPU and the vector features that matter to the
// dispatcher, for reports and error messages.
func CPUDescription() string {
	name := strings.TrimSpace(cpuid.CPU.BrandName)
	if name == "" {
		name = "unknown CPU"
	}
	var feats []string
	for _, f := range []struct {
		id   cpuid.FeatureID
		name string
	}{
		{cpuid.AVX2, "avx2"}, {cpuid.FMA3, "fma"}, {cpuid.AVX512F, "avx512f"},
		{cpuid.ASIMD, "asimd"},
	} {
		if cpuid.CPU.Supports(f.id) {
			feats = append(feats, f.name)
		}
	}
	return fmt.Sprintf("%s, %s/%s, %d logical cores, features [%s]",
		name, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), strings.Join(feats, " "))
}

// Caches returns the per-core L1 data and L2 cache sizes and the L3 size in
// bytes, as cpuid reports them, with conservative defaults (32 KiB, 256 KiB,
// 8 MiB) for whatever it cannot tell. Package tensor derives its GEMM block
// sizes from these.
func Caches() (l1d, l2, l3 int) {
	l1d, l2, l3 = cpuid.CPU.Cache.L1D, cpuid.CPU.Cache.L2, cpuid.CPU.Cache.L3
	if l1d <= 0 {
		l1d = 32 << 10
	}
	if l2 <= 0 {
		l2 = 256 << 10
	}
	if l3 <= 0 {
		l3 = 8 << 20
	}
	return l1d, l2, l3
}
