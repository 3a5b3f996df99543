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
			strconv.FormatBool(x.Diverged), strconv.FormatBool(x.Settled), f(float64(x.FinalNorm)), f(float64(x.Tc)), f(float64(x.TcSE)), x.FitError})
	}
	if err := repro.WriteCSV(filepath.Join(dir, "runs.csv"), []string{"id", "activation", "eta", "gamma", "beta", "seed (-1 = noise-free twin)",
		"steps", "crossed", "cross_step", "censored", "diverged", "settled", "final_norm", "tc", "tc_se", "fit_error"}, rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, a := range r.Activations {
		for _, c := range a.Cells {
			rows = append(rows, []string{c.Act, f(c.Gamma), f(c.Eta), f(c.Beta), f(float64(c.Tc)), f(float64(c.LogTcSE)), strconv.Itoa(c.Crossed),
				strconv.Itoa(c.Censored), strconv.Itoa(c.Diverged), strconv.Itoa(c.FitFailed), f(float64(c.MeanStep)), strconv.FormatBool(c.TwinCrossed),
				strconv.FormatBool(c.Fitted), c.Reason})
		}
	}
	if err := repro.WriteCSV(filepath.Join(dir, "cells.csv"), []string{"activation", "gamma", "eta", "beta", "tc_geomean", "log_tc_se",
		"runs_crossed", "runs_censored", "runs_diverged", "runs_fit_failed", "mean_cross_step", "twin_crossed", "in_fit", "excluded_because"}, rows); err != nil {
		return err
	}
	return r.plots(dir)
}

func (r *Results) plots(dir string) error {
	// Fig. 1a: alpha(gamma), measured per activation, theory as a line.
	pa := repro.NewPlot("timescale exponent (cf. paper Fig. 1a)", "gamma", "alpha: T_c ~ eta^-alpha", false, false)
	var tg, ta []float64
	for g := 0.15; g <= 1.05; g += 0.01 {
		tg = append(tg, g)
		ta = append(ta, math.Max(g, 2-2*g))
	}
	if err := repro.AddSeries(pa, repro.Series{Name: "theory max(gamma, 2-2gamma)", X: tg, Y: ta, Line: true, Dashed: true}, 0, false, false); err != nil {
		return err
	}
	for i, a := range r.Activations {
		var g, v, e []float64
		for _, gamma := range r.Config.Gammas {
			af := a.Alpha[gammaKey(gamma)]
			g = append(g, gamma)
			v = append(v, float64(af.Value))
			e = append(e, float64(af.StdErr))
		}
		if err := repro.AddSeries(pa, repro.Series{Name: a.Name, X: g, Y: v, YErr: e, Points: true, Line: true}, i+1, false, false); err != nil {
			return err
		}
	}
	if err := repro.SavePanels(filepath.Join(dir, "fig1a_alpha.png"), []*plot.Plot{pa}, 14*vg.Centimeter, 11*vg.Centimeter); err != nil {
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
