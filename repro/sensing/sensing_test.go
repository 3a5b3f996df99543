package sensing

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/internal/dirtest"
	"github.com/flatfast/flatfast/internal/shardtest"
	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/sweep"
	"github.com/flatfast/flatfast/tensor"
)

// TestClosedFormTraceMatchesAutodiff: eq. 127 (with the paper's V^T
// placed as our V) equals autodiff's exact Hessian trace of the noiseless
// loss, at random U, V (off the zero-loss manifold too).
func TestClosedFormTraceMatchesAutodiff(t *testing.T) {
	pr, err := newProblem(4, 2, 12, 3, false, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(4)
	for trial := 0; trial < 3; trial++ {
		u := tensor.Must(tensor.New(tensor.Float64, 1, 4, 4))
		v := tensor.Must(tensor.New(tensor.Float64, 1, 4, 4))
		rng.Normal(u, 0, 1)
		rng.Normal(v, 0, 1)
		g := autodiff.NewGraph()
		U, V := autodiff.NewParam(u), autodiff.NewParam(v)
		y := tensor.Must(tensor.FromFloat64(append([]float64(nil), pr.Y...), 1, pr.P))
		pred := g.ApplyOperator(pr.Op, g.Reshape(g.BatchMatMul(U, V, false, false), 1, 16))
		loss := g.Scale(g.SumAll(g.Square(g.Sub(pred, g.Const(y)))), 1/float64(4*pr.P))
		h, err := g.Hessian(loss, U, V)
		if err != nil {
			t.Fatal(err)
		}
		exact, err := h.ExactTrace()
		if err != nil {
			t.Fatal(err)
		}
		closed := pr.HessianTrace(u.Float64s(), v.Float64s())
		if math.Abs(exact-closed) > 1e-10*math.Abs(exact) {
			t.Errorf("trial %d: exact trace %v, eq. 127 %v", trial, exact, closed)
		}
	}
}

func TestProblemData(t *testing.T) {
	pr, err := newProblem(10, 3, 40, 5, false, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	// X* has rank r.
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(10, 10, append([]float64(nil), pr.XStar...)), mat.SVDNone) {
		t.Fatal("SVD failed")
	}
	sv := svd.Values(nil)
	for k, s := range sv {
		if k < 3 && !(s > 1e-6) || k >= 3 && s > 1e-9*sv[0] {
			t.Errorf("singular value %d of X* = %v (want rank 3)", k, s)
		}
	}
	// y_i = Tr(A_i X*) through the operator.
	x := tensor.Must(tensor.FromFloat64(append([]float64(nil), pr.XStar...), 1, 100))
	y := tensor.Must(tensor.New(tensor.Float64, 1, 40))
	if err := pr.Op.Forward(y, x); err != nil {
		t.Fatal(err)
	}
	for i, want := range pr.Y {
		if math.Abs(y.Flat(i)-want) > 1e-10*(1+math.Abs(want)) {
			t.Fatalf("y[%d] = %v through the operator, %v stored", i, y.Flat(i), want)
		}
	}
	if pr.TestError(pr.XStar) != 0 {
		t.Error("test error of X* itself is not 0")
	}
	// The float32 problem from the same seed has the same target.
	p32, err := NewProblem(10, 3, 40, 5, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pr.XStar {
		if p32.XStar[i] != pr.XStar[i] || (i < 40 && p32.Y[i] != pr.Y[i]) {
			t.Fatal("float32 and float64 problems differ")
		}
	}
	if _, err := NewProblem(3, 4, 10, 1, false); err == nil {
		t.Error("r > d accepted")
	}
}

func tinyConfig() Config {
	c := Presets["quick"]
	c.D, c.R, c.P = 8, 2, 80
	c.Betas = []float64{0, 0.9, 0.97}
	c.Seeds = 2
	c.Steps, c.Every = 60, 5
	c.HutchinsonSteps, c.HutchinsonBetas, c.HutchinsonProbes = []int{0, 60}, []float64{0.9}, 8
	return c
}

// TestResumeGivesSameResults interrupts a tiny sweep once its runs have
// saved their state, runs it again on the same directory, and compares
// the files with an uninterrupted sweep's, byte for byte; it also checks
// that the results do not depend on the thread count.
func TestResumeGivesSameResults(t *testing.T) {
	full := t.TempDir()
	tensor.SetThreads(1)
	if _, _, _, err := Execute(context.Background(), tinyConfig(), Options{Out: full}); err != nil {
		t.Fatal(err)
	}
	tensor.SetThreads(0)
	dir, _ := stoppedState(t)
	_, perf, oc, err := Execute(context.Background(), tinyConfig(), Options{Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	if oc.Resumed != oc.Runs || perf == nil || perf.Resumed == 0 {
		t.Errorf("resumed %d of %d runs, at step %v", oc.Resumed, oc.Runs, perf)
	}
	for _, f := range []string{"results.json", "curves.csv", "summary.csv", "fig3_test_error.png", "fig3_hessian_trace.png"} {
		a, _ := os.ReadFile(filepath.Join(full, f))
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s of the resumed sweep differs from the uninterrupted one (%v)", f, err)
		}
	}
}

// TestHutchinsonAgreesOnTheSweep: the checks recorded during a tiny sweep
// agree with the closed form within their standard error bounds.
func TestHutchinsonAgreesOnTheSweep(t *testing.T) {
	cfg := tinyConfig()
	cfg.HutchinsonProbes = 200
	res, _, _, err := Execute(context.Background(), cfg, Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Analysis.Hutchinson) != 2 {
		t.Fatalf("%d Hutchinson checks, want 2", len(res.Analysis.Hutchinson))
	}
	for _, h := range res.Analysis.Hutchinson {
		if !(h.Sigmas < 4) {
			t.Errorf("step %d: Hutchinson %v ± %v vs closed form %v", h.Step, h.Estimate, h.StdErr, h.ClosedForm)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	for i, f := range []func(c *Config){
		func(c *Config) { c.Betas = []float64{1} },
		func(c *Config) { c.Eta = 0 },
		func(c *Config) { c.R = 200 },
		func(c *Config) { c.HutchinsonBetas = []float64{0.5} },
		func(c *Config) { c.HutchinsonSteps = []int{7} },
		func(c *Config) { c.Every = 0 },
	} {
		c := Presets["quick"]
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("case %d: invalid configuration accepted", i)
		}
	}
}

// TestFinishedSweepIsNotRerun: a finished sweep run again trains nothing
// and leaves its files as they were.
func TestFinishedSweepIsNotRerun(t *testing.T) {
	cfg := tinyConfig()
	dir := t.TempDir()
	if _, _, _, err := Execute(context.Background(), cfg, Options{Out: dir}); err != nil {
		t.Fatal(err)
	}
	before := dirtest.Snapshot(t, dir)
	res, perf, oc, err := Execute(context.Background(), cfg, Options{Out: dir})
	if err != nil || res == nil || perf != nil || oc.Done != 0 || !oc.Complete {
		t.Fatalf("rerun: %v, %+v", err, oc)
	}
	for _, f := range []string{"results.json", "curves.csv", "summary.csv", "fig3_test_error.png", "fig3_hessian_trace.png", "perf.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if f != "perf.json" && !bytes.Equal(b, before[f]) {
			t.Errorf("%s changed", f)
		}
	}
}

// TestOtherConfigIsRefused: another configuration's runs or results.json
// in -out are refused, naming the directory and the difference, nothing
// written; -fresh overwrites.
func TestOtherConfigIsRefused(t *testing.T) {
	cfg := tinyConfig()
	other := cfg
	other.Steps = 50
	other.HutchinsonSteps = []int{0, 50}
	dir := t.TempDir()
	if _, _, _, err := Execute(context.Background(), cfg, Options{Out: dir}); err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		before := dirtest.Snapshot(t, dir)
		_, _, _, err := Execute(context.Background(), other, Options{Out: dir})
		var mm *repro.OtherConfigError
		if !errors.As(err, &mm) || !strings.Contains(err.Error(), "steps: 60 there, 50 now") || !strings.Contains(err.Error(), "-fresh") {
			t.Fatalf("%s: %v", what, err)
		}
		dirtest.Same(t, what, dir, before)
	}
	check("finished sweep")
	for _, f := range []string{sweep.ManifestFile, sweep.RunsDir, sweep.StateDir} {
		os.RemoveAll(filepath.Join(dir, f))
	}
	check("results.json alone")
	if res, _, _, err := Execute(context.Background(), other, Options{Out: dir, Fresh: true}); err != nil || res == nil || res.Config.Steps != 50 {
		t.Errorf("-fresh: %v", err)
	}
}

// TestOldCheckpointIsRefused: the whole-sweep checkpoint of earlier
// versions, or an unreadable results.json, is an error naming the file,
// nothing written, unless -fresh.
func TestOldCheckpointIsRefused(t *testing.T) {
	cfg := tinyConfig()
	for _, c := range []struct{ file, says string }{{legacyCheckpoint, "earlier version"}, {"results.json", "unreadable"}} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte("[]"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := dirtest.Snapshot(t, dir)
		_, _, _, err := Execute(context.Background(), cfg, Options{Out: dir})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.file)) || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "-fresh") {
			t.Errorf("%s: %v", c.file, err)
		}
		dirtest.Same(t, c.file, dir, before)
		if _, _, _, err := Execute(context.Background(), cfg, Options{Out: dir, Fresh: true}); err != nil {
			t.Errorf("%s with -fresh: %v", c.file, err)
		}
	}
}

// shardCfg is tinyConfig with longer runs, for the sharding test (whose
// killed shard saves a run in progress at its first chance:
// shardtest.Child).
func shardCfg() Config {
	c := tinyConfig()
	c.Steps = 3000
	c.Every = 100
	c.HutchinsonSteps = []int{0, 3000}
	return c
}

func TestMain(m *testing.M) {
	shardtest.Main(m, func(c shardtest.Child) error {
		_, _, _, err := Execute(context.Background(), shardCfg(), Options{Out: c.Out, Shard: c.Shard, CheckpointEvery: c.CheckpointEvery, WriteFile: c.WriteFile})
		return err
	})
}

// TestShardsKilledAndRerun: three shards, out of order, as separate
// processes on one GOMAXPROCS, one of them killed with SIGKILL and rerun,
// give the same bytes as an unsharded run.
func TestShardsKilledAndRerun(t *testing.T) {
	want := t.TempDir()
	if _, _, _, err := Execute(context.Background(), shardCfg(), Options{Out: want}); err != nil {
		t.Fatal(err)
	}
	shardtest.Killed(t, t.TempDir(), want, 3, []int{1, 2, 0}, 2, []string{"results.json", "curves.csv", "summary.csv", "fig3_test_error.png", "fig3_hessian_trace.png"})
}
