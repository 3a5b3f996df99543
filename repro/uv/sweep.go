package uv

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/sweep"
)

// runID is a run's file name in the sweep: its position, activation,
// gamma, eta and seed ("twin" for the noise-free twin).
func runID(r Run) string {
	seed := "twin"
	if !r.Twin() {
		seed = "s" + strconv.Itoa(r.Seed)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	return fmt.Sprintf("%05d_%s_g%s_e%s_%s", r.ID, r.Act, f(r.Gamma), f(r.Eta), seed)
}

// batchSize is the most runs stepped in lockstep as one batched model.
const batchSize = 96

// legacyCheckpoint is the checkpoint of the versions before the sweep
// engine; it is refused (see sweep.LegacyError).
const legacyCheckpoint = "checkpoint.json"

// plan is what Sweep builds: the experiment's side of the sweep.
type plan struct {
	cfg      *Config
	setup    *Setup
	runs     []Run
	workers  int
	stepsRun atomic.Int64 // run-steps taken in this process
	start    time.Time
	res      *Results // set by the report
}

// newPlan validates cfg and makes its runs.
func newPlan(cfg Config, workers int) (*plan, error) {
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
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &plan{cfg: &cfg, setup: setup, runs: runs, workers: workers, start: time.Now()}, nil
}

// expected is a run's expected length in steps: a few of its theoretical
// timescales, capped.
func (pl *plan) expected(r Run) float64 {
	t := 3 * pl.setup.TheoryTime(pl.cfg, r.Eta, r.Gamma)
	if !r.Twin() {
		// The return phase: the energy at the crossing (about 1e-2 on the
		// quick preset) falls to settle_tol at the rate 1 - beta.
		t += math.Max(0, math.Log(1e-2/pl.cfg.SettleTol)) / (1 - r.Beta)
	}
	return math.Min(float64(pl.cfg.MaxSteps), t)
}

// Sweep returns cfg as a sweep of the engine: its runs, how they are
// batched and executed, and the report.
func (pl *plan) sweep(command string) *sweep.Sweep {
	sw := &sweep.Sweep{
		Experiment: "uv", Settings: pl.cfg, Legacy: []string{legacyCheckpoint}, Command: command,
		Workers: pl.workers, Batches: pl.batches, Exec: pl.exec, CheckResult: pl.checkResult, Report: pl.report, Perf: pl.perf,
	}
	for _, r := range pl.runs {
		sw.Runs = append(sw.Runs, sweep.Run{ID: runID(r), Cost: pl.expected(r)})
	}
	return sw
}

// batches groups the runs by activation and by the step they resume from
// (a batch steps in lockstep); within a group, by expected duration, so
// that the runs of a batch finish at similar times; the longest batches
// start first. A run's numbers do not depend on its batch.
func (pl *plan) batches(todo []sweep.Todo) [][]sweep.Todo {
	type key struct {
		act  string
		from int
	}
	groups := map[key][]sweep.Todo{}
	var keys []key
	for _, t := range todo {
		k := key{pl.runs[t.Index].Act, 0}
		if t.State != nil {
			k.from = int(stateStep(t.State))
		}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], t)
	}
	cost := func(t sweep.Todo) float64 {
		r := pl.runs[t.Index]
		return pl.setup.TheoryTime(pl.cfg, r.Eta, r.Gamma)
	}
	var out [][]sweep.Todo
	for _, k := range keys {
		g := groups[k]
		sort.SliceStable(g, func(i, j int) bool { return cost(g[i]) > cost(g[j]) })
		for lo := 0; lo < len(g); lo += batchSize {
			out = append(out, g[lo:min(lo+batchSize, len(g))])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return cost(out[i][0]) > cost(out[j][0]) })
	return out
}

// exec steps one batch (one activation, one starting step).
func (pl *plan) exec(ctx context.Context, b *sweep.Batch) error {
	cfg := pl.cfg
	act, err := layers.ParseActivation(pl.runs[b.Runs[0].Index].Act)
	if err != nil {
		return err
	}
	states := make([]*runState, len(b.Runs))
	from := -1
	for i, t := range b.Runs {
		st := newRunState(cfg, pl.runs[t.Index])
		st.bi = i
		step := 0
		if t.State != nil {
			s, err := decodeState(t.State, cfg, st)
			if err != nil {
				return b.BadState(i, err)
			}
			step = s
		}
		if from >= 0 && step != from {
			panic(fmt.Sprintf("uv: a batch of runs at steps %d and %d", from, step))
		}
		from = step
		states[i] = st
	}
	return stepBatch(ctx, cfg, pl.setup, act, states, from, hooks{
		done: func(st *runState) error {
			res, err := json.Marshal(st.res)
			if err != nil {
				return err
			}
			return b.Done(st.bi, res)
		},
		steps: func(n int) {
			pl.stepsRun.Add(int64(n))
			b.Work(float64(n))
		},
		due: b.Due,
		save: func(st *runState, step int, u, v, piU, piV []float64) error {
			enc, err := encodeState(st, step, u, v, piU, piV)
			if err != nil {
				return err
			}
			return b.Save(st.bi, enc)
		},
	})
}

// checkResult reads back run i's result: a RunResult of that run, every
// field in range (validate).
func (pl *plan) checkResult(i int, b []byte) error {
	_, err := pl.decodeResult(i, b)
	return err
}

func (pl *plan) decodeResult(i int, b []byte) (RunResult, error) {
	var r RunResult
	if err := sweep.DecodeJSON(b, &r); err != nil {
		return r, err
	}
	if r.Run != pl.runs[i] {
		return r, fmt.Errorf("it holds run %+v, not %+v", r.Run, pl.runs[i])
	}
	return r, r.validate(pl.cfg)
}

// report analyses every run and writes the files.
func (pl *plan) report(dir string, results [][]byte) error {
	rs := make([]RunResult, len(results))
	for i, b := range results {
		var err error
		if rs[i], err = pl.decodeResult(i, b); err != nil {
			return err
		}
	}
	res := &Results{Config: *pl.cfg, Setup: *pl.setup, Runs: rs, Paper: paper}
	res.Activations = Analyze(pl.cfg, pl.setup, rs)
	if err := res.Write(dir); err != nil {
		return err
	}
	pl.res = res
	return nil
}

// perf is this process's speed, for perf.json.
func (pl *plan) perf() any {
	el := time.Since(pl.start).Seconds()
	p := Perf{Workers: pl.workers, Seconds: el, RunSteps: pl.stepsRun.Load()}
	if el > 0 {
		p.RunStepsPerS = float64(p.RunSteps) / el
	}
	// One run alone: the per-step overhead of the framework.
	p.SingleStepsPS, _ = SingleRunSpeed(pl.cfg, pl.setup, 20000)
	return p
}

// The state of a run in progress, little-endian: a magic, the step, u, v
// and their velocities (n each), the noise generator's state, the
// recorder (stride, samples) and the last settling norm.
// Version 2 adds the crossing step and energy (the return phase).
var stateMagic = []byte("uv-run-state-2\x00")

// stateStep is the step of an encoded state (0 when it cannot be read:
// decodeState then says why).
func stateStep(b []byte) int64 {
	if len(b) < len(stateMagic)+8 || !bytes.HasPrefix(b, stateMagic) {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(b[len(stateMagic):]))
}

func encodeState(st *runState, step int, u, v, piU, piV []float64) ([]byte, error) {
	var rng []byte
	if st.rng != nil {
		var err error
		if rng, err = st.rng.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	n := len(u)
	b := make([]byte, 0, len(stateMagic)+8*(6+4*n+2*len(st.rec.steps))+len(rng))
	b = append(b, stateMagic...)
	u64 := func(x uint64) { b = binary.LittleEndian.AppendUint64(b, x) }
	f64 := func(x float64) { u64(math.Float64bits(x)) }
	u64(uint64(step))
	u64(uint64(n))
	for _, s := range [][]float64{u, v, piU, piV} {
		for _, x := range s {
			f64(x)
		}
	}
	u64(uint64(len(rng)))
	b = append(b, rng...)
	u64(uint64(st.rec.stride))
	u64(uint64(len(st.rec.steps)))
	for k := range st.rec.steps {
		u64(uint64(st.rec.steps[k]))
		f64(st.rec.norms[k])
	}
	f64(st.lastNorm)
	f64(float64(st.res.FinalNorm))
	u64(uint64(st.res.CrossStep))
	f64(float64(st.res.CrossEnergy))
	u64(uint64(st.res.Returns))
	ret := uint64(0)
	if st.returning {
		ret = 1
	}
	u64(ret)
	return b, nil
}

// decodeState restores st (made by newRunState for its run) from b and
// returns its step: the one reader of those bytes, fuzzed. Every count
// and value is checked against the configuration.
func decodeState(b []byte, cfg *Config, st *runState) (int, error) {
	if !bytes.HasPrefix(b, stateMagic) {
		return 0, errors.New("not a uv run state of this version")
	}
	b = b[len(stateMagic):]
	short := errors.New("cut short")
	u64 := func() (uint64, error) {
		if len(b) < 8 {
			return 0, short
		}
		x := binary.LittleEndian.Uint64(b)
		b = b[8:]
		return x, nil
	}
	step, err := u64()
	if err != nil {
		return 0, err
	}
	if step < 1 || step >= uint64(cfg.MaxSteps) {
		return 0, fmt.Errorf("step %d outside [1, %d)", step, cfg.MaxSteps)
	}
	n, err := u64()
	if err != nil || n != uint64(cfg.N) {
		return 0, fmt.Errorf("width %d, want n = %d", n, cfg.N)
	}
	rows := make([][]float64, 4)
	for k := range rows {
		rows[k] = make([]float64, n)
		for i := range rows[k] {
			x, err := u64()
			if err != nil {
				return 0, err
			}
			rows[k][i] = math.Float64frombits(x)
			if math.IsNaN(rows[k][i]) || math.IsInf(rows[k][i], 0) {
				return 0, fmt.Errorf("a weight or velocity is not finite")
			}
		}
	}
	st.u, st.v, st.piU, st.piV = rows[0], rows[1], rows[2], rows[3]
	nr, err := u64()
	if err != nil || nr > uint64(len(b)) {
		return 0, short
	}
	if (nr == 0) != (st.rng == nil) {
		return 0, errors.New("a noise generator state for a noise-free run, or none for a noisy one")
	}
	if nr > 0 {
		if err := st.rng.UnmarshalBinary(b[:nr]); err != nil {
			return 0, fmt.Errorf("noise generator: %w", err)
		}
	}
	b = b[nr:]
	stride, err := u64()
	if err != nil || stride < 1 || stride > uint64(cfg.MaxSteps) || stride&(stride-1) != 0 {
		return 0, fmt.Errorf("recorder stride %d is not a power of two in [1, %d]", stride, cfg.MaxSteps)
	}
	ns, err := u64()
	if err != nil || ns < 1 || ns >= maxSamples || ns*16 > uint64(len(b)) {
		return 0, fmt.Errorf("%d recorded samples, want 1 to %d", ns, maxSamples-1)
	}
	st.rec = recorder{stride: int(stride), steps: make([]int, ns), norms: make([]float64, ns)}
	for k := range st.rec.steps {
		s, _ := u64()
		x, _ := u64()
		st.rec.steps[k], st.rec.norms[k] = int(s), math.Float64frombits(x)
		if s > step || (k > 0 && int(s) <= st.rec.steps[k-1]) || int(s)%int(stride) != 0 || !(st.rec.norms[k] >= 0) || math.IsInf(st.rec.norms[k], 0) {
			return 0, fmt.Errorf("recorded sample %d (step %d, norm %v) out of order or range", k, s, st.rec.norms[k])
		}
	}
	last, err1 := u64()
	final, err2 := u64()
	cross, err3 := u64()
	energy, err4 := u64()
	returns, err5 := u64()
	returning, err6 := u64()
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || err6 != nil {
		return 0, short
	}
	if returning > 1 || (cross == 0) != (returns == 0) || returns > step || (returning == 1 && cross == 0) {
		return 0, fmt.Errorf("%d return phases (in one: %d) for crossing step %d", returns, returning, cross)
	}
	if cross > step || (cross > 0 && st.run.Twin()) {
		// A twin stops at its crossing; a noisy run returns after it.
		return 0, fmt.Errorf("crossing step %d for a run at step %d (seed %d)", cross, step, st.run.Seed)
	}
	// The energy at the crossing is measured in the next step: 0 until
	// then, a number >= 0 once a run is past its crossing step.
	if e := math.Float64frombits(energy); !(e >= 0) || math.IsInf(e, 0) || (e != 0 && (cross == 0 || cross == step)) {
		return 0, fmt.Errorf("crossing energy %v for crossing step %d at step %d", e, cross, step)
	}
	if len(b) != 0 {
		return 0, fmt.Errorf("%d bytes after the state", len(b))
	}
	st.lastNorm, st.res.FinalNorm = math.Float64frombits(last), repro.Finite(math.Float64frombits(final))
	st.res.Crossed, st.res.CrossStep, st.res.CrossEnergy = cross > 0, int(cross), repro.Finite(math.Float64frombits(energy))
	st.res.Returns, st.returning = int(returns), returning == 1
	return int(step), nil
}

// SingleRunSpeed times steps of one run alone (a batch of one) through the
// framework: the per-step overhead that PyTorch is compared against.
func SingleRunSpeed(cfg *Config, s *Setup, steps int) (float64, error) {
	c := *cfg
	c.MaxSteps = steps
	r := Run{ID: 0, Act: cfg.Activations[0], Eta: 1e-4, Gamma: 1, Seed: 0}
	var err error
	if r.Beta, err = optim.ScaledBeta(r.Eta, s.CRun, r.Gamma); err != nil {
		return 0, err
	}
	a, err := layers.ParseActivation(r.Act)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	n := 0
	if err := stepBatch(context.Background(), &c, s, a, []*runState{newRunState(&c, r)}, 0, hooks{
		done: func(*runState) error { return nil }, steps: func(k int) { n += k },
	}); err != nil {
		return 0, err
	}
	el := time.Since(t0).Seconds()
	if !(el > 0) {
		// A clock that did not move: no speed rather than an infinite one.
		return 0, nil
	}
	return float64(n) / el, nil
}

// probe times a lockstep batch of the slowest kind for about a second,
// and scales the runs' expected lengths by it (sweep.Probe).
func (pl *plan) probe(ctx context.Context, idx []int) (float64, string, error) {
	r := pl.runs[idx[0]]
	act, err := layers.ParseActivation(r.Act)
	if err != nil {
		return 0, "", err
	}
	c := *pl.cfg
	c.MaxSteps = 4096
	var states []*runState
	for k := 0; k < min(batchSize, len(idx)); k++ {
		rr := pl.runs[idx[k]]
		states = append(states, newRunState(&c, rr))
	}
	t0 := time.Now()
	var steps int64
	if err := stepBatch(ctx, &c, pl.setup, act, states, 0, hooks{done: func(*runState) error { return nil }, steps: func(k int) { steps += int64(k) }}); err != nil {
		return 0, "", err
	}
	rate := float64(steps) / time.Since(t0).Seconds() * float64(min(pl.workers, runtime.NumCPU()))
	var total float64
	for _, i := range idx {
		total += pl.expected(pl.runs[i])
	}
	// A run that never crosses (tanh and relu near gamma = 1 on the
	// paper preset, docs/uv.md) runs to the cap, far past its expected
	// length: the estimate is a lower bound, and the cap gives the upper.
	atCap := float64(len(idx)) * float64(pl.cfg.MaxSteps)
	return total / rate, fmt.Sprintf("%d run-steps of a lockstep batch: %.3g run-steps/s over %d workers, times each run's expected length (3 theoretical timescales, capped at %d steps); "+
		"a lower bound: runs that never cross run to the cap, and if every run of this shard did, it would take %.3g h",
		steps, rate, pl.workers, pl.cfg.MaxSteps, atCap/rate/3600), nil
}

// validate checks a run's record read back from its file: every
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
	settle := 0
	for _, b := range []bool{r.SettleStep != 0, r.SettleCensored, r.SettleFailed} {
		if b {
			settle++
		}
	}
	// A noisy run that crossed and then diverged in its return phase is
	// both crossed and diverged (and settle_failed).
	returnDiverged := r.Crossed && r.Diverged && !r.Twin() && r.Steps > r.CrossStep
	if returnDiverged {
		flags--
	}
	switch {
	case r.Steps < 1 || r.Steps > cfg.MaxSteps:
		return fmt.Errorf("steps = %d outside [1, %d]", r.Steps, cfg.MaxSteps)
	case flags > 1:
		return fmt.Errorf("more than one of crossed, censored, settled and diverged")
	case r.Crossed && r.Twin() && r.CrossStep != r.Steps:
		return fmt.Errorf("cross_step = %d, want steps = %d for a noise-free twin that crossed", r.CrossStep, r.Steps)
	case r.Crossed && (r.CrossStep < 1 || r.CrossStep > r.Steps):
		return fmt.Errorf("cross_step = %d outside [1, steps = %d] for a run that crossed", r.CrossStep, r.Steps)
	case !r.Crossed && r.CrossStep != 0:
		return fmt.Errorf("cross_step = %d for a run that did not cross", r.CrossStep)
	case (!r.Crossed || r.Twin()) && (settle > 0 || r.CrossEnergy != 0 || r.Returns != 0):
		return fmt.Errorf("settle_step, settle_censored, settle_failed or cross_energy for a run with no return phase (crossed %v, seed %d)", r.Crossed, r.Seed)
	case r.Crossed && !r.Twin() && settle != 1:
		return fmt.Errorf("a run that crossed needs exactly one of settle_step, settle_censored and settle_failed (%d)", settle)
	case r.Crossed && !r.Twin() && (r.Returns < 1 || r.Returns > r.Steps-r.CrossStep+1):
		return fmt.Errorf("returns = %d for a run that crossed at step %d of %d", r.Returns, r.CrossStep, r.Steps)
	case r.SettleStep != 0 && (r.SettleStep < r.CrossStep || r.SettleStep != r.Steps):
		return fmt.Errorf("settle_step = %d, want in [cross_step = %d, steps = %d] and = steps", r.SettleStep, r.CrossStep, r.Steps)
	case r.SettleCensored && r.Steps != cfg.MaxSteps:
		return fmt.Errorf("settle_censored for a run of %d steps, not the cap %d", r.Steps, cfg.MaxSteps)
	case returnDiverged != r.SettleFailed:
		return fmt.Errorf("settle_failed = %v, but diverged after crossing = %v", r.SettleFailed, returnDiverged)
	case r.Crossed && !r.Twin() && r.Steps > r.CrossStep && !(finite(r.CrossEnergy) && r.CrossEnergy >= 0):
		return fmt.Errorf("cross_energy = %v must be a non-negative number for a run past its crossing", float64(r.CrossEnergy))
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
