package tensor

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/flatfast/flatfast/simd"
)

type goldenTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

func (g goldenTensor) tensor(t *testing.T, dt DType) *Tensor {
	t.Helper()
	x, err := FromFloat64(append([]float64(nil), g.Data...), g.Shape...)
	if err != nil {
		t.Fatal(err)
	}
	return Must(x.As(dt))
}

// TestConvAgainstPyTorch compares Conv2d and its two backward passes with
// golden values from PyTorch (testdata/gen_conv_golden.py), in float64 and
// at every SIMD level in float32.
func TestConvAgainstPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/conv_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Cases []struct {
			Stride, Pad         int
			X, W, Y, GY, GX, GW goldenTensor
		} `json:"cases"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Cases) == 0 {
		t.Fatal("no cases in the golden file")
	}
	prev := simd.ActiveLevel()
	defer func() { _ = simd.Use(prev) }()
	for _, impl := range simd.Implementations() {
		if err := simd.Use(impl.Level()); err != nil {
			t.Fatal(err)
		}
		for _, c := range golden.Cases {
			for _, dt := range []DType{Float64, Float32} {
				tol := 1e-12
				if dt == Float32 {
					tol = 1e-5
				}
				x, w, gy := c.X.tensor(t, dt), c.W.tensor(t, dt), c.GY.tensor(t, dt)
				y, err := Conv2d(nil, x, w, c.Stride, c.Pad)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, impl.String()+" golden forward "+dt.String(), y, c.Y.Data, tol)
				gx, err := Conv2dBackwardInput(nil, gy, w, x.Dim(2), x.Dim(3), c.Stride, c.Pad)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, impl.String()+" golden input grad "+dt.String(), gx, c.GX.Data, tol)
				gw, err := Conv2dBackwardWeight(nil, x, gy, w.Dim(2), w.Dim(3), c.Stride, c.Pad)
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, impl.String()+" golden weight grad "+dt.String(), gw, c.GW.Data, tol)
			}
		}
	}
}
