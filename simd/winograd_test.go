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
	winoBT = [6][6]float64{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	}
	winoAT = [4][6]float64{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	}
	winoG = [6][3]float64{
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
				check := func(op string, got []float32, rows int, want func(i, e int) (v, mag float64)) {
					for i := 0; i < rows; i++ {
						for e := 0; e < n; e++ {
							v, mag := want(i, e)
							if d := math.Abs(float64(got[i*st+e]) - v); d > 4e-7*mag {
								t.Fatalf("%s %s: row %d element %d = %v, want %v (|terms| %v)", name, op, i, e, got[i*st+e], v, mag)
							}
						}
						for e := n; e < st && i < rows-1; e++ {
							if got[i*st+e] != -1 {
								t.Fatalf("%s %s: wrote the gap after row %d", name, op, i)
							}
						}
					}
				}
				fresh := func() []float32 {
					d := make([]float32, 6*st)
					for i := range d {
						d[i] = -1
					}
					return d
				}
				dst := fresh()
				k.WinogradInput4(dst, st, src, st, n)
				check("input", dst, 6, func(i, e int) (float64, float64) {
					var v, m float64
					for j := 0; j < 6; j++ {
						v += winoBT[i][j] * float64(src[j*st+e])
						m += math.Abs(winoBT[i][j] * float64(src[j*st+e]))
					}
					return v, m
				})
				dst = fresh()
				k.WinogradOutput4(dst, st, src, st, n)
				check("output", dst, 4, func(i, e int) (float64, float64) {
					var v, m float64
					for j := 0; j < 6; j++ {
						v += winoAT[i][j] * float64(src[j*st+e])
						m += math.Abs(winoAT[i][j] * float64(src[j*st+e]))
					}
					return v, m
				})
				// The kernel transform, rows passed in reverse order.
				g0, g1, g2 := src[2*st:2*st+n], src[st:st+n], src[:n]
				dst = fresh()
				k.WinogradKernel4(dst, st, g0, g1, g2)
				check("kernel", dst, 6, func(i, e int) (float64, float64) {
					var v, m float64
					for j, g := range [][]float32{g0, g1, g2} {
						v += winoG[i][j] * float64(g[e])
						m += math.Abs(winoG[i][j] * float64(g[e]))
					}
					return v, m
				})
			}
		}
	}
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
