package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The batch-norm kernels and Transpose at every length 0..300 (and the
// long ones) and every unaligned offset of each operand, with z also
// aliasing x: the vector, one-vector and scalar-tail loops of every level
// each meet every remainder at every alignment.

func TestAffineEveryOffset(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, n := range lengths {
				for _, off := range offsets {
					x, y := randSlice(r, n, 4), randSlice(r, n, 4)
					a, b, c := float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())
					affineWant := func(i int) (float64, float64) {
						e := float64(a)*float64(x[i]) + float64(b)
						return e, 2*u*(math.Abs(float64(a)*float64(x[i]))+math.Abs(float64(b))) + math.SmallestNonzeroFloat32
					}
					affine2Want := func(i int) (float64, float64) {
						ax, by := float64(a)*float64(x[i]), float64(b)*float64(y[i])
						return ax + by + float64(c), 3*u*(math.Abs(ax)+math.Abs(by)+math.Abs(float64(c))) + math.SmallestNonzeroFloat32
					}
					check := func(what string, z []float32, want func(int) (float64, float64)) {
						t.Helper()
						for i := range z {
							if e, bound := want(i); math.Abs(float64(z[i])-e) > bound {
								t.Fatalf("%s n=%d off=%d: z[%d] = %v, exact %v", what, n, off, i, z[i], e)
							}
						}
					}
					xs, xok := placed(t, x, off)
					ys, yok := placed(t, y, (off+1)%8)
					z, zok := placed(t, make([]float32, n), (off+3)%8)
					k.Affine(z, xs, a, b)
					check("Affine", z, affineWant)
					k.Affine2(z, xs, ys, a, b, c)
					check("Affine2", z, affine2Want)
					zok()
					// In place: z is x.
					k.Affine(xs, xs, a, b)
					check("Affine in place", xs, affineWant)
					copy(xs, x)
					k.Affine2(xs, xs, ys, a, b, c)
					check("Affine2 in place", xs, affine2Want)
					xok()
					yok()
				}
			}
		})
	}
}

func TestSumSquaredDeviationEveryOffset(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, n := range lengths {
				for _, off := range offsets {
					x := randSlice(r, n, 4)
					// A large c makes a tail lane that added c^2 instead
					// of 0 fail by far more than the bound.
					c := float32(r.NormFloat64()) * 100
					xs, xok := placed(t, x, off)
					var exact, abs float64
					for _, v := range x {
						d := float64(v) - float64(c)
						exact += d * d
						abs += float64(v-c) * float64(v-c)
					}
					got := k.SumSquaredDeviation(xs, c)
					xok()
					if math.Abs(float64(got)-exact) > gamma(n+2)*abs+1e-30 {
						t.Fatalf("n=%d off=%d c=%v: %v, exact %v", n, off, c, got, exact)
					}
				}
			}
		})
	}
}

func TestTransposeEveryOffset(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	var sizes []int
	for n := 1; n <= 13; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 16, 17, 31, 64, 67, 300)
	for _, k := range impls {
		t.Run(k.String(), func(t *testing.T) {
			for _, rows := range sizes {
				for _, cols := range sizes {
					for _, off := range offsets {
						lds, ldd := cols+off%3, rows+(off+1)%4
						src0 := randSlice(r, (rows-1)*lds+cols+off, 0)
						src := src0[off:]
						dst, ok := placed(t, make([]float32, (cols-1)*ldd+rows), (off+1)%8)
						k.Transpose(dst, ldd, src, lds, rows, cols)
						ok()
						checkTranspose(t, fmt.Sprintf("%dx%d off %d", rows, cols, off), dst, ldd, src, lds, rows, cols)
					}
				}
			}
		})
	}
}
