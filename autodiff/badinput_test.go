package autodiff

import (
	"errors"
	"math"
	"testing"

	"github.com/flatfast/flatfast/internal/badinput"
	"github.com/flatfast/flatfast/tensor"
)

// hessianOf returns the Hessian of sum(x^2) over one float64 parameter
// of shape [3].
func hessianOf(t *testing.T) (*Hessian, *Value) {
	t.Helper()
	g := NewGraph()
	x := NewParam(tensor.Must(tensor.FromFloat64([]float64{1, 2, 3}, 3)))
	h, err := g.Hessian(g.SumAll(g.Square(x)), x)
	if err != nil {
		t.Fatal(err)
	}
	return h, x
}

func TestBadInputReturnsError(t *testing.T) {
	f64 := func(shape ...int) *tensor.Tensor { return tensor.Must(tensor.New(tensor.Float64, shape...)) }
	v3 := []*tensor.Tensor{tensor.Must(tensor.Full(tensor.Float64, 1, 3))}
	cases := []struct {
		name string
		want error // nil: any error
		f    func() error
	}{
		{"NewConst(nil) used in an op", nil, func() error {
			g := NewGraph()
			return g.Add(NewConst(nil), g.Const(f64(2))).Err()
		}},
		{"NewParam(nil) used in an op", nil, func() error {
			g := NewGraph()
			return g.Exp(NewParam(nil)).Err()
		}},
		{"NewConst(nil) reports its error at once", nil, func() error { return NewConst(nil).Err() }},
		{"NewParam(nil) reports its error at once", nil, func() error { return NewParam(nil).Err() }},
		{"Graph.Const(nil)", nil, func() error { return NewGraph().Const(nil).Err() }},
		{"Grad with respect to NewParam(nil)", nil, func() error {
			g := NewGraph()
			x := NewParam(f64(2))
			_, err := g.Grad(g.SumAll(x), NewParam(nil))
			return err
		}},
		{"Linear of a 3-D input", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.Linear(g.Const(f64(2, 3, 4)), g.Const(f64(5, 4)), nil).Err()
		}},
		{"Linear with a bias of the wrong length", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.Linear(g.Const(f64(3, 4)), g.Const(f64(5, 4)), g.Const(f64(4))).Err()
		}},
		{"Linear with mismatched inner sizes", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.Linear(g.Const(f64(3, 4)), g.Const(f64(5, 3)), g.Const(f64(5))).Err()
		}},
		{"Linear of a nil weight", nil, func() error {
			g := NewGraph()
			return g.Linear(g.Const(f64(3, 4)), nil, nil).Err()
		}},
		{"Graph.Scalar of an unknown dtype", tensor.ErrDType, func() error { return NewGraph().Scalar(tensor.DType(9), 1).Err() }},
		{"Graph.Zeros of an unknown dtype", tensor.ErrDType, func() error { return NewGraph().Zeros(tensor.DType(9), 2).Err() }},
		{"Hessian.Apply into an empty dst", nil, func() error {
			h, _ := hessianOf(t)
			_, err := h.Apply(v3, []*tensor.Tensor{})
			return err
		}},
		{"Hessian.Apply into a dst of two tensors for one parameter", nil, func() error {
			h, _ := hessianOf(t)
			_, err := h.Apply(v3, []*tensor.Tensor{f64(3), f64(3)})
			return err
		}},
		{"Hessian.Apply into a float32 dst for a float64 parameter", tensor.ErrDType, func() error {
			h, _ := hessianOf(t)
			_, err := h.Apply(v3, []*tensor.Tensor{tensor.Must(tensor.New(tensor.Float32, 3))})
			return err
		}},
		{"Hessian.Apply into a dst of the wrong shape", tensor.ErrShape, func() error {
			h, _ := hessianOf(t)
			_, err := h.Apply(v3, []*tensor.Tensor{f64(4)})
			return err
		}},
		{"Hessian.Apply into a nil dst tensor", tensor.ErrShape, func() error {
			h, _ := hessianOf(t)
			_, err := h.Apply(v3, []*tensor.Tensor{nil})
			return err
		}},
		{"Hessian.Apply of a float32 vector for a float64 parameter", tensor.ErrDType, func() error {
			h, _ := hessianOf(t)
			_, err := h.Apply([]*tensor.Tensor{tensor.Must(tensor.New(tensor.Float32, 3))}, nil)
			return err
		}},
		{"Hessian of a nil loss", nil, func() error {
			_, err := NewGraph().Hessian(nil, NewParam(f64(2)))
			return err
		}},
		{"TopEigenvalue with an infinite tolerance", nil, func() error {
			h, _ := hessianOf(t)
			_, _, err := h.TopEigenvalue(tensor.NewRNG(1), math.Inf(1), 10)
			return err
		}},
		{"Mean over an empty axis", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.Mean(g.Const(f64(0, 3)), 0, false).Err()
		}},
		{"Mean over an empty axis counted from the end", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.Mean(g.Const(f64(3, 0)), -1, true).Err()
		}},
		{"MeanAll of no elements", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.MeanAll(g.Const(f64(0))).Err()
		}},
		{"MSE of no elements", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.MSE(g.Const(f64(0, 2)), g.Const(f64(0, 2))).Err()
		}},
		{"GlobalAvgPool of an image with no pixels", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.GlobalAvgPool(g.Const(f64(1, 2, 0, 3))).Err()
		}},
		{"SumTo 9 dimensions", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.SumTo(g.Const(f64(2)), 1, 1, 1, 1, 1, 1, 1, 1, 2).Err()
		}},
		{"BroadcastTo 9 dimensions", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.BroadcastTo(g.Const(f64(2)), 1, 1, 1, 1, 1, 1, 1, 1, 2).Err()
		}},
		{"Add broadcasting to 9 dimensions", tensor.ErrShape, func() error {
			g := NewGraph()
			a := g.Const(f64(1, 1, 1, 1, 1, 1, 1, 2))
			return g.Add(a, g.Reshape(g.Const(f64(2)), 1, 1, 1, 1, 1, 1, 1, 1, 2)).Err()
		}},
		{"BatchNorm2dEval with a negative eps", nil, func() error {
			g := NewGraph()
			return g.BatchNorm2dEval(g.Const(f64(2, 1, 2, 2)), g.Const(f64(1)), g.Const(f64(1)), f64(1), f64(1), -1).Err()
		}},
		{"BatchNorm2dEval with a NaN eps", nil, func() error {
			g := NewGraph()
			return g.BatchNorm2dEval(g.Const(f64(2, 1, 2, 2)), g.Const(f64(1)), g.Const(f64(1)), f64(1), f64(1), math.NaN()).Err()
		}},
		{"BatchNorm2d with an infinite eps", nil, func() error {
			g := NewGraph()
			y, _, _ := g.BatchNorm2d(g.Const(f64(2, 1, 2, 2)), g.Const(f64(1)), g.Const(f64(1)), math.Inf(1))
			return y.Err()
		}},
		{"ApplyOperator with a nil operator", nil, func() error {
			g := NewGraph()
			return g.ApplyOperator(nil, g.Const(f64(2, 3))).Err()
		}},
		{"AdjointOperator with a nil operator", nil, func() error {
			g := NewGraph()
			return g.AdjointOperator(nil, g.Const(f64(2, 3))).Err()
		}},
		{"ApplyOperator of a MatrixOperator without a matrix", nil, func() error {
			g := NewGraph()
			return g.ApplyOperator(MatrixOperator{}, g.Const(f64(2, 0))).Err()
		}},
		{"ApplyOperator of a MatrixOperator of a 1-D matrix", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.ApplyOperator(MatrixOperator{M: f64(3)}, g.Const(f64(2, 0))).Err()
		}},
		{"ApplyOperator of a nil *PackedOperator", nil, func() error {
			g := NewGraph()
			var p *PackedOperator
			return g.ApplyOperator(p, g.Const(f64(2, 3))).Err()
		}},
		{"NewPackedOperator(nil)", tensor.ErrShape, func() error { _, err := NewPackedOperator(nil); return err }},
		{"MaxPool2d with a padding that overflows", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.MaxPool2d(g.Const(f64(1, 1, 2, 2)), 2, 1, math.MaxInt/2+1).Err()
		}},
		{"AvgPool2d with a padding that overflows", tensor.ErrShape, func() error {
			g := NewGraph()
			return g.AvgPool2d(g.Const(f64(1, 1, 2, 2)), 2, 1, math.MaxInt/2+1).Err()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := badinput.Err(t, c.f)
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %q does not wrap %q", err, c.want)
			}
		})
	}
}

// The checks must leave good input alone: a Hessian product into a
// caller's buffers, and means over non-empty axes.
func TestEdgeInputsStillWork(t *testing.T) {
	h, _ := hessianOf(t)
	v := []*tensor.Tensor{tensor.Must(tensor.FromFloat64([]float64{1, 0, -1}, 3))}
	dst := []*tensor.Tensor{tensor.Must(tensor.New(tensor.Float64, 3))}
	got, err := h.Apply(v, dst)
	if err != nil || got[0] != dst[0] || dst[0].Flat(0) != 2 || dst[0].Flat(2) != -2 {
		t.Fatalf("Apply into dst = %v, %v; want [2 0 -2] in dst itself", got, err)
	}
	g := NewGraph()
	m := g.Mean(g.Const(tensor.Must(tensor.New(tensor.Float64, 0, 3))), 1, false)
	if m.Err() != nil || m.Tensor().Len() != 0 {
		t.Fatalf("Mean over a full axis of an empty value = %v, %v", m.Tensor(), m.Err())
	}
}
