package uv

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/sweep"
)

// Options control how an experiment runs (not what it computes).
type Options struct {
	Out      string    // output directory
	Workers  int       // goroutines stepping batches (0: GOMAXPROCS)
	Progress io.Writer // status line (a terminal); nil for none
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
	// MaxMemory is the memory the experiment may plan to use, in bytes
	// (0: the physical memory; see repro.MemoryLimit). A configuration
	// estimated to need more is refused with a *repro.MemoryError before
	// anything is allocated.
	MaxMemory int64
	// CheckpointEvery is the time between saves of the runs in progress
	// (0: 5 s).
	CheckpointEvery time.Duration
	// WriteFile replaces repro.WriteFileAtomic, for tests.
	WriteFile func(path string, data []byte) error
}

// Results is everything results.json holds: a pure function of the
// configuration. Timings are in perf.json.
type Results struct {
	Config      Config       `json:"settings"`
	Setup       Setup        `json:"setup"`
	Activations []Activation `json:"activations"`
	Runs        []RunResult  `json:"runs"`
	Paper       PaperValues  `json:"paper"`
	// Perf is this process's speed (zero when it trained nothing); it is
	// in perf.json, not here.
	Perf Perf `json:"-"`
}

// Perf is the speed of the training loop in one process.
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

// Sweep returns cfg as a sweep of the engine (for -plan and merge):
// command is its command line, for messages; workers the goroutines
// (0: GOMAXPROCS).
func Sweep(cfg Config, command string, workers int) (*sweep.Sweep, sweep.Probe, error) {
	pl, err := newPlan(cfg, workers)
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
	pl, err := newPlan(cfg, 0)
	if err != nil {
		return nil, nil, err
	}
	return pl.sweep("flatfast repro uv"), func() *Results { return pl.res }, nil
}

// Execute runs this shard's runs of cfg in opt.Out (resuming what is
// there) and, when every run of cfg is present, analyses them and writes
// results.json, the CSV tables and the plots (and perf.json). Results is
// nil when other shards' runs are still missing (see the Outcome).
func Execute(ctx context.Context, cfg Config, opt Options) (*Results, *sweep.Outcome, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	need, what := cfg.MemoryEstimate(opt.Workers)
	if err := repro.CheckMemory(need, what, opt.MaxMemory); err != nil {
		return nil, nil, err
	}
	pl, err := newPlan(cfg, opt.Workers)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", repro.ErrConfig, err)
	}
	command := opt.Command
	if command == "" {
		command = "flatfast repro uv"
	}
	oc, err := sweep.Execute(ctx, pl.sweep(command), sweep.Options{Out: opt.Out, Progress: opt.Progress, Quiet: opt.Quiet, Fresh: opt.Fresh,
		Shard: opt.Shard, Prerequisites: opt.Prerequisites, CheckpointEvery: opt.CheckpointEvery, WriteFile: opt.WriteFile})
	if err != nil {
		return nil, oc, err
	}
	if pl.res != nil && oc.Done > 0 {
		pl.res.Perf = pl.perf().(Perf)
	}
	return pl.res, oc, nil
}
