package sensing

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/sweep"
)

// Options control how a sweep runs (not what it computes).
type Options struct {
	Out      string
	Progress io.Writer
	Quiet    bool
	// Fresh starts over, ignoring what Out holds (see sweep.Options).
	// Without it, the runs of the same configuration in Out are resumed,
	// and Out holding another configuration's output (a
	// *repro.OtherConfigError), an earlier version's checkpoint (a
	// *sweep.LegacyError) or files that cannot be read back is an error
	// returned before anything is written.
	Fresh bool
	// Shard selects the runs this process executes (zero: all);
	// Prerequisites runs only the runs others need (see sweep.Options).
	Shard         sweep.Shard
	Prerequisites bool
	// Command is the command line of this configuration, for messages.
	Command string
	// CheckpointEvery is the wall-clock time between saves of the runs in
	// progress (0: 5 s).
	CheckpointEvery time.Duration
	// MaxMemory is the memory the sweep may plan to use, in bytes (0: the
	// physical memory; see repro.MemoryLimit). A configuration estimated
	// to need more is refused with a *repro.MemoryError before anything is
	// allocated.
	MaxMemory int64
	// WriteFile replaces repro.WriteFileAtomic, for tests.
	WriteFile func(path string, data []byte) error
}

// Results is what results.json holds: a pure function of the
// configuration, with no timings (they are in perf.json).
type Results struct {
	Config   Config   `json:"settings"`
	Analysis Analysis `json:"analysis"`
	Runs     []Run    `json:"runs"`
	Curves   []Curve  `json:"curves"` // per run, every Config.Every steps
	// SingularValues of X* (the first r are the target's).
	SingularValues []float64 `json:"target_singular_values"`
}

// Perf is the speed of one process's lockstep batches.
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
// runs' states are kept).
var ErrStopped = sweep.ErrStopped

// Sweep returns cfg as a sweep of the engine (for -plan): command is its
// command line, for messages.
func Sweep(cfg Config, command string) (*sweep.Sweep, sweep.Probe, error) {
	pl, err := newPlan(cfg)
	if err != nil {
		return nil, nil, err
	}
	return pl.sweep(command), pl.probe, nil
}

// FromSettings is Sweep for the settings a sweep.json records (merge);
// results returns the report's Results once the sweep has written it.
func FromSettings(settings json.RawMessage) (sw *sweep.Sweep, results func() *Results, err error) {
	var cfg Config
	if err := sweep.DecodeJSON(settings, &cfg); err != nil {
		return nil, nil, fmt.Errorf("the settings of another version of flatfast? %w", err)
	}
	pl, err := newPlan(cfg)
	if err != nil {
		return nil, nil, err
	}
	return pl.sweep("flatfast repro sensing"), func() *Results { return pl.res }, nil
}

// Execute runs this shard's runs of the sweep in opt.Out (resuming what
// is there) and, when every run is present, writes results.json,
// perf.json, curves.csv, summary.csv and the plots. Results is nil while
// other shards' runs are missing (see the Outcome); Perf is this
// process's speed (nil when it trained nothing).
func Execute(ctx context.Context, cfg Config, opt Options) (*Results, *Perf, *sweep.Outcome, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, nil, err
	}
	need, what := cfg.MemoryEstimate()
	if err := repro.CheckMemory(need, what, opt.MaxMemory); err != nil {
		return nil, nil, nil, err
	}
	pl, err := newPlan(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	command := opt.Command
	if command == "" {
		command = "flatfast repro sensing"
	}
	oc, err := sweep.Execute(ctx, pl.sweep(command), sweep.Options{Out: opt.Out, Progress: opt.Progress, Quiet: opt.Quiet, Fresh: opt.Fresh,
		Shard: opt.Shard, Prerequisites: opt.Prerequisites, CheckpointEvery: opt.CheckpointEvery, WriteFile: opt.WriteFile})
	if err != nil {
		return nil, nil, oc, err
	}
	var perf *Perf
	if oc.Done > 0 {
		p := pl.perf().(Perf)
		perf = &p
	}
	return pl.res, perf, oc, nil
}

// results analyses the runs' curves and checks.
func results(cfg *Config, pr *Problem, runs []Run, curves []Curve, hutch []HutchCheck) *Results {
	return &Results{Config: *cfg, Runs: runs, Curves: curves, SingularValues: pr.SingVals,
		Analysis: Analyze(cfg, pr, runs, curves, hutch)}
}
