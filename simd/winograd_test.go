package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// The F(4, 3) matrices in float64, the oracle of the row transforms.
var (
	winoBT = [][]float64{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	}
	winoAT = [][]float64{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	}
	winoG = [][]float64{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	}
)

// TestWinogradTransforms: each level's three row transforms against the
// matrices in float64, for lengths around the vector widths (tails),
// strides larger than the rows, and data whose rows differ in scale; the
// bound is a few float32 roundings of the terms' magnitudes.
func TestWinogradTransforms(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, k := range impls {
		for _, n := range []int{1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100} {
			for _, pad := range []int{0, 5} {
				name := fmt.Sprintf("%v n=%d stride=n+%d", k, n, pad)
				st := n + pad
				src := make([]float32, 6*st)
				for i := range src {
					src[i] = float32(r.NormFloat64() * math.Pow(2, float64(i%5)))
				}
				rows := func(first, step int) [][]float32 {
					var l [][]float32
					for j := first; j >= 0 && j < 6; j += step {
						l = append(l, src[j*st:j*st+n])
					}
					return l
				}
				// check runs f into a dst filled with -1 and compares its
				// rows with mat times in, and the gaps between them with -1.
				check := func(op string, mat [][]float64, in [][]float32, f func(dst []float32)) {
					got := make([]float32, 6*st)
					for i := range got {
						got[i] = -1
					}
					f(got)
					for i := range mat {
						for e := 0; e < n; e++ {
							var v, mag float64
							for j, row := range in {
								v += mat[i][j] * float64(row[e])
								mag += math.Abs(mat[i][j] * float64(row[e]))
							}
							if d := math.Abs(float64(got[i*st+e]) - v); d > 4e-7*mag {
								t.Fatalf("%s %s: row %d element %d = %v, want %v (|terms| %v)", name, op, i, e, got[i*st+e], v, mag)
							}
						}
						for e := n; e < st && i < len(mat)-1; e++ {
							if got[i*st+e] != -1 {
								t.Fatalf("%s %s: wrote the gap after row %d", name, op, i)
							}
						}
					}
				}
				check("input", winoBT, rows(0, 1), func(dst []float32) { k.WinogradInput4(dst, st, src, st, n) })
				check("output", winoAT, rows(0, 1), func(dst []float32) { k.WinogradOutput4(dst, st, src, st, n) })
				// The kernel transform, rows passed in reverse order.
				g := rows(2, -1)
				check("kernel", winoG, g, func(dst []float32) { k.WinogradKernel4(dst, st, g[0], g[1], g[2]) })
				// The adjoints: A (four rows in) and G^T (six in).
				check("output adjoint", transpose(winoAT), rows(0, 1)[:4], func(dst []float32) { k.WinogradOutputAdjoint4(dst, st, src, st, n) })
				check("kernel adjoint", transpose(winoG), rows(0, 1), func(dst []float32) { k.WinogradKernelAdjoint4(dst, st, src, st, n) })
			}
		}
	}
}

func transpose(m [][]float64) [][]float64 {
	t := make([][]float64, len(m[0]))
	for j := range t {
		t[j] = make([]float64, len(m))
		for i := range m {
			t[j][i] = m[i][j]
		}
	}
	return t
}

// The transforms refuse rows that do not fit, naming the operation.
func TestWinogradTransformsBadArgs(t *testing.T) {
	k := Active()
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"WinogradInput4", func() { k.WinogradInput4(make([]float32, 47), 8, make([]float32, 48), 8, 8) }},
		{"WinogradInput4", func() { k.WinogradInput4(make([]float32, 48), 8, make([]float32, 48), 4, 8) }},
		{"WinogradOutput4", func() { k.WinogradOutput4(make([]float32, 31), 8, make([]float32, 48), 8, 8) }},
		{"WinogradOutputAdjoint4", func() { k.WinogradOutputAdjoint4(make([]float32, 47), 8, make([]float32, 32), 8, 8) }},
		{"WinogradOutputAdjoint4", func() { k.WinogradOutputAdjoint4(make([]float32, 48), 8, make([]float32, 31), 8, 8) }},
		{"WinogradKernelAdjoint4", func() { k.WinogradKernelAdjoint4(make([]float32, 23), 8, make([]float32, 48), 8, 8) }},
		{"WinogradKernel4", func() {
			k.WinogradKernel4(make([]float32, 48), 8, make([]float32, 8), make([]float32, 7), make([]float32, 8))
		}},
	} {
		func() {
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.Contains(msg, c.name) {
					t.Errorf("%s: panic %q does not name it", c.name, msg)
				}
			}()
			c.f()
		}()
	}
}
