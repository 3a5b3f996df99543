package fit

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// eq14Curve is eq. 14 with a maximum (or, negated, a minimum).
func eq14Curve(b, top, a1, a2, star float64) float64 {
	return top + a1*math.Min(b-star, 0) + a2*math.Max(b-star, 0)
}

func grid(lo, hi float64, n int) []float64 {
	g := make([]float64, n)
	for i := range g {
		g[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	return g
}

// within checks |got - want| <= k standard errors, and that the error is
// a real number.
func within(t *testing.T, name string, got, se, want, k float64) {
	t.Helper()
	if !(se >= 0) || math.IsInf(se, 0) {
		t.Errorf("%s: standard error %v", name, se)
		return
	}
	if math.Abs(got-want) > k*se {
		t.Errorf("%s = %.6g +- %.2g, want %.6g (within %.0f standard errors)", name, got, se, want, k)
	}
}

func TestEq14Exact(t *testing.T) {
	for _, star := range []float64{0.953, 0.96, 0.9725} { // between points, on a point, near the edge's neighbour
		x := grid(0.94, 0.99, 11)
		var y []float64
		for _, b := range x {
			y = append(y, eq14Curve(b, 0.85, 3, -7, star))
		}
		f, err := FitEq14(x, y, Eq14Options{})
		if err != nil || !f.Resolved {
			t.Fatalf("corner %v: %+v, %v", star, f, err)
		}
		if math.Abs(f.BetaStar-star) > 1e-9 || math.Abs(f.Best-0.85) > 1e-9 || math.Abs(f.A1-3) > 1e-7 || math.Abs(f.A2+7) > 1e-7 {
			t.Errorf("corner %v: fitted %+v", star, f)
		}
		if f.SEBetaStar > 1e-6 {
			t.Errorf("corner %v: exact data, standard error %v", star, f.SEBetaStar)
		}
	}
}

// TestEq14Noisy: with noise the fit recovers every parameter within a few
// of its standard errors, and the errors are honest: over many data sets
// the true corner lies within 2 standard errors about 95% of the time.
func TestEq14Noisy(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	const sets = 200
	inside := 0
	for s := range sets {
		var x, y []float64
		for _, b := range grid(0.90, 0.99, 16) {
			for range 2 { // two seeds per beta
				x = append(x, b)
				y = append(y, eq14Curve(b, 0.8, 2, -5, 0.957)+0.003*r.NormFloat64())
			}
		}
		f, err := FitEq14(x, y, Eq14Options{})
		if err != nil || !f.Resolved {
			t.Fatalf("set %d: %+v, %v", s, f, err)
		}
		if s < 5 {
			within(t, "beta*", f.BetaStar, f.SEBetaStar, 0.957, 4)
			within(t, "a_max", f.Best, f.SEBest, 0.8, 4)
			within(t, "a_1", f.A1, f.SEA1, 2, 4)
			within(t, "a_2", f.A2, f.SEA2, -5, 4)
			if f.ResidualSD < 0.002 || f.ResidualSD > 0.0045 {
				t.Errorf("residual sd %v for noise 0.003", f.ResidualSD)
			}
		}
		if math.Abs(f.BetaStar-0.957) <= 2*f.SEBetaStar {
			inside++
		}
	}
	if frac := float64(inside) / sets; frac < 0.85 || frac > 0.995 {
		t.Errorf("true beta* within 2 standard errors in %.1f%% of data sets, want about 95%%", 100*frac)
	}
}

func TestEq14Lower(t *testing.T) {
	// A Hessian trace: lower is better, a minimum at 0.97.
	r := rand.New(rand.NewPCG(3, 4))
	x := grid(0.9, 0.995, 20)
	var y []float64
	for _, b := range x {
		y = append(y, eq14Curve(b, 60, -800, 3000, 0.97)+0.5*r.NormFloat64())
	}
	f, err := FitEq14(x, y, Eq14Options{Lower: true})
	if err != nil || !f.Resolved {
		t.Fatalf("%+v, %v", f, err)
	}
	within(t, "beta*", f.BetaStar, f.SEBetaStar, 0.97, 4)
	within(t, "a_min", f.Best, f.SEBest, 60, 4)
	within(t, "a_1", f.A1, f.SEA1, -800, 4)
	within(t, "a_2", f.A2, f.SEA2, 3000, 4)
	if f.BestObserved > 62 || math.Abs(f.BestObservedBeta-0.97) > 0.01 {
		t.Errorf("best observed %v at %v", f.BestObserved, f.BestObservedBeta)
	}
	// The same V fitted as a maximum has no maximum.
	g, err := FitEq14(x, y, Eq14Options{})
	if err != nil || g.Resolved {
		t.Errorf("a V fitted for a maximum: %+v, %v", g, err)
	}
}

func TestEq14LogVariable(t *testing.T) {
	// Betas spaced geometrically in 1 - beta, the curve linear in
	// -log(1 - beta) with its corner at 1 - beta = 0.01.
	var beta, y []float64
	star := -math.Log(0.01)
	for k := range 12 {
		om := 0.2 * math.Pow(0.6, float64(k)) // 0.2 ... 0.0007
		b := 1 - om
		beta = append(beta, b)
		y = append(y, eq14Curve(-math.Log(om), 0.9, 0.02, -0.05, star))
	}
	f, err := FitEq14(beta, y, Eq14Options{Var: VarLogOneMinusBeta})
	if err != nil || !f.Resolved {
		t.Fatalf("%+v, %v", f, err)
	}
	if math.Abs(f.BetaStar-0.99) > 1e-9 || math.Abs(f.XStar-star) > 1e-7 || math.Abs(f.A1-0.02) > 1e-8 {
		t.Errorf("fitted %+v", f)
	}
	if _, err := FitEq14([]float64{0.5, 1, 0.9, 0.8, 0.7}, []float64{1, 2, 3, 4, 5}, Eq14Options{Var: VarLogOneMinusBeta}); err == nil {
		t.Error("beta = 1 accepted in -log(1-beta)")
	}
}

// TestEq14Refuses: no corner is ever reported for data without an
// interior optimum.
func TestEq14Refuses(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	x := grid(0.9, 0.99, 10)
	mk := func(f func(b float64) float64, noise float64) []float64 {
		var y []float64
		for _, b := range x {
			y = append(y, f(b)+noise*r.NormFloat64())
		}
		return y
	}
	cases := []struct {
		name string
		x, y []float64
		opt  Eq14Options
		why  string // or, for noisy data, "slope|edge": either refusal
	}{
		{"increasing", x, mk(func(b float64) float64 { return 2 * b }, 0), Eq14Options{}, ReasonMonotone},
		{"decreasing", x, mk(func(b float64) float64 { return -3 * b }, 0), Eq14Options{}, ReasonMonotone},
		{"flat", x, mk(func(float64) float64 { return 0.8 }, 0), Eq14Options{}, ReasonMonotone},
		{"increasing, lower is better", x, mk(func(b float64) float64 { return 2 * b }, 0), Eq14Options{Lower: true}, ReasonMonotone},
		{"noisy increasing", x, mk(func(b float64) float64 { return 0.5 * b }, 0.004), Eq14Options{}, "slope|edge"},
		{"noise only", x, mk(func(float64) float64 { return 0.8 }, 0.01), Eq14Options{}, "slope|edge"},
		// A rise then one lower point: the corner falls in the last
		// interval, with only the last point beyond it.
		{"edge at the top", x, mk(func(b float64) float64 { return eq14Curve(b, 1, 3, -20, 0.985) }, 0), Eq14Options{}, ReasonEdge},
		{"edge at the bottom", x, mk(func(b float64) float64 { return eq14Curve(b, 1, 20, -3, 0.905) }, 0), Eq14Options{}, ReasonEdge},
		{"too few", x[:4], []float64{1, 2, 1.5, 1}, Eq14Options{}, ReasonTooFew},
		{"too few distinct", []float64{0.9, 0.9, 0.95, 0.95, 0.95, 0.9}, []float64{1, 2, 3, 4, 5, 6}, Eq14Options{}, ReasonTooFew},
		{"fewer than asked", x, mk(func(b float64) float64 { return eq14Curve(b, 1, 3, -3, 0.95) }, 0), Eq14Options{MinPoints: 12}, ReasonTooFew},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := FitEq14(c.x, c.y, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			want := c.why == f.Why || (c.why == "slope|edge" && (f.Why == ReasonSlope || f.Why == ReasonEdge))
			if f.Resolved || !want || f.Reason == "" {
				t.Fatalf("got resolved %v, why %q (%s), want %q", f.Resolved, f.Why, f.Reason, c.why)
			}
			if f.BetaStar != 0 || f.SEBetaStar != 0 || f.Best != 0 {
				t.Errorf("an unresolved fit reports a corner: %+v", f)
			}
			if !strings.Contains(f.Reason, map[string]string{ReasonTooFew: "points", ReasonMonotone: "monotone", ReasonEdge: "edge", ReasonSlope: "slopes"}[f.Why]) {
				t.Errorf("reason %q does not say why", f.Reason)
			}
		})
	}
}

// TestEq14NoisyMonotone: over many noisy monotone curves, weak or
// strong, the slope sign test and the edge test leave no corner.
func TestEq14NoisyMonotone(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 11))
	x := grid(0.9, 0.99, 10)
	for _, slope := range []float64{0.3, -0.5, 2} {
		for s := range 300 {
			var y []float64
			for _, b := range x {
				y = append(y, slope*b+0.004*r.NormFloat64())
			}
			for _, lower := range []bool{false, true} {
				f, err := FitEq14(x, y, Eq14Options{Lower: lower})
				if err != nil || f.Resolved {
					t.Fatalf("slope %v, set %d, lower %v: a corner in a monotone curve: %+v, %v", slope, s, lower, f, err)
				}
			}
		}
	}
}

func TestEq14BadInput(t *testing.T) {
	nan := math.NaN()
	for name, c := range map[string]struct {
		x, y []float64
		opt  Eq14Options
	}{
		"lengths":      {[]float64{1, 2}, []float64{1}, Eq14Options{}},
		"NaN value":    {[]float64{0.1, 0.2, 0.3, 0.4, 0.5}, []float64{1, nan, 1, 1, 1}, Eq14Options{}},
		"Inf beta":     {[]float64{0.1, math.Inf(1), 0.3, 0.4, 0.5}, []float64{1, 2, 1, 1, 1}, Eq14Options{}},
		"MinPoints 4":  {nil, nil, Eq14Options{MinPoints: 4}},
		"variable":     {nil, nil, Eq14Options{Var: 7}},
		"MinSlopeZ":    {nil, nil, Eq14Options{MinSlopeZ: nan}},
		"overflow sum": {[]float64{0.1, 0.2, 0.3, 0.4, 0.5}, []float64{1e300, -1e300, 1e300, -1e300, 1e300}, Eq14Options{}},
	} {
		t.Run(name, func(t *testing.T) {
			f, err := FitEq14(c.x, c.y, c.opt)
			if err == nil && f.Resolved {
				t.Errorf("fitted %+v", f)
			}
		})
	}
}

func TestFitExponent(t *testing.T) {
	etas := []float64{1e-5, 2e-5, 4e-5, 1e-4, 3e-4}
	var exact []float64
	for _, e := range etas {
		exact = append(exact, 1-0.11*math.Pow(e, 0.66))
	}
	x, err := FitExponent(etas, exact)
	if err != nil || math.Abs(x.Gamma-0.66) > 1e-9 || math.Abs(x.C-0.11) > 1e-9 || x.SEGamma > 1e-9 {
		t.Fatalf("exact: %+v, %v", x, err)
	}
	// Noisy beta*: log(1 - beta*) with 10% scatter.
	r := rand.New(rand.NewPCG(21, 22))
	var noisy []float64
	for _, e := range etas {
		noisy = append(noisy, 1-0.11*math.Pow(e, 0.66)*math.Exp(0.1*r.NormFloat64()))
	}
	x, err = FitExponent(etas, noisy)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "gamma", x.Gamma, x.SEGamma, 0.66, 4)
	within(t, "log C", x.LogC, x.SELogC, math.Log(0.11), 4)
	if math.Abs(x.SEC-x.C*x.SELogC) > 1e-15 || x.N != 5 {
		t.Errorf("C error %v, log C error %v, N %d", x.SEC, x.SELogC, x.N)
	}
	for name, c := range map[string][2][]float64{
		"two points":   {etas[:2], exact[:2]},
		"beta* = 1":    {etas[:3], {0.9, 1, 0.99}},
		"eta 0":        {{0, 1e-4, 1e-3}, exact[:3]},
		"lengths":      {etas, exact[:4]},
		"equal etas":   {{1e-4, 1e-4, 1e-4}, exact[:3]},
		"NaN beta*":    {etas[:3], {0.9, math.NaN(), 0.99}},
		"infinite eta": {{1e-4, math.Inf(1), 1e-3}, exact[:3]},
	} {
		if _, err := FitExponent(c[0], c[1]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := FitExponent(etas[:2], exact[:2]); !errors.Is(err, ErrTooFew) {
		t.Errorf("two points: %v, want ErrTooFew", err)
	}
}

func TestFitExponentEq14(t *testing.T) {
	etas := []float64{1e-5, 3e-5, 1e-4, 3e-4}
	fits := make([]Eq14, len(etas))
	for i, e := range etas {
		fits[i] = Eq14{Resolved: true, BetaStar: 1 - 0.2*math.Pow(e, 2.0/3)}
	}
	fits[1] = Eq14{Resolved: false, BetaStar: 0.5} // must be left out
	x, err := FitExponentEq14(etas, fits)
	if err != nil || x.N != 3 || math.Abs(x.Gamma-2.0/3) > 1e-9 || math.Abs(x.C-0.2) > 1e-9 {
		t.Fatalf("%+v, %v", x, err)
	}
	fits[2].Resolved = false
	if _, err := FitExponentEq14(etas, fits); !errors.Is(err, ErrTooFew) {
		t.Errorf("two resolved: %v", err)
	}
}
