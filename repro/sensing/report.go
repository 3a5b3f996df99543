package sensing

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/flatfast/flatfast/repro"
)

// Write saves results.json, curves.csv (every run's curves), summary.csv
// (one row per beta) and fig3_test_error.png / fig3_hessian_trace.png
// (mean curves per beta, log scale, like the paper's Fig. 3 a and b).
func (r *Results) Write(dir string) error {
	if err := repro.WriteJSON(filepath.Join(dir, "results.json"), r); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	var rows [][]string
	for i, run := range r.Runs {
		c := r.Curves[i]
		for k, s := range c.Steps {
			rows = append(rows, []string{f(run.Beta), strconv.Itoa(run.Seed), strconv.Itoa(s), f(c.TrainLoss[k]), f(c.TestError[k]), f(c.Trace[k])})
		}
	}
	if err := repro.WriteCSV(filepath.Join(dir, "curves.csv"), []string{"beta", "seed", "step", "train_loss", "test_error", "hessian_trace"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, b := range r.Analysis.Betas {
		rows = append(rows, []string{f(b.Beta), f(float64(b.TestStep)), f(float64(b.TraceStep)), f(float64(b.MinTest)), f(float64(b.MinTrace)),
			f(float64(b.FinalTest)), f(float64(b.FinalTrace)), strconv.FormatBool(b.DDPresent), f(b.DDMin), f(b.DDPeak), f(float64(b.MaxTest))})
	}
	if err := repro.WriteCSV(filepath.Join(dir, "summary.csv"), []string{"beta", "test_threshold_step", "trace_threshold_step",
		"min_test_error", "min_trace", "final_test_error", "final_trace", "double_descent", "dd_min", "dd_peak", "max_test_error"}, rows); err != nil {
		return err
	}
	return r.plots(dir)
}

func (r *Results) plots(dir string) error {
	for _, which := range []struct {
		file, title, ylabel string
		get                 func(Curve) []float64
		limit               float64
	}{
		{"fig3_test_error.png", "expected test error (cf. paper Fig. 3a)", "(1/d) ||UV - X*||^2", func(c Curve) []float64 { return c.TestError }, r.Analysis.TestLimit},
		{"fig3_hessian_trace.png", "Hessian trace (cf. paper Fig. 3b)", "Tr H (eq. 127)", func(c Curve) []float64 { return c.Trace }, r.Analysis.TraceLimit},
	} {
		p := repro.NewPlot(which.title, "step", which.ylabel, false, true)
		for i, beta := range r.Config.Betas {
			var cs []Curve
			for j, run := range r.Runs {
				if run.Beta == beta {
					cs = append(cs, r.Curves[j])
				}
			}
			m := meanCurve(cs)
			x := make([]float64, len(m.Steps))
			for k, s := range m.Steps {
				x[k] = float64(s)
			}
			if err := repro.AddSeries(p, repro.Series{Name: fmt.Sprintf("beta %g", beta), X: x, Y: which.get(m), Line: true}, i, false, true); err != nil {
				return err
			}
		}
		last := float64(r.Config.Steps)
		if err := repro.AddSeries(p, repro.Series{Name: "threshold", X: []float64{0, last}, Y: []float64{which.limit, which.limit}, Line: true, Dashed: true}, len(r.Config.Betas), false, true); err != nil {
			return err
		}
		if err := repro.SavePanels(filepath.Join(dir, which.file), []*plot.Plot{p}, 16*vg.Centimeter, 12*vg.Centimeter); err != nil {
			return err
		}
	}
	return nil
}

// Summary prints the table, the paper's numbers beside ours.
func (r *Results) Summary(w io.Writer, perf *Perf) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	a, cfg := r.Analysis, r.Config
	p("flatfast repro sensing: the paper's Figure 3 (matrix sensing), preset %q\n", cfg.Preset)
	p("d=%d r=%d P=%d eta=%g eps^2=%g, U=V=I at the start, %d steps, %d seeds per beta; thresholds: test error < %g, Tr H < %.4g (= %g x 4||X*||_*)\n\n",
		cfg.D, cfg.R, cfg.P, cfg.Eta, cfg.Eps2, cfg.Steps, cfg.Seeds, a.TestLimit, a.TraceLimit, cfg.TraceFactor)
	p("%-8s %12s %12s %12s %12s %10s %9s\n", "beta", "test<thr at", "TrH<thr at", "min test", "min Tr H", "DD peak", "max test")
	for _, b := range a.Betas {
		dd := "-"
		if b.DDPresent {
			dd = fmt.Sprintf("%.3gx", b.DDPeak/b.DDMin)
		}
		p("%-8g %12s %12s %12.4g %12.5g %10s %9.3g\n", b.Beta, stepStr(b.TestStep), stepStr(b.TraceStep), float64(b.MinTest), float64(b.MinTrace), dd, float64(b.MaxTest))
	}
	p("\n%-30s %-14s %-14s %s\n", "", "test error", "Hessian trace", "paper")
	p("%-30s %-14s %-14s %.4f\n", "beta* (fewest steps, grid)", fmtF(float64(a.TestOpt.BetaGrid)), fmtF(float64(a.TraceOpt.BetaGrid)), a.PaperBetaStar)
	p("%-30s %-14s %-14s\n", "beta* (hinge fit)", fmtF(float64(a.TestOpt.Beta)), fmtF(float64(a.TraceOpt.Beta)))
	p("%-30s %-14s %-14s %.4f (0.24 P^-1/3); App. D estimate %.4f (0.12 P^-1/3)\n", "C* = (1-beta*)/eta^(2/3)", fmtF(float64(a.TestOpt.C)), fmtF(float64(a.TraceOpt.C)), a.PaperC, a.AppendixDC)
	if a.SameOpt {
		p("the two measures have their optimum at the same beta on the grid\n")
	} else {
		p("the two measures' grid optima differ\n")
	}
	for _, h := range a.Hutchinson {
		p("Hutchinson check, beta %g step %d: %.5g ± %.2g (%d probes) vs eq. 127 %.5g: %.1f standard errors\n", h.Beta, h.Step, h.Estimate, h.StdErr, h.Probes, h.ClosedForm, h.Sigmas)
	}
	if perf != nil {
		p("\nspeed: %.3g steps/s for %d runs in lockstep (%.3g run-steps/s), %.0f GFLOP/s effective, %.0f s", perf.StepsPerS, perf.Runs, perf.RunStepsPerS, perf.GFlops, perf.Seconds)
		if perf.Resumed > 0 {
			p(" (resumed at step %d)", perf.Resumed)
		}
		p("\n")
	}
}

func stepStr(v repro.Finite) string {
	if math.IsNaN(float64(v)) {
		return "not reached"
	}
	return strconv.Itoa(int(v))
}

func fmtF(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.4f", v)
}
