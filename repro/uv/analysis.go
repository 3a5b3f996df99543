package uv

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/fit"
)

// Cell summarises one (activation, eta, gamma): its noisy runs and its
// noise-free twin.
type Cell struct {
	Act   string  `json:"activation"`
	Eta   float64 `json:"eta"`
	Gamma float64 `json:"gamma"`
	Beta  float64 `json:"beta"`
	// Tc is the geometric mean of the runs' timescales, LogTcSE the
	// standard error of its log over the seeds.
	Tc       repro.Finite `json:"tc"`
	LogTcSE  repro.Finite `json:"log_tc_se"`
	Crossed  int          `json:"crossed"`  // noisy runs that crossed and gave a timescale
	Censored int          `json:"censored"` // noisy runs stopped by the cap
	Diverged int          `json:"diverged"` // noisy runs that blew up
	// FitFailed counts the noisy runs that crossed but gave no timescale
	// (their fit failed: see fit_error in the runs); they are left out of
	// Tc, which the other runs still give.
	FitFailed int          `json:"fit_failed"`
	MeanStep  repro.Finite `json:"mean_cross_step"`
	// TwinCrossed: the noise-free twin crossed too (at TwinStep), so the
	// threshold is within reach of deterministic momentum relaxation and
	// the cell does not measure noise-driven drift; it is left out of the
	// fits. TwinNorm is where the twin stopped.
	TwinCrossed bool         `json:"twin_crossed"`
	TwinStep    int          `json:"twin_step"`
	TwinNorm    repro.Finite `json:"twin_norm"`
	Fitted      bool         `json:"fitted"` // used in the alpha fit
	Reason      string       `json:"excluded_because,omitempty"`
	// The settled criterion (see the package documentation): the mean
	// step at which the noisy runs came to rest under the threshold after
	// their noise-free return phase, over the runs that did (Settled);
	// SettleCensored and SettleFailed count the others, and the mean
	// energy at the crossing is CrossEnergy. A cell is in the alpha_settled
	// fit (SettleFitted) when it is in the alpha fit and every run that
	// crossed settled.
	Settled        int          `json:"settled"`
	Returns        repro.Finite `json:"mean_returns"` // return phases per settled run
	SettleCensored int          `json:"settle_censored"`
	SettleFailed   int          `json:"settle_failed"`
	MeanSettle     repro.Finite `json:"mean_settle_step"`
	CrossEnergy    repro.Finite `json:"mean_cross_energy"`
	SettleFitted   bool         `json:"settle_fitted"`
	SettleReason   string       `json:"settle_excluded_because,omitempty"`
}

// AlphaFit is T_c = T0 eta^-alpha for one gamma.
type AlphaFit struct {
	Value   repro.Finite `json:"value"`
	StdErr  repro.Finite `json:"stderr"`
	T0      repro.Finite `json:"t0"`
	LogT0SE repro.Finite `json:"log_t0_se"`
	Points  int          `json:"points"`
	Theory  float64      `json:"theory"`
}

// Activation is the analysis of one activation.
type Activation struct {
	Name  string              `json:"name"`
	Alpha map[string]AlphaFit `json:"alpha"` // keyed by gamma with 4 decimals
	// AlphaCross is the same fit of the mean step at which the runs
	// crossed the threshold (the training time itself) instead of T_c.
	AlphaCross map[string]AlphaFit `json:"alpha_crossing_time"`
	// AlphaSettled is the same fit of the mean settled step.
	AlphaSettled map[string]AlphaFit `json:"alpha_settled"`
	// SqrtLaw and TransientLaw are the two laws of the crossing time
	// fitted to the cells (see laws.go and docs/uv.md).
	SqrtLaw      Laws `json:"sqrt_law"`
	TransientLaw Laws `json:"transient_law"`
	// GammaStar is the gamma of smallest fitted alpha on the grid;
	// GammaHinge the corner of a hinge (two lines) fitted to alpha(gamma).
	GammaStar  repro.Finite `json:"gamma_star"`
	GammaHinge repro.Finite `json:"gamma_star_smooth"`
	HingeLeft  repro.Finite `json:"hinge_left_slope"`
	HingeRight repro.Finite `json:"hinge_right_slope"`
	// CFit is the C for which T0 is the same on both branches (see Fit).
	CFit      repro.Finite `json:"C_fit"`
	CFitLogSE repro.Finite `json:"C_fit_log_se"`
	CTheory   float64      `json:"C_theory"`
	Note      string       `json:"note,omitempty"`
	Cells     []Cell       `json:"cells"`
}

func gammaKey(g float64) string { return strconv.FormatFloat(g, 'f', 4, 64) }

// Analyze groups the runs into cells and fits each activation.
func Analyze(cfg *Config, s *Setup, results []RunResult) []Activation {
	type key struct {
		act        string
		eta, gamma float64
	}
	cells := map[key]*Cell{}
	logs := map[key][]float64{}
	steps := map[key][]float64{}
	settles := map[key][]float64{}
	returns := map[key][]float64{}
	energies := map[key][]float64{}
	for _, r := range results {
		k := key{r.Act, r.Eta, r.Gamma}
		c := cells[k]
		if c == nil {
			c = &Cell{Act: r.Act, Eta: r.Eta, Gamma: r.Gamma, Beta: r.Beta}
			cells[k] = c
		}
		if r.Twin() {
			c.TwinCrossed, c.TwinStep, c.TwinNorm = r.Crossed, r.CrossStep, r.FinalNorm
			continue
		}
		switch {
		case !r.Crossed:
		case r.SettleStep > 0:
			c.Settled++
			settles[k] = append(settles[k], float64(r.SettleStep))
			returns[k] = append(returns[k], float64(r.Returns))
		case r.SettleCensored:
			c.SettleCensored++
		default:
			c.SettleFailed++
		}
		if r.Crossed && r.Steps > r.CrossStep {
			energies[k] = append(energies[k], float64(r.CrossEnergy))
		}
		switch {
		case r.Diverged && !r.Crossed:
			c.Diverged++
		case r.Censored:
			c.Censored++
		case r.Crossed && r.Tc > 0:
			c.Crossed++
			logs[k] = append(logs[k], math.Log(float64(r.Tc)))
			steps[k] = append(steps[k], float64(r.CrossStep))
		default:
			c.FitFailed++
		}
	}
	var out []Activation
	for _, act := range cfg.Activations {
		a := Activation{Name: act, Alpha: map[string]AlphaFit{}, AlphaCross: map[string]AlphaFit{}, AlphaSettled: map[string]AlphaFit{}, CTheory: s.CTheory}
		var gammas, alphas []float64
		left, right := [][2]float64{}, [][2]float64{} // (log T0, SE) per branch
		type g0 struct{ gamma, logT0, se float64 }
		var t0s []g0
		for _, gamma := range cfg.Gammas {
			var etas, tcs, crosses, setEtas, setSteps []float64
			for _, eta := range cfg.Etas {
				k := key{act, eta, gamma}
				c := cells[k]
				if c == nil {
					continue
				}
				if len(logs[k]) > 0 {
					m, se := fit.MeanSE(logs[k])
					c.Tc, c.LogTcSE = repro.Finite(math.Exp(m)), repro.Finite(se)
					ms, _ := fit.MeanSE(steps[k])
					c.MeanStep = repro.Finite(ms)
				}
				c.MeanSettle, c.CrossEnergy, c.Returns = repro.Finite(math.NaN()), repro.Finite(math.NaN()), repro.Finite(math.NaN())
				if len(settles[k]) > 0 {
					m, _ := fit.MeanSE(settles[k])
					c.MeanSettle = repro.Finite(m)
					m, _ = fit.MeanSE(returns[k])
					c.Returns = repro.Finite(m)
				}
				if len(energies[k]) > 0 {
					m, _ := fit.MeanSE(energies[k])
					c.CrossEnergy = repro.Finite(m)
				}
				switch {
				case c.Diverged > 0:
					c.Reason = fmt.Sprintf("%d of %d runs diverged", c.Diverged, cfg.Seeds)
				case c.Censored > 0:
					c.Reason = fmt.Sprintf("%d of %d runs hit the step cap (censored)", c.Censored, cfg.Seeds)
				case c.TwinCrossed:
					c.Reason = fmt.Sprintf("the noise-free twin crossed too (step %d): deterministic relaxation, not drift", c.TwinStep)
				case c.Crossed == 0:
					c.Reason = fmt.Sprintf("no run gave a timescale (%d of %d fits failed)", c.FitFailed, cfg.Seeds)
				default:
					c.Fitted = true
					etas = append(etas, eta)
					tcs = append(tcs, float64(c.Tc))
					crosses = append(crosses, float64(c.MeanStep))
				}
				switch {
				case !c.Fitted:
					c.SettleReason = "not in the alpha fit"
				case c.SettleCensored > 0:
					c.SettleReason = fmt.Sprintf("%d runs reached the step cap in their return phase", c.SettleCensored)
				case c.SettleFailed > 0:
					c.SettleReason = fmt.Sprintf("%d runs diverged after crossing", c.SettleFailed)
				case c.Settled == 0:
					c.SettleReason = "no run settled"
				default:
					c.SettleFitted = true
					setEtas = append(setEtas, eta)
					setSteps = append(setSteps, float64(c.MeanSettle))
				}
				a.Cells = append(a.Cells, *c)
			}
			// A fit over less than half of the learning rates (the rest
			// censored, diverged or deterministic) would speak for a
			// different range; it is not reported.
			minCells := max(3, (len(cfg.Etas)+1)/2)
			af := noFit(len(etas), math.Max(gamma, 2-2*gamma))
			if len(etas) >= minCells {
				if p, err := fit.FitPowerLaw(etas, tcs); err == nil {
					af = fromPowerLaw(p, af.Theory)
					gammas = append(gammas, gamma)
					alphas = append(alphas, p.Alpha)
					t0s = append(t0s, g0{gamma, math.Log(p.Y0), p.SELogY0})
				}
			}
			a.Alpha[gammaKey(gamma)] = af
			ac := noFit(len(etas), af.Theory)
			if len(etas) >= minCells {
				if p, err := fit.FitPowerLaw(etas, crosses); err == nil {
					ac = fromPowerLaw(p, af.Theory)
				}
			}
			a.AlphaCross[gammaKey(gamma)] = ac
			as := noFit(len(setEtas), af.Theory)
			if len(setEtas) >= minCells {
				if p, err := fit.FitPowerLaw(setEtas, setSteps); err == nil {
					as = fromPowerLaw(p, af.Theory)
				}
			}
			a.AlphaSettled[gammaKey(gamma)] = as
		}
		nan := repro.Finite(math.NaN())
		a.GammaStar, a.GammaHinge, a.HingeLeft, a.HingeRight = nan, nan, nan, nan
		a.CFit, a.CFitLogSE = nan, nan
		if len(alphas) > 0 {
			best := 0
			for i := range alphas {
				if alphas[i] < alphas[best] {
					best = i
				}
			}
			a.GammaStar = repro.Finite(gammas[best])
		}
		if h, err := fit.FitHinge(gammas, alphas); err == nil && h.Left < 0 && h.Right > 0 {
			a.GammaHinge, a.HingeLeft, a.HingeRight = repro.Finite(h.X), repro.Finite(h.Left), repro.Finite(h.Right)
			// C from the branch prefactors: T0 ~ C^2 where drift limits
			// (left), T0 ~ 1/C where relaxation limits (right); the C that
			// makes them equal is C_run (T0_right/T0_left)^(1/3).
			for _, t := range t0s {
				if t.gamma < h.X {
					left = append(left, [2]float64{t.logT0, t.se})
				} else {
					right = append(right, [2]float64{t.logT0, t.se})
				}
			}
			if len(left) > 0 && len(right) > 0 {
				ml, sl := meanLog(left)
				mr, sr := meanLog(right)
				a.CFit = repro.Finite(s.CRun * math.Exp((mr-ml)/3))
				a.CFitLogSE = repro.Finite(math.Sqrt(sl*sl+sr*sr) / 3)
			}
		} else if len(alphas) >= 4 {
			a.Note = "alpha(gamma) has no V shape to fit a corner to"
		}
		sort.SliceStable(a.Cells, func(i, j int) bool {
			if a.Cells[i].Gamma != a.Cells[j].Gamma {
				return a.Cells[i].Gamma < a.Cells[j].Gamma
			}
			return a.Cells[i].Eta < a.Cells[j].Eta
		})
		a.SqrtLaw, a.TransientLaw = fitLaws(cfg, s, act, a.Cells)
		out = append(out, a)
	}
	return out
}

func noFit(points int, theory float64) AlphaFit {
	nan := repro.Finite(math.NaN())
	return AlphaFit{Points: points, Theory: theory, Value: nan, StdErr: nan, T0: nan, LogT0SE: nan}
}

func fromPowerLaw(p fit.PowerLaw, theory float64) AlphaFit {
	return AlphaFit{Value: repro.Finite(p.Alpha), StdErr: repro.Finite(p.SEAlpha), T0: repro.Finite(p.Y0),
		LogT0SE: repro.Finite(p.SELogY0), Points: p.N, Theory: theory}
}

// meanLog averages log T0 values and returns the standard error of the
// mean from their own SEs (independent fits).
func meanLog(v [][2]float64) (mean, se float64) {
	var s2 float64
	for _, x := range v {
		mean += x[0]
		if !math.IsNaN(x[1]) {
			s2 += x[1] * x[1]
		}
	}
	n := float64(len(v))
	return mean / n, math.Sqrt(s2) / n
}
