package valley

import (
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/tensor"
)

var (
	mlpValley    = ValleyConfig{LR: 0.2, MaxEpochs: 2000, P: 0.2, Observe: Observe{Every: 50}}
	resnetValley = ValleyConfig{LR: 0.05, Beta: 0.9, Warmup: 5, Decay: 200, MaxEpochs: 205, P: 0.2, Observe: Observe{Every: 10, TraceEvery: -1}}
	mlpNoisy     = NoisyConfig{LR: 0.05, Beta: 0.9, Batch: 16, P: 0.2, Epochs: 4, Seed: 11, Observe: Observe{Every: 8, TraceEvery: 16}}
	mlpReturn    = ReturnConfig{Method: ReturnSGD, LR: 0.05, Beta: 0.9, Batch: 16, Epochs: 2, Seed: 12, Observe: Observe{Every: 8}}
	resnetNoisy  = NoisyConfig{LR: 0.02, Beta: 0.5, Batch: 16, DropLast: true, P: 0.2, Epochs: 2, Seed: 13, Observe: Observe{Every: 3}}
	resnetAdam   = ReturnConfig{Method: ReturnAdam, LR: 1e-3, MaxSteps: 12, Window: 3, Tol: 1e-4, Observe: Observe{Every: 4}}
)

// valleyPoint runs the valley phase to its end and checks it reached
// 100% training accuracy.
func valleyPoint(t *testing.T, e *Env, cfg ValleyConfig) *State {
	t.Helper()
	st := newState(t, e)
	if err := e.Valley(st, cfg, Limit{}); err != nil {
		t.Fatal(err)
	}
	if !st.Done || !st.Reached {
		t.Fatalf("valley phase: done %v, reached %v after %d epochs", st.Done, st.Reached, st.Epoch)
	}
	last := st.Curve[len(st.Curve)-1]
	if last.Phase != PhaseValley || last.Step != st.Step || last.TrainAcc != 1 {
		t.Fatalf("valley phase ends with %+v", last)
	}
	return st
}

func TestValleyReachesFullAccuracy(t *testing.T) {
	for _, c := range []struct {
		name string
		env  func(testing.TB, uint64) *Env
		cfg  ValleyConfig
	}{
		{"MLP, gradient descent", mlpEnv, mlpValley},
		{"ResNet, momentum, warm-up and cosine", resnetEnv, resnetValley},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := c.env(t, 1)
			st := valleyPoint(t, e, c.cfg)
			first, last := st.Curve[0], st.Curve[len(st.Curve)-1]
			if first.Step != 0 || first.TrainAcc == 1 {
				t.Errorf("first observation %+v", first)
			}
			if c.cfg.Observe.TraceEvery >= 0 && (last.TraceProbes != e.Trace.Probes || !(last.Trace > 0)) {
				t.Errorf("no trace at the valley point: %+v", last)
			}
			if c.cfg.Observe.TraceEvery < 0 && last.TraceProbes != 0 {
				t.Errorf("trace taken with TraceEvery < 0")
			}
			t.Logf("%d epochs; valley point %+v", st.Epoch, last)
			// A second call on a finished phase does nothing.
			before := save(t, st)
			if err := e.Valley(st, c.cfg, Limit{}); err != nil {
				t.Fatal(err)
			}
			sameBytes(t, "finished phase called again", before, save(t, st))
		})
	}
}

func TestValleyNotReached(t *testing.T) {
	e := mlpEnv(t, 1)
	cfg := mlpValley
	cfg.MaxEpochs = 2
	st := newState(t, e)
	if err := e.Valley(st, cfg, Limit{}); err != nil {
		t.Fatal(err)
	}
	if !st.Done || st.Reached || st.Step != 2 {
		t.Errorf("max epochs: done %v, reached %v, %d steps", st.Done, st.Reached, st.Step)
	}
	// A cosine that reaches 0 ends the phase unreached.
	cfg = ValleyConfig{LR: 1e-4, Decay: 3, MaxEpochs: 100, P: 0.2}
	st = newState(t, e)
	if err := e.Valley(st, cfg, Limit{}); err != nil {
		t.Fatal(err)
	}
	if !st.Done || st.Reached || st.Step != 3 {
		t.Errorf("cosine to 0: done %v, reached %v, %d steps", st.Done, st.Reached, st.Step)
	}
}

// fullRun is the MLP protocol from the valley point: noisy, then return.
func fullRun(t *testing.T, e *Env, valley *State) *State {
	t.Helper()
	st := valley.Handoff()
	if err := e.Noisy(st, mlpNoisy, Limit{}); err != nil {
		t.Fatal(err)
	}
	st = st.Handoff()
	if err := e.Return(st, mlpReturn, Limit{}); err != nil {
		t.Fatal(err)
	}
	if !st.Done {
		t.Fatal("return phase not done")
	}
	return st
}

// TestNoisyDeterministic: the same run twice, and under GOMAXPROCS 1 and
// 2, gives the same bytes.
func TestNoisyDeterministic(t *testing.T) {
	e := mlpEnv(t, 1)
	valley := valleyPoint(t, e, mlpValley)
	a := save(t, fullRun(t, e, valley))
	b := save(t, fullRun(t, mlpEnv(t, 1), valley))
	sameBytes(t, "two runs", a, b)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	one := save(t, fullRun(t, mlpEnv(t, 1), valley))
	runtime.GOMAXPROCS(2)
	two := save(t, fullRun(t, mlpEnv(t, 1), valley))
	sameBytes(t, "GOMAXPROCS 1 and 2", one, two)
	sameBytes(t, "GOMAXPROCS 1 and the default", a, one)

	st, err := Load(a)
	if err != nil {
		t.Fatal(err)
	}
	var noisy, ret int
	for _, o := range st.Curve {
		switch o.Phase {
		case PhaseNoisy:
			noisy++
		case PhaseReturn:
			ret++
		}
	}
	// 128/16 = 8 steps per epoch: noisy 32 steps observed every 8 from 0,
	// return 16 steps every 8 from 0.
	if noisy != 5 || ret != 3 {
		t.Errorf("%d noisy and %d return observations", noisy, ret)
	}
	// A different noise seed changes the run.
	cfg := mlpNoisy
	cfg.Seed++
	s2 := valley.Handoff()
	if err := e.Noisy(s2, cfg, Limit{}); err != nil {
		t.Fatal(err)
	}
	if s2.Params[0].T.Flat(0) == st.Params[0].T.Flat(0) {
		t.Error("another seed gives the same weights")
	}
}

// phaseFunc runs one phase of a protocol on a State.
type phaseFunc func(e *Env, st *State, lim Limit) error

// interrupted runs the phases, each cut into calls of the given step
// counts (cycled), saving and loading the State into a fresh Env (a model
// initialised from another seed) after every call, as a process killed
// and restarted would.
func interrupted(t *testing.T, mkEnv func(testing.TB, uint64) *Env, start []byte, phases []phaseFunc, cuts []int) []byte {
	t.Helper()
	b := start
	k := 0
	for _, ph := range phases {
		for {
			st, err := Load(b)
			if err != nil {
				t.Fatal(err)
			}
			if st.Done {
				st = st.Handoff()
				b = save(t, st)
				break
			}
			e := mkEnv(t, uint64(100+k))
			if err := ph(e, st, Limit{Steps: cuts[k%len(cuts)]}); err != nil {
				t.Fatal(err)
			}
			k++
			b = save(t, st)
		}
	}
	if k < 2*len(phases) {
		t.Fatalf("only %d calls for %d phases", k, len(phases))
	}
	t.Logf("%d interrupted calls", k)
	st, _ := Load(b)
	// The last Handoff dropped the counters; compare the curves and
	// weights that Handoff keeps.
	return save(t, st)
}

func uninterrupted(t *testing.T, e *Env, start []byte, phases []phaseFunc) []byte {
	t.Helper()
	st, err := Load(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range phases {
		if err := ph(e, st, Limit{}); err != nil {
			t.Fatal(err)
		}
		st = st.Handoff()
	}
	return save(t, st)
}

// TestResumeBitIdentical: every phase, interrupted at arbitrary points
// (mid-epoch, at epoch boundaries, right after an observation), saved,
// loaded into a fresh process state and continued, ends with the bits of
// an uninterrupted run.
func TestResumeBitIdentical(t *testing.T) {
	valley := func(cfg ValleyConfig) phaseFunc {
		return func(e *Env, st *State, lim Limit) error { return e.Valley(st, cfg, lim) }
	}
	noisy := func(cfg NoisyConfig) phaseFunc {
		return func(e *Env, st *State, lim Limit) error { return e.Noisy(st, cfg, lim) }
	}
	ret := func(cfg ReturnConfig) phaseFunc {
		return func(e *Env, st *State, lim Limit) error { return e.Return(st, cfg, lim) }
	}
	cases := []struct {
		name   string
		env    func(testing.TB, uint64) *Env
		phases []phaseFunc
		cuts   []int
	}{
		{"MLP: valley, noisy, SGD return", mlpEnv, []phaseFunc{valley(mlpValley), noisy(mlpNoisy), ret(mlpReturn)}, []int{1, 3, 7, 8, 2, 13}},
		{"ResNet: valley, noisy, Adam return", resnetEnv, []phaseFunc{valley(resnetValley), noisy(resnetNoisy), ret(resnetAdam)}, []int{2, 5, 1, 9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.env(t, 1)
			start := save(t, newState(t, e))
			want := uninterrupted(t, e, start, c.phases)
			got := interrupted(t, c.env, start, c.phases, c.cuts)
			sameBytes(t, "interrupted and uninterrupted", want, got)
			st, _ := Load(got)
			if len(st.Curve) < 5 || len(st.Buffers) == 0 && c.env(t, 1).Model.Buffers() != nil {
				t.Errorf("%d observations, %d buffers", len(st.Curve), len(st.Buffers))
			}
		})
	}
}

// TestWallLimit: a wall-time limit returns between steps and the run
// resumes.
func TestWallLimit(t *testing.T) {
	e := mlpEnv(t, 1)
	st := newState(t, e)
	cfg := mlpValley
	cfg.P = 0
	if err := e.Valley(st, cfg, Limit{Wall: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	if st.Step > 1 || st.Done {
		t.Errorf("a 1 ns limit took %d steps", st.Step)
	}
	for !st.Done {
		if err := e.Valley(st, cfg, Limit{Wall: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAdamStoppingRule(t *testing.T) {
	e := resnetEnv(t, 1)
	st := newState(t, e)
	cfg := ReturnConfig{Method: ReturnAdam, LR: 1e-3, MaxSteps: 500, Window: 5, Tol: 0.05}
	if err := e.Return(st, cfg, Limit{}); err != nil {
		t.Fatal(err)
	}
	if !st.Done || !st.Reached || st.Step >= 500 {
		t.Errorf("Adam with a loose tolerance: done %v, reached %v after %d steps", st.Done, st.Reached, st.Step)
	}
	if len(st.Recent) != 6 || st.Recent[0]-st.Recent[5] > 0.05*st.Recent[0] {
		t.Errorf("window %v", st.Recent)
	}
	cfg.Tol, cfg.MaxSteps = 1e-9, 4
	st = newState(t, e)
	if err := e.Return(st, cfg, Limit{}); err != nil {
		t.Fatal(err)
	}
	if !st.Done || st.Reached || st.Step != 4 || st.AdamT != 4 {
		t.Errorf("Adam at MaxSteps: done %v, reached %v after %d steps (t %d)", st.Done, st.Reached, st.Step, st.AdamT)
	}
}

// TestHessianTrace: with one chunk the estimate is autodiff's
// HessianTrace to the bit; with several, the same estimate up to
// rounding (no batch norm); with batch norm in eval mode, chunking
// changes nothing either.
func TestHessianTrace(t *testing.T) {
	for _, mk := range []func(testing.TB, uint64) *Env{mlpEnv, resnetEnv} {
		e := mk(t, 3)
		e.Trace.Chunk = e.Trace.Set.Len()
		one, err := e.HessianTrace()
		if err != nil {
			t.Fatal(err)
		}
		// autodiff's own estimator on the same loss.
		m := e.Model
		m.SetTraining(false)
		g := autodiff.NewGraph()
		targets := tensor.Must(tensor.New(tensor.Float32, e.Trace.Set.Len(), 4))
		for i, l := range e.Trace.Set.Labels {
			for k := range 4 {
				v := 0.2 / 3
				if k == l {
					v = 0.8
				}
				targets.SetFlat(i*4+k, v)
			}
		}
		loss := g.SoftCrossEntropy(m.Forward(g, g.Const(e.Trace.Set.X)), g.Const(targets))
		h, err := g.Hessian(loss, layers.Parameters(m)...)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := h.HessianTrace(e.Trace.Probes, tensor.NewRNG(e.Trace.Seed))
		m.SetTraining(true)
		if err != nil {
			t.Fatal(err)
		}
		if one != ref {
			t.Errorf("one chunk %+v, autodiff %+v", one, ref)
		}
		chunked := mk(t, 3)
		chunked.Trace.Chunk = 5
		many, err := chunked.HessianTrace()
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(many.Trace-one.Trace) > 1e-4*math.Abs(one.Trace) {
			t.Errorf("chunks of 5: %+v, one chunk %+v", many, one)
		}
	}
}

func TestRefusals(t *testing.T) {
	e := mlpEnv(t, 1)
	st := newState(t, e)
	if err := e.Noisy(st, mlpNoisy, Limit{Steps: 3}); err != nil {
		t.Fatal(err)
	}
	other := mlpNoisy
	other.LR *= 2
	for name, c := range map[string]struct {
		err  error
		want string
	}{
		"another configuration": {e.Noisy(st, other, Limit{Steps: 1}), "another configuration"},
		"another phase":         {e.Return(st, mlpReturn, Limit{Steps: 1}), "Handoff"},
		"another data set":      {mlpEnvWithTrain(t, 64).Noisy(st, mlpNoisy, Limit{Steps: 1}), "another configuration or data"},
		"another model":         {resnetEnv(t, 1).Valley(newState(t, e), resnetValley, Limit{Steps: 1}), "parameter"},
		"bad momentum":          {e.Noisy(st.Handoff(), NoisyConfig{LR: 0.1, Beta: 1, Batch: 4, Epochs: 1}, Limit{}), "momentum"},
		"bad method":            {e.Return(st.Handoff(), ReturnConfig{Method: "lbfgs", LR: 1}, Limit{}), "method"},
		"no Adam steps":         {e.Return(st.Handoff(), ReturnConfig{Method: ReturnAdam, LR: 1}, Limit{}), "Adam steps"},
		"bad valley epochs":     {e.Valley(newState(t, e), ValleyConfig{LR: 1}, Limit{}), "epochs"},
		"nil state":             {e.Valley(nil, mlpValley, Limit{}), "nil"},
		"no model":              {(&Env{Train: e.Train}).Valley(st, mlpValley, Limit{}), "model"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, c.err, c.want)
		}
	}
}

func mlpEnvWithTrain(t *testing.T, n int) *Env {
	e := mlpEnv(t, 1)
	sub, err := e.Train.Subset(seq(n))
	if err != nil {
		t.Fatal(err)
	}
	e.Train = sub
	return e
}
