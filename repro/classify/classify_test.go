package classify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flatfast/flatfast/internal/shardtest"
	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/data"
	"github.com/flatfast/flatfast/repro/fit"
	"github.com/flatfast/flatfast/repro/sweep"
	"github.com/flatfast/flatfast/repro/valley"
	"github.com/flatfast/flatfast/tensor"
)

// tinySet is n flattened-able images [n, 1, 6, 6] of 4 classes: a class
// mean (shared by every set) plus noise.
func tinySet(name string, n int, seed uint64) *data.Set {
	const classes, d = 4, 36
	means := tensor.Must(tensor.New(tensor.Float32, classes, d))
	tensor.NewRNG(99).Normal(means, 0, 1)
	x := tensor.Must(tensor.New(tensor.Float32, n, 1, 6, 6))
	rng := tensor.NewRNG(seed)
	labels := make([]int, n)
	xf, mf := x.Float32s(), means.Float32s()
	for i := range n {
		labels[i] = (i + i/5) % classes
		for j := range d {
			xf[i*d+j] = mf[labels[i]*d+j] + float32(1.5*rng.NormFloat64())
		}
	}
	return &data.Set{Name: name, X: x, Labels: labels, Classes: classes}
}

// tinyConfig is the protocol on 64 training images and a narrow MLP:
// 2 etas x 5 betas + baselines, short phases.
func tinyConfig() Config {
	return Config{
		Experiment: "fashion", Preset: "test",
		Data:     DataConfig{Set: "fashion-mnist"},
		Model:    ModelConfig{Arch: ArchMLP, Hidden: 16},
		InitSeed: 1, Chunk: 24,
		Valley: valley.ValleyConfig{LR: 0.2, Beta: 0.9, MaxEpochs: 400, P: 0.2, Observe: valley.Observe{Every: 50, TraceEvery: -1}},
		Noisy: NoisyConfig{
			Etas:      []float64{0.01, 0.03},
			Betas:     BetaGrid{OneMinusMax: 0.2, OneMinusMin: 0.01, Count: 5},
			Baselines: []string{BaselineSGD, BaselineFixed, BaselineCritical},
			Batch:     16, P: 0.2, Epochs: 6, Seeds: 1, NoiseSeed: 3,
			Observe: valley.Observe{Every: 8, TraceEvery: 12},
		},
		Return: ReturnConfig{ReturnConfig: valley.ReturnConfig{Method: valley.ReturnSGD, LR: 0.05, Beta: 0.5, Batch: 16, Epochs: 2, Seed: 4, FreshVelocity: true}},
		Trace:  TraceConfig{PerClass: 4, Probes: 3, P: 0.2, Seed: 5},
		Fit:    FitConfig{Var: "log1m"},
	}
}

func tinySetup() (*Setup, error) {
	c := tinyConfig()
	return NewSetup(&c, tinySet("train", 64, 1), tinySet("test", 32, 2))
}

func run(t *testing.T, cfg Config, opt Options) *Results {
	t.Helper()
	opt.Setup = tinySetup
	res, oc, err := Execute(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !oc.Complete || res == nil {
		t.Fatalf("not complete: %+v", oc)
	}
	return res
}

var reportFiles = []string{"results.json", "runs.csv", "curves.csv", "fig4_accuracy_vs_beta.png", "fig5_exponent.png", "trace_vs_beta.png", "fig4_curves.png"}

func sameFiles(t *testing.T, what, a, b string) {
	t.Helper()
	for _, f := range reportFiles {
		x, err1 := os.ReadFile(filepath.Join(a, f))
		y, err2 := os.ReadFile(filepath.Join(b, f))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", f, err1, err2)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s: %s differs", what, f)
		}
	}
}

func TestRunsAndBaselines(t *testing.T) {
	c := tinyConfig()
	runs, err := Runs(&c)
	if err != nil {
		t.Fatal(err)
	}
	// eta 0.01: grid 0.8 ... 0.99, baselines 0 (sgd), 0.9 (fixed, off
	// the grid here), 0.8 (critical: 1 - 2 sqrt(0.01), on the grid).
	var at01 []Run
	for _, r := range runs {
		if r.Eta == 0.01 {
			at01 = append(at01, r)
		}
	}
	want := []float64{0, 0.8, 0.9, 0.9054, 0.9553, 0.9789, 0.99}
	if len(at01) != len(want) {
		t.Fatalf("eta 0.01: %d runs %+v, want betas %v", len(at01), at01, want)
	}
	for i, r := range at01 {
		if r.Beta != want[i] {
			t.Errorf("eta 0.01 run %d: beta %v, want %v", i, r.Beta, want[i])
		}
	}
	if at01[1].Grid != true || len(at01[1].Baselines) != 1 || at01[1].Baselines[0] != BaselineCritical {
		t.Errorf("beta 0.8 at eta 0.01 should be a grid run and the critical baseline: %+v", at01[1])
	}
	if at01[0].Grid || at01[2].Grid {
		t.Errorf("the sgd and fixed baselines are not on this grid: %+v %+v", at01[0], at01[2])
	}
	// The paper's grid: 1 - beta from 0.05 down to 2 eta.
	g := BetaGrid{OneMinusMax: 0.05, EtaFactor: 2, Count: 8}
	b, err := g.For(1e-4)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8 || b[0] != 0.95 || b[7] != 0.9998 {
		t.Errorf("paper grid at eta 1e-4: %v, want 8 betas from 0.95 to 0.9998", b)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		says string
		edit func(*Config)
	}{
		{"data set", func(c *Config) { c.Data.Set = "mnist" }},
		{"architecture", func(c *Config) { c.Model.Arch = "vit" }},
		{"learning rate 0", func(c *Config) { c.Noisy.Etas = []float64{0} }},
		{"given twice", func(c *Config) { c.Noisy.Etas = []float64{0.01, 0.01} }},
		{"momentum 1", func(c *Config) { c.Noisy.Betas = BetaGrid{List: []float64{0.9, 1}} }},
		{"baseline", func(c *Config) { c.Noisy.Baselines = []string{"nesterov"} }},
		{"seeds 0", func(c *Config) { c.Noisy.Seeds = 0 }},
		{"batch size 0", func(c *Config) { c.Noisy.Batch = 0 }},
		{"inherits", func(c *Config) { c.Return.Inherit = true; c.Return.Method = valley.ReturnAdam; c.Return.MaxSteps = 3 }},
		{"1 probe", func(c *Config) { c.Trace.Probes = 1 }},
		{"fit variable", func(c *Config) { c.Fit.Var = "logit" }},
		{"empty", func(c *Config) { c.Noisy.Betas = BetaGrid{OneMinusMax: 0.05, EtaFactor: 10, Count: 4} }}, // 10 eta = 0.3 > 0.05
		{"valley phase momentum", func(c *Config) { c.Valley.Beta = 1 }},
	} {
		c := tinyConfig()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: got %v", tc.says, err)
		}
		if _, _, err := Execute(context.Background(), c, Options{Out: t.TempDir(), Setup: tinySetup}); err == nil || !errors.Is(err, repro.ErrConfig) {
			t.Errorf("%s: Execute returned %v, want a configuration error", tc.says, err)
		}
	}
	c := tinyConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestDeterministic: the report is the same bytes for any GOMAXPROCS and
// number of workers, and results.json holds the fits where scripts read
// them.
func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	res := run(t, tinyConfig(), Options{Out: a, Workers: 1})
	prev := runtime.GOMAXPROCS(1)
	run(t, tinyConfig(), Options{Out: b, Workers: 3})
	runtime.GOMAXPROCS(prev)
	sameFiles(t, "GOMAXPROCS 1 with 3 workers against 1 worker", a, b)

	if !res.Valley.Reached {
		t.Errorf("the tiny valley phase did not reach 100%% training accuracy in %d epochs", res.Valley.Epochs)
	}
	var js map[string]any
	raw, err := os.ReadFile(filepath.Join(a, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &js); err != nil {
		t.Fatal(err)
	}
	fits := js["fits"].(map[string]any)
	for _, obs := range []string{ObsTestAccuracy, ObsHessianTrace} {
		o := fits[obs].(map[string]any)
		bs := o["beta_star"].(map[string]any)
		for _, eta := range []string{"0.01", "0.03"} {
			e, ok := bs[eta].(map[string]any)
			if !ok {
				t.Fatalf("fits.%s.beta_star.%s missing", obs, eta)
			}
			for _, k := range []string{"value", "stderr", "resolved"} {
				if _, ok := e[k]; !ok {
					t.Errorf("fits.%s.beta_star.%s.%s missing", obs, eta, k)
				}
			}
		}
		ex := o["exponent"].(map[string]any)
		for _, k := range []string{"value", "stderr", "C"} {
			if _, ok := ex[k]; !ok {
				t.Errorf("fits.%s.exponent.%s missing", obs, k)
			}
		}
	}
	// Every grid run has its trace at the end of the noisy phase and the
	// baselines' rows are filled.
	for _, s := range res.Runs {
		if s.Diverged == "" && (s.Trace <= 0 && s.Trace >= 0) {
			t.Errorf("run %s: no trace at the end of the noisy phase", s.ID)
		}
	}
	if len(res.Baselines) != 6 {
		t.Errorf("%d baseline rows, want 3 baselines x 2 etas", len(res.Baselines))
	}
}

// TestInterruptedResumes: a sweep cancelled while runs are in progress
// (each session is cancelled at its second checkpoint of a run in
// progress, whatever the machine's speed) and run again until it
// finishes gives the bytes of an uninterrupted sweep.
func TestInterruptedResumes(t *testing.T) {
	want, got := t.TempDir(), t.TempDir()
	run(t, tinyConfig(), Options{Out: want, Workers: 1})
	stateDir := string(filepath.Separator) + sweep.StateDir + string(filepath.Separator)
	resumed := 0
	for round := 0; ; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		var saves atomic.Int32
		write := func(path string, b []byte) error {
			err := repro.WriteFileAtomic(path, b)
			if strings.Contains(path, stateDir) && saves.Add(1) >= 2 {
				cancel()
			}
			return err
		}
		_, oc, err := Execute(ctx, tinyConfig(), Options{Out: got, Workers: 2, Setup: tinySetup, CheckpointEvery: time.Millisecond, WriteFile: write})
		cancel()
		if oc != nil {
			resumed += oc.Resumed
		}
		if err == nil && oc.Complete {
			if round == 0 {
				t.Fatal("the sweep finished without being interrupted: it saved fewer than two states")
			}
			break
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		if round > 500 {
			t.Fatal("no progress")
		}
	}
	if resumed == 0 {
		t.Fatal("no run was resumed from a saved state")
	}
	sameFiles(t, "interrupted and resumed", want, got)
}

// TestShardNeedsValley: a shard of several stops without the valley
// point and names the command that makes it.
func TestShardNeedsValley(t *testing.T) {
	_, _, err := Execute(context.Background(), tinyConfig(), Options{Out: t.TempDir(), Setup: tinySetup, Shard: sweep.Shard{Index: 1, Count: 3}})
	var me *sweep.MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "-prerequisites") {
		t.Fatalf("got %v, want a MissingError naming -prerequisites", err)
	}
}

// shardCfg is tinyConfig with longer runs, for the sharding test (whose
// killed shard saves a run in progress at its first chance:
// shardtest.Child).
func shardCfg() Config {
	c := tinyConfig()
	c.Noisy.Epochs = 40
	return c
}

// envValley makes the test binary a child that runs the valley phase of
// resnetConfig into the directory it names (TestValleyKilled).
const envValley = "FLATFAST_CLASSIFY_VALLEY_OUT"

func TestMain(m *testing.M) {
	if out := os.Getenv(envValley); out != "" {
		_, _, err := Execute(context.Background(), resnetConfig(), Options{Out: out, Setup: resnetSetup, Prerequisites: true, CheckpointEvery: time.Millisecond})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	shardtest.Main(m, func(c shardtest.Child) error {
		_, _, err := Execute(context.Background(), shardCfg(), Options{Out: c.Out, Shard: c.Shard, Setup: tinySetup, CheckpointEvery: c.CheckpointEvery, WriteFile: c.WriteFile})
		return err
	})
}

// TestShardsKilledAndRerun: the valley point as its own job, then three
// shards as separate processes out of order, one killed with SIGKILL and
// rerun, give an unsharded run's bytes.
func TestShardsKilledAndRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sweep four times")
	}
	want, out := t.TempDir(), t.TempDir()
	run(t, shardCfg(), Options{Out: want})
	if _, _, err := Execute(context.Background(), shardCfg(), Options{Out: out, Setup: tinySetup, Prerequisites: true}); err != nil {
		t.Fatal(err)
	}
	shardtest.Killed(t, out, want, 3, []int{2, 0, 1}, 0, reportFiles)
}

// TestAnalyseKnownOptimum: on V-shaped observables with a known corner
// at 1 - beta* = 0.2 eta^(2/3), the fits find each beta* and the
// exponent 2/3; a monotone observable is not resolved.
func TestAnalyseKnownOptimum(t *testing.T) {
	c := tinyConfig()
	c.Noisy.Etas = []float64{1e-3, 1e-2, 1e-1}
	c.Noisy.Betas = BetaGrid{OneMinusMax: 0.5, OneMinusMin: 1e-4, Count: 15}
	runs, err := Runs(&c)
	if err != nil {
		t.Fatal(err)
	}
	star := func(eta float64) float64 { return 1 - 0.2*math.Pow(eta, 2.0/3) }
	var sums []RunSummary
	for _, r := range runs {
		x, xs := -math.Log1p(-r.Beta), -math.Log1p(-star(r.Eta))
		d := x - xs
		acc := 0.9 + 0.02*d
		if d > 0 {
			acc = 0.9 - 0.05*d
		}
		// A deterministic wobble, so that the residual variance is not 0.
		wobble := 1e-4 * math.Sin(float64(r.Index)*1.7)
		sums = append(sums, RunSummary{Run: r, ID: r.ID(), TestAccuracy: repro.Finite(acc + wobble), Trace: repro.Finite(100 - 10*x + wobble)})
	}
	res, err := analyse(&c, ValleyPoint{}, sums)
	if err != nil {
		t.Fatal(err)
	}
	for _, eta := range c.Noisy.Etas {
		f := res.Fits[ObsTestAccuracy].BetaStar[FormatEta(eta)]
		if !f.Resolved || math.Abs(math.Log((1-float64(f.Value))/(1-star(eta)))) > 0.01 {
			t.Errorf("eta %v: beta* %+v, want %v", eta, f, star(eta))
		}
		if g := res.Fits[ObsHessianTrace].BetaStar[FormatEta(eta)]; g.Resolved {
			t.Errorf("eta %v: a monotone trace got a corner: %+v", eta, g)
		}
	}
	e := res.Fits[ObsTestAccuracy].Exponent
	if !e.Resolved || math.Abs(float64(e.Value)-2.0/3) > 0.01 || math.Abs(float64(e.C)-0.2) > 0.01 {
		t.Errorf("exponent %+v, want gamma 2/3, C 0.2", e)
	}
	if res.Fits[ObsHessianTrace].Exponent.Resolved {
		t.Error("an exponent from no resolved beta*")
	}
	// The report draws an eta whose runs all diverged (empty panels) and
	// leaves it out of the fits.
	for i := range sums {
		if sums[i].Eta == 0.1 {
			sums[i] = summarize(sums[i].Run, runResult{Diverged: "optim: training diverged at step 3: loss is NaN"}, 4)
		}
	}
	res, err = analyse(&c, ValleyPoint{}, sums)
	if err != nil {
		t.Fatal(err)
	}
	res.curves = make([][]valley.Observation, len(sums))
	if err := res.Write(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if f := res.Fits[ObsTestAccuracy].BetaStar["0.1"]; f.Resolved || f.Why != fit.ReasonTooFew {
		t.Errorf("eta 0.1 with every run diverged: %+v", f)
	}
	if e := res.Fits[ObsTestAccuracy].Exponent; e.Resolved {
		t.Errorf("an exponent through 2 etas: %+v", e)
	}
}

// resnetConfig is the protocol with a ResNet of width 1/16 on 3x8x8
// images with random labels, so that the valley phase takes a few hundred
// full-batch epochs (warm-up and cosine, batch norm per chunk).
func resnetConfig() Config {
	c := tinyConfig()
	c.Model = ModelConfig{Arch: ArchResNet, Width: 1.0 / 16}
	c.Chunk = 16
	c.Valley = valley.ValleyConfig{LR: 0.05, Beta: 0.9, Warmup: 20, Decay: 380, MaxEpochs: 400, P: 0.2, Observe: valley.Observe{Every: 20}}
	return c
}

func resnetSetup() (*Setup, error) {
	mk := func(name string, n int, seed uint64) *data.Set {
		x := tensor.Must(tensor.New(tensor.Float32, n, 3, 8, 8))
		rng := tensor.NewRNG(seed)
		rng.Normal(x, 0, 1)
		labels := make([]int, n)
		for i := range labels {
			labels[i] = rng.IntN(4)
		}
		return &data.Set{Name: name, X: x, Labels: labels, Classes: 4}
	}
	c := resnetConfig()
	return NewSetup(&c, mk("train", 48, 1), mk("test", 16, 2))
}

// recordPayload is a sweep record's payload: what follows its two header
// lines (ok false for a record too short to have them).
func recordPayload(rec []byte) ([]byte, bool) {
	n := 0
	for range 2 {
		i := bytes.IndexByte(rec[n:], '\n')
		if i < 0 {
			return nil, false
		}
		n += i + 1
	}
	return rec[n:], true
}

// payload is the payload of the record in the file at path.
func payload(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := recordPayload(b)
	if !ok {
		t.Fatalf("%s: no record header", path)
	}
	return p
}

// stateStep is the step of a saved valley state (-1: unreadable, as a
// file caught half-written by a concurrent reader would be).
func stateStep(rec []byte) int {
	p, ok := recordPayload(rec)
	if !ok {
		return -1
	}
	st, err := valley.Load(p)
	if err != nil {
		return -1
	}
	return st.Step
}

// TestValleyKilled: the valley phase (a ResNet with batch norm, warm-up
// and cosine) killed with SIGKILL once it has checkpointed, then rerun,
// ends with the bytes of an uninterrupted valley phase: weights, batch
// norm statistics, velocity, counters and curve.
func TestValleyKilled(t *testing.T) {
	want, out := t.TempDir(), t.TempDir()
	if _, _, err := Execute(context.Background(), resnetConfig(), Options{Out: want, Setup: resnetSetup, Prerequisites: true}); err != nil {
		t.Fatal(err)
	}
	child := func() *exec.Cmd {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), envValley+"="+out, "GOMAXPROCS=1")
		return c
	}
	c := child()
	var buf bytes.Buffer
	c.Stdout, c.Stderr = &buf, &buf
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	state := filepath.Join(out, sweep.StateDir, ValleyID+".state")
	killed := false
	for deadline := time.Now().Add(60 * time.Second); !killed && time.Now().Before(deadline); {
		select {
		case err := <-done:
			t.Fatalf("the valley phase finished (%v) before it checkpointed: the test needs a longer phase\n%s", err, buf.String())
		case <-time.After(2 * time.Millisecond):
		}
		// Kill it a good way into the phase, past the warm-up's first
		// epochs.
		if b, err := os.ReadFile(state); err == nil && stateStep(b) >= 10 {
			if err := c.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-done
			killed = true
		}
	}
	if !killed {
		t.Fatal("no checkpoint within a minute")
	}
	st, err := valley.Load(payload(t, state))
	if err != nil {
		t.Fatal(err)
	}
	if st.Done || st.Step == 0 {
		t.Fatalf("killed at step %d (done %v): not in the middle of the phase", st.Step, st.Done)
	}
	if b, err := child().CombinedOutput(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, b)
	}
	a, b := payload(t, filepath.Join(want, sweep.RunsDir, ValleyID+".run")), payload(t, filepath.Join(out, sweep.RunsDir, ValleyID+".run"))
	if !bytes.Equal(a, b) {
		t.Fatalf("the valley point after a SIGKILL at step %d and a rerun differs from an uninterrupted run's", st.Step)
	}
	v, err := valley.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed at epoch %d of %d (reached %v)", st.Step, v.Step, v.Reached)
}

// TestMergeShardDirectories: the valley point made once and copied into
// two shard directories (no shared file system), each shard run into its
// own, then merged through FromSettings (no data needed): the unsharded
// run's report.
func TestMergeShardDirectories(t *testing.T) {
	want, valleyDir, out := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "merged")
	run(t, tinyConfig(), Options{Out: want})
	if _, _, err := Execute(context.Background(), tinyConfig(), Options{Out: valleyDir, Setup: tinySetup, Prerequisites: true}); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for i := range 2 {
		d := t.TempDir()
		for _, f := range []string{sweep.ManifestFile, filepath.Join(sweep.RunsDir, ValleyID+".run")} {
			b, err := os.ReadFile(filepath.Join(valleyDir, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(d, f)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, oc, err := Execute(context.Background(), tinyConfig(), Options{Out: d, Setup: tinySetup, Shard: sweep.Shard{Index: i, Count: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if oc.Complete {
			t.Fatalf("shard %d/2 alone wrote the report", i)
		}
		dirs = append(dirs, d)
	}
	var res func() *Results
	build := func(m *sweep.Manifest) (*sweep.Sweep, error) {
		sw, r, err := FromSettings(m.Settings)
		res = r
		return sw, err
	}
	if _, err := sweep.Merge(out, dirs, build, nil); err != nil {
		t.Fatal(err)
	}
	if res() == nil {
		t.Fatal("the merge returned no results")
	}
	sameFiles(t, "merged shard directories", want, out)
}
