package sensing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/flatfast/flatfast/repro"
)

// Options control how a sweep runs (not what it computes).
type Options struct {
	Out      string
	Progress io.Writer
	Quiet    bool
	// Fresh starts over, ignoring what Out holds (the sweep overwrites
	// it). Without it, a checkpoint of the same configuration is resumed,
	// and Out holding another configuration's checkpoint or results.json
	// (a *repro.OtherConfigError), or a checkpoint or results.json that
	// cannot be read back, is an error returned before anything is
	// written.
	Fresh bool
	// CheckpointEvery is the wall-clock time between checkpoints.
	CheckpointEvery time.Duration
	// MaxMemory is the memory the sweep may plan to use, in bytes (0: the
	// physical memory; see repro.MemoryLimit). A configuration estimated
	// to need more is refused with a *repro.MemoryError before anything is
	// allocated.
	MaxMemory int64
	// stopAfter, for tests, stops the sweep (as if killed) after this
	// many steps; 0 runs to the end.
	stopAfter int
	// writeFile, for tests, replaces repro.WriteFileAtomic for the
	// checkpoint (and the probe of the directory).
	writeFile func(path string, data []byte) error
	// killBeforeReports, for tests, stops a sweep (as if killed) after its
	// final checkpoint, before its reports.
	killBeforeReports bool
}

// Results is what results.json holds. It holds no timings, so that a
// resumed sweep writes the same file as an uninterrupted one; speed goes to
// perf.json.
type Results struct {
	Config   Config   `json:"settings"`
	Analysis Analysis `json:"analysis"`
	Runs     []Run    `json:"runs"`
	Curves   []Curve  `json:"curves"` // per run, every Config.Every steps
	// SingularValues of X* (the first r are the target's).
	SingularValues []float64 `json:"target_singular_values"`
	// Complete is set (and not saved) when Execute found the sweep
	// already finished in Options.Out and trained nothing.
	Complete bool `json:"-"`
}

// Perf is the sweep's speed.
type Perf struct {
	Runs         int     `json:"runs"`
	Steps        int     `json:"steps_this_session"`
	Seconds      float64 `json:"seconds"`
	StepsPerS    float64 `json:"steps_per_second"`     // lockstep steps (all runs)
	RunStepsPerS float64 `json:"run_steps_per_second"` // steps x runs
	GFlops       float64 `json:"effective_gflops"`     // useful arithmetic per second
	FlopsPerStep float64 `json:"flops_per_step"`
	Resumed      int     `json:"resumed_from_step"`
}

// ErrStopped is returned when a sweep was stopped before its end (its
// checkpoint is kept).
var ErrStopped = errors.New("sensing: stopped before the end")

const checkpointFile = "checkpoint.gob"

// Execute runs (or resumes) the sweep and writes results.json, perf.json,
// curves.csv, summary.csv and the plots into opt.Out. When opt.Out already
// holds the finished sweep, it trains nothing: it rewrites the reports and
// perf.json from the checkpoint (the same bytes; the final checkpoint
// holds the timings, so that a sweep killed before its reports loses
// none), returns the timings (nil for a checkpoint of an earlier version
// that did not hold them, when perf.json is kept as it is), and sets
// Results.Complete. Unless opt.Fresh, opt.Out holding the output of
// another configuration is an error (see Options.Fresh).
func Execute(ctx context.Context, cfg Config, opt Options) (*Results, *Perf, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	need, what := cfg.MemoryEstimate()
	if err := repro.CheckMemory(need, what, opt.MaxMemory); err != nil {
		return nil, nil, err
	}
	write := opt.writeFile
	if write == nil {
		write = repro.WriteFileAtomic
	}
	// Locked (and probed) before the checkpoint is read, so that what is
	// read stays this process's until it is done.
	od, err := repro.OpenOut(opt.Out, write)
	if err != nil {
		return nil, nil, err
	}
	defer od.Close()
	pr, err := NewProblem(cfg.D, cfg.R, cfg.P, cfg.DataSeed, true)
	if err != nil {
		return nil, nil, err
	}
	runs := Runs(&cfg)
	sw, err := newSweep(&cfg, pr, runs)
	if err != nil {
		return nil, nil, err
	}
	cp := filepath.Join(opt.Out, checkpointFile)
	if !opt.Fresh {
		found, err := sw.resume(opt.Out)
		if err != nil {
			return nil, nil, err
		}
		// The checkpoint is the directory's record of what it holds: one
		// of this configuration may sit beside the results.json of another
		// (an interrupted -fresh sweep), which the sweep then overwrites.
		if !found {
			if err := repro.CheckResults(opt.Out, cfg.Hash(), &cfg, hashSettings); err != nil {
				return nil, nil, err
			}
		}
	}
	if sw.finished() {
		// Nothing left to train: rebuild the reports and perf.json from
		// the checkpoint (the same bytes; this also completes a sweep
		// killed after its last checkpoint but before its reports).
		res := sw.results(pr, runs)
		res.Complete = true
		if err := res.Write(opt.Out); err != nil {
			return nil, nil, err
		}
		if sw.st.Perf == nil {
			// A checkpoint of an earlier version: perf.json, if any, is
			// the only record of the timings.
			perf, err := readPerf(filepath.Join(opt.Out, "perf.json"))
			return res, perf, err
		}
		if err := repro.WriteJSON(filepath.Join(opt.Out, "perf.json"), sw.st.Perf); err != nil {
			return nil, nil, err
		}
		return res, sw.st.Perf, nil
	}
	save := func() error {
		b, err := sw.snapshot()
		if err != nil {
			return err
		}
		if err := write(cp, b); err != nil {
			return fmt.Errorf("saving the checkpoint: %w", err)
		}
		return nil
	}
	every := opt.CheckpointEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	perf := &Perf{Runs: len(runs), Resumed: sw.st.Step}
	d, p, n := float64(cfg.D), float64(cfg.P), float64(len(runs))
	// Per step: the operator forward and adjoint (2 GEMMs of 2 n P d^2),
	// X = U V and its two gradients (3 batched GEMMs of 2 n d^3).
	perf.FlopsPerStep = 4*n*p*d*d + 6*n*d*d*d
	prog := repro.NewProgress(opt.Progress, opt.Quiet)
	start, lastSave := time.Now(), time.Now()
	first := sw.st.Step
	for sw.st.Step <= cfg.Steps {
		if err := ctx.Err(); err != nil {
			prog.Done()
			if serr := save(); serr != nil {
				return nil, nil, serr
			}
			return nil, nil, err
		}
		if opt.stopAfter > 0 && sw.st.Step-first >= opt.stopAfter {
			prog.Done()
			if err := save(); err != nil {
				return nil, nil, err
			}
			return nil, nil, ErrStopped
		}
		last := sw.st.Step == cfg.Steps
		if err := sw.step(ctx); err != nil {
			prog.Done()
			return nil, nil, err
		}
		if last {
			break
		}
		if time.Since(lastSave) > every {
			if err := save(); err != nil {
				return nil, nil, err
			}
			lastSave = time.Now()
		}
		done := sw.st.Step - first
		el := time.Since(start).Seconds()
		prog.Update(float64(sw.st.Step)/float64(cfg.Steps), fmt.Sprintf("step %d/%d, %.1f steps/s, %.0f GFLOP/s", sw.st.Step, cfg.Steps, float64(done)/el, perf.FlopsPerStep*float64(done)/el/1e9))
	}
	prog.Done()
	perf.Steps = cfg.Steps - first
	perf.Seconds = time.Since(start).Seconds()
	if perf.Seconds > 0 {
		perf.StepsPerS = float64(perf.Steps) / perf.Seconds
		perf.RunStepsPerS = perf.StepsPerS * n
		perf.GFlops = perf.FlopsPerStep * perf.StepsPerS / 1e9
	}
	// The final checkpoint holds the timings: a sweep killed before its
	// reports are written still has them.
	sw.st.Perf = perf
	if err := save(); err != nil {
		return nil, nil, err
	}
	if opt.killBeforeReports {
		return nil, nil, ErrStopped
	}
	res := sw.results(pr, runs)
	if err := res.Write(opt.Out); err != nil {
		return nil, nil, err
	}
	if err := repro.WriteJSON(filepath.Join(opt.Out, "perf.json"), perf); err != nil {
		return nil, nil, err
	}
	return res, perf, nil
}

// resume continues from the checkpoint in out, if there is one, and
// reports whether there was. A checkpoint of another configuration gives
// a *repro.OtherConfigError, one that cannot be read back a
// repro.Unreadable error.
func (sw *sweep) resume(out string) (bool, error) {
	path := filepath.Join(out, checkpointFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	st, err := decodeState(b)
	if err != nil {
		return false, repro.Unreadable(path, err)
	}
	if hash := sw.cfg.Hash(); st.Hash != hash {
		return false, repro.OtherConfig(out, checkpointFile, st.Hash, hash, st.Settings, sw.cfg)
	}
	if err := sw.restore(st); err != nil {
		return false, repro.Unreadable(path, err)
	}
	return true, nil
}

// hashSettings is the hash of a configuration saved as JSON.
func hashSettings(b json.RawMessage) (string, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return "", err
	}
	return c.Hash(), nil
}

// results analyses the sweep's state.
func (sw *sweep) results(pr *Problem, runs []Run) *Results {
	return &Results{Config: *sw.cfg, Runs: runs, Curves: sw.st.Curves, SingularValues: pr.SingVals,
		Analysis: Analyze(sw.cfg, pr, runs, sw.st)}
}

// readPerf reads a perf.json: nil when there is none, a repro.Unreadable
// error naming the field when it holds impossible figures.
func readPerf(path string) (*Perf, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodePerf(b, path)
}

// decodePerf reads the bytes of the perf.json at path: the one reader of
// those bytes, fuzzed.
func decodePerf(b []byte, path string) (*Perf, error) {
	var p Perf
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, repro.Unreadable(path, err)
	}
	if err := p.validate(); err != nil {
		return nil, repro.Unreadable(path, err)
	}
	return &p, nil
}

// validate checks timings read back from disk (perf.json or a
// checkpoint).
func (p *Perf) validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"runs", float64(p.Runs)}, {"steps_this_session", float64(p.Steps)}, {"seconds", p.Seconds},
		{"steps_per_second", p.StepsPerS}, {"run_steps_per_second", p.RunStepsPerS}, {"effective_gflops", p.GFlops},
		{"flops_per_step", p.FlopsPerStep}, {"resumed_from_step", float64(p.Resumed)}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s = %v must be a non-negative number", f.name, f.v)
		}
	}
	return nil
}
