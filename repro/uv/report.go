package uv

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

// Write saves results.json, runs.csv (every run), cells.csv (the T_c
// table), fig1a_alpha.png (alpha(gamma) against the theory, like the
// paper's Fig. 1a) and fig1_tc_vs_eta.png (T_c against eta, one panel per
// activation, like Fig. 1b-d) into dir.
func (r *Results) Write(dir string) error {
	if err := repro.WriteJSON(filepath.Join(dir, "results.json"), r); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	var rows [][]string
	for _, x := range r.Runs {
		rows = append(rows, []string{strconv.Itoa(x.ID), x.Act, f(x.Eta), f(x.Gamma), f(x.Beta), strconv.Itoa(x.Seed),
			strconv.Itoa(x.Steps), strconv.FormatBool(x.Crossed), strconv.Itoa(x.CrossStep), strconv.FormatBool(x.Censored),
			strconv.FormatBool(x.Diverged), strconv.FormatBool(x.Settled), f(float64(x.FinalNorm)), f(float64(x.Tc)), f(float64(x.TcSE)), x.FitError,
			f(float64(x.CrossEnergy)), strconv.Itoa(x.SettleStep), strconv.Itoa(x.Returns), strconv.FormatBool(x.SettleCensored), strconv.FormatBool(x.SettleFailed)})
	}
	if err := repro.WriteCSV(filepath.Join(dir, "runs.csv"), []string{"id", "activation", "eta", "gamma", "beta", "seed (-1 = noise-free twin)",
		"steps", "crossed", "cross_step", "censored", "diverged", "settled (twin at rest)", "final_norm", "tc", "tc_se", "fit_error",
		"cross_energy", "settle_step", "returns", "settle_censored", "settle_failed"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, a := range r.Activations {
		for _, c := range a.Cells {
			rows = append(rows, []string{c.Act, f(c.Gamma), f(c.Eta), f(c.Beta), f(float64(c.Tc)), f(float64(c.LogTcSE)), strconv.Itoa(c.Crossed),
				strconv.Itoa(c.Censored), strconv.Itoa(c.Diverged), strconv.Itoa(c.FitFailed), f(float64(c.MeanStep)), strconv.FormatBool(c.TwinCrossed),
				strconv.FormatBool(c.Fitted), c.Reason, f(float64(c.MeanSettle)), f(float64(c.CrossEnergy)), strconv.Itoa(c.Settled), f(float64(c.Returns)),
				strconv.Itoa(c.SettleCensored), strconv.Itoa(c.SettleFailed), strconv.FormatBool(c.SettleFitted), c.SettleReason})
		}
	}
	if err := repro.WriteCSV(filepath.Join(dir, "cells.csv"), []string{"activation", "gamma", "eta", "beta", "tc_geomean", "log_tc_se",
		"runs_crossed", "runs_censored", "runs_diverged", "runs_fit_failed", "mean_cross_step", "twin_crossed", "in_fit", "excluded_because",
		"mean_settle_step", "mean_cross_energy", "runs_settled", "mean_returns", "runs_settle_censored", "runs_settle_failed", "in_settled_fit", "settle_excluded_because"}, rows); err != nil {
		return err
	}
	return r.plots(dir)
}

func (r *Results) plots(dir string) error {
	// Fig. 1a: alpha(gamma), one panel per activation: the crossing
	// (T_c) and settled exponents measured, the paper's theory, the sqrt
	// law (with 2 - 2 gamma below 2/3, where it is not meant to hold) and
	// what the fitted transient law implies on this grid.
	var tg, ta, sa []float64
	for g := 0.15; g <= 1.05; g += 0.01 {
		tg = append(tg, g)
		ta = append(ta, math.Max(g, 2-2*g))
		sa = append(sa, math.Max(1-g/2, 2-2*g))
	}
	var fa []*plot.Plot
	for _, a := range r.Activations {
		pa := repro.NewPlot(a.Name+" (cf. paper Fig. 1a)", "gamma", "alpha: time ~ eta^-alpha", false, false)
		pa.Legend.Left = false
		pa.Legend.Top = true
		var g, v, e, sv, se, tv []float64
		for _, gamma := range r.Config.Gammas {
			af, as := a.Alpha[gammaKey(gamma)], a.AlphaSettled[gammaKey(gamma)]
			g = append(g, gamma)
			v, e = append(v, float64(af.Value)), append(e, float64(af.StdErr))
			sv, se = append(sv, float64(as.Value)), append(se, float64(as.StdErr))
			t, ok := a.TransientLaw.Tc.Alpha[gammaKey(gamma)]
			if !ok {
				t = repro.Finite(math.NaN())
			}
			tv = append(tv, float64(t))
		}
		for i, sr := range []repro.Series{
			{Name: "theory max(gamma, 2-2gamma)", X: tg, Y: ta, Line: true, Dashed: true},
			{Name: "sqrt law max(1-gamma/2, 2-2gamma)", X: tg, Y: sa, Line: true, Dashed: true},
			{Name: "transient law (fitted, T_c)", X: g, Y: tv, Line: true},
			{Name: "crossing (T_c)", X: g, Y: v, YErr: e, Points: true, Line: true},
			{Name: "settled", X: g, Y: sv, YErr: se, Points: true, Line: true},
		} {
			if err := repro.AddSeries(pa, sr, i, false, false); err != nil {
				return err
			}
		}
		fa = append(fa, pa)
	}
	if err := repro.SavePanels(filepath.Join(dir, "fig1a_alpha.png"), fa, 12*vg.Centimeter, 11*vg.Centimeter); err != nil {
		return err
	}
	// Fig. 1b-d: T_c against eta, one series per gamma, fitted lines.
	var panels []*plot.Plot
	for _, a := range r.Activations {
		p := repro.NewPlot(a.Name+" (cf. Fig. 1b-d)", "learning rate eta", "T_c (steps)", true, true)
		for i, gamma := range r.Config.Gammas {
			var x, y []float64
			for _, c := range a.Cells {
				if c.Gamma == gamma && c.Fitted {
					x = append(x, c.Eta)
					y = append(y, float64(c.Tc))
				}
			}
			name := fmt.Sprintf("gamma %.2f", gamma)
			if err := repro.AddSeries(p, repro.Series{Name: name, X: x, Y: y, Points: true}, i, true, true); err != nil {
				return err
			}
			af := a.Alpha[gammaKey(gamma)]
			if !math.IsNaN(float64(af.Value)) && len(x) > 0 {
				lo, hi := r.Config.Etas[0], r.Config.Etas[len(r.Config.Etas)-1]
				fx := []float64{lo, hi}
				fy := []float64{float64(af.T0) * math.Pow(lo, -float64(af.Value)), float64(af.T0) * math.Pow(hi, -float64(af.Value))}
				if err := repro.AddSeries(p, repro.Series{X: fx, Y: fy, Line: true}, i, true, true); err != nil {
					return err
				}
			}
		}
		p.Legend.Left = false
		panels = append(panels, p)
	}
	return repro.SavePanels(filepath.Join(dir, "fig1_tc_vs_eta.png"), panels, 12*vg.Centimeter, 11*vg.Centimeter)
}

// Summary prints the table that sets the paper's numbers beside ours.
func (r *Results) Summary(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	cfg := r.Config
	p("flatfast repro uv: the paper's Figure 1 (vector UV model), preset %q\n", cfg.Preset)
	p("n=%d P=%d eps=%g mu2=%.4g start=%s; beta = 1 - C eta^gamma with C=%.4g (eq. 10); %d noise seeds per cell + a noise-free twin\n",
		cfg.N, cfg.P, cfg.Eps, r.Setup.Mu2, cfg.Start, r.Setup.CRun, cfg.Seeds)
	p("T_c: fit of log(|u|^2+|v|^2) over the last %g e-folds before |u|^2+|v|^2 < %g n; alpha: T_c = T0 eta^-alpha over eta in [%g, %g]\n\n",
		cfg.FitEFolds, cfg.Threshold, cfg.Etas[0], cfg.Etas[len(cfg.Etas)-1])
	p("%-7s", "gamma")
	for _, a := range r.Activations {
		p(" | %-22s", a.Name+" alpha (cross)")
	}
	p(" | theory\n")
	for _, g := range cfg.Gammas {
		p("%-7.4f", g)
		for _, a := range r.Activations {
			af, ac := a.Alpha[gammaKey(g)], a.AlphaCross[gammaKey(g)]
			if math.IsNaN(float64(af.Value)) {
				p(" | %-22s", fmt.Sprintf("- (%d cells)", af.Points))
				continue
			}
			p(" | %-22s", fmt.Sprintf("%.3f±%.3f (%.3f)", float64(af.Value), float64(af.StdErr), float64(ac.Value)))
		}
		p(" | %.3f\n", math.Max(g, 2-2*g))
	}
	p("\n%-28s %-10s", "", "paper")
	for _, a := range r.Activations {
		p(" %-12s", a.Name)
	}
	p("\n%-28s %-10s", "gamma* (grid minimum)", "2/3")
	for _, a := range r.Activations {
		p(" %-12s", fmtF(float64(a.GammaStar), "%.3f"))
	}
	p("\n%-28s %-10s", "gamma* (hinge fit corner)", "2/3")
	for _, a := range r.Activations {
		p(" %-12s", fmtF(float64(a.GammaHinge), "%.3f"))
	}
	p("\n%-28s %-10s", "C fitted (T0 equal on both)", "~0.2")
	for _, a := range r.Activations {
		p(" %-12s", fmtF(float64(a.CFit), "%.3f")+fmtF(float64(a.CFit)*float64(a.CFitLogSE), "±%.2f"))
	}
	p("\n%-28s %-10s %.3f (eq. 10, this mu2)\n", "C theory", "0.17", r.Setup.CTheory)
	p("\nsettled: after the crossing the label noise is switched off (same eta, beta) until E = L0 + (eta/2)|pi|^2 < %g;\n", cfg.SettleTol)
	p("a run at rest above the threshold trains with label noise again until it next crosses (cells.csv mean_returns);\n")
	p("alpha_settled fits the mean settled step; the laws' columns give the alpha the fitted law implies for T_c (for the crossing step)\n\n")
	p("%-7s", "gamma")
	for _, a := range r.Activations {
		p(" | %-34s", a.Name+" settled; transient law")
	}
	p(" | theory | sqrt law\n")
	for _, g := range cfg.Gammas {
		p("%-7.4f", g)
		for _, a := range r.Activations {
			as := a.AlphaSettled[gammaKey(g)]
			cell := fmt.Sprintf("- (%d cells)", as.Points)
			if !math.IsNaN(float64(as.Value)) {
				cell = fmt.Sprintf("%.3f±%.3f", float64(as.Value), float64(as.StdErr))
			}
			law := func(m map[string]repro.Finite) string {
				v, ok := m[gammaKey(g)]
				if !ok {
					return "-"
				}
				return fmtF(float64(v), "%.3f")
			}
			p(" | %-34s", cell+"; "+law(a.TransientLaw.Tc.Alpha)+" ("+law(a.TransientLaw.Crossing.Alpha)+")")
		}
		sq := "-"
		if g > 2.0/3+1e-9 {
			sq = fmt.Sprintf("%.3f", 1-g/2)
		}
		p(" | %.3f  | %s\n", math.Max(g, 2-2*g), sq)
	}
	p("\nlaws of the crossing (one fitted number each; rms and max |log residual| over the fitted cells):\n")
	for _, a := range r.Activations {
		for _, l := range []struct {
			name string
			fit  LawFit
		}{{"sqrt law k, T_c", a.SqrtLaw.Tc}, {"sqrt law k, crossing step", a.SqrtLaw.Crossing},
			{"transient law kappa, T_c", a.TransientLaw.Tc}, {"transient law kappa, crossing step", a.TransientLaw.Crossing}} {
			p("  %-9s %-35s %-8s rms %-6s max %-6s (%d cells)\n", a.Name, l.name, fmtF(float64(l.fit.Prefactor), "%.3g"),
				fmtF(float64(l.fit.RMSLogResidual), "%.3f"), fmtF(float64(l.fit.MaxLogResidual), "%.3f"), l.fit.Points)
		}
	}
	excluded, fitFailed := map[string]int{}, map[string]int{}
	for _, a := range r.Activations {
		for _, c := range a.Cells {
			if !c.Fitted {
				excluded[a.Name]++
			}
			fitFailed[a.Name] += c.FitFailed
		}
	}
	for _, a := range r.Activations {
		if excluded[a.Name] > 0 {
			p("%s: %d cells left out of the fits (twin crossed, censored, diverged or no timescale: see cells.csv)\n", a.Name, excluded[a.Name])
		}
		if fitFailed[a.Name] > 0 {
			p("%s: %d runs crossed but their timescale fit failed; they are left out of their cells' T_c (cells.csv runs_fit_failed)\n", a.Name, fitFailed[a.Name])
		}
		if a.Note != "" {
			p("%s: %s\n", a.Name, a.Note)
		}
	}
	if r.Perf.Workers > 0 {
		p("\nspeed: %.3g run-steps/s on %d workers (%d run-steps in %.1f s); one run alone %.3g steps/s\n",
			r.Perf.RunStepsPerS, r.Perf.Workers, r.Perf.RunSteps, r.Perf.Seconds, r.Perf.SingleStepsPS)
	}
}

func fmtF(v float64, format string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf(format, v)
}
