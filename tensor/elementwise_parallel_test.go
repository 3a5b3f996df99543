package tensor

import (
	"testing"

	"github.com/flatfast/flatfast/simd"
)

// TestElementwiseParallel checks the pool-split element-wise passes
// against their kernels run whole, bitwise, on 1-3 threads, at sizes
// around the split threshold and for rows that do and do not divide the
// chunk; and that they allocate nothing.
func TestElementwiseParallel(t *testing.T) {
	defer SetThreads(0)
	r := NewRNG(11)
	for _, n := range []int{elemParallel - 1, elemParallel, 3*elemParallel + 17} {
		x, g := randTensor(r, Float32, n), randTensor(r, Float32, n)
		y := Must(Tanh(nil, x))
		whole := func(f func(z []float32)) []float32 {
			z := make([]float32, n)
			f(z)
			return z
		}
		type pass struct {
			name string
			want []float32
			got  func() *Tensor
		}
		passes := []pass{
			{"ReLU", whole(func(z []float32) { simd.ReLU(z, x.f32) }), func() *Tensor { return Must(ReLU(nil, x)) }},
			{"Tanh", whole(func(z []float32) { simd.Tanh(z, x.f32) }), func() *Tensor { return Must(Tanh(nil, x)) }},
			{"Sigmoid", whole(func(z []float32) { simd.Sigmoid(z, x.f32) }), func() *Tensor { return Must(Sigmoid(nil, x)) }},
			{"Exp", whole(func(z []float32) { simd.Exp(z, x.f32) }), func() *Tensor { return Must(Exp(nil, x)) }},
			{"ReLUMask", whole(func(z []float32) { simd.ReLUBackward(z, g.f32, x.f32) }), func() *Tensor { return Must(ReLUMask(nil, g, x)) }},
			{"TanhBackward", whole(func(z []float32) { simd.TanhBackward(z, g.f32, y.f32) }), func() *Tensor { return Must(TanhBackward(nil, g, y)) }},
			{"SigmoidBackward", whole(func(z []float32) { simd.SigmoidBackward(z, g.f32, y.f32) }), func() *Tensor { return Must(SigmoidBackward(nil, g, y)) }},
		}
		for threads := 1; threads <= 3; threads++ {
			SetThreads(threads)
			for _, p := range passes {
				got := p.got()
				for i := range n {
					if got.f32[i] != p.want[i] {
						t.Fatalf("%s, n=%d, %d threads: element %d = %v, the whole kernel gives %v", p.name, n, threads, i, got.f32[i], p.want[i])
					}
				}
			}
		}
	}
	// The bias of Linear, row by row, for row lengths that divide the
	// chunk, do not, and exceed it.
	for _, c := range []struct{ rows, cols int }{{64, 1024}, {130, 513}, {20, 5000}, {3, 7}} {
		z0, b := randTensor(r, Float32, c.rows*c.cols), randTensor(r, Float32, c.cols)
		want := append([]float32(nil), z0.f32...)
		for i := 0; i < len(want); i += c.cols {
			simd.Add(want[i:i+c.cols], want[i:i+c.cols], b.f32)
		}
		for threads := 1; threads <= 3; threads++ {
			SetThreads(threads)
			z := append([]float32(nil), z0.f32...)
			eachRowBias(z, b.f32)
			for i := range z {
				if z[i] != want[i] {
					t.Fatalf("bias %dx%d, %d threads: element %d = %v, want %v", c.rows, c.cols, threads, i, z[i], want[i])
				}
			}
		}
	}
	SetThreads(2)
	x, dst := randTensor(r, Float32, 4*elemParallel), randTensor(r, Float32, 4*elemParallel)
	if a := testing.AllocsPerRun(20, func() { Must(ReLU(dst, x)); Must(TanhBackward(dst, x, x)) }); a != 0 {
		t.Errorf("parallel ReLU and TanhBackward: %v allocations a call, want 0", a)
	}
}
