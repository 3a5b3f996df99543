package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The expected encodings were produced by an independent assembler
// (llvm-mc -triple=aarch64 -show-encoding); fcmlt v7, v8 also appears in
// Go's own cmd/asm test data (arm64enc.s, as a TODO line).
func TestEncoders(t *testing.T) {
	for _, c := range []struct {
		got  a64
		want uint32
		asm  string
	}{
		{fadd(1, 2, 3), 0x4e23d441, "fadd v1.4s, v2.4s, v3.4s"},
		{fadd(31, 0, 17), 0x4e31d41f, "fadd v31.4s, v0.4s, v17.4s"},
		{fsub(5, 30, 9), 0x4ea9d7c5, "fsub v5.4s, v30.4s, v9.4s"},
		{fmul(28, 13, 31), 0x6e3fddbc, "fmul v28.4s, v13.4s, v31.4s"},
		{fmax(0, 0, 16), 0x4e30f400, "fmax v0.4s, v0.4s, v16.4s"},
		{fmin(7, 19, 26), 0x4ebaf667, "fmin v7.4s, v19.4s, v26.4s"},
		{frintn(3, 4), 0x4e218883, "frintn v3.4s, v4.4s"},
		{frintn(31, 16), 0x4e218a1f, "frintn v31.4s, v16.4s"},
		{fcvtzs(6, 29), 0x4ea1bba6, "fcvtzs v6.4s, v29.4s"},
		{fcmgt0(8, 4), 0x4ea0c888, "fcmgt v8.4s, v4.4s, #0.0"},
		{fcmgt0(30, 31), 0x4ea0cbfe, "fcmgt v30.4s, v31.4s, #0.0"},
		{fcmlt0(7, 8), 0x4ea0e907, "fcmlt v7.4s, v8.4s, #0.0"},
		{fcmlt0(21, 2), 0x4ea0e855, "fcmlt v21.4s, v2.4s, #0.0"},
		{sshr(2, 1, 1), 0x4f3f0422, "sshr v2.4s, v1.4s, #1"},
		{sshr(12, 6, 31), 0x4f2104cc, "sshr v12.4s, v6.4s, #31"},
		{sshr(31, 0, 32), 0x4f20041f, "sshr v31.4s, v0.4s, #32"},
		{fdiv(1, 2, 3), 0x6e23fc41, "fdiv v1.4s, v2.4s, v3.4s"},
		{fdiv(31, 0, 17), 0x6e31fc1f, "fdiv v31.4s, v0.4s, v17.4s"},
		{fcmgt(4, 30, 1), 0x6ea1e7c4, "fcmgt v4.4s, v30.4s, v1.4s"},
		{fcmgt(9, 2, 31), 0x6ebfe449, "fcmgt v9.4s, v2.4s, v31.4s"},
		{fabs(1, 0), 0x4ea0f801, "fabs v1.4s, v0.4s"},
		{fabs(31, 16), 0x4ea0fa1f, "fabs v31.4s, v16.4s"},
		{fmlaElem(0, 24, 27, 3), 0x4fbb1b00, "fmla v0.4s, v24.4s, v27.s[3]"},
		{fmlaElem(23, 28, 25, 0), 0x4f991397, "fmla v23.4s, v28.4s, v25.s[0]"},
		{fmlaElem(5, 2, 17, 1), 0x4fb11045, "fmla v5.4s, v2.4s, v17.s[1]"},
		{fmlaElem(31, 31, 31, 2), 0x4f9f1bff, "fmla v31.4s, v31.4s, v31.s[2]"},
	} {
		if c.got.enc != c.want || c.got.asm != c.asm {
			t.Errorf("%s: got %#08x %q, want %#08x", c.asm, c.got.enc, c.got.asm, c.want)
		}
	}
}

func TestEncoderRanges(t *testing.T) {
	for name, f := range map[string]func(){
		"V32":       func() { fadd(32, 0, 0) },
		"V-1":       func() { frintn(0, -1) },
		"lane 4":    func() { fmlaElem(0, 0, 0, 4) },
		"shift 0":   func() { sshr(0, 0, 0) },
		"shift 33":  func() { sshr(0, 0, 33) },
		"fmla V40":  func() { fmlaElem(0, 0, 40, 0) },
		"fcmgt V99": func() { fcmgt0(99, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestWordsAgainstLLVM assembles the Arm-syntax comment of every WORD in
// the generated arm64 file with llvm-mc, when it is installed, and compares
// the encodings.
func TestWordsAgainstLLVM(t *testing.T) {
	mc, err := exec.LookPath("llvm-mc")
	if err != nil {
		t.Skip("llvm-mc not installed")
	}
	word := regexp.MustCompile(`WORD \$0x([0-9a-f]{8}) // (.*)$`)
	var asm []string
	var encs []uint32
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(arm64()))
	for sc.Scan() {
		m := word.FindStringSubmatch(sc.Text())
		if m == nil || seen[m[2]] {
			continue
		}
		seen[m[2]] = true
		v, _ := strconv.ParseUint(m[1], 16, 32)
		asm = append(asm, m[2])
		encs = append(encs, uint32(v))
	}
	if len(asm) == 0 {
		t.Fatal("no WORD directives in the arm64 output")
	}
	cmd := exec.Command(mc, "-triple=aarch64", "-show-encoding")
	cmd.Stdin = strings.NewReader(strings.Join(asm, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("llvm-mc: %v\n%s", err, out)
	}
	enc := regexp.MustCompile(`encoding: \[0x(..),0x(..),0x(..),0x(..)\]`)
	ms := enc.FindAllStringSubmatch(string(out), -1)
	if len(ms) != len(asm) {
		t.Fatalf("llvm-mc encoded %d of %d instructions:\n%s", len(ms), len(asm), out)
	}
	for i, m := range ms {
		v, _ := strconv.ParseUint(m[4]+m[3]+m[2]+m[1], 16, 32)
		if uint32(v) != encs[i] {
			t.Errorf("%s: generated %#08x, llvm-mc %#08x", asm[i], encs[i], v)
		}
	}
	t.Logf("%d distinct WORD instructions checked", len(asm))
}
