package uv

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/flatfast/flatfast/repro"
)

// settleCfg is a tiny grid on both sides of gamma = 2/3.
func settleCfg() Config {
	c := Presets["quick"]
	c.Activations = []string{"identity", "tanh"}
	c.Gammas = []float64{0.5, 1}
	c.Etas = []float64{0.03, 0.1}
	c.Seeds = 2
	c.MaxSteps = 40000
	return c
}

// TestSettledCriterion: every noisy run that crossed comes to rest under
// the threshold at or after its crossing, and the return phase leaves the
// crossing's own numbers alone (the same for two tolerances); with the
// looser tolerance a run settles no later when both took one return phase.
func TestSettledCriterion(t *testing.T) {
	tight := settleCfg()
	loose := settleCfg()
	loose.SettleTol = 1e-5
	a := runTiny(t, tight, 1)
	b := runTiny(t, loose, 1)
	thr := tight.Threshold * float64(tight.N)
	settledAfter := 0
	for i, r := range a {
		if r.Twin() {
			if r.SettleStep != 0 || r.Returns != 0 {
				t.Errorf("twin %+v has a return phase: %+v", r.Run, r)
			}
			continue
		}
		if !r.Crossed || r.SettleStep == 0 {
			t.Errorf("run %+v: crossed %v, settled at %d (censored %v, failed %v)", r.Run, r.Crossed, r.SettleStep, r.SettleCensored, r.SettleFailed)
			continue
		}
		if r.SettleStep < r.CrossStep || r.Steps != r.SettleStep || !(float64(r.FinalNorm) < thr) || r.Returns < 1 || !(r.CrossEnergy > 0) {
			t.Errorf("run %+v: cross %d, settle %d, steps %d, final norm %v, returns %d, energy %v", r.Run, r.CrossStep, r.SettleStep, r.Steps, r.FinalNorm, r.Returns, r.CrossEnergy)
		}
		if r.SettleStep > r.CrossStep {
			settledAfter++
		}
		o := b[i]
		if o.CrossStep != r.CrossStep || o.Tc != r.Tc || o.FitFrom != r.FitFrom || o.FitTo != r.FitTo || o.CrossEnergy != r.CrossEnergy {
			t.Errorf("run %+v: the crossing depends on the settle tolerance: %+v and %+v", r.Run, r, o)
		}
		if r.Returns == 1 && o.Returns == 1 && o.SettleStep > r.SettleStep {
			t.Errorf("run %+v: settled at %d with tolerance %g, later than %d with %g", r.Run, o.SettleStep, loose.SettleTol, r.SettleStep, tight.SettleTol)
		}
	}
	if settledAfter == 0 {
		t.Error("no run needed a return phase: the test does not exercise it")
	}
	s, _ := NewSetup(&tight)
	for _, act := range Analyze(&tight, s, a) {
		for _, g := range tight.Gammas {
			if !(act.AlphaSettled[gammaKey(g)].Points == 2) {
				t.Errorf("%s gamma %v: settled fit over %d cells, want 2", act.Name, g, act.AlphaSettled[gammaKey(g)].Points)
			}
		}
	}
}

// oracleRun trains one identity run of cfg with plain loops (no autodiff,
// no batch): label noise until the norm is under the threshold, then
// noise-free until E = L0 + (eta/2)|pi|^2 < settle_tol, noise again if at
// rest above the threshold. It returns what RunResult records.
func oracleRun(cfg *Config, s *Setup, r Run) (cross, settle, returns int, energy float64) {
	n, p := cfg.N, cfg.P
	thr := cfg.Threshold * float64(n)
	u := append([]float64(nil), s.startFor("identity")...)
	v := append([]float64(nil), s.V0...)
	pu, pv := make([]float64, n), make([]float64, n)
	rng := noiseRNG(cfg.NoiseSeed, r.Seed)
	y, f := make([]float64, p), make([]float64, p)
	sq := math.Sqrt(float64(n))
	returning := false
	for step := 1; step <= cfg.MaxSteps; step++ {
		for a := range y {
			y[a] = 0
			if !returning {
				y[a] = cfg.Eps * rng.NormFloat64()
			}
		}
		var uv float64
		for k := range u {
			uv += u[k] * v[k]
		}
		for a, x := range s.X {
			f[a] = uv * x / sq
		}
		if returning {
			var l0, k2 float64
			for a := range f {
				l0 += f[a] * f[a]
			}
			for k := range pu {
				k2 += pu[k]*pu[k] + pv[k]*pv[k]
			}
			e := l0/float64(2*p) + r.Eta/2*k2
			if step-1 == cross {
				energy = e
			}
			if e < cfg.SettleTol {
				if normOf(u, v) < thr {
					return cross, step - 1, returns, energy
				}
				returning = false
			}
		}
		var c float64 // dL/d(u.v)
		for a, x := range s.X {
			c += (f[a] - y[a]) * x
		}
		c /= float64(p) * sq
		for k := range u {
			gu, gv := c*v[k], c*u[k]
			pu[k] = r.Beta*pu[k] - gu
			pv[k] = r.Beta*pv[k] - gv
		}
		for k := range u {
			u[k] += r.Eta * pu[k]
			v[k] += r.Eta * pv[k]
		}
		if nrm := normOf(u, v); nrm < thr && !returning {
			if cross == 0 {
				cross = step
			}
			returning = true
			returns++
		}
	}
	return cross, 0, returns, energy
}

// TestSettledMatchesOracle: the batched, autodiff-driven runs take their
// crossing and settled steps, return phases and crossing energy where a
// plain loop of the same rule does.
func TestSettledMatchesOracle(t *testing.T) {
	cfg := settleCfg()
	cfg.Activations = []string{"identity"}
	res, _, err := Execute(context.Background(), cfg, Options{Out: t.TempDir(), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewSetup(&cfg)
	checked := 0
	for _, r := range res.Runs {
		if r.Twin() {
			continue
		}
		cross, settle, returns, energy := oracleRun(&cfg, s, r.Run)
		if cross != r.CrossStep || settle != r.SettleStep || returns != r.Returns || math.Abs(energy-float64(r.CrossEnergy)) > 1e-9*energy {
			t.Errorf("run %+v: cross %d, settle %d, returns %d, energy %v; the oracle: %d, %d, %d, %v",
				r.Run, r.CrossStep, r.SettleStep, r.Returns, r.CrossEnergy, cross, settle, returns, energy)
		}
		checked++
	}
	if checked != 8 {
		t.Errorf("checked %d runs, want 8", checked)
	}
}

// TestAnalysisSettled feeds the analysis synthetic runs: crossing steps
// from the transient law with kappa = 2, settled steps 5 eta^-gamma later.
// The settled fit must return gamma, the transient law kappa = 2 with no
// residual (and the exponents it implies), the sqrt law a residual; a cell
// with a run censored in its return phase is left out of the settled fit.
func TestAnalysisSettled(t *testing.T) {
	cfg := Presets["quick"]
	cfg.Activations = []string{"identity"}
	cfg.Gammas = []float64{0.5, 0.75, 1}
	s, _ := NewSetup(&cfg)
	ell := math.Log(normOf(s.startFor("identity"), s.V0) / (cfg.Threshold * float64(cfg.N)))
	runs, _ := Runs(&cfg, s)
	var res []RunResult
	for _, r := range runs {
		rr := RunResult{Run: r, FinalNorm: 0.5}
		if r.Twin() {
			rr.Steps, rr.Settled = 2000, true
			res = append(res, rr)
			continue
		}
		c := lawCell{gamma: r.Gamma, eta: r.Eta, r: 1 - r.Beta,
			tau2: 2 * float64(cfg.N*cfg.P) * s.CRun * s.CRun / (cfg.Eps * cfg.Eps * s.Mu2 * math.Pow(r.Eta, 2-2*r.Gamma))}
		cross, tc := transientPredict(c, 2, ell, cfg.FitEFolds)
		rr.Crossed, rr.CrossStep, rr.Tc, rr.Returns = true, int(math.Round(cross)), repro.Finite(tc), 1
		rr.SettleStep = rr.CrossStep + int(math.Round(5*math.Pow(r.Eta, -r.Gamma)*1000))
		rr.Steps = rr.SettleStep
		if r.Gamma == 1 && r.Eta == cfg.Etas[0] && r.Seed == 0 {
			rr.SettleStep, rr.SettleCensored, rr.Steps = 0, true, cfg.MaxSteps
		}
		res = append(res, rr)
	}
	a := Analyze(&cfg, s, res)[0]
	for _, g := range cfg.Gammas {
		as := a.AlphaSettled[gammaKey(g)]
		// The settled step is cross + 5000 eta^-gamma: gamma within the
		// share the crossing has of it.
		if math.Abs(float64(as.Value)-g) > 0.05 {
			t.Errorf("gamma %v: alpha_settled %v", g, as.Value)
		}
		want := len(cfg.Etas)
		if g == 1 {
			want--
		}
		if as.Points != want {
			t.Errorf("gamma %v: settled fit over %d cells, want %d", g, as.Points, want)
		}
	}
	if c := a.Cells[len(a.Cells)-len(cfg.Etas)]; c.SettleFitted || c.SettleReason == "" || !c.Fitted {
		t.Errorf("a cell with a censored return phase: settle_fitted %v (%q), fitted %v", c.SettleFitted, c.SettleReason, c.Fitted)
	}
	tl := a.TransientLaw.Crossing
	// The crossing steps are rounded to whole steps.
	if math.Abs(float64(tl.Prefactor)-2) > 1e-3 || float64(tl.RMSLogResidual) > 1e-3 {
		t.Errorf("transient law: kappa %v (want 2), rms residual %v", tl.Prefactor, tl.RMSLogResidual)
	}
	if tt := a.TransientLaw.Tc; math.Abs(float64(tt.Prefactor)-2) > 1e-6 {
		t.Errorf("transient law on T_c: kappa %v, want 2", tt.Prefactor)
	}
	if al := a.TransientLaw.Crossing.Alpha[gammaKey(1)]; !(al > 0.55 && al < 0.7) {
		t.Errorf("transient law implies alpha %v at gamma = 1, want near 2/3", al)
	}
	sl := a.SqrtLaw.Crossing
	if sl.Points != 2*len(cfg.Etas) || !(sl.RMSLogResidual > 0.02) {
		t.Errorf("sqrt law on transient data: %d points, rms residual %v", sl.Points, sl.RMSLogResidual)
	}
	if al := sl.Alpha[gammaKey(1)]; math.Abs(float64(al)-0.5) > 1e-9 {
		t.Errorf("sqrt law implies alpha %v at gamma = 1, want 0.5", al)
	}
}

// TestTransientLaw: G(t) is r^2 t^3/6 early and t - 2/r late, and
// transientTime inverts it.
func TestTransientLaw(t *testing.T) {
	const r = 1e-3
	for _, c := range []struct {
		name    string
		t, want float64
	}{
		{"r t << 1", 10, r * r * 1000 / 6},
		{"r t >> 1", 1e6, 1e6 - 2/r},
	} {
		if g := transientG(c.t, r); math.Abs(g-c.want) > 0.01*c.want {
			t.Errorf("%s: G(%v) = %v, want %v", c.name, c.t, g, c.want)
		}
	}
	for _, target := range []float64{1e-6, 1, 1e3, 1e7} {
		if got := transientG(transientTime(target, r), r); math.Abs(got-target) > 1e-9*target {
			t.Errorf("G(transientTime(%v)) = %v", target, got)
		}
	}
}

// TestCraftedSettleFieldsAreRefused: a run record whose return phase
// contradicts its crossing, and a state in a return phase with no
// crossing, are refused with the field named.
func TestCraftedSettleFieldsAreRefused(t *testing.T) {
	cfg := settleCfg()
	r := Run{ID: 1, Act: "identity", Eta: 0.1, Gamma: 1, Seed: 0}
	good := RunResult{Run: r, Steps: 900, Crossed: true, CrossStep: 80, FinalNorm: 0.5, CrossEnergy: 0.08, SettleStep: 900, Returns: 1}
	if err := good.validate(&cfg); err != nil {
		t.Fatalf("a good record: %v", err)
	}
	for _, c := range []struct {
		name, says string
		edit       func(*RunResult)
	}{
		{"settled before crossing", "cross_step", func(x *RunResult) { x.SettleStep, x.Steps = 50, 50 }},
		{"settled before the end", "settle_step", func(x *RunResult) { x.SettleStep = 899 }},
		{"settled and censored", "exactly one", func(x *RunResult) { x.SettleCensored = true }},
		{"no return phase", "returns", func(x *RunResult) { x.Returns = 0 }},
		{"no energy", "cross_energy", func(x *RunResult) { x.CrossEnergy = -1 }},
		{"a twin that returned", "return phase", func(x *RunResult) { x.Seed, x.CrossStep = -1, 900 }},
		{"settled without crossing", "return phase", func(x *RunResult) { x.Crossed, x.CrossStep, x.Censored, x.Steps = false, 0, true, cfg.MaxSteps }},
	} {
		x := good
		c.edit(&x)
		if err := x.validate(&cfg); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error about %s", c.name, err, c.says)
		}
	}
	st := newRunState(&cfg, r)
	st.rec.add(0, 1)
	st.returning = true
	row := make([]float64, cfg.N)
	b, _ := encodeState(st, 7, row, row, row, row)
	if _, err := decodeState(b, &cfg, newRunState(&cfg, r)); err == nil || !strings.Contains(err.Error(), "return") {
		t.Errorf("a state returning with no crossing: %v", err)
	}
}
