package bench

import (
	"os"
	"path/filepath"
	"testing"
)

func TestProcCPUInfo(t *testing.T) {
	const arm = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\nprocessor\t: 1\nCPU part\t: 0xd40\n"
	const x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel name\t: AMD EPYC\nflags\t\t: fpu vme de pse\n\n"
	dir := t.TempDir()
	for _, c := range []struct {
		text string
		want map[string]string
		gone []string
	}{
		{arm, map[string]string{"CPU implementer": "0x41", "CPU part": "0xd0c", "CPU architecture": "8"}, []string{"processor"}},
		{x86, map[string]string{"vendor_id": "AuthenticAMD", "cpu family": "26", "model name": "AMD EPYC"}, []string{"flags", "processor"}},
	} {
		p := filepath.Join(dir, "cpuinfo")
		if err := os.WriteFile(p, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		got := procCPUInfo(p)
		for k, v := range c.want {
			if got[k] != v {
				t.Errorf("%q = %q, want %q (all: %v)", k, got[k], v, got)
			}
		}
		for _, k := range c.gone {
			if _, ok := got[k]; ok {
				t.Errorf("%q kept: %v", k, got)
			}
		}
	}
	if procCPUInfo(filepath.Join(dir, "none")) != nil {
		t.Error("a missing file gives fields")
	}
	d := DescribeCPU()
	if d.Arch == "" || len(d.Levels) == 0 || d.Levels[0] != "generic" {
		t.Errorf("DescribeCPU() = %+v", d)
	}
}
