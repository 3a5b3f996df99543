package autodiff

import (
	"math"
	"sort"
	"testing"

	"github.com/flatfast/flatfast/tensor"
	"gonum.org/v1/gonum/mat"
)

// quadratic builds L(x) = 0.5 x^T A x + b^T x for a symmetric A, whose
// Hessian is A exactly.
func quadratic(g *Graph, a, b *tensor.Tensor, x *Value) *Value {
	n := a.Dim(0)
	xc := g.Reshape(x, n, 1)
	ax := g.MatMul(g.Const(a), xc, false, false)
	return g.Add(g.Scale(g.SumAll(g.Mul(xc, ax)), 0.5), g.SumAll(g.Mul(g.Const(b), x)))
}

func symmetric(rng *tensor.RNG, n int) *tensor.Tensor {
	r := tensor.Must(tensor.New(tensor.Float64, n, n))
	rng.Normal(r, 0, 1)
	a := tensor.Must(tensor.New(tensor.Float64, n, n))
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			v := (r.Flat(i*n+j) + r.Flat(j*n+i)) / 2
			if i == j {
				v += 3 // a clear trace
			}
			a.SetFlat(i*n+j, v)
		}
	}
	return a
}

func TestHVPQuadraticForm(t *testing.T) {
	rng := tensor.NewRNG(1)
	n := 7
	a := symmetric(rng, n)
	b := tensor.Must(tensor.New(tensor.Float64, n))
	rng.Normal(b, 0, 1)
	x := tensor.Must(tensor.New(tensor.Float64, n))
	rng.Normal(x, 0, 1)
	g := NewGraph()
	p := NewParam(x)
	h, err := g.Hessian(quadratic(g, a, b, p), p)
	if err != nil {
		t.Fatal(err)
	}
	v := tensor.Must(tensor.New(tensor.Float64, n))
	rng.Normal(v, 0, 1)
	hv, err := h.Apply([]*tensor.Tensor{v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		var want float64
		for j := 0; j < n; j++ {
			want += a.Flat(i*n+j) * v.Flat(j)
		}
		if math.Abs(hv[0].Flat(i)-want) > 1e-12*(1+math.Abs(want)) {
			t.Fatalf("(Hv)[%d] = %v want %v", i, hv[0].Flat(i), want)
		}
	}
	var trA float64
	for i := 0; i < n; i++ {
		trA += a.Flat(i*n + i)
	}
	tr, err := h.ExactTrace()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(tr-trA) > 1e-12*math.Abs(trA) {
		t.Errorf("exact trace %v, tr A = %v", tr, trA)
	}
	est, err := h.HessianTrace(400, tensor.NewRNG(2))
	if err != nil {
		t.Fatal(err)
	}
	// A statistical check at a fixed seed: within 4 standard errors.
	if math.Abs(est.Trace-trA) > 4*est.StdErr || !(est.StdErr > 0) {
		t.Errorf("Hutchinson %v ± %v, tr A = %v", est.Trace, est.StdErr, trA)
	}
	// The variance of z^T A z for Rademacher z is 2 sum_{i != j} A_ij^2.
	var off float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				off += a.Flat(i*n+j) * a.Flat(i*n+j)
			}
		}
	}
	wantSE := math.Sqrt(2 * off / 400)
	if est.StdErr < 0.7*wantSE || est.StdErr > 1.3*wantSE {
		t.Errorf("standard error %v, theory %v", est.StdErr, wantSE)
	}
	// Top eigenvalue (largest magnitude) against a dense eigensolver.
	var es mat.EigenSym
	sym := mat.NewSymDense(n, append([]float64(nil), a.Float64s()...))
	if !es.Factorize(sym, false) {
		t.Fatal("eigendecomposition failed")
	}
	ev := es.Values(nil)
	sort.Slice(ev, func(i, j int) bool { return math.Abs(ev[i]) > math.Abs(ev[j]) })
	lam, iters, err := h.TopEigenvalue(tensor.NewRNG(3), 1e-10, 2000)
	if err != nil {
		t.Fatalf("TopEigenvalue: %v after %d iterations", err, iters)
	}
	if math.Abs(lam-ev[0]) > 1e-6*math.Abs(ev[0]) {
		t.Errorf("top eigenvalue %v (after %d iterations), eigensolver %v", lam, iters, ev[0])
	}
	if _, _, err := h.TopEigenvalue(tensor.NewRNG(3), 1e-15, 2); err != ErrNotConverged {
		t.Errorf("two iterations at tol 1e-15: %v", err)
	}
}

// TestUVHessianTraceOnValley checks the paper's eq. 123: for the UV model
// f(x) = U V x / sqrt(n) with L = (1/2P) sum_a |f(x_a) - y_a|^2, at a point
// of zero loss, tr H = (1/n)(m Tr(Sigma V^T V) + Tr(Sigma) Tr(U U^T)) with
// Sigma = (1/P) sum_a x_a x_a^T.
func TestUVHessianTraceOnValley(t *testing.T) {
	rng := tensor.NewRNG(4)
	for _, dims := range []struct{ d, n, m, p int }{{1, 10, 1, 5}, {3, 4, 2, 6}} {
		d, n, m, P := dims.d, dims.n, dims.m, dims.p
		u := tensor.Must(tensor.New(tensor.Float64, m, n))
		v := tensor.Must(tensor.New(tensor.Float64, n, d))
		x := tensor.Must(tensor.New(tensor.Float64, d, P)) // columns are the data points
		rng.Normal(u, 0, 1)
		rng.Normal(v, 0, 1)
		rng.Normal(x, 0, 1)
		model := func(g *Graph, U, V *Value) *Value {
			return g.Scale(g.MatMul(U, g.MatMul(V, g.Const(x), false, false), false, false), 1/math.Sqrt(float64(n)))
		}
		// Targets on the valley: y = f(x) at (u, v).
		g0 := NewGraph()
		y := model(g0, g0.Const(u), g0.Const(v)).Tensor().Clone()
		g := NewGraph()
		U, V := NewParam(u), NewParam(v)
		r := g.Sub(model(g, U, V), g.Const(y))
		loss := g.Scale(g.SumAll(g.Square(r)), 0.5/float64(P))
		if l, _ := loss.Item(); l != 0 {
			t.Fatalf("loss on the valley is %v", l)
		}
		h, err := g.Hessian(loss, U, V)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := h.ExactTrace()
		if err != nil {
			t.Fatal(err)
		}
		// Closed form.
		sigma := make([]float64, d*d)
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				for a := 0; a < P; a++ {
					sigma[i*d+j] += x.Flat(i*P+a) * x.Flat(j*P+a) / float64(P)
				}
			}
		}
		var trSVV, trS, trUU float64
		for i := 0; i < d; i++ {
			trS += sigma[i*d+i]
			for j := 0; j < d; j++ {
				var vtv float64 // (V^T V)[j, i]
				for k := 0; k < n; k++ {
					vtv += v.Flat(k*d+j) * v.Flat(k*d+i)
				}
				trSVV += sigma[i*d+j] * vtv
			}
		}
		for _, w := range u.Float64s() {
			trUU += w * w
		}
		want := (float64(m)*trSVV + trS*trUU) / float64(n)
		if math.Abs(tr-want) > 1e-10*want {
			t.Errorf("%+v: exact trace %v, eq. 123 gives %v", dims, tr, want)
		}
		est, err := h.HessianTrace(200, tensor.NewRNG(5))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(est.Trace-want) > 4*est.StdErr {
			t.Errorf("%+v: Hutchinson %v ± %v, eq. 123 %v", dims, est.Trace, est.StdErr, want)
		}
	}
}
