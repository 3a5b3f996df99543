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
