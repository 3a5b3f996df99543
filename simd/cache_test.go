package simd

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestParseCacheSpec(t *testing.T) {
	good := []struct {
		spec string
		want CacheSpec
	}{
		{"l1d=32K,l2=1M,l3=32M", CacheSpec{32 << 10, 1 << 20, 32 << 20}},
		{"l1d=48K,l2=2M,l3=96M", CacheSpec{48 << 10, 2 << 20, 96 << 20}},
		{"l1d=128K,l2=16M,l3=0", CacheSpec{128 << 10, 16 << 20, 0}},
		{" L3 = 8MiB , l1d=49152 ", CacheSpec{48 << 10, -1, 8 << 20}},
		{"l2=1g", CacheSpec{-1, 1 << 30, -1}},
		{"l1=64KB", CacheSpec{64 << 10, -1, -1}},
	}
	for _, c := range good {
		t.Run(c.spec, func(t *testing.T) {
			got, err := ParseCacheSpec(c.spec)
			if err != nil || got != c.want {
				t.Errorf("ParseCacheSpec(%q) = %+v, %v; want %+v", c.spec, got, err, c.want)
			}
		})
	}
	bad := []struct{ spec, want string }{
		{"", "empty"},
		{"l1d", "not level=size"},
		{"l4=1M", "unknown cache level"},
		{"l1d=32K,l1d=48K", "given twice"},
		{"l1d=32Q", "not a whole number"},
		{"l1d=-32K", "not a whole number"},
		{"l1d=1.5M", "not a whole number"},
		{"l1d=32", "outside 4K..1G"},
		{"l2=0", "outside 4K..1G"},
		{"l3=2G", "larger than 1G"},
		{"l3=99999999999", "not a whole number"},
		{"l1d=1M,l2=512K", "smaller than l1d"},
		{"l1d=32K,,l2=1M", "not level=size"},
	}
	for _, c := range bad {
		t.Run("bad/"+c.spec, func(t *testing.T) {
			_, err := ParseCacheSpec(c.spec)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ParseCacheSpec(%q) error %v, want one containing %q", c.spec, err, c.want)
			}
		})
	}
}

func TestDetectCaches(t *testing.T) {
	base, err := detectCaches("")
	if err != nil || base.L1D <= 0 || base.L2 <= 0 || base.L3 <= 0 {
		t.Fatalf("detectCaches(\"\") = %+v, %v", base, err)
	}
	for _, src := range []string{base.L1DSource, base.L2Source, base.L3Source} {
		if src != CacheFromCPUID && src != CacheFromDefault {
			t.Errorf("source %q without an override", src)
		}
	}
	g, err := detectCaches("l2=16M,l3=0")
	if err != nil {
		t.Fatal(err)
	}
	want := CacheGeometry{L1D: base.L1D, L2: 16 << 20, L3: 0, L1DSource: base.L1DSource, L2Source: CacheFromEnv, L3Source: CacheFromEnv}
	if g != want {
		t.Errorf("partial override: %+v, want %+v", g, want)
	}
	// A malformed spec, or one that contradicts cpuid, is an error that
	// names the variable, and the host's sizes stay in use.
	for _, spec := range []string{"l1d=32K;l2=1M", "l1d=1G"} {
		g, err := detectCaches(spec)
		if err == nil || !strings.Contains(err.Error(), CacheEnvVar+"="+spec) || g != base {
			t.Errorf("detectCaches(%q) = %+v, %v; want the host's sizes and an error naming %s", spec, g, err, CacheEnvVar)
		}
	}
}

// TestCacheEnvironment runs this test binary again with FLATFAST_CACHE set:
// the override is what Cache reports, and a malformed value is reported by
// ConfigError (which the test binary's TestMain and the command check).
func TestCacheEnvironment(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	for _, c := range []struct{ env, want string }{
		{"l1d=32K,l2=1M,l3=32M", "cache=32768/FLATFAST_CACHE,1048576/FLATFAST_CACHE,33554432/FLATFAST_CACHE err=<nil>"},
		{"l1d=128K,l2=16M,l3=0", "cache=131072/FLATFAST_CACHE,16777216/FLATFAST_CACHE,0/FLATFAST_CACHE err=<nil>"},
		{"l1d=32K,l2=1M,l3", "FLATFAST_CACHE=l1d=32K,l2=1M,l3: \"l3\" is not level=size"},
	} {
		t.Run(c.env, func(t *testing.T) {
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), "FLATFAST_SIMD_CHILD=1", CacheEnvVar+"="+c.env)
			b, err := cmd.CombinedOutput()
			if errors.Is(err, syscall.ENOEXEC) {
				t.Skip("cannot re-execute the test binary (emulated without binfmt):", err)
			}
			if err != nil {
				t.Fatalf("child: %v\n%s", err, b)
			}
			if !strings.Contains(string(b), c.want) {
				t.Errorf("FLATFAST_CACHE=%s: output %q does not contain %q", c.env, b, c.want)
			}
		})
	}
}
