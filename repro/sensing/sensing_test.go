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
	"github.com/flatfast/flatfast/repro"
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

// TestResumeGivesSameResults stops a tiny sweep midway (as a kill would,
// leaving its checkpoint), runs it again on the same directory, and
// compares results.json with an uninterrupted sweep's, byte for byte; it
// also checks that the results do not depend on the thread count.
func TestResumeGivesSameResults(t *testing.T) {
	cfg := tinyConfig()
	full := t.TempDir()
	tensor.SetThreads(1)
	if _, _, err := Execute(context.Background(), cfg, Options{Out: full}); err != nil {
		t.Fatal(err)
	}
	tensor.SetThreads(0)
	dir := t.TempDir()
	if _, _, err := Execute(context.Background(), cfg, Options{Out: dir, stopAfter: 27}); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped sweep returned %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, checkpointFile)); err != nil {
		t.Fatal("no checkpoint after the stop")
	}
	_, perf, err := Execute(context.Background(), cfg, Options{Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	if perf.Resumed != 27 {
		t.Errorf("resumed at step %d, want 27", perf.Resumed)
	}
	a, _ := os.ReadFile(filepath.Join(full, "results.json"))
	b, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("results.json of the resumed sweep differs from the uninterrupted one")
	}
	for _, f := range []string{"perf.json", "curves.csv", "summary.csv", "fig3_test_error.png", "fig3_hessian_trace.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
}

// TestHutchinsonAgreesOnTheSweep: the checks recorded during a tiny sweep
// agree with the closed form within their standard error bounds.
func TestHutchinsonAgreesOnTheSweep(t *testing.T) {
	cfg := tinyConfig()
	cfg.HutchinsonProbes = 200
	res, _, err := Execute(context.Background(), cfg, Options{Out: t.TempDir()})
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

// TestFinishedSweepIsNotRerun runs a tiny sweep to the end, then runs it
// again on the same directory: the second run trains nothing, reports that
// the sweep was already complete, and leaves the outputs as they were (no
// step measured twice, no extra Hutchinson check, perf.json kept).
func TestFinishedSweepIsNotRerun(t *testing.T) {
	cfg := tinyConfig()
	dir := t.TempDir()
	first, perf1, err := Execute(context.Background(), cfg, Options{Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"results.json", "perf.json", "curves.csv", "summary.csv"}
	before := map[string][]byte{}
	for _, f := range files {
		if before[f], err = os.ReadFile(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	res, perf, err := Execute(context.Background(), cfg, Options{Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete {
		t.Error("a finished sweep run again does not say it was complete")
	}
	if first.Complete {
		t.Error("a sweep that trained says it was complete beforehand")
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		if !bytes.Equal(b, before[f]) {
			t.Errorf("%s changed when the finished sweep was run again", f)
		}
	}
	for i, c := range res.Curves {
		for k := 1; k < len(c.Steps); k++ {
			if c.Steps[k] <= c.Steps[k-1] {
				t.Fatalf("run %d: step %d recorded after step %d", i, c.Steps[k], c.Steps[k-1])
			}
		}
	}
	if len(res.Analysis.Hutchinson) != len(first.Analysis.Hutchinson) {
		t.Errorf("%d Hutchinson checks after the rerun, %d before", len(res.Analysis.Hutchinson), len(first.Analysis.Hutchinson))
	}
	if perf == nil || *perf != *perf1 {
		t.Errorf("perf of the rerun %+v, want the finished sweep's %+v", perf, perf1)
	}
	// A sweep stopped just before its last step (Step == Steps, like a
	// finished one) is not complete: resumed, it measures that step once.
	dir2 := t.TempDir()
	if _, _, err := Execute(context.Background(), cfg, Options{Out: dir2, stopAfter: cfg.Steps}); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped sweep returned %v", err)
	}
	res2, _, err := Execute(context.Background(), cfg, Options{Out: dir2})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir2, "results.json"))
	if res2.Complete || !bytes.Equal(b, before["results.json"]) {
		t.Errorf("sweep resumed at its last step: complete %v, results.json equal %v", res2.Complete, bytes.Equal(b, before["results.json"]))
	}
}

// TestOtherConfigIsRefused: a sweep started in a directory that holds
// another configuration's checkpoint or results.json fails before writing
// anything, with an error that names the directory and the differing
// setting and points to -fresh and -out; -fresh overwrites.
func TestOtherConfigIsRefused(t *testing.T) {
	cfg := tinyConfig()
	other := cfg
	other.Steps, other.HutchinsonSteps = 40, []int{0, 40}
	check := func(what, dir string) {
		t.Helper()
		before := dirtest.Snapshot(t, dir)
		_, _, err := Execute(context.Background(), other, Options{Out: dir})
		var mm *repro.OtherConfigError
		if !errors.As(err, &mm) {
			t.Fatalf("%s: another configuration gave %v, want an OtherConfigError", what, err)
		}
		for _, s := range []string{dir, "steps", "60", "40", "-fresh", "-out"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", what, err, s)
			}
		}
		dirtest.Same(t, what, dir, before)
	}
	// A finished sweep: checkpoint and results.json.
	done := t.TempDir()
	if _, _, err := Execute(context.Background(), cfg, Options{Out: done}); err != nil {
		t.Fatal(err)
	}
	check("finished sweep", done)
	// A stopped sweep: a checkpoint alone.
	stopped := t.TempDir()
	if _, _, err := Execute(context.Background(), cfg, Options{Out: stopped, stopAfter: 20}); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped sweep returned %v", err)
	}
	check("stopped sweep", stopped)
	// results.json alone.
	if err := os.Remove(filepath.Join(done, checkpointFile)); err != nil {
		t.Fatal(err)
	}
	check("results.json alone", done)

	// -fresh overwrites; interrupted, the new sweep resumes from its own
	// checkpoint even though results.json is still the old one's.
	if _, _, err := Execute(context.Background(), other, Options{Out: stopped, Fresh: true, stopAfter: 10}); !errors.Is(err, ErrStopped) {
		t.Fatalf("fresh sweep returned %v", err)
	}
	if _, _, err := Execute(context.Background(), other, Options{Out: done, Fresh: true, stopAfter: 10}); !errors.Is(err, ErrStopped) {
		t.Fatalf("fresh sweep returned %v", err)
	}
	for _, dir := range []string{stopped, done} {
		res, perf, err := Execute(context.Background(), other, Options{Out: dir})
		if err != nil {
			t.Fatalf("resuming the fresh sweep: %v", err)
		}
		if perf.Resumed != 10 || res.Config.Steps != other.Steps {
			t.Errorf("fresh sweep resumed at %d with %d steps", perf.Resumed, res.Config.Steps)
		}
	}
}

// TestCorruptCheckpointIsAnError: an unreadable checkpoint or results.json
// is an error naming the file (nothing written), not silently replaced,
// unless -fresh.
func TestCorruptCheckpointIsAnError(t *testing.T) {
	cfg := tinyConfig()
	for _, f := range []string{checkpointFile, "results.json"} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, f), []byte("not a checkpoint"), 0o644); err != nil {
			t.Fatal(err)
		}
		before := dirtest.Snapshot(t, dir)
		_, _, err := Execute(context.Background(), cfg, Options{Out: dir})
		if err == nil {
			t.Fatalf("corrupt %s accepted", f)
		}
		for _, s := range []string{filepath.Join(dir, f), "-fresh", "-out"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("corrupt %s: error %q does not mention %q", f, err, s)
			}
		}
		dirtest.Same(t, "corrupt "+f, dir, before)
		if _, _, err := Execute(context.Background(), cfg, Options{Out: dir, Fresh: true}); err != nil {
			t.Errorf("corrupt %s with -fresh: %v", f, err)
		}
	}
}
