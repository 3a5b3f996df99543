package classify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/sweep"
	"github.com/flatfast/flatfast/repro/valley"
)

// Options control how an experiment runs (not what it computes).
type Options struct {
	Out string
	// DataDir is where the data set lies (the -data flag; "" for the
	// data package's lookup).
	DataDir  string
	Workers  int // runs executed at once (0: GOMAXPROCS)
	Progress io.Writer
	Quiet    bool
	// Fresh, Shard and Prerequisites are sweep.Options'.
	Fresh         bool
	Shard         sweep.Shard
	Prerequisites bool
	Command       string
	// MaxMemory is the memory the experiment may plan to use (0: the
	// physical memory); see repro.CheckMemory.
	MaxMemory       int64
	CheckpointEvery time.Duration
	WriteFile       func(path string, data []byte) error
	// Setup replaces loading the data from DataDir (tests).
	Setup func() (*Setup, error)
}

// Execute runs (its shard of) the sweep of cfg into opt.Out, and returns
// the results when every run is present (nil otherwise: other shards'
// runs are missing).
func Execute(ctx context.Context, cfg Config, opt Options) (*Results, *sweep.Outcome, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", repro.ErrConfig, err)
	}
	need, what := cfg.MemoryEstimate(opt.Workers)
	if err := repro.CheckMemory(need, what, opt.MaxMemory); err != nil {
		return nil, nil, err
	}
	load := opt.Setup
	if load == nil {
		// Where the data are is checked before anything is written; they
		// are read at the first run this process executes.
		spec, err := cfg.dataSpec()
		if err != nil {
			return nil, nil, err
		}
		if _, err := spec.Dir(opt.DataDir); err != nil {
			return nil, nil, err
		}
		load = func() (*Setup, error) { return Load(&cfg, opt.DataDir) }
	}
	pl, err := newPlan(cfg, opt.Workers, load)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", repro.ErrConfig, err)
	}
	if opt.CheckpointEvery > 0 {
		pl.slice = min(pl.slice, opt.CheckpointEvery)
	}
	command := opt.Command
	if command == "" {
		command = "flatfast repro " + cfg.Experiment
	}
	oc, err := sweep.Execute(ctx, pl.sweep(command), sweep.Options{Out: opt.Out, Progress: opt.Progress, Quiet: opt.Quiet, Fresh: opt.Fresh,
		Shard: opt.Shard, Prerequisites: opt.Prerequisites, CheckpointEvery: opt.CheckpointEvery, WriteFile: opt.WriteFile})
	if err != nil {
		return nil, oc, err
	}
	return pl.res, oc, nil
}

// Sweep returns cfg's sweep (for -plan) and a probe that times it on this
// machine.
func Sweep(cfg Config, command, dataDir string, workers int) (*sweep.Sweep, sweep.Probe, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", repro.ErrConfig, err)
	}
	pl, err := newPlan(cfg, workers, func() (*Setup, error) { return Load(&cfg, dataDir) })
	if err != nil {
		return nil, nil, err
	}
	return pl.sweep(command), pl.probe, nil
}

// FromSettings rebuilds a sweep from the settings of its manifest (for
// `flatfast repro merge`); the report needs no data. The function
// returns the results once the report is written.
func FromSettings(settings json.RawMessage) (*sweep.Sweep, func() *Results, error) {
	var cfg Config
	if err := sweep.DecodeJSON(settings, &cfg); err != nil {
		return nil, nil, err
	}
	pl, err := newPlan(cfg, 1, func() (*Setup, error) { return nil, fmt.Errorf("classify: a merge trains nothing") })
	if err != nil {
		return nil, nil, err
	}
	return pl.sweep("flatfast repro " + cfg.Experiment), func() *Results { return pl.res }, nil
}

// MemoryEstimate is the bytes the configuration plans to hold: the data
// sets as float32, and per worker a model's weights, its optimizer state
// and a chunk's activations (a rough bound: a few copies of the weights
// and of a chunk through every layer).
func (c *Config) MemoryEstimate(workers int) (float64, string) {
	spec, err := c.dataSpec()
	if err != nil {
		return 0, ""
	}
	pix := float64(spec.C * spec.H * spec.W)
	ntrain, ntest := float64(c.trainSize()), float64(c.Data.TestPerClass*len(spec.Classes))
	if c.Data.TestPerClass == 0 {
		if sp, err := spec.Split("test"); err == nil {
			ntest = float64(sp.N)
		}
	}
	var params, acts float64
	switch c.Model.Arch {
	case ArchMLP:
		h := float64(c.Model.Hidden)
		params = pix*h + 4*h*h + 10*h
		acts = 6 * h
	case ArchResNet:
		w := c.Model.Width
		params = 11.2e6 * w * w
		acts = 2.5e6 * w * pix / 3072 // activations per image of ResNet-18 at 32x32
	}
	if workers <= 0 {
		workers = 2
	}
	chunk := float64(max(c.Chunk, c.Noisy.Batch))
	per := 4 * (8*params + 6*chunk*acts)
	need := 4*(ntrain+ntest)*pix*2 + float64(workers)*per
	return need, fmt.Sprintf("%.0f training and %.0f test images, %d workers with a model of %.3g parameters", ntrain, ntest, workers, params)
}

func (pl *plan) valleyEpochs() int {
	if pl.cfg.ValleyEpochs > 0 {
		return min(pl.cfg.ValleyEpochs, pl.cfg.Valley.MaxEpochs)
	}
	return pl.cfg.Valley.MaxEpochs
}

// probe times the expensive parts on a freshly initialised model and
// scales them by the runs' costs (sweep.Probe): noisy-phase steps (8, or
// as many as 5 s allow, at least 1), and a Hessian trace on one trace
// chunk with 2 and with 4 probes, scaled to the configuration's probes
// and chunks.
func (pl *plan) probe(ctx context.Context, idx []int) (float64, string, error) {
	s, err := pl.data()
	if err != nil {
		return 0, "", err
	}
	env, err := newEnv(pl.cfg, s)
	if err != nil {
		return 0, "", err
	}
	st, err := valley.NewState(env.Model)
	if err != nil {
		return 0, "", err
	}
	ncfg := pl.cfg.noisyFor(pl.runs[0])
	ncfg.Observe = valley.Observe{TraceEvery: -1}
	if err := env.Noisy(st, ncfg, valley.Limit{Steps: 1}); err != nil { // warm-up: first allocations
		return 0, "", err
	}
	t0, before := time.Now(), st.Step
	if err := env.Noisy(st, ncfg, valley.Limit{Steps: 8, Wall: 5 * time.Second}); err != nil {
		return 0, "", err
	}
	steps := st.Step - before
	if steps < 1 {
		return 0, "", fmt.Errorf("classify: the probe took no noisy-phase step")
	}
	per := time.Since(t0).Seconds() / float64(steps)
	var units float64
	sw := pl.sweep("")
	for _, i := range idx {
		units += sw.Runs[i].Cost
	}
	traceSec, traces := 0.0, 0
	if s.TraceSet != nil {
		chunk := pl.cfg.Trace.Chunk
		if chunk == 0 {
			chunk = pl.cfg.Chunk
		}
		rows := min(chunk, s.TraceSet.Len())
		sub, err := s.TraceSet.Subset(seq(rows))
		if err != nil {
			return 0, "", err
		}
		// A chunk's trace costs a fixed part (its graph) plus a part per
		// probe: time 2 and 4 probes (after a warm-up) and scale each.
		env.Trace.Set = sub
		timeTrace := func(probes int) (float64, error) {
			env.Trace.Probes = probes
			t := time.Now()
			_, err := env.HessianTrace()
			return time.Since(t).Seconds(), err
		}
		if _, err := timeTrace(2); err != nil { // warm-up: the graph's first allocations
			return 0, "", err
		}
		t2, err := timeTrace(2)
		if err != nil {
			return 0, "", err
		}
		t4, err := timeTrace(4)
		if err != nil {
			return 0, "", err
		}
		perProbe := max(0, (t4-t2)/2)
		fixed := max(0, t2-2*perProbe)
		chunks := float64((s.TraceSet.Len() + rows - 1) / rows)
		traceSec = chunks * (fixed + float64(pl.cfg.Trace.Probes)*perProbe)
		noisySteps := pl.cfg.Noisy.Epochs * stepsPerEpoch(s.Train.Len(), pl.cfg.Noisy.Batch, pl.cfg.Noisy.DropLast)
		for _, i := range idx {
			if i == 0 {
				traces += phaseTraces(pl.cfg.Valley.Observe, 0)
				continue
			}
			traces += phaseTraces(pl.cfg.Noisy.Observe, noisySteps) + phaseTraces(pl.cfg.Return.Observe, 0)
		}
	}
	how := fmt.Sprintf("%d noisy-phase steps at batch %d: %.3g s a step; %.3g step-equivalents in the shard (the valley counted as %d epochs); %d Hessian traces at %.3g s",
		steps, pl.cfg.Noisy.Batch, per, units, pl.valleyEpochs(), traces, traceSec)
	return per*units + float64(traces)*traceSec, how, nil
}

// phaseTraces is how many traces a phase of steps steps takes under ob
// (0 steps: at its end only, when it takes one).
func phaseTraces(ob valley.Observe, steps int) int {
	switch {
	case ob.TraceEvery < 0:
		return 0
	case ob.TraceEvery == 0:
		return 1
	}
	return steps/ob.TraceEvery + 1
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
