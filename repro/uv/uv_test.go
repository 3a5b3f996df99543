package uv

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/flatfast/flatfast/internal/dirtest"
	"github.com/flatfast/flatfast/internal/shardtest"
	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/sweep"
	"sync/atomic"
	"time"
)

// tiny is a grid small enough for go test: two activations, three
// gammas, two learning rates, two seeds.
func tiny() Config {
	c := Presets["quick"]
	c.Activations = []string{"identity", "tanh"}
	c.Gammas = []float64{0.35, 2.0 / 3, 1}
	c.Etas = []float64{0.05, 0.1}
	c.Seeds = 2
	c.MaxSteps = 20000
	return c
}

func runTiny(t *testing.T, cfg Config, workers int) []RunResult {
	t.Helper()
	res, _, err := Execute(context.Background(), cfg, Options{Out: t.TempDir(), Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	return res.Runs
}

// TestTinyGrid: runs finish, the valley start keeps the noise-free twins
// on the valley, noisy runs cross, and each run's numbers are the same
// whatever the number of workers (and hence of batches and their order).
func TestTinyGrid(t *testing.T) {
	cfg := tiny()
	a := runTiny(t, cfg, 1)
	b := runTiny(t, cfg, 3)
	if !reflect.DeepEqual(a, b) {
		for i := range a {
			if !reflect.DeepEqual(a[i], b[i]) {
				t.Fatalf("run %d differs between 1 and 3 workers:\n%+v\n%+v", i, a[i], b[i])
			}
		}
	}
	for _, r := range a {
		if r.Twin() {
			if r.Crossed {
				t.Errorf("noise-free twin %+v crossed from the valley", r.Run)
			}
			continue
		}
		if !r.Crossed || !(r.Tc > 0) {
			t.Errorf("noisy run %+v: crossed %v, T_c %v (%s)", r.Run, r.Crossed, r.Tc, r.FitError)
		}
	}
	s, _ := NewSetup(&cfg)
	acts := Analyze(&cfg, s, a)
	if len(acts) != 2 || len(acts[0].Cells) != 6 {
		t.Fatalf("analysis: %d activations, %d cells", len(acts), len(acts[0].Cells))
	}
}

// TestValleyStart: f(x_a) = 0 at the start on every data point.
func TestValleyStart(t *testing.T) {
	cfg := Presets["quick"]
	s, err := NewSetup(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, u := range s.Valley {
		act, _ := layers.ParseActivation(name)
		for _, x := range s.X {
			var f float64
			for k := range u {
				f += u[k] * applyAct(act, s.V0[k]*x)
			}
			if math.Abs(f) > 1e-12 {
				t.Errorf("%s: f(%v) = %v at the valley start", name, x, f)
			}
		}
	}
	if math.Abs(s.Mu2-1) > 1e-14 {
		t.Errorf("normalised mu2 = %v", s.Mu2)
	}
}

// TestAnalysisRecoversKnownExponents feeds the analysis synthetic
// timescales T_c = T0(C) eta^-max(gamma, 2-2gamma), with the prefactors
// the theory gives for a run at C_run: T0 ~ C^2 on the drift branch and
// ~ 1/C on the relaxation branch, equal at C* = 0.2. The fits must return
// the exponents, a corner at 2/3 and C_fit = C*.
func TestAnalysisRecoversKnownExponents(t *testing.T) {
	cfg := Presets["quick"]
	cfg.Activations = []string{"identity"}
	cfg.Gammas = []float64{0.2, 0.35, 0.5, 0.6, 0.75, 0.85, 1}
	s, _ := NewSetup(&cfg)
	s.CRun = 0.15
	const cStar, k = 0.2, 50.0
	var res []RunResult
	id := 0
	for _, g := range cfg.Gammas {
		for _, eta := range cfg.Etas {
			var t0 float64
			if g < 2.0/3 {
				t0 = k * (s.CRun / cStar) * (s.CRun / cStar)
			} else {
				t0 = k * cStar / s.CRun
			}
			tc := t0 * math.Pow(eta, -math.Max(g, 2-2*g))
			res = append(res, RunResult{Run: Run{ID: id, Act: "identity", Eta: eta, Gamma: g, Seed: -1}, FinalNorm: 19})
			id++
			for seed := 0; seed < 2; seed++ {
				// Multiplicative scatter between seeds, the same for all cells.
				f := 1 + 0.02*float64(2*seed-1)
				res = append(res, RunResult{Run: Run{ID: id, Act: "identity", Eta: eta, Gamma: g, Seed: seed},
					Crossed: true, CrossStep: int(3 * tc), Tc: repro.Finite(tc * f)})
				id++
			}
		}
	}
	a := Analyze(&cfg, s, res)[0]
	for _, g := range cfg.Gammas {
		af := a.Alpha[gammaKey(g)]
		if math.Abs(float64(af.Value)-math.Max(g, 2-2*g)) > 1e-9 {
			t.Errorf("gamma %v: alpha %v, want %v", g, af.Value, math.Max(g, 2-2*g))
		}
	}
	if math.Abs(float64(a.GammaHinge)-2.0/3) > 1e-6 {
		t.Errorf("hinge corner %v, want 2/3", a.GammaHinge)
	}
	if math.Abs(float64(a.CFit)-cStar) > 1e-9 {
		t.Errorf("C_fit %v, want %v", a.CFit, cStar)
	}
}

// TestResumeGivesSameResults interrupts an experiment (Ctrl-C) once runs
// in progress have saved their state, then runs it again on the same
// directory: it continues them and ends with the same files as an
// uninterrupted experiment.
func TestResumeGivesSameResults(t *testing.T) {
	cfg := tiny()
	cfg.Activations = []string{"identity"}
	full := t.TempDir()
	if _, _, err := Execute(context.Background(), cfg, Options{Out: full, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var states atomic.Int32
	_, _, err := Execute(ctx, cfg, Options{Out: dir, Workers: 1, CheckpointEvery: time.Nanosecond, WriteFile: func(path string, b []byte) error {
		if strings.Contains(path, string(filepath.Separator)+sweep.StateDir+string(filepath.Separator)) && states.Add(1) == 3 {
			cancel()
		}
		return repro.WriteFileAtomic(path, b)
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted experiment: %v", err)
	}
	_, oc, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if oc.Resumed == 0 {
		t.Errorf("no run continued from its saved state: %+v", oc)
	}
	for _, f := range []string{"results.json", "runs.csv", "cells.csv", "fig1a_alpha.png", "fig1_tc_vs_eta.png"} {
		a, _ := os.ReadFile(filepath.Join(full, f))
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s of the resumed experiment differs from an uninterrupted one's (%v)", f, err)
		}
	}
}

// TestOtherConfigIsRefused: an experiment started in a directory that
// holds another configuration's runs or results.json fails before
// writing anything, with an error that names the directory and the
// differing setting and points to -fresh and -out; -fresh overwrites.
func TestOtherConfigIsRefused(t *testing.T) {
	cfg := tiny()
	cfg.Activations = []string{"identity"}
	other := cfg
	other.Seeds = 1
	dir := t.TempDir()
	if _, _, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		before := dirtest.Snapshot(t, dir)
		_, _, err := Execute(context.Background(), other, Options{Out: dir, Workers: 2})
		var mm *repro.OtherConfigError
		if !errors.As(err, &mm) {
			t.Fatalf("%s: another configuration gave %v, want an OtherConfigError", what, err)
		}
		for _, s := range []string{dir, "seeds", "2", "1", "-fresh", "-out"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", what, err, s)
			}
		}
		dirtest.Same(t, what, dir, before)
	}
	check("finished experiment")
	for _, f := range []string{sweep.ManifestFile, sweep.RunsDir, sweep.StateDir} {
		os.RemoveAll(filepath.Join(dir, f))
	}
	check("results.json alone")
	res, _, err := Execute(context.Background(), other, Options{Out: dir, Workers: 2, Fresh: true})
	if err != nil || res == nil || res.Config.Seeds != other.Seeds {
		t.Errorf("-fresh: %v", err)
	}
}

// TestOldCheckpointAndCorruptFilesAreRefused: an earlier version's
// checkpoint, an unreadable results.json or a damaged run file is an
// error naming the file (nothing written), not silently replaced, unless
// -fresh.
func TestOldCheckpointAndCorruptFilesAreRefused(t *testing.T) {
	cfg := tiny()
	cfg.Activations = []string{"identity"}
	cfg.Seeds = 1
	for _, c := range []struct{ file, content, says string }{
		{legacyCheckpoint, `{"config_hash": "x", "runs": []}`, "earlier version"},
		{"results.json", "[]", "unreadable"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		before := dirtest.Snapshot(t, dir)
		_, _, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 2})
		if err == nil {
			t.Fatalf("%s %q accepted", c.file, c.content)
		}
		for _, s := range []string{filepath.Join(dir, c.file), c.says, "-fresh", "-out"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", c.file, err, s)
			}
		}
		dirtest.Same(t, c.file, dir, before)
		if _, _, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 2, Fresh: true}); err != nil {
			t.Errorf("%s with -fresh: %v", c.file, err)
		}
		if c.file == "results.json" {
			runs, _ := filepath.Glob(filepath.Join(dir, sweep.RunsDir, "*"))
			b, _ := os.ReadFile(runs[0])
			os.WriteFile(runs[0], b[:len(b)-2], 0o644)
			if _, _, err := Execute(context.Background(), cfg, Options{Out: dir}); err == nil || !strings.Contains(err.Error(), runs[0]) {
				t.Errorf("a damaged run file: %v", err)
			}
		}
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []func(c *Config){
		func(c *Config) { c.N = 0 },
		func(c *Config) { c.Eps = -1 },
		func(c *Config) { c.Etas = []float64{0.1} },
		func(c *Config) { c.Etas = []float64{0.1, 1.5} },
		func(c *Config) { c.Activations = []string{"sine"} },
		func(c *Config) { c.Start = "middle" },
		func(c *Config) { c.Seeds = 0 },
		func(c *Config) { c.C = math.NaN() },
	}
	for i, f := range bad {
		c := Presets["quick"]
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: invalid configuration accepted", i)
		}
	}
	c := Presets["quick"]
	c.C = 50 // beta = 1 - 50*eta^gamma < 0 for large eta
	if _, _, err := Execute(context.Background(), c, Options{Out: t.TempDir()}); err == nil {
		t.Error("C giving beta < 0 accepted")
	}
}

// TestFinishedExperimentIsNotRerun runs a tiny experiment to the end, then
// runs it again on the same directory: the second run trains nothing and
// leaves the outputs as they were.
func TestFinishedExperimentIsNotRerun(t *testing.T) {
	cfg := tiny()
	cfg.Activations = []string{"identity"}
	dir := t.TempDir()
	if _, _, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	files := []string{"results.json", "runs.csv", "cells.csv", "fig1a_alpha.png", "fig1_tc_vs_eta.png"}
	before := map[string][]byte{}
	for _, f := range files {
		var err error
		if before[f], err = os.ReadFile(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	_, oc, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if oc.Done != 0 || oc.AlreadyDone != oc.Runs || !oc.Complete {
		t.Errorf("a finished experiment run again: %+v", oc)
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if !bytes.Equal(b, before[f]) {
			t.Errorf("%s changed when the finished experiment was run again", f)
		}
	}
}

// TestCellsCountFailedFits: a run that crossed but whose timescale fit
// failed is left out of its cell's T_c and counted, in the cell and in
// cells.csv, as are censored and diverged runs.
func TestCellsCountFailedFits(t *testing.T) {
	cfg := Presets["quick"]
	cfg.Activations = []string{"identity"}
	cfg.Gammas = []float64{1}
	cfg.Etas = []float64{0.01, 0.1}
	cfg.Seeds = 4
	s, _ := NewSetup(&cfg)
	var res []RunResult
	for i, eta := range cfg.Etas {
		base := Run{Act: "identity", Eta: eta, Gamma: 1}
		add := func(seed int, r RunResult) {
			r.Run = base
			r.ID, r.Seed = len(res), seed
			res = append(res, r)
		}
		add(-1, RunResult{FinalNorm: 19})
		add(0, RunResult{Crossed: true, CrossStep: 500, Tc: 100})
		add(1, RunResult{Crossed: true, CrossStep: 900, FitError: "fit: log y does not decay"})
		if i == 0 {
			add(2, RunResult{Crossed: true, CrossStep: 400, Tc: 400})
			add(3, RunResult{Censored: true, Steps: cfg.MaxSteps})
		} else {
			add(2, RunResult{Crossed: true, CrossStep: 800, Tc: repro.Finite(math.NaN())})
			add(3, RunResult{Diverged: true, FinalNorm: repro.Finite(math.Inf(1))})
		}
	}
	r := &Results{Config: cfg, Setup: *s, Runs: res, Activations: Analyze(&cfg, s, res)}
	cells := r.Activations[0].Cells
	if len(cells) != 2 {
		t.Fatalf("%d cells", len(cells))
	}
	type counts struct{ crossed, censored, diverged, fitFailed int }
	for i, want := range []counts{{2, 1, 0, 1}, {1, 0, 1, 2}} {
		c := cells[i]
		if got := (counts{c.Crossed, c.Censored, c.Diverged, c.FitFailed}); got != want {
			t.Errorf("cell eta %g: crossed, censored, diverged, fit failed = %v, want %v", c.Eta, got, want)
		}
	}
	if math.Abs(float64(cells[0].Tc)-200) > 1e-9 {
		t.Errorf("T_c %v, want the geometric mean 200 of the runs that gave one", cells[0].Tc)
	}
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "cells.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(rows[0], "runs_fit_failed")
	if col < 0 || len(rows) != 3 || rows[1][col] != "1" || rows[2][col] != "2" {
		t.Errorf("cells.csv:\n%v", rows)
	}
}

// shardCfg is a grid of longer runs, for the sharding test (whose killed
// shard saves a run in progress at its first chance: shardtest.Child).
func shardCfg() Config {
	c := Presets["quick"]
	c.Activations = []string{"identity"}
	c.Gammas = []float64{0.35, 1}
	c.Etas = []float64{0.01, 0.05}
	c.Seeds = 2
	c.MaxSteps = 60000
	return c
}

func TestMain(m *testing.M) {
	shardtest.Main(m, func(c shardtest.Child) error {
		_, _, err := Execute(context.Background(), shardCfg(), Options{Out: c.Out, Shard: c.Shard, CheckpointEvery: c.CheckpointEvery, WriteFile: c.WriteFile})
		return err
	})
}

// TestShardsKilledAndRerun: three shards, out of order, as separate
// processes on one GOMAXPROCS, one of them killed with SIGKILL and rerun,
// give the same bytes as an unsharded run.
func TestShardsKilledAndRerun(t *testing.T) {
	want := t.TempDir()
	if _, _, err := Execute(context.Background(), shardCfg(), Options{Out: want, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	shardtest.Killed(t, t.TempDir(), want, 3, []int{2, 0, 1}, 0, []string{"results.json", "runs.csv", "cells.csv", "fig1a_alpha.png", "fig1_tc_vs_eta.png"})
}

// TestPlanSaysLowerBound: -plan's probe says its estimate is a lower
// bound and gives the time at the cap, which is larger.
func TestPlanSaysLowerBound(t *testing.T) {
	sw, probe, err := Sweep(tiny(), "test", 1)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := sweep.MakePlan(context.Background(), sw, 2, probe)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pl.Write(&b)
	out := b.String()
	if !strings.Contains(out, "a lower bound") || !strings.Contains(out, "run to the cap") {
		t.Fatalf("-plan does not say its estimate is a lower bound:\n%s", out)
	}
	var atCap float64
	i := strings.Index(out, "it would take ")
	if i < 0 {
		t.Fatalf("-plan gives no time at the cap:\n%s", out)
	}
	if _, err := fmt.Sscanf(out[i+len("it would take "):], "%g h", &atCap); err != nil {
		t.Fatalf("time at the cap unreadable (%v):\n%s", err, out)
	}
	if !(atCap*3600 > pl.Seconds) {
		t.Fatalf("time at the cap %.3g h is not above the estimate %.3g s", atCap, pl.Seconds)
	}
}
