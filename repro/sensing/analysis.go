package sensing

import (
	"math"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/fit"
)

// BetaSummary summarises the runs of one beta (curves averaged over the
// seeds at each recorded step).
type BetaSummary struct {
	Beta float64 `json:"beta"`
	// Steps to threshold of the mean curves; null when not reached in the
	// run (censored).
	TestStep  repro.Finite `json:"test_threshold_step"`
	TraceStep repro.Finite `json:"trace_threshold_step"`
	// Per-seed threshold steps (null: not reached).
	TestSteps  []repro.Finite `json:"test_threshold_step_per_seed"`
	TraceSteps []repro.Finite `json:"trace_threshold_step_per_seed"`
	// The figures are Finite (null when not finite) so that a degenerate
	// sweep still writes its results.json.
	MinTest    repro.Finite `json:"min_test_error"`
	MinTrace   repro.Finite `json:"min_hessian_trace"`
	FinalTest  repro.Finite `json:"final_test_error"`
	FinalTrace repro.Finite `json:"final_hessian_trace"`
	// Epoch-wise double descent of the mean test error: the largest rise
	// above the running minimum (DDMin) to a peak (DDPeak at DDPeakStep)
	// after which the error falls below DDMin again; present when the
	// peak exceeds the minimum by more than 10%.
	DDMin      float64 `json:"double_descent_min"`
	DDPeak     float64 `json:"double_descent_peak"`
	DDPeakStep int     `json:"double_descent_peak_step"`
	DDPresent  bool    `json:"double_descent"`
	// The highest test error reached at all (the early transient peak that
	// grows as beta -> 1).
	MaxTest repro.Finite `json:"max_test_error"`
}

// Optimum is beta* for one measure.
type Optimum struct {
	// BetaGrid is the beta with the fewest steps to threshold; Beta the
	// corner of a hinge fitted to log(steps) against log10(1-beta) over
	// the betas that reached the threshold (NaN with fewer than 4).
	BetaGrid repro.Finite `json:"beta_star_grid"`
	Beta     repro.Finite `json:"beta_star"`
	C        repro.Finite `json:"C_star"` // (1 - beta*)/eta^(2/3), from Beta (or BetaGrid)
}

// Analysis is the sweep's summary.
type Analysis struct {
	Betas      []BetaSummary `json:"betas"`
	TestOpt    Optimum       `json:"test_error"`
	TraceOpt   Optimum       `json:"hessian_trace"`
	SameOpt    bool          `json:"same_beta_star_on_grid"`
	TraceFloor float64       `json:"trace_floor"`
	TraceLimit float64       `json:"trace_threshold"`
	TestLimit  float64       `json:"test_threshold"`
	// The paper's values for this P and eta.
	PaperBetaStar float64      `json:"paper_beta_star"`
	PaperC        float64      `json:"paper_C_star"` // 0.24 P^(-1/3)
	AppendixDC    float64      `json:"appendix_d_C"` // 0.12 P^(-1/3)
	Hutchinson    []HutchCheck `json:"hutchinson_checks"`
	HutchinsonOK  bool         `json:"hutchinson_within_3_stderr"`
}

// Analyze summarises the curves of a finished sweep.
func Analyze(cfg *Config, pr *Problem, runs []Run, allCurves []Curve, hutch []HutchCheck) Analysis {
	a := Analysis{
		TraceFloor: pr.TraceFloor, TraceLimit: cfg.TraceFactor * pr.TraceFloor, TestLimit: cfg.TestThreshold,
		PaperBetaStar: PaperBetaStar(cfg.P, cfg.Eta), PaperC: 0.24 * math.Cbrt(1/float64(cfg.P)), AppendixDC: 0.12 * math.Cbrt(1/float64(cfg.P)),
		Hutchinson: hutch, HutchinsonOK: true,
	}
	for _, h := range hutch {
		if !(h.Sigmas <= 3) {
			a.HutchinsonOK = false
		}
	}
	for _, beta := range cfg.Betas {
		var curves []Curve
		for i, r := range runs {
			if r.Beta == beta {
				curves = append(curves, allCurves[i])
			}
		}
		a.Betas = append(a.Betas, summarise(beta, curves, a.TestLimit, a.TraceLimit))
	}
	pick := func(get func(BetaSummary) repro.Finite) Optimum {
		var xs, ys []float64
		best, bestStep := math.NaN(), math.Inf(1)
		for _, b := range a.Betas {
			s := float64(get(b))
			if math.IsNaN(s) {
				continue
			}
			if s < bestStep {
				best, bestStep = b.Beta, s
			}
			if b.Beta > 0 {
				xs = append(xs, math.Log10(1-b.Beta))
				ys = append(ys, math.Log(math.Max(s, 1)))
			}
		}
		o := Optimum{BetaGrid: repro.Finite(best), Beta: repro.Finite(math.NaN())}
		star := best
		if h, err := fit.FitHinge(xs, ys); err == nil && h.Left < 0 && h.Right > 0 {
			// Left/Right are in log10(1-beta): a V in log time.
			o.Beta = repro.Finite(1 - math.Pow(10, h.X))
			star = float64(o.Beta)
		}
		o.C = repro.Finite((1 - star) / math.Pow(cfg.Eta, 2.0/3))
		return o
	}
	a.TestOpt = pick(func(b BetaSummary) repro.Finite { return b.TestStep })
	a.TraceOpt = pick(func(b BetaSummary) repro.Finite { return b.TraceStep })
	a.SameOpt = float64(a.TestOpt.BetaGrid) == float64(a.TraceOpt.BetaGrid)
	return a
}

// meanCurve averages curves recorded at the same steps.
func meanCurve(cs []Curve) Curve {
	if len(cs) == 0 {
		return Curve{}
	}
	m := Curve{Steps: cs[0].Steps}
	n := len(cs[0].Steps)
	m.TestError, m.Trace, m.TrainLoss = make([]float64, n), make([]float64, n), make([]float64, n)
	for _, c := range cs {
		for k := 0; k < n; k++ {
			m.TestError[k] += c.TestError[k] / float64(len(cs))
			m.Trace[k] += c.Trace[k] / float64(len(cs))
			m.TrainLoss[k] += c.TrainLoss[k] / float64(len(cs))
		}
	}
	return m
}

func firstBelow(steps []int, v []float64, limit float64) repro.Finite {
	for k, x := range v {
		if x < limit {
			return repro.Finite(steps[k])
		}
	}
	return repro.Finite(math.NaN())
}

func summarise(beta float64, cs []Curve, testLimit, traceLimit float64) BetaSummary {
	m := meanCurve(cs)
	if len(m.Steps) == 0 {
		// Nothing recorded (an analysis of a sweep before its first
		// step): no figures rather than an index out of range.
		nan := math.NaN()
		return BetaSummary{Beta: beta, TestStep: repro.Finite(nan), TraceStep: repro.Finite(nan),
			MinTest: repro.Finite(nan), MinTrace: repro.Finite(nan), FinalTest: repro.Finite(nan), FinalTrace: repro.Finite(nan), MaxTest: repro.Finite(nan)}
	}
	b := BetaSummary{Beta: beta, TestStep: firstBelow(m.Steps, m.TestError, testLimit), TraceStep: firstBelow(m.Steps, m.Trace, traceLimit)}
	for _, c := range cs {
		b.TestSteps = append(b.TestSteps, firstBelow(c.Steps, c.TestError, testLimit))
		b.TraceSteps = append(b.TraceSteps, firstBelow(c.Steps, c.Trace, traceLimit))
	}
	minTest, minTrace, maxTest := math.Inf(1), math.Inf(1), 0.0
	for k := range m.Steps {
		minTest = math.Min(minTest, m.TestError[k])
		minTrace = math.Min(minTrace, m.Trace[k])
		maxTest = math.Max(maxTest, m.TestError[k])
	}
	b.MinTest, b.MinTrace, b.MaxTest = repro.Finite(minTest), repro.Finite(minTrace), repro.Finite(maxTest)
	last := len(m.Steps) - 1
	b.FinalTest, b.FinalTrace = repro.Finite(m.TestError[last]), repro.Finite(m.Trace[last])
	// Double descent: the largest rise of the mean test error above its
	// running minimum that is followed by a descent below that minimum.
	t := m.TestError
	runMin := t[0]
	for j := 1; j < len(t); j++ {
		if t[j] > runMin && t[j]/runMin > b.DDPeak/math.Max(b.DDMin, 1e-300) {
			for k := j + 1; k < len(t); k++ {
				if t[k] < runMin {
					b.DDMin, b.DDPeak, b.DDPeakStep = runMin, t[j], m.Steps[j]
					break
				}
			}
		}
		runMin = math.Min(runMin, t[j])
	}
	b.DDPresent = b.DDMin > 0 && b.DDPeak > 1.1*b.DDMin
	return b
}
