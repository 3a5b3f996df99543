package optim

import (
	"testing"

	"github.com/flatfast/flatfast/tensor"
)

// TestAdamResume: 4 steps, the state copied into a fresh Adam, 4 more,
// gives the bits of 8 uninterrupted steps.
func TestAdamResume(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		t.Run(dt.String(), func(t *testing.T) {
			grad := func(step int, w *tensor.Tensor) *tensor.Tensor {
				g := tensor.Must(tensor.New(dt, w.Shape()...))
				for i := range g.Len() {
					g.SetFlat(i, w.Flat(i)-float64(i%3)+0.1*float64(step))
				}
				return g
			}
			start := func() *tensor.Tensor {
				w := tensor.Must(tensor.New(dt, 2, 3))
				tensor.NewRNG(7).Normal(w, 0, 1)
				return w
			}
			w1 := start()
			a1, err := NewAdam([]*tensor.Tensor{w1}, 0.01)
			if err != nil {
				t.Fatal(err)
			}
			for s := range 8 {
				if err := a1.Step([]*tensor.Tensor{grad(s, w1)}); err != nil {
					t.Fatal(err)
				}
			}
			w2 := start()
			a2, _ := NewAdam([]*tensor.Tensor{w2}, 0.01)
			for s := range 4 {
				a2.Step([]*tensor.Tensor{grad(s, w2)})
			}
			w3 := w2.Clone()
			a3, _ := NewAdam([]*tensor.Tensor{w3}, 0.01)
			m2, v2 := a2.Moments()
			m3, v3 := a3.Moments()
			m3[0].CopyFrom(m2[0])
			v3[0].CopyFrom(v2[0])
			if err := a3.SetSteps(a2.Steps()); err != nil {
				t.Fatal(err)
			}
			for s := 4; s < 8; s++ {
				a3.Step([]*tensor.Tensor{grad(s, w3)})
			}
			for i := range w1.Len() {
				if w1.Flat(i) != w3.Flat(i) {
					t.Fatalf("element %d: %v uninterrupted, %v resumed", i, w1.Flat(i), w3.Flat(i))
				}
			}
			if a3.Steps() != 8 {
				t.Errorf("steps %d", a3.Steps())
			}
			if err := a3.SetSteps(-1); err == nil {
				t.Error("negative step count accepted")
			}
		})
	}
}
