package bench

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/klauspost/cpuid/v2"

	"github.com/flatfast/flatfast/simd"
)

// CPU describes the machine a benchmark ran on, as cpuid and the kernel
// (/proc/cpuinfo) tell it, so that rows from different machines (an x86
// server, a Graviton, an Ampere, an Apple laptop under Linux) can be told
// apart and compared. On arm64, cpuid has no brand string for most cores;
// /proc/cpuinfo's "CPU implementer" and "CPU part" name the core (0x41 is
// Arm Ltd., 0xd0c Neoverse N1, 0xd40 Neoverse V1, 0x61 Apple, ...).
type CPU struct {
	Arch          string            `json:"arch"`
	Brand         string            `json:"brand"`
	Vendor        string            `json:"vendor"`
	Family        int               `json:"family"`
	Model         int               `json:"model"`
	Stepping      int               `json:"stepping"`
	PhysicalCores int               `json:"physical_cores"`
	LogicalCores  int               `json:"logical_cores"`
	Features      []string          `json:"features"`
	L1D           int               `json:"l1d_bytes"`
	L2            int               `json:"l2_bytes"`
	L3            int               `json:"l3_bytes"`
	Levels        []string          `json:"simd_levels"`
	ProcCPUInfo   map[string]string `json:"proc_cpuinfo,omitempty"`
}

var (
	cpuOnce sync.Once
	cpuDesc *CPU
)

// DescribeCPU returns the description of this machine (computed once).
func DescribeCPU() *CPU {
	cpuOnce.Do(func() {
		c := cpuid.CPU
		g := simd.Cache()
		d := &CPU{
			Arch: runtime.GOARCH, Brand: strings.TrimSpace(c.BrandName), Vendor: c.VendorString,
			Family: c.Family, Model: c.Model, Stepping: c.Stepping,
			PhysicalCores: c.PhysicalCores, LogicalCores: c.LogicalCores, Features: c.FeatureSet(),
			L1D: g.L1D, L2: g.L2, L3: g.L3, ProcCPUInfo: procCPUInfo("/proc/cpuinfo"),
		}
		for _, k := range simd.Implementations() {
			d.Levels = append(d.Levels, k.String())
		}
		cpuDesc = d
	})
	return cpuDesc
}

// procCPUInfo returns the fields of the first processor in a
// /proc/cpuinfo-style file, without the long x86 flag lists (cpuid's
// features say the same) and the processor number; nil where there is no
// such file.
func procCPUInfo(path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(m) > 0 {
				break
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor", "flags", "bugs", "vmx flags", "power management":
			continue
		}
		m[k] = v
	}
	if len(m) == 0 {
		return nil
	}
	return m
}
