package autodiff

import (
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/flatfast/flatfast/tensor"
)

type goldenTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

func (g goldenTensor) tensor(t *testing.T) *tensor.Tensor {
	t.Helper()
	x, err := tensor.FromFloat64(append([]float64(nil), g.Data...), g.Shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

type goldenModel struct {
	X      goldenTensor   `json:"x"`
	Labels []int          `json:"labels"`
	Params []goldenTensor `json:"params"`
	Loss   float64        `json:"loss"`
	Grads  []goldenTensor `json:"grads"`
	V      []goldenTensor `json:"v"`
	HV     []goldenTensor `json:"hv"`
}

// linear is PyTorch's F.linear: x W^T + b.
func linear(g *Graph, x, w, b *Value) *Value { return g.Add(g.MatMul(x, w, false, true), b) }

// TestAgainstPyTorch rebuilds the two models of testdata/gen_golden.py and
// compares the loss, the gradients and a Hessian-vector product with
// PyTorch's, in float64.
func TestAgainstPyTorch(t *testing.T) {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		MLP     goldenModel `json:"mlp"`
		ConvNet goldenModel `json:"convnet"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	models := map[string]struct {
		m    goldenModel
		loss func(g *Graph, x *Value, p []*Value, labels []int) *Value
	}{
		"mlp": {golden.MLP, func(g *Graph, x *Value, p []*Value, labels []int) *Value {
			h := g.Tanh(linear(g, x, p[0], p[1]))
			h = g.ReLU(linear(g, h, p[2], p[3]))
			return g.CrossEntropy(linear(g, h, p[4], p[5]), labels)
		}},
		"convnet": {golden.ConvNet, func(g *Graph, x *Value, p []*Value, labels []int) *Value {
			h := g.Conv2d(x, p[0], 1, 1)
			h, _, _ = g.BatchNorm2d(h, p[1], p[2], 1e-5)
			h = g.MaxPool2d(g.ReLU(h), 2, 2, 0)
			return g.CrossEntropy(linear(g, g.Flatten(h), p[3], p[4]), labels)
		}},
	}
	for name, c := range models {
		t.Run(name, func(t *testing.T) {
			g := NewGraph()
			params := make([]*Value, len(c.m.Params))
			for i, p := range c.m.Params {
				params[i] = NewParam(p.tensor(t))
			}
			loss := c.loss(g, g.Const(c.m.X.tensor(t)), params, c.m.Labels)
			l, err := loss.Item()
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(l-c.m.Loss) > 1e-12 {
				t.Errorf("loss %v, PyTorch %v", l, c.m.Loss)
			}
			h, err := g.Hessian(loss, params...)
			if err != nil {
				t.Fatal(err)
			}
			for i, gr := range h.grads {
				compare(t, "gradient", i, gr.Tensor(), c.m.Grads[i].Data)
			}
			v := make([]*tensor.Tensor, len(c.m.V))
			for i := range v {
				v[i] = c.m.V[i].tensor(t)
			}
			hv, err := h.Apply(v, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range hv {
				compare(t, "Hv", i, x, c.m.HV[i].Data)
			}
		})
	}
}

func compare(t *testing.T, what string, i int, got *tensor.Tensor, want []float64) {
	t.Helper()
	if got.Len() != len(want) {
		t.Fatalf("%s %d: %d values, PyTorch has %d", what, i, got.Len(), len(want))
	}
	for j, w := range want {
		if d := math.Abs(got.Flat(j) - w); d > 1e-10*(1+math.Abs(w)) {
			t.Fatalf("%s of parameter %d, element %d: %v, PyTorch %v", what, i, j, got.Flat(j), w)
		}
	}
}
