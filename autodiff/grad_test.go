package autodiff

import (
	"fmt"
	"math"
	"testing"

	"github.com/flatfast/flatfast/tensor"
)

// The gradient checks run in float64. Central differences with step h
// have truncation error ~h^2 |f”'|/6 and rounding error ~eps|f|/h; with
// h = 1e-5 and the O(1) values used here both are below 1e-9, so a
// relative tolerance of 1e-6 leaves room for the data while still catching
// any wrong rule (a wrong factor or a missing term is an O(1) error).
const (
	fdStep = 1e-5
	fdTol  = 1e-6
)

type gradCase struct {
	name   string
	shapes [][]int
	// domain maps a standard normal draw into the op's domain (nil: as is).
	domain func(float64) float64
	f      func(g *Graph, x []*Value) *Value
}

func positive(v float64) float64 { return 0.5 + math.Abs(v) }

// away keeps values at least 0.1 from 0 (for kinks and poles at 0).
func away(v float64) float64 {
	if v >= 0 {
		return v + 0.1
	}
	return v - 0.1
}

var gradCases = []gradCase{
	{"Add", [][]int{{3, 4}, {3, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Add(x[0], x[1]) }},
	{"Add/broadcast row", [][]int{{3, 4}, {4}}, nil, func(g *Graph, x []*Value) *Value { return g.Add(x[0], x[1]) }},
	{"Sub/broadcast col", [][]int{{3, 1}, {3, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Sub(x[0], x[1]) }},
	{"Mul/broadcast both", [][]int{{3, 1}, {1, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Mul(x[0], x[1]) }},
	{"Mul/same input", [][]int{{5}}, nil, func(g *Graph, x []*Value) *Value { return g.Mul(x[0], x[0]) }},
	{"Div", [][]int{{2, 3}, {2, 3}}, away, func(g *Graph, x []*Value) *Value { return g.Div(x[0], x[1]) }},
	{"Div/broadcast", [][]int{{2, 3}, {3}}, away, func(g *Graph, x []*Value) *Value { return g.Div(x[0], x[1]) }},
	{"Neg", [][]int{{4}}, nil, func(g *Graph, x []*Value) *Value { return g.Neg(x[0]) }},
	{"Scale", [][]int{{4}}, nil, func(g *Graph, x []*Value) *Value { return g.Scale(x[0], -1.7) }},
	{"AddScalar", [][]int{{4}}, nil, func(g *Graph, x []*Value) *Value { return g.AddScalar(x[0], 0.3) }},
	{"PowScalar", [][]int{{2, 3}}, positive, func(g *Graph, x []*Value) *Value { return g.PowScalar(x[0], 2.5) }},
	{"PowScalar/-0.5", [][]int{{5}}, positive, func(g *Graph, x []*Value) *Value { return g.PowScalar(x[0], -0.5) }},
	{"Exp", [][]int{{2, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.Exp(x[0]) }},
	{"Log", [][]int{{2, 3}}, positive, func(g *Graph, x []*Value) *Value { return g.Log(x[0]) }},
	{"Sqrt", [][]int{{2, 3}}, positive, func(g *Graph, x []*Value) *Value { return g.Sqrt(x[0]) }},
	{"Square", [][]int{{2, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.Square(x[0]) }},
	{"ReLU", [][]int{{3, 4}}, away, func(g *Graph, x []*Value) *Value { return g.ReLU(x[0]) }},
	{"ReLUInPlace/after Add", [][]int{{3, 4}, {3, 4}}, away, func(g *Graph, x []*Value) *Value { return g.ReLUInPlace(g.Add(x[0], x[1])) }},
	{"AddInPlace/broadcast b", [][]int{{3, 4}, {3, 4}, {4}}, nil, func(g *Graph, x []*Value) *Value {
		return g.Mul(g.AddInPlace(g.Mul(x[0], x[1]), x[2]), x[0])
	}},
	{"BatchNorm2d+AddInPlace+ReLUInPlace", [][]int{{2, 3, 2, 2}, {3}, {3}, {2, 3, 2, 2}}, away, func(g *Graph, x []*Value) *Value {
		y, _, _ := g.BatchNorm2d(x[0], x[1], x[2], 1e-5)
		return g.ReLUInPlace(g.AddInPlace(y, x[3]))
	}},
	{"Tanh", [][]int{{3, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Tanh(x[0]) }},
	{"Sigmoid", [][]int{{3, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Sigmoid(x[0]) }},
	{"Sum/axis0", [][]int{{3, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Sum(x[0], 0, false) }},
	{"Sum/axis-1 keep", [][]int{{2, 3, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Sum(x[0], -1, true) }},
	{"Mean/axis1", [][]int{{2, 3, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Mean(x[0], 1, false) }},
	{"SumAll", [][]int{{2, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.SumAll(x[0]) }},
	{"MeanAll", [][]int{{2, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.MeanAll(x[0]) }},
	{"SumTo", [][]int{{2, 3, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.SumTo(x[0], 3, 1) }},
	{"BroadcastTo", [][]int{{3, 1}}, nil, func(g *Graph, x []*Value) *Value { return g.BroadcastTo(x[0], 2, 3, 4) }},
	{"Reshape", [][]int{{2, 6}}, nil, func(g *Graph, x []*Value) *Value { return g.Reshape(x[0], 3, -1) }},
	{"Flatten", [][]int{{2, 2, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.Flatten(x[0]) }},
	{"Permute", [][]int{{2, 3, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Permute(x[0], 2, 0, 1) }},
	{"Transpose", [][]int{{3, 5}}, nil, func(g *Graph, x []*Value) *Value { return g.Transpose(x[0]) }},
	{"MatMul", [][]int{{3, 4}, {4, 5}}, nil, func(g *Graph, x []*Value) *Value { return g.MatMul(x[0], x[1], false, false) }},
	{"MatMul/A^T", [][]int{{4, 3}, {4, 5}}, nil, func(g *Graph, x []*Value) *Value { return g.MatMul(x[0], x[1], true, false) }},
	{"MatMul/B^T", [][]int{{3, 4}, {5, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.MatMul(x[0], x[1], false, true) }},
	{"MatMul/A^T B^T", [][]int{{4, 3}, {5, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.MatMul(x[0], x[1], true, true) }},
	{"MatMul/self", [][]int{{3, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.MatMul(x[0], x[0], false, true) }},
	{"Linear", [][]int{{3, 4}, {5, 4}, {5}}, nil, func(g *Graph, x []*Value) *Value { return g.Linear(x[0], x[1], x[2]) }},
	{"Linear/no bias", [][]int{{3, 4}, {5, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.Linear(x[0], x[1], nil) }},
	{"Linear/shared input", [][]int{{4, 4}, {4}}, nil, func(g *Graph, x []*Value) *Value { return g.Linear(x[0], x[0], x[1]) }},
	{"LogSoftmax", [][]int{{3, 5}}, nil, func(g *Graph, x []*Value) *Value { return g.LogSoftmax(x[0]) }},
	{"SoftCrossEntropy/const targets", [][]int{{4, 3}}, nil, func(g *Graph, x []*Value) *Value {
		t := tensor.Must(tensor.FromFloat64([]float64{0.7, 0.2, 0.1, 0, 1, 0, 0.3, 0.3, 0.4, 0.1, 0.1, 0.8}, 4, 3))
		return g.SoftCrossEntropy(x[0], g.Const(t))
	}},
	{"SoftCrossEntropy/value targets", [][]int{{4, 3}, {4, 3}}, nil, func(g *Graph, x []*Value) *Value {
		return g.SoftCrossEntropy(x[0], g.Exp(g.LogSoftmax(x[1])))
	}},
	{"CrossEntropy", [][]int{{4, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.CrossEntropy(x[0], []int{2, 0, 1, 2}) }},
	{"MSE", [][]int{{2, 3}, {2, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.MSE(x[0], x[1]) }},
	{"Conv2d/3x3 s1 p1", [][]int{{2, 2, 4, 4}, {3, 2, 3, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.Conv2d(x[0], x[1], 1, 1) }},
	{"Conv2d/3x3 s2 p1", [][]int{{1, 2, 5, 5}, {2, 2, 3, 3}}, nil, func(g *Graph, x []*Value) *Value { return g.Conv2d(x[0], x[1], 2, 1) }},
	{"Conv2d/1x1 s2", [][]int{{2, 3, 4, 4}, {2, 3, 1, 1}}, nil, func(g *Graph, x []*Value) *Value { return g.Conv2d(x[0], x[1], 2, 0) }},
	{"Conv2dBackwardInput", [][]int{{1, 3, 3, 3}, {3, 2, 3, 3}}, nil, func(g *Graph, x []*Value) *Value {
		return g.Conv2dBackwardInput(x[0], x[1], 3, 3, 1, 1)
	}},
	{"Conv2dBackwardInput/s2", [][]int{{1, 2, 2, 2}, {2, 2, 3, 3}}, nil, func(g *Graph, x []*Value) *Value {
		return g.Conv2dBackwardInput(x[0], x[1], 4, 4, 2, 1)
	}},
	{"Conv2dBackwardWeight", [][]int{{1, 2, 4, 4}, {1, 3, 4, 4}}, nil, func(g *Graph, x []*Value) *Value {
		return g.Conv2dBackwardWeight(x[0], x[1], 3, 3, 1, 1)
	}},
	{"MaxPool2d", [][]int{{1, 2, 4, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.MaxPool2d(x[0], 2, 2, 0) }},
	{"MaxPool2d/overlap pad", [][]int{{1, 1, 5, 5}}, nil, func(g *Graph, x []*Value) *Value { return g.MaxPool2d(x[0], 3, 2, 1) }},
	{"AvgPool2d", [][]int{{1, 2, 4, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.AvgPool2d(x[0], 3, 1, 1) }},
	{"GlobalAvgPool", [][]int{{2, 3, 2, 2}}, nil, func(g *Graph, x []*Value) *Value { return g.GlobalAvgPool(x[0]) }},
	{"BatchNorm2d", [][]int{{3, 2, 2, 2}, {2}, {2}}, nil, func(g *Graph, x []*Value) *Value {
		y, _, _ := g.BatchNorm2d(x[0], x[1], x[2], 1e-5)
		return y
	}},
	{"BatchNorm2dEval", [][]int{{2, 2, 2, 2}, {2}, {2}}, nil, func(g *Graph, x []*Value) *Value {
		m := tensor.Must(tensor.FromFloat64([]float64{0.3, -0.2}, 2))
		v := tensor.Must(tensor.FromFloat64([]float64{1.5, 0.7}, 2))
		return g.BatchNorm2dEval(x[0], x[1], x[2], m, v, 1e-5)
	}},
	{"BatchMatMul", [][]int{{2, 3, 4}, {2, 4, 2}}, nil, func(g *Graph, x []*Value) *Value { return g.BatchMatMul(x[0], x[1], false, false) }},
	{"BatchMatMul/A^T", [][]int{{2, 4, 3}, {2, 4, 2}}, nil, func(g *Graph, x []*Value) *Value { return g.BatchMatMul(x[0], x[1], true, false) }},
	{"BatchMatMul/B^T", [][]int{{2, 3, 4}, {2, 2, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.BatchMatMul(x[0], x[1], false, true) }},
	{"BatchMatMul/A^T B^T", [][]int{{2, 4, 3}, {2, 2, 4}}, nil, func(g *Graph, x []*Value) *Value { return g.BatchMatMul(x[0], x[1], true, true) }},
	{"ApplyOperator", [][]int{{3, 4}}, nil, func(g *Graph, x []*Value) *Value {
		m := tensor.Must(tensor.FromFloat64([]float64{1, 2, 0, -1, 0.5, 0, 3, 1, -2, 1, 1, 0.25, 0, 0, 1, 2, 4, -1, 0, 1}, 5, 4))
		return g.ApplyOperator(MatrixOperator{m}, x[0])
	}},
	{"AdjointOperator", [][]int{{3, 5}}, nil, func(g *Graph, x []*Value) *Value {
		m := tensor.Must(tensor.FromFloat64([]float64{1, 2, 0, -1, 0.5, 0, 3, 1, -2, 1, 1, 0.25, 0, 0, 1, 2, 4, -1, 0, 1}, 5, 4))
		return g.AdjointOperator(MatrixOperator{m}, x[0])
	}},
	{"ReLUMask", [][]int{{3, 4}}, nil, func(g *Graph, x []*Value) *Value {
		mask := tensor.Must(tensor.FromFloat64([]float64{1, -1, 2, -2, 3, -3, 0.5, -0.5, 1, 1, -1, -1}, 3, 4))
		return g.ReLUMask(x[0], g.Const(mask))
	}},
}

// lossOf turns an op's output into a scalar with curvature of its own, so
// that second derivatives exercise the op's backward rule being
// differentiated: L = <r1, y> + 0.5 <r2, y*y>.
func lossOf(g *Graph, y *Value, r1, r2 *tensor.Tensor) *Value {
	return g.Add(g.SumAll(g.Mul(y, g.Const(r1))), g.Scale(g.SumAll(g.Mul(g.Square(y), g.Const(r2))), 0.5))
}

func makeInputs(rng *tensor.RNG, c gradCase) []*tensor.Tensor {
	xs := make([]*tensor.Tensor, len(c.shapes))
	for i, s := range c.shapes {
		xs[i] = tensor.Must(tensor.New(tensor.Float64, s...))
		rng.Normal(xs[i], 0, 1)
		if c.domain != nil {
			for j := 0; j < xs[i].Len(); j++ {
				xs[i].SetFlat(j, c.domain(xs[i].Flat(j)))
			}
		}
	}
	return xs
}

// evalLoss computes the loss at xs without recording.
func evalLoss(c gradCase, xs []*tensor.Tensor, r1, r2 *tensor.Tensor) float64 {
	g := NewGraph()
	g.SetRecording(false)
	vs := make([]*Value, len(xs))
	for i, x := range xs {
		vs[i] = g.Const(x)
	}
	l, err := lossOf(g, c.f(g, vs), r1, r2).Item()
	if err != nil {
		panic(err)
	}
	return l
}

// grads returns the loss gradients at xs by Grad.
func grads(t *testing.T, c gradCase, xs []*tensor.Tensor, r1, r2 *tensor.Tensor) []*tensor.Tensor {
	g := NewGraph()
	ps := make([]*Value, len(xs))
	for i, x := range xs {
		ps[i] = NewParam(x)
	}
	gs, err := g.Grad(lossOf(g, c.f(g, ps), r1, r2), ps...)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	out := make([]*tensor.Tensor, len(gs))
	for i, v := range gs {
		out[i] = v.Tensor().Clone()
	}
	return out
}

func outShape(c gradCase, xs []*tensor.Tensor) []int {
	g := NewGraph()
	vs := make([]*Value, len(xs))
	for i, x := range xs {
		vs[i] = g.Const(x)
	}
	y := c.f(g, vs)
	if y.Err() != nil {
		panic(y.Err())
	}
	return append([]int(nil), y.Shape()...)
}

func relErr(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func TestGradientsAgainstFiniteDifferences(t *testing.T) {
	rng := tensor.NewRNG(1)
	for _, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			xs := makeInputs(rng, c)
			ys := outShape(c, xs)
			r1 := tensor.Must(tensor.New(tensor.Float64, ys...))
			r2 := tensor.Must(tensor.New(tensor.Float64, ys...))
			rng.Normal(r1, 0, 1)
			rng.Normal(r2, 0, 1)
			an := grads(t, c, xs, r1, r2)
			worst := 0.0
			for i, x := range xs {
				for j := 0; j < x.Len(); j++ {
					v := x.Flat(j)
					x.SetFlat(j, v+fdStep)
					lp := evalLoss(c, xs, r1, r2)
					x.SetFlat(j, v-fdStep)
					lm := evalLoss(c, xs, r1, r2)
					x.SetFlat(j, v)
					num := (lp - lm) / (2 * fdStep)
					e := relErr(an[i].Flat(j), num)
					worst = math.Max(worst, e)
					if e > fdTol {
						t.Fatalf("input %d element %d: analytic %v, numerical %v (relative error %.2g)", i, j, an[i].Flat(j), num, e)
					}
				}
			}
			t.Logf("worst relative error %.2g", worst)
		})
	}
}

func TestSecondDerivativesAgainstFiniteDifferences(t *testing.T) {
	rng := tensor.NewRNG(2)
	for _, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			xs := makeInputs(rng, c)
			ys := outShape(c, xs)
			r1 := tensor.Must(tensor.New(tensor.Float64, ys...))
			r2 := tensor.Must(tensor.New(tensor.Float64, ys...))
			rng.Normal(r1, 0, 1)
			rng.Normal(r2, 0, 1)
			v := make([]*tensor.Tensor, len(xs))
			for i, x := range xs {
				v[i] = tensor.Must(tensor.New(tensor.Float64, x.Shape()...))
				rng.Normal(v[i], 0, 1)
			}
			g := NewGraph()
			ps := make([]*Value, len(xs))
			for i, x := range xs {
				ps[i] = NewParam(x)
			}
			hv, err := g.HVP(lossOf(g, c.f(g, ps), r1, r2), ps, v)
			if err != nil {
				t.Fatal(err)
			}
			// (grad(x + h v) - grad(x - h v)) / 2h
			shift := func(s float64) []*tensor.Tensor {
				out := make([]*tensor.Tensor, len(xs))
				for i, x := range xs {
					out[i] = x.Clone()
					_ = tensor.Axpy(s, v[i], out[i])
				}
				return out
			}
			gp := grads(t, c, shift(fdStep), r1, r2)
			gm := grads(t, c, shift(-fdStep), r1, r2)
			for i := range xs {
				for j := 0; j < xs[i].Len(); j++ {
					num := (gp[i].Flat(j) - gm[i].Flat(j)) / (2 * fdStep)
					if e := relErr(hv[i].Flat(j), num); e > fdTol {
						t.Fatalf("input %d element %d: (Hv) = %v, finite differences of gradients %v (relative error %.2g)", i, j, hv[i].Flat(j), num, e)
					}
				}
			}
		})
	}
}

// TestThirdOrder differentiates twice through recorded backward passes:
// for f(x) = sum tanh(x), the third derivative along v of f is
// sum f”'(x_i) v_i^3; check d/dt <H(x + t v) v, v> at t = 0 against it.
func TestThirdOrder(t *testing.T) {
	x := tensor.Must(tensor.FromFloat64([]float64{0.3, -0.8, 1.2}, 3))
	v := tensor.Must(tensor.FromFloat64([]float64{1, 0.5, -2}, 3))
	g := NewGraph()
	p := NewParam(x)
	y := g.SumAll(g.Tanh(p))
	g1, err := g.GradGraph(y, p)
	if err != nil {
		t.Fatal(err)
	}
	vv := g.Const(v)
	d1 := g.SumAll(g.Mul(g1[0], vv))
	g2, err := g.GradGraph(d1, p)
	if err != nil {
		t.Fatal(err)
	}
	d2 := g.SumAll(g.Mul(g2[0], vv))
	g3, err := g.Grad(d2, p)
	if err != nil {
		t.Fatal(err)
	}
	var got, want float64
	for i := 0; i < 3; i++ {
		got += g3[0].Tensor().Flat(i) * v.Flat(i)
		th := math.Tanh(x.Flat(i))
		// d^3/dx^3 tanh = -2 (1 - th^2) (1 - 3 th^2)
		want += -2 * (1 - th*th) * (1 - 3*th*th) * math.Pow(v.Flat(i), 3)
	}
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("third directional derivative %v, want %v", got, want)
	}
}

func TestFloat32MatchesFloat64(t *testing.T) {
	// The float32 paths (SIMD kernels, packed GEMM, implicit-GEMM
	// convolution) give the float64 gradients to float32 accuracy.
	rng := tensor.NewRNG(3)
	for _, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			xs := makeInputs(rng, c)
			ys := outShape(c, xs)
			r1 := tensor.Must(tensor.New(tensor.Float64, ys...))
			r2 := tensor.Must(tensor.New(tensor.Float64, ys...))
			rng.Normal(r1, 0, 1)
			rng.Normal(r2, 0, 1)
			want := grads(t, c, xs, r1, r2)
			var x32 []*tensor.Tensor
			for _, x := range xs {
				x32 = append(x32, tensor.Must(x.As(tensor.Float32)))
			}
			c32 := c
			if c.name == "SoftCrossEntropy/const targets" || c.name == "BatchNorm2dEval" || c.name == "ReLUMask" ||
				c.name == "ApplyOperator" || c.name == "AdjointOperator" {
				t.Skip("constants of the case are float64")
			}
			got := grads(t, c32, x32, tensor.Must(r1.As(tensor.Float32)), tensor.Must(r2.As(tensor.Float32)))
			for i := range want {
				for j := 0; j < want[i].Len(); j++ {
					if e := relErr(got[i].Flat(j), want[i].Flat(j)); e > 2e-5 {
						t.Fatalf("input %d element %d: float32 %v, float64 %v", i, j, got[i].Flat(j), want[i].Flat(j))
					}
				}
			}
		})
	}
}

func TestErrorsAreSticky(t *testing.T) {
	g := NewGraph()
	a := NewParam(tensor.Must(tensor.New(tensor.Float64, 2, 3)))
	b := NewParam(tensor.Must(tensor.New(tensor.Float64, 4)))
	bad := g.Add(a, b)
	if bad.Err() == nil {
		t.Fatal("Add of [2 3] and [4] did not fail")
	}
	y := g.SumAll(g.Exp(bad))
	if y.Err() != bad.Err() {
		t.Errorf("error not propagated: %v", y.Err())
	}
	if _, err := g.Grad(y, a); err == nil {
		t.Error("Grad of a failed value returned no error")
	}
	// Mixed dtypes.
	c := NewParam(tensor.Must(tensor.New(tensor.Float32, 2, 3)))
	if g.Mul(a, c).Err() == nil {
		t.Error("float64 * float32 did not fail")
	}
	// Stale values.
	v := g.Exp(a)
	g.Reset()
	if g.Neg(v).Err() == nil {
		t.Error("use after Reset did not fail")
	}
	// Non-scalar Grad.
	if _, err := g.Grad(g.Exp(a), a); err == nil {
		t.Error("Grad of a [2 3] value did not fail")
	}
	// No gradient path.
	k := g.Const(tensor.Must(tensor.New(tensor.Float64, 1)))
	if _, err := g.Grad(g.SumAll(k), a); err != ErrNoGrad {
		t.Errorf("Grad of a constant: %v", err)
	}
}

func TestNoRecordAndUnusedInputs(t *testing.T) {
	g := NewGraph()
	a := NewParam(tensor.Must(tensor.FromFloat64([]float64{1, 2}, 2)))
	b := NewParam(tensor.Must(tensor.FromFloat64([]float64{3, 4}, 2)))
	g.NoGrad(func() {
		if y := g.Mul(a, b); y.RequiresGrad() || g.Len() != 0 {
			t.Error("NoGrad recorded an operation")
		}
	})
	y := g.SumAll(g.Square(a))
	gs, err := g.Grad(y, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if gs[0].Tensor().Flat(1) != 4 || gs[1].Tensor().Flat(0) != 0 {
		t.Errorf("grads = %v %v", gs[0].Tensor(), gs[1].Tensor())
	}
}

func ExampleGraph_Grad() {
	g := NewGraph()
	w := NewParam(tensor.Must(tensor.FromFloat64([]float64{1, -2, 3}, 3)))
	loss := g.SumAll(g.Square(w)) // |w|^2
	grads, err := g.Grad(loss, w)
	if err != nil {
		panic(err)
	}
	fmt.Println(grads[0].Tensor())
	// Output: tensor.float64[3]{2, -4, 6}
}

// TestPackedOperator: the prepacked operator gives MatrixOperator's
// products, forward and adjoint, through a graph.
func TestPackedOperator(t *testing.T) {
	rng := tensor.NewRNG(9)
	m := tensor.Must(tensor.New(tensor.Float32, 700, 300))
	rng.Normal(m, 0, 1)
	p, err := NewPackedOperator(m)
	if err != nil {
		t.Fatal(err)
	}
	if p.In() != 300 || p.Out() != 700 {
		t.Fatalf("packed operator %d -> %d", p.In(), p.Out())
	}
	x := tensor.Must(tensor.New(tensor.Float32, 5, 300))
	rng.Normal(x, 0, 1)
	g := NewGraph()
	xp := NewParam(x)
	for _, op := range []Operator{p, MatrixOperator{m}} {
		y := g.ApplyOperator(op, xp)
		gs, err := g.Grad(g.SumAll(g.Square(y)), xp)
		if err != nil {
			t.Fatal(err)
		}
		// d/dx |x M^T|^2 = 2 x M^T M
		want := tensor.Must(tensor.MatMul(nil, tensor.Must(tensor.MatMul(nil, x, m, false, true)), m, false, false))
		for i := 0; i < want.Len(); i++ {
			if math.Abs(gs[0].Tensor().Flat(i)-2*want.Flat(i)) > 1e-3*(1+math.Abs(2*want.Flat(i))) {
				t.Fatalf("%T: gradient %d = %v, want %v", op, i, gs[0].Tensor().Flat(i), 2*want.Flat(i))
			}
		}
	}
	if y := g.ApplyOperator(p, g.Zeros(tensor.Float32, 2, 299)); y.Err() == nil {
		t.Error("rows of 299 accepted by an operator taking 300")
	}
}

// An unrecorded backward pass frees each gradient once consumed, so a deep
// chain needs a few gradient buffers in flight, not one (or more) per
// layer; the gradient itself must be unaffected.
func TestBackwardFreesGradients(t *testing.T) {
	const layers, n = 40, 128
	rng := tensor.NewRNG(3)
	xt := tensor.Must(tensor.New(tensor.Float32, n, n))
	rng.Normal(xt, 0, 0.5)
	x := NewParam(xt)
	build := func(g *Graph) *Value {
		h := x
		for range layers {
			h = g.Tanh(g.Reshape(h, n, n))
		}
		return g.SumAll(g.Mul(h, h))
	}
	g := NewGraph()
	gx, err := g.Grad(build(g), x)
	if err != nil {
		t.Fatal(err)
	}
	got := gx[0].Tensor().Clone()
	per := int64(4 * n * n)
	if b := g.Bytes(); b > (layers+12)*per {
		t.Errorf("graph holds %d tensors' worth of storage after the backward pass, want at most %d (forward values plus a few gradients)", b/per, layers+12)
	}
	// The same gradient with the backward pass recorded (nothing freed).
	g2 := NewGraph()
	gr, err := g2.GradGraph(build(g2), x)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < got.Len(); i++ {
		if a, b := got.Flat(i), gr[0].Tensor().Flat(i); a != b {
			t.Fatalf("element %d: %v with freeing, %v recorded", i, a, b)
		}
	}
}

// The in-place ops share their input's storage only when that is safe, and
// otherwise leave the input untouched.
func TestInPlaceOps(t *testing.T) {
	g := NewGraph()
	a := tensor.Must(tensor.FromFloat64([]float64{-1, 2, -3, 4}, 4))
	p := NewParam(a)
	// A leaf is never overwritten.
	if r := g.ReLUInPlace(p); r.Tensor() == a || a.Flat(0) != -1 {
		t.Fatal("ReLUInPlace wrote into a parameter")
	}
	s := g.Add(p, p)
	if r := g.ReLUInPlace(s); r.Tensor() != s.Tensor() || r.Tensor().Flat(0) != 0 {
		t.Fatal("ReLUInPlace on the newest sum did not work in place")
	}
	// Not the newest value: something may have read it.
	s2 := g.Add(p, p)
	_ = g.Neg(s2)
	if r := g.AddInPlace(s2, p); r.Tensor() == s2.Tensor() || s2.Tensor().Flat(1) != 4 {
		t.Fatal("AddInPlace overwrote a value that had been read")
	}
	// An op whose backward reads its output (Exp) is not overwritten.
	e := g.Exp(p)
	if r := g.ReLUInPlace(e); r.Tensor() == e.Tensor() {
		t.Fatal("ReLUInPlace overwrote the output of Exp")
	}
	// a + b needing a to broadcast is computed out of place.
	row := g.Add(NewParam(tensor.Must(tensor.FromFloat64([]float64{1, 2}, 1, 2))), g.Zeros(tensor.Float64, 1, 2))
	if r := g.AddInPlace(row, NewParam(tensor.Must(tensor.New(tensor.Float64, 3, 2)))); r.Err() != nil || !equalShape(r.Shape(), []int{3, 2}) || r.Tensor() == row.Tensor() {
		t.Fatalf("AddInPlace with a broadcasting first input: %v %v", r.Shape(), r.Err())
	}
}
