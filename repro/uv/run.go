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
	setup, err := NewSetup(&cfg)
	if err != nil {
		return nil, err
	}
	runs, err := Runs(&cfg, setup)
	if err != nil {
		return nil, err
	}
	// Resume: keep the runs an interrupted run of the same configuration
	// finished. Output of another configuration, or a checkpoint that
	// cannot be read back, is an error (before anything is written)
	// unless opt.Fresh.
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
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, err
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
		return repro.WriteFileAtomic(cpPath, b)
	}
	var saveErr error
	start := time.Now()
	err = executeRuns(ctx, &cfg, setup, runs, skip, workers, func(r RunResult) {
		results = append(results, r)
		doneWork.Add(int64(expected(r.Run)))
		doneRuns.Add(1)
		if time.Since(lastSave) > 2*time.Second && saveErr == nil {
			saveErr = save()
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
	if serr := save(); saveErr == nil {
		saveErr = serr
	}
	if err != nil {
		return nil, err
	}
	if saveErr != nil {
		return nil, saveErr
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
	var cp struct {
		Hash     string          `json:"config_hash"`
		Settings json.RawMessage `json:"settings"`
		Runs     []RunResult     `json:"runs"`
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, false, repro.Unreadable(path, err)
	}
	if cp.Hash == "" {
		return nil, false, repro.Unreadable(path, errors.New("no config_hash"))
	}
	if cp.Hash != cfg.Hash() {
		return nil, false, repro.OtherConfig(out, checkpointFile, cp.Hash, cfg.Hash(), cp.Settings, cfg)
	}
	seen := map[int]bool{}
	for _, r := range cp.Runs {
		if r.ID < 0 || r.ID >= len(runs) || runs[r.ID] != r.Run || seen[r.ID] {
			return nil, false, repro.Unreadable(path, fmt.Errorf("its run %d (%+v) is not a run of this configuration", r.ID, r.Run))
		}
		seen[r.ID] = true
	}
	return cp.Runs, true, nil
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
	var old struct {
		Config  Config `json:"settings"`
		Perf    Perf   `json:"performance"`
		Resumed int    `json:"runs_from_checkpoint"`
	}
	if b, err := os.ReadFile(filepath.Join(out, "results.json")); err == nil && json.Unmarshal(b, &old) == nil && old.Config.Hash() == cfg.Hash() {
		res.Perf, res.Resumed = old.Perf, old.Resumed
	}
	res.Activations = Analyze(cfg, setup, results)
	if err := res.Write(out); err != nil {
		return nil, err
	}
	return res, nil
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
	return float64(n) / time.Since(t0).Seconds(), nil
}
