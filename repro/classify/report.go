package classify

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/fit"
	"github.com/flatfast/flatfast/repro/valley"
)

// Files names the report's files.
var Files = []string{"results.json", "runs.csv", "curves.csv", "fig4_accuracy_vs_beta.png", "fig5_exponent.png",
	"trace_vs_beta.png", "fig4_curves.png"}

// report analyses every run's result (in run order: the valley point
// first) and writes the files.
func (pl *plan) report(dir string, rs [][]byte) error {
	point, err := valley.Load(rs[0])
	if err != nil {
		return fmt.Errorf("the valley point: %w", err)
	}
	vp := ValleyPoint{Epochs: point.Step, Reached: point.Reached, Trace: nan(), TraceStderr: nan()}
	if n := len(point.Curve); n > 0 {
		o := point.Curve[n-1]
		vp.TrainAccuracy, vp.TestAccuracy = o.TrainAcc, o.TestAcc
		if o.TraceProbes > 0 {
			vp.Trace, vp.TraceStderr, vp.TraceProbes = repro.Finite(o.Trace), repro.Finite(o.TraceSE), o.TraceProbes
		}
	}
	sums := make([]RunSummary, len(pl.runs))
	curves := make([][]valley.Observation, len(pl.runs))
	for i, r := range pl.runs {
		rr, err := decodeRun(rs[i+1])
		if err != nil {
			return fmt.Errorf("run %s: %w", r.ID(), err)
		}
		sums[i], curves[i] = summarize(r, rr, classes(point)), rr.Curve
	}
	res, err := analyse(pl.cfg, vp, sums)
	if err != nil {
		return err
	}
	res.curves = curves
	if err := res.Write(dir); err != nil {
		return err
	}
	pl.res = res
	return nil
}

// classes is the number of classes the valley point's model outputs:
// the size of its last parameter (the classifier's bias).
func classes(st *valley.State) int {
	if n := len(st.Params); n > 0 {
		return st.Params[n-1].T.Len()
	}
	return 1
}

func g8(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }

// Write saves the report's files into dir.
func (r *Results) Write(dir string) error {
	if err := repro.WriteJSON(filepath.Join(dir, "results.json"), r); err != nil {
		return err
	}
	var rows [][]string
	for _, s := range r.Runs {
		rows = append(rows, []string{s.ID, g8(s.Eta), g8(s.Beta), strconv.Itoa(s.Seed), strconv.FormatBool(s.Grid), strings.Join(s.Baselines, " "),
			g8(float64(s.TestAccuracy)), g8(float64(s.TestLoss)), g8(float64(s.TrainAccuracy)), g8(float64(s.NoisyTestAccuracy)), g8(float64(s.NoisyTrainAccuracy)),
			g8(float64(s.Trace)), g8(float64(s.TraceStderr)), g8(float64(s.TraceReturn)), g8(float64(s.TraceReturnSE)),
			strconv.Itoa(s.ReturnSteps), strconv.FormatBool(s.ReturnReached), strconv.FormatBool(s.Collapsed), s.Diverged})
	}
	if err := repro.WriteCSV(filepath.Join(dir, "runs.csv"), []string{"id", "eta", "beta", "seed", "grid", "baselines",
		"test_accuracy", "test_loss", "train_accuracy", "noisy_end_test_accuracy", "noisy_end_train_accuracy",
		"hessian_trace_noisy_end", "hessian_trace_noisy_end_stderr", "hessian_trace_after_return", "hessian_trace_after_return_stderr",
		"return_steps", "return_reached", "collapsed", "diverged"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for i, s := range r.Runs {
		for _, o := range r.curves[i] {
			if o.Phase == valley.PhaseValley {
				continue // the valley point's curve is every run's start; the valley run has its own
			}
			rows = append(rows, []string{s.ID, g8(s.Eta), g8(s.Beta), strconv.Itoa(s.Seed), o.Phase, strconv.Itoa(o.Step), strconv.Itoa(o.Epoch),
				g8(o.LR), g8(o.Loss), g8(o.TrainAcc), g8(o.TrainLoss), g8(o.TestAcc), g8(o.TestLoss), strconv.Itoa(o.TraceProbes), g8(o.Trace), g8(o.TraceSE)})
		}
	}
	if err := repro.WriteCSV(filepath.Join(dir, "curves.csv"), []string{"id", "eta", "beta", "seed", "phase", "step", "epoch",
		"lr", "loss", "train_accuracy", "train_loss", "test_accuracy", "test_loss", "trace_probes", "hessian_trace", "hessian_trace_stderr"}, rows); err != nil {
		return err
	}
	return r.plots(dir)
}

func (r *Results) plots(dir string) error {
	c := &r.Settings
	v, _ := c.Fit.variable()
	perEta := func(name, ylabel, obs string, value func(RunSummary) float64) error {
		var panels []*plot.Plot
		for _, eta := range c.Noisy.Etas {
			p := repro.NewPlot(fmt.Sprintf("eta = %s", FormatEta(eta)), "1 - beta", ylabel, true, false)
			p.X.Scale = repro.ReversedLog{}
			betas, means := betaMeans(r.Runs, eta, true, value)
			if err := repro.AddSeries(p, repro.Series{Name: "grid (seed mean)", X: oneMinusAll(betas), Y: means, Points: true}, 0, true, false); err != nil {
				return err
			}
			f := r.Fits[obs].BetaStar[FormatEta(eta)]
			if f.Resolved && len(betas) > 1 {
				var xs, ys []float64
				lo, hi := betas[0], betas[len(betas)-1]
				for k := 0; k <= 100; k++ {
					b := 1 - (1-lo)*math.Pow((1-hi)/(1-lo), float64(k)/100)
					xs, ys = append(xs, 1-b), append(ys, eq14At(f, b, fit.Eq14Var(v)))
				}
				if err := repro.AddSeries(p, repro.Series{Name: fmt.Sprintf("eq. 14: beta* = %.4g", float64(f.Value)), X: xs, Y: ys, Line: true}, 1, true, false); err != nil {
					return err
				}
			}
			var bx, by []float64
			for _, row := range r.Baselines {
				if row.Eta == eta {
					bx, by = append(bx, 1-row.Beta), append(by, baselineValue(row, obs))
				}
			}
			if err := repro.AddSeries(p, repro.Series{Name: "baselines", X: bx, Y: by, Points: true}, 2, true, false); err != nil {
				return err
			}
			rb := rule23(eta)
			if err := repro.AddSeries(p, repro.Series{Name: "2/3 rule, C = 0.11", X: []float64{1 - rb, 1 - rb}, Y: yRange(means, by), Line: true, Dashed: true}, 3, true, false); err != nil {
				return err
			}
			panels = append(panels, p)
		}
		return repro.SavePanels(filepath.Join(dir, name), panels, 4*vg.Inch, 3.5*vg.Inch)
	}
	if err := perEta("fig4_accuracy_vs_beta.png", "test accuracy after the return", ObsTestAccuracy, accuracyValue); err != nil {
		return err
	}
	if err := perEta("trace_vs_beta.png", "Hessian trace, end of noisy phase", ObsHessianTrace, traceValue); err != nil {
		return err
	}
	// Fig. 5: log(1 - beta*) against log(eta), per observable.
	p := repro.NewPlot("optimal momentum (cf. paper Fig. 5)", "eta", "1 - beta*", true, true)
	p.X.Tick.Marker = p.Y.Tick.Marker // labels at 1, 2, 5 x 10^k: the etas span less than a decade or two
	k := 0
	lo, hi := c.Noisy.Etas[0], c.Noisy.Etas[0]
	for _, e := range c.Noisy.Etas {
		lo, hi = math.Min(lo, e), math.Max(hi, e)
	}
	for _, obs := range []string{ObsTestAccuracy, ObsHessianTrace} {
		of := r.Fits[obs]
		var xs, ys, es []float64
		for _, eta := range c.Noisy.Etas {
			if f := of.BetaStar[FormatEta(eta)]; f.Resolved {
				xs, ys, es = append(xs, eta), append(ys, 1-float64(f.Value)), append(es, float64(f.Stderr))
			}
		}
		if err := repro.AddSeries(p, repro.Series{Name: "beta* from " + obs, X: xs, Y: ys, YErr: es, Points: true}, k, true, true); err != nil {
			return err
		}
		if e := of.Exponent; e.Resolved {
			lx := []float64{lo, hi}
			ly := []float64{float64(e.C) * math.Pow(lo, float64(e.Value)), float64(e.C) * math.Pow(hi, float64(e.Value))}
			if err := repro.AddSeries(p, repro.Series{Name: fmt.Sprintf("fit (%s): gamma = %.3g +- %.2g", obs, float64(e.Value), float64(e.Stderr)), X: lx, Y: ly, Line: true}, k, true, true); err != nil {
				return err
			}
		}
		k++
	}
	if err := repro.AddSeries(p, repro.Series{Name: "2/3 rule, C = 0.11", X: []float64{lo, hi}, Y: []float64{1 - rule23(lo), 1 - rule23(hi)}, Line: true, Dashed: true}, 3, true, true); err != nil {
		return err
	}
	if err := repro.SavePanels(filepath.Join(dir, "fig5_exponent.png"), []*plot.Plot{p}, 5*vg.Inch, 4*vg.Inch); err != nil {
		return err
	}
	return r.curvePlot(dir)
}

// curvePlot is Fig. 4's analogue: test accuracy along the noisy phase
// and the return, one curve per beta, at the eta nearest 0.001.
func (r *Results) curvePlot(dir string) error {
	c := &r.Settings
	eta := c.Noisy.Etas[0]
	for _, e := range c.Noisy.Etas {
		if math.Abs(math.Log(e/1e-3)) < math.Abs(math.Log(eta/1e-3)) {
			eta = e
		}
	}
	p := repro.NewPlot(fmt.Sprintf("test accuracy, eta = %s, seed 0 (cf. paper Fig. 4)", FormatEta(eta)), "step (noisy phase, then return)", "test accuracy", false, false)
	k := 0
	for i, s := range r.Runs {
		if s.Eta != eta || s.Seed != 0 {
			continue
		}
		var xs, ys []float64
		offset := 0
		for _, o := range r.curves[i] {
			switch o.Phase {
			case valley.PhaseNoisy:
				xs, ys = append(xs, float64(o.Step)), append(ys, o.TestAcc)
				offset = o.Step
			case valley.PhaseReturn:
				xs, ys = append(xs, float64(offset+o.Step)), append(ys, o.TestAcc)
			}
		}
		if err := repro.AddSeries(p, repro.Series{Name: "beta " + strconv.FormatFloat(s.Beta, 'g', 6, 64), X: xs, Y: ys, Line: true}, k, false, false); err != nil {
			return err
		}
		k++
	}
	return repro.SavePanels(filepath.Join(dir, "fig4_curves.png"), []*plot.Plot{p}, 6*vg.Inch, 4*vg.Inch)
}

func baselineValue(row BaselineRow, obs string) float64 {
	if obs == ObsTestAccuracy {
		return float64(row.TestAccuracy)
	}
	return float64(row.Trace)
}

func oneMinusAll(b []float64) []float64 {
	out := make([]float64, len(b))
	for i, x := range b {
		out[i] = 1 - x
	}
	return out
}

// yRange is the finite range of the values, for a vertical marker line.
func yRange(vs ...[]float64) []float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		for _, x := range v {
			if !math.IsNaN(x) && !math.IsInf(x, 0) {
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			}
		}
	}
	if lo > hi {
		return []float64{math.NaN(), math.NaN()}
	}
	return []float64{lo, hi}
}

// eq14At evaluates a resolved fit at beta.
func eq14At(f BetaStar, beta float64, v fit.Eq14Var) float64 {
	x, xs := beta, float64(f.Value)
	if v == fit.VarLogOneMinusBeta {
		x, xs = -math.Log1p(-beta), -math.Log1p(-xs)
	}
	if x <= xs {
		return float64(f.Best) + float64(f.A1)*(x-xs)
	}
	return float64(f.Best) + float64(f.A2)*(x-xs)
}

// Summary prints the table: the valley point, beta* per eta on both
// observables beside the 2/3 rule, the exponents beside the paper's, and
// the baselines.
func (r *Results) Summary(w io.Writer) {
	c := &r.Settings
	v := r.Valley
	reached := "reached 100% training accuracy"
	if !v.Reached {
		reached = "did NOT reach 100% training accuracy (stopped at its cap)"
	}
	fmt.Fprintf(w, "%s, preset %s: valley point after %d epochs (%s): train %.2f%%, test %.2f%%, Hessian trace %.4g +- %.2g\n",
		c.Experiment, c.Preset, v.Epochs, reached, 100*v.TrainAccuracy, 100*v.TestAccuracy, float64(v.Trace), float64(v.TraceStderr))
	fmt.Fprintf(w, "\nbeta* by eq. 14 (fitted in %s); the 2/3 rule is 1 - 0.11 eta^(2/3) (paper Fig. 2b's C)\n", c.Fit.Var)
	fmt.Fprintf(w, "%-10s %-34s %-34s %-10s\n", "eta", "beta* (test accuracy)", "beta* (Hessian trace)", "2/3 rule")
	cell := func(f BetaStar, pct bool) string {
		if f.Resolved {
			return fmt.Sprintf("%.5g +- %.2g", float64(f.Value), float64(f.Stderr))
		}
		best := f.BestObserved
		if pct {
			return fmt.Sprintf("none (%s; best %.4g at %.5g)", f.Why, 100*best, f.BestObservedBeta)
		}
		return fmt.Sprintf("none (%s; best %.4g at %.5g)", f.Why, best, f.BestObservedBeta)
	}
	for _, eta := range c.Noisy.Etas {
		k := FormatEta(eta)
		fmt.Fprintf(w, "%-10s %-34s %-34s %.5g\n", k, cell(r.Fits[ObsTestAccuracy].BetaStar[k], true), cell(r.Fits[ObsHessianTrace].BetaStar[k], false), rule23(eta))
	}
	fmt.Fprintf(w, "\nexponent gamma of 1 - beta* = C eta^gamma (paper: 2/3 from theory; Fig. 2b fits 0.660 with C = 0.11)\n")
	for _, obs := range []string{ObsTestAccuracy, ObsHessianTrace} {
		e := r.Fits[obs].Exponent
		if e.Resolved {
			fmt.Fprintf(w, "  %-14s gamma = %.3f +- %.3f, C = %.3g +- %.2g (%d etas)\n", obs, float64(e.Value), float64(e.Stderr), float64(e.C), float64(e.CStderr), e.Points)
		} else {
			fmt.Fprintf(w, "  %-14s not fitted: %s\n", obs, e.Why)
		}
	}
	if len(r.Baselines) > 0 {
		fmt.Fprintf(w, "\nbaselines (means over seeds; test accuracy after the return, trace at the end of the noisy phase)\n")
		fmt.Fprintf(w, "%-10s %-10s %-10s %-10s %-10s\n", "eta", "baseline", "beta", "test acc", "trace")
		for _, b := range r.Baselines {
			fmt.Fprintf(w, "%-10s %-10s %-10.5g %-10s %-10.4g\n", FormatEta(b.Eta), b.Name, b.Beta, fmt.Sprintf("%.2f%%", 100*float64(b.TestAccuracy)), float64(b.Trace))
		}
	}
	div, col := 0, 0
	for _, s := range r.Runs {
		if s.Diverged != "" {
			div++
		}
		if s.Collapsed {
			col++
		}
	}
	if div > 0 {
		fmt.Fprintf(w, "\n%d of %d runs diverged (left out of the fits; see runs.csv)\n", div, len(r.Runs))
	}
	if col > 0 {
		fmt.Fprintf(w, "%d of %d runs collapsed (clean training accuracy at most twice chance at the end of the noisy phase): their traces are left out of the trace fit, see runs.csv\n", col, len(r.Runs))
	}
}
