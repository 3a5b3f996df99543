package classify

import (
	"fmt"
	"math"
	"sort"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/fit"
	"github.com/flatfast/flatfast/repro/valley"
)

// The observables eq. 14 is fitted on (results.json's fits.<name>).
const (
	ObsTestAccuracy = "test_accuracy" // after the return: the paper's observable
	ObsHessianTrace = "hessian_trace" // at the end of the noisy phase: lower is better
)

// PaperC is the prefactor of the paper's fitted rule 1 - beta* = C eta^gamma
// (Fig. 2b, ResNet-18 on CIFAR-10: C = 0.11 at gamma = 0.660); the
// FashionMNIST figure gives no C, so the "2/3 rule" beside both uses it.
const PaperC = 0.11

// Results is everything results.json holds: a pure function of the
// configuration (timings are in perf.json).
type Results struct {
	Settings  Config                    `json:"settings"`
	Valley    ValleyPoint               `json:"valley"`
	Runs      []RunSummary              `json:"runs"`
	Fits      map[string]ObservableFits `json:"fits"`
	Baselines []BaselineRow             `json:"baselines"`
	Paper     Paper                     `json:"paper"`

	curves [][]valley.Observation // per run, for curves.csv and the figures
}

// ValleyPoint is what phase 1 found.
type ValleyPoint struct {
	Epochs        int          `json:"epochs"`
	Reached       bool         `json:"reached_100_percent"`
	TrainAccuracy float64      `json:"train_accuracy"`
	TestAccuracy  float64      `json:"test_accuracy"`
	Trace         repro.Finite `json:"hessian_trace"`
	TraceStderr   repro.Finite `json:"hessian_trace_stderr"`
	TraceProbes   int          `json:"hessian_trace_probes"`
}

// RunSummary is a run's final figures.
type RunSummary struct {
	Run
	ID       string `json:"id"`
	Diverged string `json:"diverged,omitempty"`
	// Collapsed: at the end of the noisy phase the clean training accuracy
	// was at most twice chance (2/K): the run has left the valley's basin
	// (momentum too close to 1 for its eta), so its Hessian trace says
	// nothing about the valley's flatness and is left out of the trace
	// fit; its test accuracy, the observable itself, stays in.
	Collapsed bool `json:"collapsed,omitempty"`
	// After the return (the paper's measurement point).
	// NaN (null in JSON) for a run that diverged.
	TestAccuracy  repro.Finite `json:"test_accuracy"`
	TestLoss      repro.Finite `json:"test_loss"`
	TrainAccuracy repro.Finite `json:"train_accuracy"`
	ReturnSteps   int          `json:"return_steps"`
	ReturnReached bool         `json:"return_reached"`
	// At the end of the noisy phase.
	NoisyTestAccuracy  repro.Finite `json:"noisy_end_test_accuracy"`
	NoisyTrainAccuracy repro.Finite `json:"noisy_end_train_accuracy"`
	// The Hessian trace at the end of the noisy phase and after the
	// return (NaN, null in JSON, when not measured).
	Trace         repro.Finite `json:"hessian_trace_noisy_end"`
	TraceStderr   repro.Finite `json:"hessian_trace_noisy_end_stderr"`
	TraceReturn   repro.Finite `json:"hessian_trace_after_return"`
	TraceReturnSE repro.Finite `json:"hessian_trace_after_return_stderr"`
}

// ObservableFits are an observable's eq. 14 fits and its exponent.
type ObservableFits struct {
	Measured string `json:"measured"`
	Lower    bool   `json:"lower_is_better"`
	// BetaStar is keyed by eta as the settings write it.
	BetaStar map[string]BetaStar `json:"beta_star"`
	Exponent Exponent            `json:"exponent"`
}

// BetaStar is one eta's eq. 14 fit.
type BetaStar struct {
	Value    repro.Finite `json:"value"`
	Stderr   repro.Finite `json:"stderr"`
	Resolved bool         `json:"resolved"`
	// Why (one of fit's Reason constants) and Reason (with the numbers)
	// say why a fit is not resolved.
	Why    string `json:"why,omitempty"`
	Reason string `json:"reason,omitempty"`
	// The fitted curve (zero unless resolved) and the grid's best point.
	Best             repro.Finite `json:"a_best"`
	BestStderr       repro.Finite `json:"a_best_stderr"`
	A1               repro.Finite `json:"a1"`
	A2               repro.Finite `json:"a2"`
	Var              string       `json:"var"`
	BestObservedBeta float64      `json:"best_observed_beta"`
	BestObserved     float64      `json:"best_observed"`
	Points           int          `json:"points"`
}

// Exponent is the power law 1 - beta* = C eta^gamma over the resolved
// etas, with gamma as "value".
type Exponent struct {
	Value    repro.Finite `json:"value"`
	Stderr   repro.Finite `json:"stderr"`
	C        repro.Finite `json:"C"`
	CStderr  repro.Finite `json:"C_stderr"`
	Points   int          `json:"points"`
	Resolved bool         `json:"resolved"`
	Why      string       `json:"why,omitempty"`
}

// BaselineRow is one baseline at one eta, beside the fitted optima.
type BaselineRow struct {
	Name  string  `json:"name"`
	Eta   float64 `json:"eta"`
	Beta  float64 `json:"beta"`
	Seeds int     `json:"seeds"` // runs that did not diverge
	// Means over the seeds that did not diverge.
	TestAccuracy repro.Finite `json:"test_accuracy"`
	Trace        repro.Finite `json:"hessian_trace_noisy_end"`
}

// Paper holds the paper's numbers the report sets beside the measured.
type Paper struct {
	Gamma       float64 `json:"gamma_theory"`
	FigureGamma float64 `json:"gamma_fitted_fig2b"`
	FigureC     float64 `json:"C_fig2b"`
	Note        string  `json:"note"`
}

func nan() repro.Finite { return repro.Finite(math.NaN()) }

// summarize reads a run's figures off its curve.
func summarize(r Run, res runResult, classes int) RunSummary {
	s := RunSummary{Run: r, ID: r.ID(), Diverged: res.Diverged, ReturnSteps: res.ReturnSteps, ReturnReached: res.ReturnReached,
		Trace: nan(), TraceStderr: nan(), TraceReturn: nan(), TraceReturnSE: nan()}
	if res.Diverged != "" {
		s.TestAccuracy, s.TrainAccuracy, s.NoisyTestAccuracy, s.NoisyTrainAccuracy = nan(), nan(), nan(), nan()
		s.TestLoss = nan()
		return s
	}
	for _, o := range res.Curve {
		switch o.Phase {
		case valley.PhaseNoisy:
			s.NoisyTestAccuracy, s.NoisyTrainAccuracy = repro.Finite(o.TestAcc), repro.Finite(o.TrainAcc)
			s.Collapsed = o.TrainAcc <= 2/float64(max(1, classes))
			if o.TraceProbes > 0 {
				s.Trace, s.TraceStderr = repro.Finite(o.Trace), repro.Finite(o.TraceSE)
			}
		case valley.PhaseReturn:
			s.TestAccuracy, s.TestLoss, s.TrainAccuracy = repro.Finite(o.TestAcc), repro.Finite(o.TestLoss), repro.Finite(o.TrainAcc)
			if o.TraceProbes > 0 {
				s.TraceReturn, s.TraceReturnSE = repro.Finite(o.Trace), repro.Finite(o.TraceSE)
			}
		}
	}
	return s
}

// accuracyValue and traceValue are what the fits (and the figures that
// show them) take of a run: NaN leaves it out.
func accuracyValue(s RunSummary) float64 { return float64(s.TestAccuracy) }

func traceValue(s RunSummary) float64 {
	if s.Collapsed {
		return math.NaN()
	}
	return float64(s.Trace)
}

// analyse fits eq. 14 per eta on both observables, the exponents, and
// the baselines' rows.
func analyse(c *Config, vp ValleyPoint, runs []RunSummary) (*Results, error) {
	res := &Results{Settings: *c, Valley: vp, Runs: runs, Fits: map[string]ObservableFits{},
		Paper: Paper{Gamma: 2.0 / 3, FigureGamma: 0.660, FigureC: PaperC,
			Note: "Fig. 5 (FashionMNIST) gives the exponent as consistent with 2/3, without a C; Fig. 2b (CIFAR-10) fits gamma* = 0.660, C = 0.11"}}
	v, _ := c.Fit.variable()
	for _, obs := range []struct {
		name, where string
		lower       bool
		value       func(RunSummary) float64
	}{
		{ObsTestAccuracy, "test accuracy after the return phase", false, accuracyValue},
		{ObsHessianTrace, "Hutchinson trace of the expected label-noise training loss at the end of the noisy phase (collapsed runs left out)", true, traceValue},
	} {
		of := ObservableFits{Measured: obs.where, Lower: obs.lower, BetaStar: map[string]BetaStar{}}
		var fits []fit.Eq14
		for _, eta := range c.Noisy.Etas {
			var b, y []float64
			for _, s := range runs {
				if s.Eta == eta && s.Grid && s.Diverged == "" {
					if x := obs.value(s); !math.IsNaN(x) {
						b, y = append(b, s.Beta), append(y, x)
					}
				}
			}
			f, err := fit.FitEq14(b, y, fit.Eq14Options{Lower: obs.lower, Var: fit.Eq14Var(v), MinSlopeZ: c.Fit.MinSlopeZ})
			if err != nil {
				return nil, fmt.Errorf("eq. 14 on %s at eta %v: %w", obs.name, eta, err)
			}
			fits = append(fits, f)
			bs := BetaStar{Resolved: f.Resolved, Why: f.Why, Reason: f.Reason, Var: c.Fit.Var, BestObservedBeta: f.BestObservedBeta, BestObserved: f.BestObserved, Points: f.N,
				Value: nan(), Stderr: nan(), Best: nan(), BestStderr: nan(), A1: nan(), A2: nan()}
			if f.Resolved {
				bs.Value, bs.Stderr = repro.Finite(f.BetaStar), repro.Finite(f.SEBetaStar)
				bs.Best, bs.BestStderr, bs.A1, bs.A2 = repro.Finite(f.Best), repro.Finite(f.SEBest), repro.Finite(f.A1), repro.Finite(f.A2)
			}
			of.BetaStar[FormatEta(eta)] = bs
		}
		of.Exponent = Exponent{Value: nan(), Stderr: nan(), C: nan(), CStderr: nan()}
		if e, err := fit.FitExponentEq14(c.Noisy.Etas, fits); err != nil {
			of.Exponent.Why = err.Error()
		} else {
			of.Exponent = Exponent{Value: repro.Finite(e.Gamma), Stderr: repro.Finite(e.SEGamma), C: repro.Finite(e.C), CStderr: repro.Finite(e.SEC), Points: e.N, Resolved: true}
		}
		res.Fits[obs.name] = of
	}
	for _, eta := range c.Noisy.Etas {
		for _, name := range c.Noisy.Baselines {
			beta := BaselineBeta(name, eta)
			row := BaselineRow{Name: name, Eta: eta, Beta: beta}
			var acc, tr []float64
			for _, s := range runs {
				if s.Eta == eta && s.Beta == beta && s.Diverged == "" {
					row.Seeds++
					acc = append(acc, float64(s.TestAccuracy))
					if !math.IsNaN(float64(s.Trace)) {
						tr = append(tr, float64(s.Trace))
					}
				}
			}
			row.TestAccuracy, row.Trace = repro.Finite(mean(acc)), repro.Finite(mean(tr))
			res.Baselines = append(res.Baselines, row)
		}
	}
	return res, nil
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// betaMeans returns, for eta, the grid's betas (ascending) and the mean
// of value over each beta's seeds that did not diverge (NaN: none).
func betaMeans(runs []RunSummary, eta float64, grid bool, value func(RunSummary) float64) (betas, means []float64) {
	sum, n := map[float64]float64{}, map[float64]int{}
	for _, s := range runs {
		if s.Eta != eta || (grid && !s.Grid) {
			continue
		}
		if _, ok := n[s.Beta]; !ok {
			betas = append(betas, s.Beta)
			n[s.Beta] = 0
		}
		if x := value(s); s.Diverged == "" && !math.IsNaN(x) {
			sum[s.Beta] += x
			n[s.Beta]++
		}
	}
	sort.Float64s(betas)
	for _, b := range betas {
		if n[b] == 0 {
			means = append(means, math.NaN())
		} else {
			means = append(means, sum[b]/float64(n[b]))
		}
	}
	return betas, means
}

// rule23 is the 2/3 rule's momentum at eta with the paper's C.
func rule23(eta float64) float64 { return 1 - PaperC*math.Pow(eta, 2.0/3) }
