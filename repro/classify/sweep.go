package classify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/repro/data"
	"github.com/flatfast/flatfast/repro/sweep"
	"github.com/flatfast/flatfast/repro/valley"
)

// plan is the experiment's side of the sweep.
type plan struct {
	cfg     *Config
	runs    []Run
	workers int
	// The data, loaded at the first run executed (a merge or a -plan of
	// a prerequisite-free shard never needs them).
	load     func() (*Setup, error)
	loadOnce sync.Once
	setup    *Setup
	setupErr error
	envs     chan *valley.Env // idle workers' environments
	slice    time.Duration    // a phase call's wall-time limit

	res *Results // set by the report

	pointMu sync.Mutex
	point   *valley.State // the valley point, once read

	mu              sync.Mutex
	steps, resumed  int
	seconds         float64
	valleySeconds   float64
	valleyEpochsRun int
}

// phaseSlice is how long a phase call runs before the loop checks for a
// checkpoint and a cancellation (at most; a shorter checkpoint interval
// shortens it).
const phaseSlice = time.Second

func newPlan(cfg Config, workers int, load func() (*Setup, error)) (*plan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	runs, err := Runs(&cfg)
	if err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(1, len(runs)))
	return &plan{cfg: &cfg, runs: runs, workers: workers, load: load, envs: make(chan *valley.Env, workers), slice: phaseSlice}, nil
}

// stepsPerEpoch is the minibatch steps of an epoch over n images.
func stepsPerEpoch(n, batch int, dropLast bool) int {
	if dropLast {
		return max(1, n/batch)
	}
	return (n + batch - 1) / batch
}

// Costs, in minibatch steps of the noisy phase (a forward and backward
// pass over Batch images): the unit of progress, the ETA and -plan.

// fullBatch is a full-batch step over n images in those units.
func (pl *plan) fullBatch(n int) float64 { return float64(n) / float64(pl.cfg.Noisy.Batch) }

// valleyEpoch is a valley-phase epoch: a full-batch step and its
// stopping check, a forward pass over the training set (about a third of
// a step's work).
func (pl *plan) valleyEpoch(n int) float64 { return pl.fullBatch(n) * 4 / 3 }

// valleyCost is the valley phase's: its length is unknown until it ends,
// so the configuration's expectation, else its cap.
func (pl *plan) valleyCost(n int) float64 { return float64(pl.valleyEpochs()) * pl.valleyEpoch(n) }

func (pl *plan) runCost(n int) float64 {
	c := pl.cfg
	steps := float64(c.Noisy.Epochs * stepsPerEpoch(n, c.Noisy.Batch, c.Noisy.DropLast))
	r := c.Return
	switch r.Method {
	case valley.ReturnSGD:
		steps += float64(r.Epochs * stepsPerEpoch(n, r.Batch, r.DropLast))
	case valley.ReturnAdam:
		steps += float64(r.MaxSteps) * pl.fullBatch(n)
	}
	return steps
}

// trainSize is the training subset's size, known from the configuration
// alone when it is balanced (a whole split: the data set's documented
// size).
func (c *Config) trainSize() int {
	spec, _ := c.dataSpec()
	if c.Data.TrainPerClass > 0 {
		return c.Data.TrainPerClass * len(spec.Classes)
	}
	sp, err := spec.Split("train")
	if err != nil {
		return 1
	}
	return sp.N
}

func (c *Config) dataSpec() (*data.Spec, error) { return data.Lookup(c.Data.Set) }

func (pl *plan) sweep(command string) *sweep.Sweep {
	n := pl.cfg.trainSize()
	sw := &sweep.Sweep{
		Experiment: pl.cfg.Experiment, Settings: pl.cfg, Command: command, Workers: pl.workers,
		Exec: pl.exec, CheckResult: pl.checkResult, Report: pl.report, Perf: pl.perf,
	}
	sw.Runs = append(sw.Runs, sweep.Run{ID: ValleyID, Cost: pl.valleyCost(n)})
	for _, r := range pl.runs {
		sw.Runs = append(sw.Runs, sweep.Run{ID: r.ID(), Cost: pl.runCost(n), Needs: []string{ValleyID}})
	}
	return sw
}

func (pl *plan) data() (*Setup, error) {
	pl.loadOnce.Do(func() { pl.setup, pl.setupErr = pl.load() })
	return pl.setup, pl.setupErr
}

// env takes an idle environment or makes one; put gives it back.
func (pl *plan) env() (*valley.Env, error) {
	select {
	case e := <-pl.envs:
		return e, nil
	default:
	}
	s, err := pl.data()
	if err != nil {
		return nil, err
	}
	return newEnv(pl.cfg, s)
}

func (pl *plan) put(e *valley.Env) {
	select {
	case pl.envs <- e:
	default:
	}
}

// exec executes one run: the valley point, or a grid run from it.
func (pl *plan) exec(ctx context.Context, b *sweep.Batch) error {
	env, err := pl.env()
	if err != nil {
		return err
	}
	defer pl.put(env)
	t := b.Runs[0]
	if t.Index == 0 {
		return pl.execValley(ctx, b, env)
	}
	return pl.execRun(ctx, b, env, pl.runs[t.Index-1])
}

// loop calls phase in slices until it reports done, saving the state
// when due and on cancellation, and reporting progress in steps.
func (pl *plan) loop(ctx context.Context, b *sweep.Batch, st *valley.State, unit float64, phase func(*valley.State) (bool, error)) error {
	for {
		before := st.Step
		done, err := phase(st)
		if err != nil {
			return err
		}
		taken := st.Step - before
		b.Work(float64(taken) * unit)
		pl.mu.Lock()
		pl.steps += taken
		pl.mu.Unlock()
		if done {
			return nil
		}
		if ctx.Err() != nil || b.Due() {
			bs, err := st.Save()
			if err != nil {
				return err
			}
			if err := b.Save(0, bs); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
}

func (pl *plan) countResumed() {
	pl.mu.Lock()
	pl.resumed++
	pl.mu.Unlock()
}

// valleyPoint reads and checks the valley point once per process (every
// run starts from a Handoff of it, which copies; it is never modified):
// megabytes to tens of megabytes that each run would read and checksum
// again.
func (pl *plan) valleyPoint(b *sweep.Batch) (*valley.State, error) {
	pl.pointMu.Lock()
	defer pl.pointMu.Unlock()
	if pl.point == nil {
		bs, err := b.Result(ValleyID)
		if err != nil {
			return nil, err
		}
		vp, err := valley.Load(bs)
		if err != nil {
			return nil, fmt.Errorf("the valley point: %w", err)
		}
		pl.point = vp
	}
	return pl.point, nil
}

func (pl *plan) execValley(ctx context.Context, b *sweep.Batch, env *valley.Env) error {
	start := time.Now()
	var st *valley.State
	var err error
	if s := b.Runs[0].State; s != nil {
		if st, err = valley.Load(s); err != nil {
			return b.BadState(0, err)
		}
		pl.countResumed()
	} else if st, err = valley.NewState(env.Model); err != nil {
		return err
	}
	first := st.Step
	err = pl.loop(ctx, b, st, pl.valleyEpoch(env.Train.Len()), func(s *valley.State) (bool, error) {
		if err := env.Valley(s, pl.cfg.Valley, valley.Limit{Wall: pl.slice}); err != nil {
			return false, fmt.Errorf("valley phase: %w", err)
		}
		return s.Done, nil
	})
	pl.mu.Lock()
	pl.valleySeconds += time.Since(start).Seconds()
	pl.valleyEpochsRun += st.Step - first
	pl.seconds += time.Since(start).Seconds()
	pl.mu.Unlock()
	if err != nil {
		return err
	}
	point, err := st.Save()
	if err != nil {
		return err
	}
	return b.Done(0, point)
}

func (pl *plan) execRun(ctx context.Context, b *sweep.Batch, env *valley.Env, r Run) error {
	start := time.Now()
	defer func() {
		pl.mu.Lock()
		pl.seconds += time.Since(start).Seconds()
		pl.mu.Unlock()
	}()
	var st *valley.State
	if s := b.Runs[0].State; s != nil {
		var err error
		if st, err = valley.Load(s); err != nil {
			return b.BadState(0, err)
		}
		if st.Phase != valley.PhaseNoisy && st.Phase != valley.PhaseReturn {
			return b.BadState(0, fmt.Errorf("a run's state in phase %q", st.Phase))
		}
		pl.countResumed()
	} else {
		vp, err := pl.valleyPoint(b)
		if err != nil {
			return err
		}
		st = vp.Handoff()
	}
	ncfg, rcfg := pl.cfg.noisyFor(r), pl.cfg.returnFor(r)
	if st.Phase != valley.PhaseReturn {
		err := pl.loop(ctx, b, st, 1, func(s *valley.State) (bool, error) {
			if err := env.Noisy(s, ncfg, valley.Limit{Wall: pl.slice}); err != nil {
				return false, fmt.Errorf("run %s, noisy phase: %w", r.ID(), err)
			}
			return s.Done, nil
		})
		if err != nil {
			return pl.failed(b, r, st, err)
		}
		st = st.Handoff()
	}
	unit := 1.0
	if rcfg.Method == valley.ReturnAdam {
		unit = pl.fullBatch(env.Train.Len())
	}
	err := pl.loop(ctx, b, st, unit, func(s *valley.State) (bool, error) {
		if err := env.Return(s, rcfg, valley.Limit{Wall: pl.slice}); err != nil {
			return false, fmt.Errorf("run %s, return phase: %w", r.ID(), err)
		}
		return s.Done, nil
	})
	if err != nil {
		return pl.failed(b, r, st, err)
	}
	res := runResult{Curve: st.Curve, ReturnSteps: st.Step, ReturnReached: st.Reached}
	bs, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return b.Done(0, bs)
}

// failed turns a run's blow-up (non-finite weights: momentum too close
// to 1 for its eta) into a result the report shows as diverged, rather
// than an error that stops the sweep; other errors stop it.
func (pl *plan) failed(b *sweep.Batch, r Run, st *valley.State, err error) error {
	if !isDivergence(err) {
		return err
	}
	// The curve kept is the valley point's alone: what a run had observed
	// when it blew up depends on where its last phase call stopped (wall
	// time), and the report must not.
	var curve []valley.Observation
	for _, o := range st.Curve {
		if o.Phase == valley.PhaseValley {
			curve = append(curve, o)
		}
	}
	res := runResult{Curve: curve, Diverged: err.Error()}
	bs, jerr := json.Marshal(res)
	if jerr != nil {
		return jerr
	}
	return b.Done(0, bs)
}

func isDivergence(err error) bool {
	var d *optim.DivergenceError
	return errors.As(err, &d)
}

// runResult is a finished grid run's file: its curve (the valley
// point's observations, then the noisy phase's and the return's).
type runResult struct {
	Curve         []valley.Observation `json:"curve"`
	ReturnSteps   int                  `json:"return_steps"`
	ReturnReached bool                 `json:"return_reached"`
	// Diverged holds the error of a run whose weights blew up (its curve
	// ends there); empty otherwise.
	Diverged string `json:"diverged,omitempty"`
}

// decodeRun reads a grid run's result: the one reader of those bytes.
func decodeRun(b []byte) (runResult, error) {
	var r runResult
	if err := sweep.DecodeJSON(b, &r); err != nil {
		return r, err
	}
	if len(r.Curve) == 0 {
		return r, errors.New("empty curve")
	}
	if r.ReturnSteps < 0 {
		return r, fmt.Errorf("return steps %d", r.ReturnSteps)
	}
	for i, o := range r.Curve {
		switch o.Phase {
		case valley.PhaseValley, valley.PhaseNoisy, valley.PhaseReturn:
		default:
			return r, fmt.Errorf("curve[%d]: phase %q", i, o.Phase)
		}
		for _, v := range []float64{o.TrainAcc, o.TestAcc} {
			if !(v >= 0 && v <= 1) {
				return r, fmt.Errorf("curve[%d]: accuracy %v outside [0, 1]", i, v)
			}
		}
		for _, v := range []float64{o.Loss, o.TrainLoss, o.TestLoss, o.Trace, o.TraceSE, o.LR} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return r, fmt.Errorf("curve[%d] holds %v", i, v)
			}
		}
	}
	if r.Diverged == "" && r.Curve[len(r.Curve)-1].Phase != valley.PhaseReturn {
		return r, fmt.Errorf("the curve of a finished run ends in phase %q", r.Curve[len(r.Curve)-1].Phase)
	}
	return r, nil
}

func (pl *plan) checkResult(i int, b []byte) error {
	if i == 0 {
		_, err := valley.Load(b)
		return err
	}
	_, err := decodeRun(b)
	return err
}

// Perf is the speed of the training in one process (perf.json).
type Perf struct {
	Workers       int     `json:"workers"`
	Steps         int     `json:"steps"`
	Seconds       float64 `json:"seconds"`
	StepsPerS     float64 `json:"steps_per_s"`
	ValleyEpochs  int     `json:"valley_epochs"`
	ValleySeconds float64 `json:"valley_seconds"`
	ResumedRuns   int     `json:"resumed_runs"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
	StepsPerSNote string  `json:"note"`
}

func (pl *plan) perf() any {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	p := Perf{Workers: pl.workers, Steps: pl.steps, Seconds: pl.seconds, ValleyEpochs: pl.valleyEpochsRun, ValleySeconds: pl.valleySeconds,
		ResumedRuns: pl.resumed, GOMAXPROCS: runtime.GOMAXPROCS(0),
		StepsPerSNote: "steps: optimizer steps of every phase (a valley or Adam step is a full batch); seconds: summed over workers"}
	if pl.seconds > 0 {
		p.StepsPerS = float64(pl.steps) / pl.seconds
	}
	return p
}
