package optim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/flatfast/flatfast/tensor"
)

func TestMomentumHandComputed(t *testing.T) {
	// L(w) = 0.5*w^2 from w = 1 with eta = 0.1, beta = 0.5:
	// pi1 = -1, w1 = 0.9; pi2 = 0.5*(-1) - 0.9 = -1.4, w2 = 0.76;
	// pi3 = 0.5*(-1.4) - 0.76 = -1.46, w3 = 0.614.
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		w := tensor.Must(tensor.Full(dt, 1, 1))
		g := tensor.Must(tensor.New(dt, 1))
		opt, err := NewMomentum([]*tensor.Tensor{w}, 0.1, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []float64{0.9, 0.76, 0.614} {
			g.SetFlat(0, w.Flat(0)) // gradient of 0.5 w^2
			if err := opt.Step([]*tensor.Tensor{g}); err != nil {
				t.Fatal(err)
			}
			if math.Abs(w.Flat(0)-want) > 1e-6 {
				t.Fatalf("%v step %d: w = %v, want %v", dt, i+1, w.Flat(0), want)
			}
		}
		if pi := opt.Velocity()[0].Flat(0); math.Abs(pi+1.46) > 1e-6 {
			t.Errorf("%v: pi = %v, want -1.46", dt, pi)
		}
	}
}

type golden struct {
	A, B, W0 []float64
	SGD      struct {
		LR, Momentum float64
		Traj         [][]float64
	}
	Adam struct {
		LR   float64
		Traj [][]float64
	}
}

func loadGolden(t *testing.T) golden {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// quadGrad writes A w - b into g.
func quadGrad(gd golden, w, g *tensor.Tensor) {
	n := len(gd.B)
	for i := 0; i < n; i++ {
		s := -gd.B[i]
		for j := 0; j < n; j++ {
			s += gd.A[i*n+j] * w.Flat(j)
		}
		g.SetFlat(i, s)
	}
}

type stepper interface {
	Step([]*tensor.Tensor) error
}

func followGolden(t *testing.T, gd golden, opt stepper, w *tensor.Tensor, traj [][]float64, tol float64) {
	t.Helper()
	g := tensor.Must(tensor.New(w.DType(), w.Shape()...))
	for s, want := range traj {
		quadGrad(gd, w, g)
		if err := opt.Step([]*tensor.Tensor{g}); err != nil {
			t.Fatal(err)
		}
		for i, v := range want {
			if math.Abs(w.Flat(i)-v) > tol*(1+math.Abs(v)) {
				t.Fatalf("step %d, w[%d] = %v, PyTorch %v", s+1, i, w.Flat(i), v)
			}
		}
	}
}

// TestMomentumMatchesPyTorchSGD: the paper's form with pi = -v is PyTorch's
// SGD(momentum=beta, dampening=0), step for step.
func TestMomentumMatchesPyTorchSGD(t *testing.T) {
	gd := loadGolden(t)
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		w := tensor.Must(tensor.Must(tensor.FromFloat64(append([]float64(nil), gd.W0...), len(gd.W0))).As(dt))
		opt, err := NewMomentum([]*tensor.Tensor{w}, gd.SGD.LR, gd.SGD.Momentum)
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-13
		if dt == tensor.Float32 {
			tol = 1e-5
		}
		followGolden(t, gd, opt, w, gd.SGD.Traj, tol)
	}
}

func TestAdamMatchesPyTorch(t *testing.T) {
	gd := loadGolden(t)
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		w := tensor.Must(tensor.Must(tensor.FromFloat64(append([]float64(nil), gd.W0...), len(gd.W0))).As(dt))
		opt, err := NewAdam([]*tensor.Tensor{w}, gd.Adam.LR)
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-13
		if dt == tensor.Float32 {
			tol = 1e-5
		}
		followGolden(t, gd, opt, w, gd.Adam.Traj, tol)
	}
}

func TestBadHyperparameters(t *testing.T) {
	w := []*tensor.Tensor{tensor.Must(tensor.New(tensor.Float32, 2))}
	for _, c := range []struct{ eta, beta float64 }{{0, 0.9}, {-1, 0.9}, {math.NaN(), 0.9}, {math.Inf(1), 0.9}, {0.1, 1}, {0.1, -0.1}, {0.1, math.NaN()}} {
		if _, err := NewMomentum(w, c.eta, c.beta); err == nil {
			t.Errorf("NewMomentum(eta=%v, beta=%v) accepted", c.eta, c.beta)
		}
	}
	if _, err := NewAdam(w, 0); err == nil {
		t.Error("Adam with lr 0 accepted")
	}
	opt, _ := NewMomentum(w, 0.1, 0.9)
	if err := opt.Step([]*tensor.Tensor{tensor.Must(tensor.New(tensor.Float32, 3))}); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("gradient of the wrong shape: %v", err)
	}
	if err := opt.Step(nil); err == nil {
		t.Error("no gradients accepted")
	}
}

func TestScalingRule(t *testing.T) {
	cases := []struct{ eta, c, gamma, want float64 }{
		{0.001, 0.2, 2.0 / 3, 1 - 0.2*0.01},
		{0.1, 0.2, 2.0 / 3, 1 - 0.2*math.Pow(0.1, 2.0/3)},
		{0.01, 0.5, 0.5, 0.95},
		{0.01, 1, 1, 0.99},
	}
	for _, c := range cases {
		got, err := ScaledBeta(c.eta, c.c, c.gamma)
		if err != nil || math.Abs(got-c.want) > 1e-15 {
			t.Errorf("ScaledBeta(%v, %v, %v) = %v, %v; want %v", c.eta, c.c, c.gamma, got, err, c.want)
		}
	}
	for _, c := range []struct{ eta, c, gamma float64 }{
		{0, 0.2, 2.0 / 3}, {-0.1, 0.2, 2.0 / 3}, {math.NaN(), 0.2, 1}, {0.1, 0, 1}, {0.1, 20, 2.0 / 3}, {0.1, 0.2, math.NaN()},
	} {
		if b, err := ScaledBeta(c.eta, c.c, c.gamma); err == nil {
			t.Errorf("ScaledBeta(%v, %v, %v) = %v accepted", c.eta, c.c, c.gamma, b)
		}
	}
	// Eq. 10 for the paper's setting: eps = 1/2, mu2 = 1, P = 5, n = 10
	// gives (0.25/50)^(1/3) = 0.171, the paper's "theory 0.17".
	c, err := UVOptimalC(0.5, 1, 5, 10)
	if err != nil || math.Abs(c-math.Cbrt(0.005)) > 1e-15 || math.Abs(c-0.171) > 5e-4 {
		t.Errorf("UVOptimalC = %v, %v", c, err)
	}
	if _, err := UVOptimalC(0, 1, 5, 10); err == nil {
		t.Error("UVOptimalC with eps 0 accepted")
	}
}

// TestGaussianTargets checks the mean and variance of the noise at a fixed
// seed against 5-sigma bounds.
func TestGaussianTargets(t *testing.T) {
	const n = 200000
	y := tensor.Must(tensor.Full(tensor.Float64, 3, n))
	z := tensor.Must(tensor.New(tensor.Float64, n))
	if err := GaussianTargets(z, y, 0.5, tensor.NewRNG(1)); err != nil {
		t.Fatal(err)
	}
	var s, ss float64
	for i := 0; i < n; i++ {
		d := z.Flat(i) - 3
		s += d
		ss += d * d
	}
	mean, variance := s/n, ss/n
	if math.Abs(mean) > 5*0.5/math.Sqrt(n) {
		t.Errorf("noise mean %v", mean)
	}
	// Var of the sample variance of N(0, s^2) is 2 s^4 / n.
	if math.Abs(variance-0.25) > 5*math.Sqrt(2*0.25*0.25/n) {
		t.Errorf("noise variance %v, want 0.25", variance)
	}
	if err := GaussianTargets(z, y, -1, tensor.NewRNG(1)); err == nil {
		t.Error("negative eps accepted")
	}
}

// TestNoisyLabels checks the flip rate and that wrong labels are uniform
// over the other classes (chi-square), at a fixed seed.
func TestNoisyLabels(t *testing.T) {
	const n, classes, p = 100000, 10, 0.2
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % classes
	}
	out := make([]int, n)
	if err := NoisyLabels(out, labels, classes, p, tensor.NewRNG(2)); err != nil {
		t.Fatal(err)
	}
	flips := 0
	counts := make([]float64, classes) // wrong class offset (c - true) mod classes, 1..9
	for i := range out {
		if out[i] != labels[i] {
			flips++
			counts[(out[i]-labels[i]+classes)%classes]++
		}
	}
	rate := float64(flips) / n
	if math.Abs(rate-p) > 5*math.Sqrt(p*(1-p)/n) {
		t.Errorf("flip rate %v, want %v", rate, p)
	}
	if counts[0] != 0 {
		t.Error("a flipped label kept its class")
	}
	// Chi-square with 8 degrees of freedom: 99.99th percentile is 31.8.
	exp := float64(flips) / (classes - 1)
	var chi2 float64
	for _, c := range counts[1:] {
		chi2 += (c - exp) * (c - exp) / exp
	}
	if chi2 > 31.8 {
		t.Errorf("wrong labels not uniform: chi-square %v", chi2)
	}
	et, err := ExpectedTargets(tensor.Float64, []int{2, 0}, 4, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0.1, 0.1, 0.7, 0.1, 0.7, 0.1, 0.1, 0.1}
	for i, w := range want {
		if math.Abs(et.Flat(i)-w) > 1e-15 {
			t.Fatalf("ExpectedTargets[%d] = %v, want %v", i, et.Flat(i), w)
		}
	}
	if err := NoisyLabels(out[:3], []int{0, 11, 2}, 10, 0.2, tensor.NewRNG(1)); err == nil {
		t.Error("label 11 of 10 classes accepted")
	}
	if err := NoisyLabels(out[:1], []int{0}, 10, 1.5, tensor.NewRNG(1)); err == nil {
		t.Error("p = 1.5 accepted")
	}
}

func TestSchedules(t *testing.T) {
	w, err := LinearWarmup(1, 4)
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range []float64{0.25, 0.5, 0.75, 1, 1} {
		if w(s) != want {
			t.Errorf("warmup(%d) = %v want %v", s, w(s), want)
		}
	}
	c, err := Cosine(2, 10)
	if err != nil {
		t.Fatal(err)
	}
	if c(0) != 2 || math.Abs(c(5)-1) > 1e-15 || c(10) != 0 {
		t.Errorf("cosine: %v %v %v", c(0), c(5), c(10))
	}
	wc, err := WarmupCosine(1, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if wc(1) != 1 || wc(2) != 1 || math.Abs(wc(4)-0.5) > 1e-15 {
		t.Errorf("warmup-cosine: %v %v %v", wc(1), wc(2), wc(4))
	}
}

func TestLoopReportsDivergence(t *testing.T) {
	w := tensor.Must(tensor.New(tensor.Float64, 3))
	l := &Loop{Steps: 100, CheckEvery: 1, Params: []*tensor.Tensor{w}, Step: func(s int) (float64, error) {
		if s == 7 {
			w.SetFlat(1, math.Inf(1))
		}
		return 1, nil
	}}
	err := l.Run()
	var d *DivergenceError
	if !errors.As(err, &d) || d.Step != 7 {
		t.Fatalf("error %v, want divergence at step 7", err)
	}
	l = &Loop{Steps: 100, Step: func(s int) (float64, error) {
		if s == 42 {
			return math.NaN(), nil
		}
		return 1, nil
	}}
	if err := l.Run(); !errors.As(err, &d) || d.Step != 42 || d.What != "loss" {
		t.Fatalf("error %v, want NaN loss at 42", err)
	}
}

func TestMomentumStepZeroAllocs(t *testing.T) {
	w := tensor.Must(tensor.New(tensor.Float32, 1000))
	g := tensor.Must(tensor.New(tensor.Float32, 1000))
	opt, _ := NewMomentum([]*tensor.Tensor{w}, 0.1, 0.9)
	gs := []*tensor.Tensor{g}
	if n := testing.AllocsPerRun(10, func() { _ = opt.Step(gs) }); n != 0 {
		t.Errorf("%v allocations per step", n)
	}
}

func ExampleScaledBeta() {
	beta, err := ScaledBeta(0.01, 0.2, DefaultGamma)
	if err != nil {
		panic(err)
	}
	fmt.Printf("beta = %.4f\n", beta)
	// Output: beta = 0.9907
}

// TestRowMomentumMatchesMomentum: each row follows Momentum with its own
// hyperparameters, bitwise (float64).
func TestRowMomentumMatchesMomentum(t *testing.T) {
	etas, betas := []float64{0.1, 0.01, 0.05}, []float64{0.9, 0.5, 0}
	w := tensor.Must(tensor.New(tensor.Float64, 3, 4))
	tensor.NewRNG(1).Normal(w, 0, 1)
	rows, err := NewRowMomentum([]*tensor.Tensor{w}, etas, betas)
	if err != nil {
		t.Fatal(err)
	}
	single := make([]*Momentum, 3)
	ws := make([]*tensor.Tensor, 3)
	for r := range single {
		ws[r] = tensor.Must(tensor.FromFloat64(append([]float64(nil), w.Float64s()[4*r:4*r+4]...), 4))
		single[r], _ = NewMomentum([]*tensor.Tensor{ws[r]}, etas[r], betas[r])
	}
	g := tensor.Must(tensor.New(tensor.Float64, 3, 4))
	for step := 0; step < 20; step++ {
		for i := 0; i < 12; i++ {
			g.SetFlat(i, math.Sin(w.Flat(i)*3)) // some nonlinear gradient
		}
		for r := range single {
			gr := tensor.Must(tensor.FromFloat64(append([]float64(nil), g.Float64s()[4*r:4*r+4]...), 4))
			_ = single[r].Step([]*tensor.Tensor{gr})
		}
		_ = rows.Step([]*tensor.Tensor{g})
		for r := range single {
			for j := 0; j < 4; j++ {
				if w.Flat(4*r+j) != ws[r].Flat(j) {
					t.Fatalf("step %d run %d: rows %v, single %v", step, r, w.Flat(4*r+j), ws[r].Flat(j))
				}
			}
		}
	}
	if _, err := NewRowMomentum([]*tensor.Tensor{w}, []float64{0.1}, []float64{0.9}); err == nil {
		t.Error("parameter with 3 rows accepted for 1 run")
	}
	if _, err := NewRowMomentum([]*tensor.Tensor{w}, []float64{0.1, 0.1, 0.1}, []float64{0.9, 1, 0.9}); err == nil {
		t.Error("beta = 1 accepted")
	}
}
