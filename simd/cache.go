package simd

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// CacheEnvVar is the environment variable that overrides the cache sizes
// reported by the CPU, for example FLATFAST_CACHE=l1d=32K,l2=1M,l3=32M.
//
// The GEMM and convolution block sizes, and which code paths a given shape
// takes, follow these sizes; the override lets one machine tune for, or
// test as, another (the test suite runs under several geometries in CI).
const CacheEnvVar = "FLATFAST_CACHE"

// Where a cache size came from.
const (
	CacheFromEnv     = "FLATFAST_CACHE"
	CacheFromCPUID   = "cpuid"
	CacheFromDefault = "default"
)

// CacheGeometry is the per-core L1 data and L2 size and the L3 size, in
// bytes, with where each came from (CacheFromEnv, CacheFromCPUID or
// CacheFromDefault). L3 is 0 only when FLATFAST_CACHE says there is none
// (l3=0, as on Apple silicon, whose large shared L2 is the last level).
type CacheGeometry struct {
	L1D, L2, L3                   int
	L1DSource, L2Source, L3Source string
}

// Conservative sizes for whatever cpuid cannot tell.
const (
	defaultL1D = 32 << 10
	defaultL2  = 256 << 10
	defaultL3  = 8 << 20
)

// Sanity bounds on the sizes FLATFAST_CACHE may give: below 4 KiB or above
// 1 GiB is a typo (a missing K or M), not a cache.
const (
	minCacheSize = 4 << 10
	maxCacheSize = 1 << 30
)

// Initialised with the package's variables, before any init function (the
// dispatcher's among them) asks for the sizes.
var geometry, cacheConfigErr = detectCaches(os.Getenv(CacheEnvVar))

// detectCaches combines cpuid's sizes, the defaults and the override spec.
// On a malformed spec it returns the geometry without the override and the
// error.
func detectCaches(spec string) (CacheGeometry, error) {
	g := CacheGeometry{L1DSource: CacheFromCPUID, L2Source: CacheFromCPUID, L3Source: CacheFromCPUID}
	g.L1D, g.L2, g.L3 = cpuid.CPU.Cache.L1D, cpuid.CPU.Cache.L2, cpuid.CPU.Cache.L3
	for _, c := range []struct {
		size *int
		src  *string
		def  int
	}{{&g.L1D, &g.L1DSource, defaultL1D}, {&g.L2, &g.L2Source, defaultL2}, {&g.L3, &g.L3Source, defaultL3}} {
		if *c.size <= 0 {
			*c.size, *c.src = c.def, CacheFromDefault
		}
	}
	if strings.TrimSpace(spec) == "" {
		return g, nil
	}
	o, err := ParseCacheSpec(spec)
	if err != nil {
		return g, fmt.Errorf("%s=%s: %w", CacheEnvVar, spec, err)
	}
	if o.L1D >= 0 {
		g.L1D, g.L1DSource = o.L1D, CacheFromEnv
	}
	if o.L2 >= 0 {
		g.L2, g.L2Source = o.L2, CacheFromEnv
	}
	if o.L3 >= 0 {
		g.L3, g.L3Source = o.L3, CacheFromEnv
	}
	if g.L2 < g.L1D {
		d, _ := detectCaches("")
		return d, fmt.Errorf("%s=%s: l1d (%d bytes, %s) is larger than l2 (%d bytes, %s)",
			CacheEnvVar, spec, g.L1D, g.L1DSource, g.L2, g.L2Source)
	}
	return g, nil
}

// CacheSpec is a parsed FLATFAST_CACHE value: each size in bytes, or -1
// where the spec leaves that level to cpuid.
type CacheSpec struct{ L1D, L2, L3 int }

// ParseCacheSpec parses a comma-separated list of level=size pairs, the
// levels l1d, l2 and l3 (each at most once, any subset, any order), the
// sizes in bytes with an optional binary suffix K, M or G (KiB, MiB and GiB
// are accepted too): "l1d=32K,l2=1M,l3=32M". l1d and l2 must lie between
// 4 KiB and 1 GiB, and l2 must not be smaller than l1d when both are given;
// l3 may be 0, meaning no L3 (the L2 is then the last level).
func ParseCacheSpec(s string) (CacheSpec, error) {
	o := CacheSpec{-1, -1, -1}
	if strings.TrimSpace(s) == "" {
		return o, fmt.Errorf("empty cache spec (want for example l1d=32K,l2=1M,l3=32M)")
	}
	for _, item := range strings.Split(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return o, fmt.Errorf("%q is not level=size (want for example l1d=32K,l2=1M,l3=32M)", item)
		}
		var dst *int
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "l1d", "l1":
			dst = &o.L1D
		case "l2":
			dst = &o.L2
		case "l3":
			dst = &o.L3
		default:
			return o, fmt.Errorf("unknown cache level %q (want l1d, l2 or l3)", key)
		}
		if *dst >= 0 {
			return o, fmt.Errorf("cache level %s given twice", key)
		}
		n, err := parseSize(val)
		if err != nil {
			return o, fmt.Errorf("%s: %w", key, err)
		}
		zeroOK := dst == &o.L3
		if !(zeroOK && n == 0) && (n < minCacheSize || n > maxCacheSize) {
			return o, fmt.Errorf("%s=%s is outside 4K..1G", key, strings.TrimSpace(val))
		}
		*dst = n
	}
	if o.L1D >= 0 && o.L2 >= 0 && o.L2 < o.L1D {
		return o, fmt.Errorf("l2 (%d bytes) is smaller than l1d (%d bytes)", o.L2, o.L1D)
	}
	return o, nil
}

// parseSize reads a byte count with an optional K, M or G (binary) suffix.
func parseSize(s string) (int, error) {
	s = strings.TrimSpace(s)
	mult := 1
	u := strings.ToUpper(s)
	for _, suf := range []struct {
		s string
		m int
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(u, suf.s) {
			mult, s = suf.m, strings.TrimSpace(s[:len(s)-len(suf.s)])
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("size %q is not a whole number of bytes with an optional K, M or G", s)
	}
	if int64(n)*int64(mult) > maxCacheSize {
		return 0, fmt.Errorf("size %q is larger than 1G", s)
	}
	return int(n) * mult, nil
}

// Caches returns the per-core L1 data and L2 cache sizes and the L3 size in
// bytes in use: FLATFAST_CACHE where it gives them, else cpuid's, else
// conservative defaults (32 KiB, 256 KiB, 8 MiB). Package tensor derives
// its GEMM block sizes from these. l3 is 0 when FLATFAST_CACHE says l3=0.
func Caches() (l1d, l2, l3 int) { return geometry.L1D, geometry.L2, geometry.L3 }

// Cache returns the cache sizes in use and where each came from.
func Cache() CacheGeometry { return geometry }

// CacheConfigError returns the error in FLATFAST_CACHE, if it was
// malformed; nil otherwise. In that case the sizes from cpuid stay in use.
func CacheConfigError() error { return cacheConfigErr }
