package tensor

import (
	"errors"
	"math"
	"testing"

	"github.com/flatfast/flatfast/simd"
)

// TestMomentumUpdate checks the fused, chunked update against its three
// passes over whole arrays (bitwise, for sizes around the chunk and past
// the parallel threshold, on 1-3 threads) and against the formula in
// float64; and that mismatched operands are refused.
func TestMomentumUpdate(t *testing.T) {
	defer SetThreads(0)
	const beta, eta = 0.9, 0.05
	r := NewRNG(7)
	for _, n := range []int{1, 15, updateChunk - 1, updateChunk, updateChunk + 1, elemParallel + 3*updateChunk + 5} {
		w0, p0, g := randTensor(r, Float32, n), randTensor(r, Float32, n), randTensor(r, Float32, n)
		// The three passes, whole.
		wantW, wantP := append([]float32(nil), w0.f32...), append([]float32(nil), p0.f32...)
		simd.Scale(beta, wantP)
		simd.Axpy(-1, g.f32, wantP)
		simd.Axpy(eta, wantP, wantW)
		for threads := 1; threads <= 3; threads++ {
			SetThreads(threads)
			w, p := w0.Clone(), p0.Clone()
			if err := MomentumUpdate(w, p, g, beta, eta); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if w.f32[i] != wantW[i] || p.f32[i] != wantP[i] {
					t.Fatalf("n=%d threads=%d: element %d is (w %v, pi %v), three passes give (%v, %v)", n, threads, i, w.f32[i], p.f32[i], wantW[i], wantP[i])
				}
				pe := beta*float64(p0.f32[i]) - float64(g.f32[i])
				we := float64(w0.f32[i]) + eta*pe
				if d := math.Abs(float64(p.f32[i]) - pe); d > 1e-6*(1+math.Abs(pe)) {
					t.Fatalf("n=%d: pi[%d] = %v, formula %v", n, i, p.f32[i], pe)
				}
				if d := math.Abs(float64(w.f32[i]) - we); d > 1e-6*(1+math.Abs(we)) {
					t.Fatalf("n=%d: w[%d] = %v, formula %v", n, i, w.f32[i], we)
				}
			}
		}
	}
	// float64: the formula itself.
	w, p, g := randTensor(r, Float64, 3, 5), randTensor(r, Float64, 3, 5), randTensor(r, Float64, 3, 5)
	w0, p0 := w.Clone(), p.Clone()
	if err := MomentumUpdate(w, p, g, beta, eta); err != nil {
		t.Fatal(err)
	}
	for i := range p.f64 {
		pe := beta*p0.f64[i] - g.f64[i]
		if p.f64[i] != pe || w.f64[i] != w0.f64[i]+eta*pe {
			t.Fatalf("float64 element %d: (w %v, pi %v), want (%v, %v)", i, w.f64[i], p.f64[i], w0.f64[i]+eta*pe, pe)
		}
	}
	for _, c := range []struct {
		name    string
		w, p, g *Tensor
		want    error
	}{
		{"shape of g", randTensor(r, Float32, 4), randTensor(r, Float32, 4), randTensor(r, Float32, 5), ErrShape},
		{"shape of pi", randTensor(r, Float32, 2, 2), randTensor(r, Float32, 4), randTensor(r, Float32, 4), ErrShape},
		{"dtype", randTensor(r, Float32, 4), randTensor(r, Float64, 4), randTensor(r, Float64, 4), ErrDType},
	} {
		err := MomentumUpdate(c.w, c.p, c.g, beta, eta)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if err := MomentumUpdate(nil, randTensor(r, Float32, 1), randTensor(r, Float32, 1), beta, eta); err == nil {
		t.Error("nil w: no error")
	}
}
