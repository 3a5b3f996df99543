package tensor

import (
	"errors"
	"math"
	"testing"
)

// TestActivationBackward: TanhBackward and SigmoidBackward against their
// formulas in float64, at both types, in place, and their shape errors.
func TestActivationBackward(t *testing.T) {
	r := NewRNG(5)
	cases := []struct {
		name string
		run  func(dst, g, y *Tensor) (*Tensor, error)
		fwd  func(dst, a *Tensor) (*Tensor, error)
		f    func(g, y float64) float64
	}{
		{"TanhBackward", TanhBackward, Tanh, func(g, y float64) float64 { return g * ((1 - y) * (1 + y)) }},
		{"SigmoidBackward", SigmoidBackward, Sigmoid, func(g, y float64) float64 { return g * y * (1 - y) }},
	}
	for _, dt := range []DType{Float32, Float64} {
		for _, c := range cases {
			x, g := randTensor(r, dt, 9, 37), randTensor(r, dt, 9, 37)
			_, _ = Scale(x, x, 3)
			y, err := c.fwd(nil, x)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.run(nil, g, y)
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-14
			if dt == Float32 {
				tol = 4e-7
			}
			for i := 0; i < g.Len(); i++ {
				w := c.f(g.Flat(i), y.Flat(i))
				if d := math.Abs(got.Flat(i) - w); d > tol*math.Abs(w)+1e-300 {
					t.Fatalf("%s %v: g=%v y=%v: %v, want %v", c.name, dt, g.Flat(i), y.Flat(i), got.Flat(i), w)
				}
			}
			if _, err := c.run(g, g, y); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < g.Len(); i++ {
				if g.Flat(i) != got.Flat(i) {
					t.Fatalf("%s %v in place: %v, want %v", c.name, dt, g.Flat(i), got.Flat(i))
				}
			}
			if _, err := c.run(nil, g, randTensor(r, dt, 9, 36)); !errors.Is(err, ErrShape) {
				t.Errorf("%s %v of mismatched shapes: %v, want ErrShape", c.name, dt, err)
			}
		}
	}
	if _, err := TanhBackward(nil, randTensor(r, Float32, 3), randTensor(r, Float64, 3)); !errors.Is(err, ErrDType) {
		t.Errorf("TanhBackward of mixed types: %v, want ErrDType", err)
	}
}
