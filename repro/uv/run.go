package uv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync/atomic"
	"time"

	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/repro"
)

// Options control how an experiment runs (not what it computes).
type Options struct {
	Out      string    // output directory
	Workers  int       // goroutines stepping batches (0: GOMAXPROCS)
	Progress io.Writer // status line (a terminal); nil for none
	Quiet    bool
	// Fresh starts over, ignoring what Out holds (the run overwrites it).
	// Without it, a checkpoint of the same configuration is resumed, and
	// Out holding another configuration's checkpoint or results.json
	// (a *repro.OtherConfigError), or a checkpoint or results.json that
	// cannot be read back, is an error returned before anything is
	// written.
	Fresh bool
	// MaxMemory is the memory the experiment may plan to use, in bytes
	// (0: the physical memory; see repro.MemoryLimit). A configuration
	// estimated to need more is refused with a *repro.MemoryError before
	// anything is allocated.
	MaxMemory int64

	// For tests: the file writer (nil: repro.WriteFileAtomic) and the
	// time between checkpoints (0: 2 s).
	writeFile       func(path string, data []byte) error
	checkpointEvery time.Duration
}

// Results is everything results.json holds.
type Results struct {
	Config      Config       `json:"settings"`
	Setup       Setup        `json:"setup"`
	Activations []Activation `json:"activations"`
	Runs        []RunResult  `json:"runs"`
	Perf        Perf         `json:"performance"`
	Paper       PaperValues  `json:"paper"`
	Resumed     int          `json:"runs_from_checkpoint"`
	// Complete is set (and not saved) when Execute found every run
	// already finished in Options.Out and trained nothing.
	Complete bool `json:"-"`
}

// Perf is the speed of the training loop.
type Perf struct {
	Workers       int     `json:"workers"`
	Seconds       float64 `json:"seconds"`
	RunSteps      int64   `json:"run_steps"`
	RunStepsPerS  float64 `json:"run_steps_per_second"` // all workers, lockstep batches
	SingleStepsPS float64 `json:"single_run_steps_per_second"`
}

// PaperValues are the paper's numbers, printed beside ours.
type PaperValues struct {
	GammaStar float64 `json:"gamma_star"`
	CFit      float64 `json:"C_fit"`
	CTheory   float64 `json:"C_theory"`
}

var paper = PaperValues{GammaStar: 2.0 / 3, CFit: 0.2, CTheory: 0.17}

const checkpointFile = "checkpoint.json"

type checkpoint struct {
	Hash string `json:"config_hash"`
	// Config is the configuration the runs belong to (absent from the
	// checkpoints of earlier versions).
	Config *Config     `json:"settings,omitempty"`
	Runs   []RunResult `json:"runs"`
}

// Execute runs cfg (resuming from Out), analyses it and writes
// results.json, the CSV tables and the plots into Out. When Out already
// holds every run of cfg, it trains nothing: it rewrites the reports from
// the checkpoint, keeping the timings results.json recorded, and sets
// Results.Complete. Unless opt.Fresh, Out holding the output of another
// configuration is an error (see Options.Fresh).
func Execute(ctx context.Context, cfg Config, opt Options) (*Results, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	need, what := cfg.MemoryEstimate(opt.Workers)
	if err := repro.CheckMemory(need, what, opt.MaxMemory); err != nil {
		return nil, err
	}
	setup, err := NewSetup(&cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", repro.ErrConfig, err)
	}
	runs, err := Runs(&cfg, setup)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", repro.ErrConfig, err)
	}
	// Resume: keep the runs an interrupted run of the same configuration
	// finished. Output of another configuration, or a checkpoint that
	// cannot be read back, is an error (before anything is written)
	// unless opt.Fresh.
	write := opt.writeFile
	if write == nil {
		write = repro.WriteFileAtomic
	}
	// The directory is locked before its checkpoint is read, so that what
	// is read stays this process's until it is done.
	od, err := repro.OpenOut(opt.Out, write)
	if err != nil {
		return nil, err
	}
	defer od.Close()
	var results []RunResult
	skip := map[int]bool{}
	cpPath := filepath.Join(opt.Out, checkpointFile)
	if !opt.Fresh {
		var found bool
		if results, found, err = readCheckpoint(opt.Out, &cfg, runs); err != nil {
			return nil, err
		}
		// The checkpoint is the directory's record of what it holds: one
		// of this configuration may sit beside the results.json of another
		// (an interrupted -fresh run), which the run then overwrites.
		if !found {
			if err := repro.CheckResults(opt.Out, cfg.Hash(), &cfg, hashSettings); err != nil {
				return nil, err
			}
		}
		for _, r := range results {
			skip[r.ID] = true
		}
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	resumed := len(results)
	if resumed == len(runs) {
		return finished(&cfg, setup, results, opt.Out)
	}

	// Progress: the expected work of each run is a few of its theoretical
	// timescales, capped.
	expected := func(r Run) float64 {
		return math.Min(float64(cfg.MaxSteps), 3*setup.TheoryTime(&cfg, r.Eta, r.Gamma))
	}
	var total float64
	for _, r := range runs {
		if !skip[r.ID] {
			total += expected(r)
		}
	}
	prog := repro.NewProgress(opt.Progress, opt.Quiet)
	var stepsDone, doneWork, doneRuns atomic.Int64
	lastSave := time.Now()
	save := func() error {
		sort.Slice(results, func(i, j int) bool { return results[i].ID < results[j].ID })
		b, err := json.Marshal(checkpoint{Hash: cfg.Hash(), Config: &cfg, Runs: results})
		if err != nil {
			return err
		}
		if err := write(cpPath, b); err != nil {
			return fmt.Errorf("saving the checkpoint: %w", err)
		}
		return nil
	}
	saveEvery := opt.checkpointEvery
	if saveEvery <= 0 {
		saveEvery = 2 * time.Second
	}
	// A checkpoint that cannot be written (a full disk) stops the runs at
	// once: training on would lose the work it was to keep.
	runCtx, stopRuns := context.WithCancel(ctx)
	defer stopRuns()
	var saveErr error
	start := time.Now()
	err = executeRuns(runCtx, &cfg, setup, runs, skip, workers, func(r RunResult) {
		results = append(results, r)
		doneWork.Add(int64(expected(r.Run)))
		doneRuns.Add(1)
		if time.Since(lastSave) > saveEvery && saveErr == nil {
			if saveErr = save(); saveErr != nil {
				stopRuns()
			}
			lastSave = time.Now()
		}
	}, func(n int) {
		s := stepsDone.Add(int64(n))
		if s%(1<<16) < int64(n) {
			w := float64(doneWork.Load())
			frac := math.Min(1, (w+0.5*float64(s))/(total+0.5*float64(s)+1))
			prog.Update(frac, fmt.Sprintf("%d/%d runs, %.2g run-steps/s", resumed+int(doneRuns.Load()), len(runs), float64(s)/time.Since(start).Seconds()))
		}
	})
	prog.Done()
	elapsed := time.Since(start).Seconds()
	if saveErr != nil {
		return nil, saveErr
	}
	if serr := save(); serr != nil {
		return nil, serr
	}
	if err != nil {
		return nil, err
	}
	res := &Results{Config: cfg, Setup: *setup, Runs: results, Paper: paper, Resumed: resumed}
	res.Activations = Analyze(&cfg, setup, results)
	res.Perf = Perf{Workers: workers, Seconds: elapsed, RunSteps: stepsDone.Load()}
	if elapsed > 0 {
		res.Perf.RunStepsPerS = float64(res.Perf.RunSteps) / elapsed
	}
	res.Perf.SingleStepsPS, err = SingleRunSpeed(&cfg, setup, 20000)
	if err != nil {
		return nil, err
	}
	if err := res.Write(opt.Out); err != nil {
		return nil, err
	}
	return res, nil
}

// readCheckpoint returns the runs that the checkpoint in out holds, and
// whether there is one. A checkpoint of another configuration gives a
// repro.OtherConfigError; one that cannot be read, or whose runs are not
// runs of cfg, a repro.Unreadable error.
func readCheckpoint(out string, cfg *Config, runs []Run) ([]RunResult, bool, error) {
	path := filepath.Join(out, checkpointFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	rs, err := decodeCheckpoint(b, out, cfg, runs)
	if err != nil {
		return nil, false, err
	}
	return rs, true, nil
}

// decodeCheckpoint reads the checkpoint b of directory out (see
// readCheckpoint): the one reader of a checkpoint's bytes, fuzzed.
func decodeCheckpoint(b []byte, out string, cfg *Config, runs []Run) ([]RunResult, error) {
	path := filepath.Join(out, checkpointFile)
	var cp struct {
		Hash     string          `json:"config_hash"`
		Settings json.RawMessage `json:"settings"`
		Runs     []RunResult     `json:"runs"`
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, repro.Unreadable(path, err)
	}
	if cp.Hash == "" {
		return nil, repro.Unreadable(path, errors.New("no config_hash"))
	}
	if cp.Hash != cfg.Hash() {
		return nil, repro.OtherConfig(out, checkpointFile, cp.Hash, cfg.Hash(), cp.Settings, cfg)
	}
	seen := map[int]bool{}
	for i, r := range cp.Runs {
		if r.ID < 0 || r.ID >= len(runs) || runs[r.ID] != r.Run || seen[r.ID] {
			return nil, repro.Unreadable(path, fmt.Errorf("its run %d (%+v) is not a run of this configuration", r.ID, r.Run))
		}
		seen[r.ID] = true
		if err := r.validate(cfg); err != nil {
			return nil, repro.Unreadable(path, fmt.Errorf("runs[%d] (run %d): %w", i, r.ID, err))
		}
	}
	return cp.Runs, nil
}

// validate checks a run's record read back from a checkpoint: every
// field within its range and consistent with the others, as stepBatch and
// finalize write them, so that a crafted or damaged file cannot feed
// impossible numbers to the analysis. Errors name the field.
func (r *RunResult) validate(cfg *Config) error {
	finite := func(v repro.Finite) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	flags := 0
	for _, b := range []bool{r.Crossed, r.Censored, r.Settled, r.Diverged} {
		if b {
			flags++
		}
	}
	switch {
	case r.Steps < 1 || r.Steps > cfg.MaxSteps:
		return fmt.Errorf("steps = %d outside [1, %d]", r.Steps, cfg.MaxSteps)
	case flags > 1:
		return fmt.Errorf("more than one of crossed, censored, settled and diverged")
	case r.Crossed && r.CrossStep != r.Steps:
		return fmt.Errorf("cross_step = %d, want steps = %d for a run that crossed", r.CrossStep, r.Steps)
	case !r.Crossed && r.CrossStep != 0:
		return fmt.Errorf("cross_step = %d for a run that did not cross", r.CrossStep)
	case r.Censored && (r.Twin() || r.Steps != cfg.MaxSteps):
		return fmt.Errorf("censored: only a noisy run stopped at the cap (%d steps) is, not this one (%d steps, seed %d)", cfg.MaxSteps, r.Steps, r.Seed)
	case r.Settled && (!r.Twin() || r.Steps%settleEvery != 0):
		return fmt.Errorf("settled: only a noise-free twin settles, at a multiple of %d steps (seed %d, %d steps)", settleEvery, r.Seed, r.Steps)
	case flags == 0 && (!r.Twin() || r.Steps != cfg.MaxSteps):
		return fmt.Errorf("none of crossed, censored, settled and diverged, for a run of %d steps (seed %d)", r.Steps, r.Seed)
	case !r.Diverged && !(finite(r.FinalNorm) && r.FinalNorm >= 0):
		return fmt.Errorf("final_norm = %v must be a non-negative number for a run that did not diverge", float64(r.FinalNorm))
	case !finite(r.Tc) || r.Tc < 0:
		return fmt.Errorf("tc = %v must be 0 (not fitted) or a positive number", float64(r.Tc))
	case r.Tc > 0 && !r.Crossed:
		return fmt.Errorf("tc = %v for a run that did not cross", float64(r.Tc))
	case math.IsInf(float64(r.TcSE), 0) || r.TcSE < 0:
		// NaN (null) is a fit's "no error estimate".
		return fmt.Errorf("tc_se = %v must be a non-negative number or null", float64(r.TcSE))
	case r.Tc > 0 && !(0 <= r.FitFrom && r.FitFrom <= r.FitTo && r.FitTo <= r.Steps && r.FitPoints >= 2 && r.FitPoints <= maxSamples+1):
		return fmt.Errorf("fit_from = %d, fit_to = %d, fit_points = %d do not describe a fit over steps [0, %d]", r.FitFrom, r.FitTo, r.FitPoints, r.Steps)
	case r.Tc == 0 && (r.FitFrom != 0 || r.FitTo != 0 || r.FitPoints != 0 || r.TcSE != 0):
		return fmt.Errorf("fit_from, fit_to, fit_points and tc_se must be 0 for a run with no timescale")
	}
	return nil
}

// hashSettings is the hash of a configuration saved as JSON.
func hashSettings(b json.RawMessage) (string, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return "", err
	}
	return c.Hash(), nil
}

// finished rebuilds the reports of an experiment whose runs are all in the
// checkpoint: nothing is trained, and the timings and resume count are the
// ones results.json recorded when the experiment ran (zero if it cannot be
// read), so the files come out as they were.
func finished(cfg *Config, setup *Setup, results []RunResult, out string) (*Results, error) {
	sort.Slice(results, func(i, j int) bool { return results[i].ID < results[j].ID })
	res := &Results{Config: *cfg, Setup: *setup, Runs: results, Paper: paper, Resumed: len(results), Complete: true}
	perf, resumed, found, err := readTimings(filepath.Join(out, "results.json"), cfg, len(results))
	if err != nil {
		return nil, err
	}
	if found {
		res.Perf, res.Resumed = perf, resumed
	}
	res.Activations = Analyze(cfg, setup, results)
	if err := res.Write(out); err != nil {
		return nil, err
	}
	return res, nil
}

// readTimings reads the timings and the resume count that path (a
// results.json) recorded for cfg, an experiment of nruns runs; found is
// false when there is no such file or it holds another configuration's
// results (an interrupted -fresh run's predecessor). A file that cannot be
// read back, or whose figures are impossible, is a repro.Unreadable error
// naming the field.
func readTimings(path string, cfg *Config, nruns int) (perf Perf, resumed int, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Perf{}, 0, false, nil
	}
	if err != nil {
		return Perf{}, 0, false, err
	}
	return decodeTimings(b, path, cfg, nruns)
}

// decodeTimings reads the bytes b of the results.json at path (see
// readTimings): the one reader of those bytes, fuzzed.
func decodeTimings(b []byte, path string, cfg *Config, nruns int) (perf Perf, resumed int, found bool, err error) {
	var old struct {
		Config  json.RawMessage `json:"settings"`
		Perf    Perf            `json:"performance"`
		Resumed int             `json:"runs_from_checkpoint"`
	}
	if err := json.Unmarshal(b, &old); err != nil {
		return Perf{}, 0, false, repro.Unreadable(path, err)
	}
	if h, err := hashSettings(old.Config); err != nil || h != cfg.Hash() {
		return Perf{}, 0, false, nil
	}
	if err := old.Perf.validate(); err != nil {
		return Perf{}, 0, false, repro.Unreadable(path, fmt.Errorf("performance: %w", err))
	}
	if old.Resumed < 0 || old.Resumed > nruns {
		return Perf{}, 0, false, repro.Unreadable(path, fmt.Errorf("runs_from_checkpoint = %d outside [0, %d]", old.Resumed, nruns))
	}
	return old.Perf, old.Resumed, true, nil
}

// validate checks timings read back from disk.
func (p Perf) validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"workers", float64(p.Workers)}, {"seconds", p.Seconds}, {"run_steps", float64(p.RunSteps)},
		{"run_steps_per_second", p.RunStepsPerS}, {"single_run_steps_per_second", p.SingleStepsPS}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s = %v must be a non-negative number", f.name, f.v)
		}
	}
	return nil
}

// SingleRunSpeed times steps of one run alone (a batch of one) through the
// framework: the per-step overhead that PyTorch is compared against.
func SingleRunSpeed(cfg *Config, s *Setup, steps int) (float64, error) {
	c := *cfg
	c.MaxSteps = steps
	act := cfg.Activations[0]
	r := Run{ID: 0, Act: act, Eta: 1e-4, Gamma: 1, Seed: 0}
	var err error
	if r.Beta, err = optim.ScaledBeta(r.Eta, s.CRun, r.Gamma); err != nil {
		return 0, err
	}
	a, err := layers.ParseActivation(act)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	n := 0
	if err := stepBatch(context.Background(), &c, s, a, []Run{r}, func(RunResult) {}, func(k int) { n += k }); err != nil {
		return 0, err
	}
	el := time.Since(t0).Seconds()
	if !(el > 0) {
		// A clock that did not move: no speed rather than an infinite one
		// (which results.json could not hold).
		return 0, nil
	}
	return float64(n) / el, nil
}
