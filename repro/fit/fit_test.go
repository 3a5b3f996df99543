package fit

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFitLineExactAndErrors(t *testing.T) {
	x := []float64{0, 1, 2, 3, 4}
	y := []float64{1, 3, 5, 7, 9}
	l, err := FitLine(x, y)
	if err != nil || math.Abs(l.A-1) > 1e-12 || math.Abs(l.B-2) > 1e-12 || l.SEB > 1e-12 {
		t.Fatalf("line %+v, %v", l, err)
	}
	// Standard errors against the textbook formula on noisy data: the SE
	// of the slope must cover the truth in most of many trials.
	r := rand.New(rand.NewPCG(1, 2))
	covered := 0
	const trials = 400
	for k := 0; k < trials; k++ {
		xs, ys := make([]float64, 20), make([]float64, 20)
		for i := range xs {
			xs[i] = float64(i)
			ys[i] = 0.5 - 0.3*xs[i] + r.NormFloat64()
		}
		l, _ := FitLine(xs, ys)
		if math.Abs(l.B+0.3) < 1.96*l.SEB {
			covered++
		}
	}
	// 95% intervals: coverage within 4 binomial SDs of 0.95.
	if c := float64(covered) / trials; math.Abs(c-0.95) > 4*math.Sqrt(0.95*0.05/trials) {
		t.Errorf("95%% interval coverage %v", c)
	}
	if _, err := FitLine([]float64{1}, []float64{2}); err == nil {
		t.Error("one point accepted")
	}
	if _, err := FitLine([]float64{1, 1, 1}, []float64{2, 3, 4}); err == nil {
		t.Error("equal x accepted")
	}
	if _, err := FitLine([]float64{1, 2, 3}, []float64{2, math.NaN(), 4}); err == nil {
		t.Error("NaN accepted")
	}
}

// TestPowerLawKnownExponent: synthetic T_c = T0 eta^-alpha with
// multiplicative noise recovers alpha within its standard error bounds.
func TestPowerLawKnownExponent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, alpha := range []float64{2.0 / 3, 1, 1.6} {
		var eta, tc []float64
		for i := 0; i < 9; i++ {
			e := math.Pow(10, -3+0.25*float64(i))
			eta = append(eta, e)
			tc = append(tc, 3.5*math.Pow(e, -alpha)*math.Exp(0.05*r.NormFloat64()))
		}
		p, err := FitPowerLaw(eta, tc)
		if err != nil {
			t.Fatal(err)
		}
		// The SE is itself estimated from 9-2 = 7 degrees of freedom:
		// |error|/SE follows Student's t(7), whose two-sided 99.9% point
		// is 5.41.
		if math.Abs(p.Alpha-alpha) > 5.41*p.SEAlpha || p.SEAlpha > 0.05 {
			t.Errorf("alpha %v ± %v, want %v", p.Alpha, p.SEAlpha, alpha)
		}
		if math.Abs(math.Log(p.Y0/3.5)) > 5.41*p.SELogY0 {
			t.Errorf("Y0 %v (log SE %v), want 3.5", p.Y0, p.SELogY0)
		}
	}
	if _, err := FitPowerLaw([]float64{1, -1}, []float64{1, 1}); err == nil {
		t.Error("negative x accepted")
	}
}

// TestTimescaleNoiselessExponential: a pure exponential gives its time
// constant to rounding.
func TestTimescaleNoiselessExponential(t *testing.T) {
	var ts, ys []float64
	for k := 0; k < 500; k += 7 {
		ts = append(ts, float64(k))
		ys = append(ys, 20*math.Exp(-float64(k)/123.4))
	}
	tc, err := FitTimescale(ts, ys)
	if err != nil || math.Abs(tc.T-123.4) > 1e-9 {
		t.Fatalf("T = %v, %v", tc.T, err)
	}
	if _, err := FitTimescale([]float64{0, 1, 2}, []float64{1, 2, 3}); err == nil {
		t.Error("growing series accepted")
	}
}

func TestHinge(t *testing.T) {
	// Eq. 14 shape: a maximum at 0.97 with unequal slopes, plus noise.
	r := rand.New(rand.NewPCG(5, 6))
	var x, y []float64
	for i := 0; i < 15; i++ {
		b := 0.9 + 0.01*float64(i)
		a := 0.8 + 2*math.Min(b-0.97, 0) - 5*math.Max(b-0.97, 0)
		x = append(x, b)
		y = append(y, a+0.002*r.NormFloat64())
	}
	h, err := FitHinge(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(h.X-0.97) > 0.005 || math.Abs(h.Left-2) > 0.3 || math.Abs(h.Right+5) > 0.5 {
		t.Errorf("hinge %+v", h)
	}
	// A V: alpha(gamma) = max(gamma, 2-2gamma) has its corner at 2/3.
	x, y = nil, nil
	for g := 0.2; g <= 1.0001; g += 0.05 {
		x = append(x, g)
		y = append(y, math.Max(g, 2-2*g))
	}
	h, err = FitHinge(x, y)
	if err != nil || math.Abs(h.X-2.0/3) > 1e-6 || math.Abs(h.Left+2) > 1e-6 || math.Abs(h.Right-1) > 1e-6 {
		t.Errorf("V hinge %+v, %v", h, err)
	}
	if _, err := FitHinge([]float64{1, 2, 3}, []float64{1, 2, 3}); err == nil {
		t.Error("3 points accepted")
	}
}

// TestDegenerateInputs: no fit panics or returns a non-finite estimate
// without an error, whatever it is given: nothing, one point, equal x,
// NaN, Inf, lengths that differ, values whose squares overflow.
func TestDegenerateInputs(t *testing.T) {
	nan, inf, big := math.NaN(), math.Inf(1), 1e300
	cases := []struct {
		name string
		x, y []float64
	}{
		{"empty", nil, nil},
		{"one point", []float64{1}, []float64{2}},
		{"x without y", []float64{1, 2, 3}, nil},
		{"y shorter", []float64{1, 2, 3}, []float64{1}},
		{"x shorter", []float64{1}, []float64{1, 2, 3}},
		{"equal x", []float64{2, 2, 2, 2}, []float64{1, 2, 3, 4}},
		{"equal y", []float64{1, 2, 3, 4}, []float64{5, 5, 5, 5}},
		{"NaN", []float64{1, nan, 3, 4}, []float64{1, 2, 3, 4}},
		{"Inf", []float64{1, 2, 3, 4}, []float64{1, inf, 3, 4}},
		{"overflowing squares", []float64{-big, 0, big, 2 * big}, []float64{big, -big, big, -big}},
		{"tiny slope", []float64{0, 1, 2, 3}, []float64{1, 1 - 1e-300, 1 - 2e-300, 1 - 3e-300}},
	}
	finite := func(v ...float64) bool {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return false
			}
		}
		return true
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			if l, err := FitLine(c.x, c.y); err == nil && !finite(l.A, l.B) {
				t.Errorf("FitLine: %+v without an error", l)
			}
			if p, err := FitPowerLaw(c.x, c.y); err == nil && !finite(p.Y0, p.Alpha) {
				t.Errorf("FitPowerLaw: %+v without an error", p)
			}
			if ts, err := FitTimescale(c.x, c.y); err == nil && !(finite(ts.T) && ts.T > 0) {
				t.Errorf("FitTimescale: %+v without an error", ts)
			}
			if h, err := FitHinge(c.x, c.y); err == nil && !finite(h.X, h.Top, h.Left, h.Right) {
				t.Errorf("FitHinge: %+v without an error", h)
			}
			MeanSE(c.y)
		})
	}
}
