package sensing

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/flatfast/flatfast/repro/sweep"
	"github.com/flatfast/flatfast/tensor"
)

// legacyCheckpoint is the whole-sweep checkpoint of the versions before
// the sweep engine; it is refused (see sweep.LegacyError).
const legacyCheckpoint = "checkpoint.gob"

// plan is the experiment's side of the sweep.
type plan struct {
	cfg  *Config
	pr   *Problem
	runs []Run
	perf func() any
	res  *Results // set by the report
	// This process's speed, over its batches.
	steps, runSteps int
	flops, seconds  float64
	resumed         int
}

func newPlan(cfg Config) (*plan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pr, err := NewProblem(cfg.D, cfg.R, cfg.P, cfg.DataSeed, true)
	if err != nil {
		return nil, err
	}
	pl := &plan{cfg: &cfg, pr: pr, runs: Runs(&cfg)}
	pl.perf = func() any {
		p := Perf{Runs: pl.runSteps / max(1, pl.steps), Steps: pl.steps, Seconds: pl.seconds, Resumed: pl.resumed}
		if pl.steps > 0 {
			p.FlopsPerStep = pl.flops / float64(pl.steps)
		}
		if pl.seconds > 0 {
			p.StepsPerS = float64(pl.steps) / pl.seconds
			p.RunStepsPerS = float64(pl.runSteps) / pl.seconds
			p.GFlops = pl.flops / pl.seconds / 1e9
		}
		return p
	}
	return pl, nil
}

func runID(r Run) string {
	return fmt.Sprintf("%04d_beta%s_seed%d", r.ID, strconv.FormatFloat(r.Beta, 'g', -1, 64), r.Seed)
}

func (pl *plan) sweep(command string) *sweep.Sweep {
	sw := &sweep.Sweep{
		Experiment: "sensing", Settings: pl.cfg, Legacy: []string{legacyCheckpoint}, Command: command, Workers: 1,
		Batches: pl.batches, Exec: pl.exec, CheckResult: pl.checkResult, Report: pl.report, Perf: pl.perf,
	}
	for _, r := range pl.runs {
		sw.Runs = append(sw.Runs, sweep.Run{ID: runID(r), Cost: float64(pl.cfg.Steps)})
	}
	return sw
}

// batches steps every run in one lockstep batch (one pass over the
// measurement operator serves them all), a batch per step the runs
// resume from.
func (pl *plan) batches(todo []sweep.Todo) [][]sweep.Todo {
	by := map[int][]sweep.Todo{}
	var steps []int
	for _, t := range todo {
		s := 0
		if t.State != nil {
			var rs runState
			if gob.NewDecoder(bytes.NewReader(t.State)).Decode(&rs) == nil {
				s = rs.Step
			}
		}
		if by[s] == nil {
			steps = append(steps, s)
		}
		by[s] = append(by[s], t)
	}
	var out [][]sweep.Todo
	for _, s := range steps {
		out = append(out, by[s])
	}
	return out
}

// runState is what a run in progress saves: its step, its factors and
// their velocities, its noise generator and what it recorded so far.
type runState struct {
	Step     int
	U, V     []float32
	PiU, PiV []float32
	RNG      []byte
	Curve    Curve
	Hutch    []HutchCheck
}

// runResult is a finished run's file.
type runResult struct {
	Curve Curve        `json:"curve"`
	Hutch []HutchCheck `json:"hutchinson_checks"`
}

// exec steps a batch of runs (all at the same step) to the end.
func (pl *plan) exec(ctx context.Context, b *sweep.Batch) error {
	cfg := pl.cfg
	runs := make([]Run, len(b.Runs))
	for i, t := range b.Runs {
		runs[i] = pl.runs[t.Index]
	}
	sw, err := newBatch(cfg, pl.pr, runs)
	if err != nil {
		return err
	}
	d2 := cfg.D * cfg.D
	from := -1
	for i, t := range b.Runs {
		rs := runState{}
		if t.State != nil {
			if rs, err = decodeRunState(t.State, cfg, runs[i]); err != nil {
				return b.BadState(i, err)
			}
			if err := sw.rngs[i].UnmarshalBinary(rs.RNG); err != nil {
				return b.BadState(i, err)
			}
			for k, dst := range []*tensor.Tensor{sw.u, sw.v, sw.opt.Velocity()[0], sw.opt.Velocity()[1]} {
				copy(dst.Float32s()[i*d2:(i+1)*d2], [][]float32{rs.U, rs.V, rs.PiU, rs.PiV}[k])
			}
			sw.st.Curves[i], sw.st.Hutch[i] = rs.Curve, rs.Hutch
		}
		if from >= 0 && rs.Step != from {
			panic(fmt.Sprintf("sensing: a batch of runs at steps %d and %d", from, rs.Step))
		}
		from = rs.Step
	}
	sw.st.Step = from
	save := func() error {
		for i := range runs {
			rs := runState{Step: sw.st.Step, Curve: sw.st.Curves[i], Hutch: sw.st.Hutch[i]}
			for k, src := range []*tensor.Tensor{sw.u, sw.v, sw.opt.Velocity()[0], sw.opt.Velocity()[1]} {
				*[]*[]float32{&rs.U, &rs.V, &rs.PiU, &rs.PiV}[k] = src.Float32s()[i*d2 : (i+1)*d2]
			}
			if rs.RNG, err = sw.rngs[i].MarshalBinary(); err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := gob.NewEncoder(&buf).Encode(&rs); err != nil {
				return err
			}
			if err := b.Save(i, buf.Bytes()); err != nil {
				return err
			}
		}
		return nil
	}
	d, p, n := float64(cfg.D), float64(cfg.P), float64(len(runs))
	// Per step: the operator forward and adjoint (2 GEMMs of 2 n P d^2),
	// X = U V and its two gradients (3 batched GEMMs of 2 n d^3).
	flopsPerStep := 4*n*p*d*d + 6*n*d*d*d
	if from > 0 {
		pl.resumed = from
	}
	start, first := time.Now(), sw.st.Step
	defer func() {
		pl.steps += sw.st.Step - first
		pl.runSteps += (sw.st.Step - first) * len(runs)
		pl.flops += flopsPerStep * float64(sw.st.Step-first)
		pl.seconds += time.Since(start).Seconds()
	}()
	for {
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				return serr
			}
			return err
		}
		last := sw.st.Step == cfg.Steps
		if err := sw.step(ctx); err != nil {
			return err
		}
		b.Work(n)
		if last {
			break
		}
		if b.Due() {
			if err := save(); err != nil {
				return err
			}
		}
	}
	for i := range runs {
		res, err := json.Marshal(runResult{Curve: sw.st.Curves[i], Hutch: sw.st.Hutch[i]})
		if err != nil {
			return err
		}
		if err := b.Done(i, res); err != nil {
			return err
		}
	}
	return nil
}

// decodeRunState reads a saved state of run: the one reader of those
// bytes, fuzzed.
func decodeRunState(b []byte, cfg *Config, run Run) (runState, error) {
	var rs runState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&rs); err != nil {
		return rs, err
	}
	if rs.Step < 0 || rs.Step > cfg.Steps {
		return rs, fmt.Errorf("Step = %d outside [0, %d]", rs.Step, cfg.Steps)
	}
	d2 := cfg.D * cfg.D
	for _, f := range []struct {
		name string
		v    []float32
	}{{"U", rs.U}, {"V", rs.V}, {"PiU", rs.PiU}, {"PiV", rs.PiV}} {
		if len(f.v) != d2 {
			return rs, fmt.Errorf("%s holds %d values, want %d x %d", f.name, len(f.v), cfg.D, cfg.D)
		}
		for i, x := range f.v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return rs, fmt.Errorf("%s[%d] = %v is not finite", f.name, i, x)
			}
		}
	}
	if err := new(tensor.RNG).UnmarshalBinary(rs.RNG); err != nil {
		return rs, fmt.Errorf("RNG: %w", err)
	}
	return rs, checkRecord(cfg, run, rs.Step, false, rs.Curve, rs.Hutch)
}

// checkRecord checks what run recorded by step upto (the steps before
// it; with final, the last step too): exactly the sweep's recorded steps
// (so that a rewound record cannot make a resumed run record rows twice),
// possible values, and the Hutchinson checks the sweep makes there.
// Errors name the field.
func checkRecord(cfg *Config, run Run, upto int, final bool, c Curve, hutch []HutchCheck) error {
	var want []int
	for s := 0; s < upto; s += cfg.Every {
		want = append(want, s)
	}
	if final && (len(want) == 0 || want[len(want)-1] != cfg.Steps) {
		want = append(want, cfg.Steps)
	}
	if !slices.Equal(c.Steps, want) {
		return fmt.Errorf("curve steps (%d points) are not the steps recorded up to step %d", len(c.Steps), upto)
	}
	for _, f := range []struct {
		name string
		v    []float64
	}{{"train_loss", c.TrainLoss}, {"test_error", c.TestError}, {"hessian_trace", c.Trace}} {
		if len(f.v) != len(c.Steps) {
			return fmt.Errorf("%s holds %d values for %d steps", f.name, len(f.v), len(c.Steps))
		}
		for k, x := range f.v {
			if math.IsNaN(x) || math.IsInf(x, 0) || (f.name != "hessian_trace" && x < 0) {
				return fmt.Errorf("%s[%d] = %v is not a possible value", f.name, k, x)
			}
		}
	}
	var checks []int
	if run.Seed == 0 && containsF(cfg.HutchinsonBetas, run.Beta) {
		for _, s := range want {
			if contains(cfg.HutchinsonSteps, s) {
				checks = append(checks, s)
			}
		}
	}
	if len(hutch) != len(checks) {
		return fmt.Errorf("%d Hutchinson checks, want %d by step %d", len(hutch), len(checks), upto)
	}
	for i, h := range hutch {
		if h.Step != checks[i] || h.Beta != run.Beta || h.Seed != run.Seed || h.Probes != cfg.HutchinsonProbes {
			return fmt.Errorf("Hutchinson check %d (step %d, beta %v, seed %d, %d probes) is not the check the sweep makes there", i, h.Step, h.Beta, h.Seed, h.Probes)
		}
		if h.StdErr < 0 || h.Sigmas < 0 {
			return fmt.Errorf("Hutchinson check %d: stderr %v and deviation %v must be non-negative", i, h.StdErr, h.Sigmas)
		}
	}
	return nil
}

func (pl *plan) decodeResult(i int, b []byte) (runResult, error) {
	var r runResult
	if err := sweep.DecodeJSON(b, &r); err != nil {
		return r, err
	}
	return r, checkRecord(pl.cfg, pl.runs[i], pl.cfg.Steps, true, r.Curve, r.Hutch)
}

func (pl *plan) checkResult(i int, b []byte) error {
	_, err := pl.decodeResult(i, b)
	return err
}

// report analyses every run and writes the files; the Hutchinson checks
// are listed by step, then run, as the sweep makes them.
func (pl *plan) report(dir string, rs [][]byte) error {
	curves := make([]Curve, len(rs))
	var hutch []HutchCheck
	for i, b := range rs {
		r, err := pl.decodeResult(i, b)
		if err != nil {
			return err
		}
		curves[i] = r.Curve
		hutch = append(hutch, r.Hutch...)
	}
	sort.SliceStable(hutch, func(i, j int) bool { return hutch[i].Step < hutch[j].Step })
	res := results(pl.cfg, pl.pr, pl.runs, curves, hutch)
	if err := res.Write(dir); err != nil {
		return err
	}
	pl.res = res
	return nil
}

// probe times a few lockstep steps of a batch of the shard's runs and
// scales by the steps (sweep.Probe).
func (pl *plan) probe(ctx context.Context, idx []int) (float64, string, error) {
	runs := make([]Run, len(idx))
	for i, k := range idx {
		runs[i] = pl.runs[k]
	}
	sw, err := newBatch(pl.cfg, pl.pr, runs)
	if err != nil {
		return 0, "", err
	}
	sw.st.Step = 1 // past the measurements of step 0
	const warm, steps = 3, 10
	var t0 time.Time
	k := 0
	for ; k < warm+steps && sw.st.Step < pl.cfg.Steps; k++ {
		if k == warm {
			t0 = time.Now() // the first steps allocate and warm the caches
		}
		if err := sw.step(ctx); err != nil {
			return 0, "", err
		}
	}
	if k <= warm {
		return 0, "", fmt.Errorf("%d steps are too few to time", pl.cfg.Steps)
	}
	per := time.Since(t0).Seconds() / float64(k-warm)
	return per * float64(pl.cfg.Steps), fmt.Sprintf("%d lockstep steps of its %d runs: %.3g s a step, times %d steps; the measurements every %d steps and the Hutchinson checks not counted",
		steps, len(runs), per, pl.cfg.Steps, pl.cfg.Every), nil
}
