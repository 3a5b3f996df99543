package uv

import (
	"math"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/fit"
)

// Two laws of the time the norm takes to cross its threshold from the
// valley start, fitted to the cells so that the report can say which one
// the measurements follow (docs/uv.md, "The right branch", derives both).
//
// The sqrt law, T = k sqrt(tau1 tau2), is the guess of issue 19: the
// transverse variance grows linearly over tau1 and drives the drift at
// the rate 1/tau2 once grown. It is fitted on the cells with gamma > 2/3
// only, where it is meant to hold, and implies alpha = 1 - gamma/2.
//
// The transient law is what the linearised dynamics give (docs/uv.md):
// from a start on the valley with zero velocity, the transverse variance
// grows as V(t) = V_inf (1 - beta^t), the drift force is proportional to
// V, and the longitudinal velocity is that force accumulated by the
// momentum, so that log N falls by (2/tau2) G(t) with
// G(t) = t - (2/r)(1 - e^(-r t)) + t e^(-r t), r = 1 - beta. The crossing
// time solves G(T) = kappa ell tau2 / 2, ell = log(N0/threshold); kappa is
// 1 for the linear model (eq. 9's tau2) and is fitted per activation,
// one number over every gamma. G is r^2 t^3/6 while r t << 1 (T does not
// depend on gamma: alpha = 2/3) and t - 2/r once r t >> 1 (alpha =
// 2 - 2 gamma).

// Laws is one law fitted to an activation's cells, to the mean crossing
// step and to T_c (the slope of log N over the fit window before it).
type Laws struct {
	Crossing LawFit `json:"crossing_time"`
	Tc       LawFit `json:"tc"`
}

// LawFit is one law with its one fitted number.
type LawFit struct {
	// Prefactor is k of the sqrt law, kappa (the scale of tau2) of the
	// transient law; LogSE the standard error of its log.
	Prefactor repro.Finite `json:"prefactor"`
	LogSE     repro.Finite `json:"log_prefactor_se"`
	Points    int          `json:"points"`
	// RMSLogResidual and MaxLogResidual are over the fitted cells, of
	// log(measured/law): a law of the right shape leaves residuals of
	// the size of the seeds' scatter.
	RMSLogResidual repro.Finite `json:"rms_log_residual"`
	MaxLogResidual repro.Finite `json:"max_abs_log_residual"`
	// Alpha is the exponent the fitted law implies per gamma, from a
	// power-law fit of the law's values over that gamma's fitted
	// learning rates (the same fit the measured alpha gets).
	Alpha map[string]repro.Finite `json:"alpha"`
}

// transientG is G(t) above.
func transientG(t, r float64) float64 {
	e := math.Exp(-r * t)
	return t - 2/r*(-math.Expm1(-r*t)) + t*e
}

// transientTime solves G(T) = target for T >= 0 (G is increasing).
func transientTime(target, r float64) float64 {
	if !(target > 0) {
		return 0
	}
	lo, hi := 0.0, 1.0
	for transientG(hi, r) < target {
		hi *= 2
		if math.IsInf(hi, 0) {
			return math.Inf(1)
		}
	}
	for i := 0; i < 200 && hi-lo > 1e-12*hi; i++ {
		m := (lo + hi) / 2
		if transientG(m, r) < target {
			lo = m
		} else {
			hi = m
		}
	}
	return (lo + hi) / 2
}

// lawCell is what the laws need of a fitted cell.
type lawCell struct {
	gamma, eta, r, tau2 float64
	cross, tc           float64
}

// transientPredict is the law's crossing time and T_c for a cell, with
// tau2 scaled by kappa.
func transientPredict(c lawCell, kappa, ell, efolds float64) (cross, tc float64) {
	t2 := kappa * c.tau2
	cross = transientTime(ell*t2/2, c.r)
	t1 := 0.0
	if ell > efolds {
		t1 = transientTime((ell-efolds)*t2/2, c.r)
	}
	return cross, (cross - t1) / math.Min(efolds, ell)
}

// fitLaws fits both laws to the fitted cells of one activation.
func fitLaws(cfg *Config, s *Setup, act string, cells []Cell) (sqrt, transient Laws) {
	ell := math.Log(normOf(s.startFor(act), s.V0) / (cfg.Threshold * float64(cfg.N)))
	var cs []lawCell
	for _, c := range cells {
		if !c.Fitted {
			continue
		}
		r := 1 - c.Beta
		t2 := 2 * float64(cfg.N*cfg.P) * s.CRun * s.CRun / (cfg.Eps * cfg.Eps * s.Mu2 * math.Pow(c.Eta, 2-2*c.Gamma))
		cs = append(cs, lawCell{gamma: c.Gamma, eta: c.Eta, r: r, tau2: t2, cross: float64(c.MeanStep), tc: float64(c.Tc)})
	}
	var right []lawCell
	for _, c := range cs {
		if c.gamma > 2.0/3+1e-9 {
			right = append(right, c)
		}
	}
	sqrtOf := func(c lawCell) float64 { return math.Sqrt(2 / c.r * c.tau2) }
	sqrt.Crossing = fitScale(cfg, right, func(c lawCell, k float64) float64 { return k * sqrtOf(c) }, true)
	sqrt.Tc = fitScale(cfg, right, func(c lawCell, k float64) float64 { return k * sqrtOf(c) }, false)
	if !(ell > 0) {
		// The start is under the threshold: no crossing to predict.
		transient.Crossing, transient.Tc = noLaw(len(cs)), noLaw(len(cs))
		return sqrt, transient
	}
	transient.Crossing = fitScale(cfg, cs, func(c lawCell, k float64) float64 { t, _ := transientPredict(c, k, ell, cfg.FitEFolds); return t }, true)
	transient.Tc = fitScale(cfg, cs, func(c lawCell, k float64) float64 { _, t := transientPredict(c, k, ell, cfg.FitEFolds); return t }, false)
	return sqrt, transient
}

func noLaw(points int) LawFit {
	nan := repro.Finite(math.NaN())
	return LawFit{Prefactor: nan, LogSE: nan, Points: points, RMSLogResidual: nan, MaxLogResidual: nan, Alpha: map[string]repro.Finite{}}
}

// fitScale fits the one number k of law(cell, k) to the cells' crossing
// steps (crossing) or T_c, by least squares in log: golden-section search
// over log k (the law is increasing in k). Its standard error is the
// residuals' scatter over the root sum of squares of the elasticities
// d log law / d log k.
func fitScale(cfg *Config, cs []lawCell, law func(lawCell, float64) float64, crossing bool) LawFit {
	out := noLaw(len(cs))
	meas := func(c lawCell) float64 {
		if crossing {
			return c.cross
		}
		return c.tc
	}
	var use []lawCell
	for _, c := range cs {
		if m := meas(c); m > 0 && !math.IsInf(m, 0) {
			use = append(use, c)
		}
	}
	out.Points = len(use)
	if len(use) < 2 {
		return out
	}
	sse := func(lk float64) float64 {
		var s float64
		for _, c := range use {
			d := math.Log(meas(c)) - math.Log(law(c, math.Exp(lk)))
			s += d * d
		}
		return s
	}
	lo, hi := math.Log(1e-4), math.Log(1e4)
	const phi = 0.6180339887498949
	a, b := hi-phi*(hi-lo), lo+phi*(hi-lo)
	fa, fb := sse(a), sse(b)
	for i := 0; i < 200 && hi-lo > 1e-12; i++ {
		if fa < fb {
			hi, b, fb = b, a, fa
			a = hi - phi*(hi-lo)
			fa = sse(a)
		} else {
			lo, a, fa = a, b, fb
			b = lo + phi*(hi-lo)
			fb = sse(b)
		}
	}
	lk := (lo + hi) / 2
	k := math.Exp(lk)
	var s2, el2, maxR float64
	for _, c := range use {
		d := math.Log(meas(c)) - math.Log(law(c, k))
		s2 += d * d
		maxR = math.Max(maxR, math.Abs(d))
		const h = 1e-4
		e := (math.Log(law(c, k*math.Exp(h))) - math.Log(law(c, k*math.Exp(-h)))) / (2 * h)
		el2 += e * e
	}
	nu := float64(len(use))
	out.Prefactor, out.RMSLogResidual, out.MaxLogResidual = repro.Finite(k), repro.Finite(math.Sqrt(s2/nu)), repro.Finite(maxR)
	if len(use) > 1 && el2 > 0 {
		out.LogSE = repro.Finite(math.Sqrt(s2/(nu-1)) / math.Sqrt(el2))
	}
	byGamma := map[float64][]lawCell{}
	for _, c := range use {
		byGamma[c.gamma] = append(byGamma[c.gamma], c)
	}
	for _, g := range cfg.Gammas {
		gc := byGamma[g]
		if len(gc) < 2 {
			continue
		}
		var x, y []float64
		for _, c := range gc {
			x = append(x, c.eta)
			y = append(y, law(c, k))
		}
		if p, err := fit.FitPowerLaw(x, y); err == nil {
			out.Alpha[gammaKey(g)] = repro.Finite(p.Alpha)
		}
	}
	return out
}
