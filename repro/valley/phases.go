package valley

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/repro/data"
	"github.com/flatfast/flatfast/tensor"
)

// Limit bounds one call of a phase function: it returns after Steps
// optimizer steps or once Wall has passed (checked between steps),
// whichever comes first, or when the phase ends. Zero fields do not
// bound. A caller that checkpoints every few seconds passes Wall and
// saves the State after each call; where the call stopped does not
// change the run's bits.
type Limit struct {
	Steps int
	Wall  time.Duration
}

// Observe says when a phase records an Observation: every Every steps
// (and before its first step) when Every > 0, and always when the phase
// ends. The Hessian trace is taken at the end and, when TraceEvery > 0,
// every TraceEvery steps (those points are observed too); TraceEvery < 0
// never takes it (nor does an Env without a trace set).
type Observe struct {
	Every      int
	TraceEvery int
}

func (o Observe) check() error {
	if o.Every < 0 {
		return fmt.Errorf("valley: observation every %d steps", o.Every)
	}
	return nil
}

// due says whether step is observed, and with the trace, given whether
// the phase has just ended.
func (o Observe) due(step int, end bool) (obs, trace bool) {
	trace = o.TraceEvery >= 0 && (end || (o.TraceEvery > 0 && step%o.TraceEvery == 0))
	obs = end || trace || (o.Every > 0 && step%o.Every == 0)
	return obs, trace
}

// ValleyConfig is phase 1: full-batch gradient descent (heavy-ball
// momentum Beta; 0 for plain GD) on the expected label-noise loss, the
// full batch accumulated over Env's chunks, until the training accuracy
// (clean labels, evaluation mode, checked after every step) is 100% or
// MaxEpochs steps have been taken. A full-batch step is an epoch.
type ValleyConfig struct {
	LR   float64 `json:"lr"`
	Beta float64 `json:"beta"`
	// The rate's schedule: with Decay > 0, a linear warm-up over Warmup
	// epochs then a cosine over Decay (the paper's ResNet: 600 and 1400;
	// the phase ends unreached when the cosine reaches 0); Decay 0 and
	// Warmup > 0 a warm-up then constant; both 0 a constant LR (the MLP).
	Warmup int `json:"warmup"`
	Decay  int `json:"decay"`
	// MaxEpochs bounds the phase (at least 1).
	MaxEpochs int `json:"max_epochs"`
	// P is the label-noise probability whose expected loss (soft targets)
	// is minimised; 0 trains on the clean labels.
	P       float64 `json:"p"`
	Observe Observe `json:"observe"`
}

func (c ValleyConfig) schedule() (optim.Schedule, error) {
	switch {
	case c.Decay > 0:
		return optim.WarmupCosine(c.LR, c.Warmup, c.Decay)
	case c.Warmup > 0:
		return optim.LinearWarmup(c.LR, c.Warmup)
	}
	return optim.Constant(c.LR)
}

func (c ValleyConfig) check() error {
	switch {
	case !(c.Beta >= 0 && c.Beta < 1):
		return fmt.Errorf("valley: valley phase momentum %v, want [0, 1)", c.Beta)
	case c.MaxEpochs < 1:
		return fmt.Errorf("valley: valley phase of %d epochs", c.MaxEpochs)
	case c.Warmup < 0 || c.Decay < 0:
		return fmt.Errorf("valley: valley phase warm-up %d, decay %d", c.Warmup, c.Decay)
	case !(c.P >= 0 && c.P <= 1):
		return fmt.Errorf("valley: valley phase label-noise probability %v", c.P)
	}
	if _, err := c.schedule(); err != nil {
		return fmt.Errorf("valley: valley phase: %w", err)
	}
	return c.Observe.check()
}

// NoisyConfig is phase 2: minibatch SGD with heavy-ball momentum in the
// paper's form (optim.Momentum, pi = 0 at the start) and stochastic label
// noise: each sample's label is replaced, at every step, with probability
// P by a uniformly drawn wrong class (data.LabelNoise).
type NoisyConfig struct {
	LR   float64 `json:"lr"`
	Beta float64 `json:"beta"`
	// Batch is the minibatch size; DropLast ends each epoch with the last
	// full batch (a model with batch norm wants no tiny last batch).
	Batch    int     `json:"batch"`
	DropLast bool    `json:"drop_last"`
	P        float64 `json:"p"`
	Epochs   int     `json:"epochs"`
	// Seed seeds the batch order and the label noise (two streams split
	// from it, so the order does not depend on P).
	Seed    uint64  `json:"seed"`
	Observe Observe `json:"observe"`
}

func (c NoisyConfig) check() error {
	if err := checkSGD("noisy", c.LR, c.Beta, c.Batch, c.Epochs); err != nil {
		return err
	}
	if !(c.P >= 0 && c.P <= 1) {
		return fmt.Errorf("valley: noisy phase label-noise probability %v", c.P)
	}
	return c.Observe.check()
}

func checkSGD(phase string, lr, beta float64, batch, epochs int) error {
	switch {
	case !(lr > 0) || math.IsInf(lr, 0):
		return fmt.Errorf("valley: %s phase learning rate %v", phase, lr)
	case !(beta >= 0 && beta < 1):
		return fmt.Errorf("valley: %s phase momentum %v, want [0, 1)", phase, beta)
	case batch < 1:
		return fmt.Errorf("valley: %s phase batch size %d", phase, batch)
	case epochs < 1:
		return fmt.Errorf("valley: %s phase of %d epochs", phase, epochs)
	}
	return nil
}

// Return methods.
const (
	ReturnSGD  = "sgd"
	ReturnAdam = "adam"
)

// ReturnConfig is phase 3, the return to the valley without label noise,
// by one of two methods.
//
// ReturnSGD (the MLP, A.4's "400 epochs without label noise"): Epochs of
// minibatch SGD with momentum, continuing the noisy phase's velocity
// (one optimizer throughout, only the labels change) unless
// FreshVelocity; Reached is set when the epochs are done.
//
// ReturnAdam (ResNet, A.3's projection): full-batch Adam (PyTorch's
// defaults but LR) over Env's chunks, at most MaxSteps steps, stopping
// early at the first step where the full-batch loss has fallen by less
// than Tol (relative) over the last Window steps: the loss has stopped
// decreasing, the weights are on the valley as far as this optimizer
// takes them. Reached says that the rule, not MaxSteps, ended it. A
// negative Tol turns the rule off (exactly MaxSteps steps).
type ReturnConfig struct {
	Method string  `json:"method"`
	LR     float64 `json:"lr"`
	// P gives the targets of the return loss: 0 (the default) the clean
	// labels, as the paper's "without label noise"; P > 0 the expected
	// label-noise loss, whose valley the valley phase found.
	P float64 `json:"p"`

	// ReturnSGD.
	Beta          float64 `json:"beta,omitempty"`
	Batch         int     `json:"batch,omitempty"`
	DropLast      bool    `json:"drop_last,omitempty"`
	Epochs        int     `json:"epochs,omitempty"`
	Seed          uint64  `json:"seed,omitempty"`
	FreshVelocity bool    `json:"fresh_velocity,omitempty"`

	// ReturnAdam.
	MaxSteps int     `json:"max_steps,omitempty"`
	Window   int     `json:"window,omitempty"` // default 10
	Tol      float64 `json:"tol,omitempty"`    // default 1e-3

	Observe Observe `json:"observe"`
}

func (c *ReturnConfig) defaults() {
	if c.Method == ReturnAdam {
		if c.Window == 0 {
			c.Window = 10
		}
		if c.Tol == 0 {
			c.Tol = 1e-3
		}
	}
}

func (c ReturnConfig) check() error {
	if !(c.P >= 0 && c.P <= 1) {
		return fmt.Errorf("valley: return phase label-noise probability %v", c.P)
	}
	switch c.Method {
	case ReturnSGD:
		if err := checkSGD("return", c.LR, c.Beta, c.Batch, c.Epochs); err != nil {
			return err
		}
	case ReturnAdam:
		switch {
		case !(c.LR > 0) || math.IsInf(c.LR, 0):
			return fmt.Errorf("valley: return phase learning rate %v", c.LR)
		case c.MaxSteps < 1:
			return fmt.Errorf("valley: return phase of at most %d Adam steps", c.MaxSteps)
		case c.Window < 1:
			return fmt.Errorf("valley: return phase window of %d steps", c.Window)
		case math.IsNaN(c.Tol) || math.IsInf(c.Tol, 0):
			return fmt.Errorf("valley: return phase tolerance %v", c.Tol)
		}
	default:
		return fmt.Errorf("valley: return method %q, want %q or %q", c.Method, ReturnSGD, ReturnAdam)
	}
	return c.Observe.check()
}

// begin checks st against the phase and loads its weights into the
// model. It reports whether the phase is fresh (its first call).
func (e *Env) begin(st *State, phase string, cfg any) (fresh bool, err error) {
	if st == nil {
		return false, errors.New("valley: nil State")
	}
	if err := e.setup(); err != nil {
		return false, err
	}
	if err := st.validate(); err != nil {
		return false, err
	}
	h := e.hash(phase, cfg)
	switch st.Phase {
	case "":
		fresh = true
	case phase:
		if st.ConfigHash != h {
			return false, fmt.Errorf("valley: the state's %s phase was started with another configuration or data (hash %s, now %s)", phase, st.ConfigHash, h)
		}
	default:
		return false, fmt.Errorf("valley: the state is in the %s phase, not %s (Handoff starts the next phase)", st.Phase, phase)
	}
	if err := st.ApplyTo(e.Model); err != nil {
		return false, err
	}
	if fresh {
		st.Phase, st.ConfigHash = phase, h
		st.Step, st.Epoch, st.Done, st.Reached = 0, 0, false, false
		st.AdamM, st.AdamV, st.AdamT = nil, nil, 0
		st.BatchRNG, st.NoiseRNG = nil, nil
		st.LossSum, st.LossCount, st.Recent = 0, 0, nil
	}
	e.Model.SetTraining(true)
	return fresh, nil
}

// momentum returns the optimizer with velocity from st (zero when
// fresh).
func (e *Env) momentum(st *State, lr, beta float64, fresh bool) (*optim.Momentum, error) {
	opt, err := optim.NewMomentum(e.tensors, lr, beta)
	if err != nil {
		return nil, err
	}
	if !fresh && st.Velocity != nil {
		for i, v := range opt.Velocity() {
			if err := v.CopyFrom(st.Velocity[i].T); err != nil {
				return nil, fmt.Errorf("valley: velocity %d: %w", i, err)
			}
		}
	}
	return opt, nil
}

// saveVelocity copies opt's velocity into st, named as the parameters.
func saveVelocity(st *State, opt *optim.Momentum) {
	if st.Velocity == nil {
		st.Velocity = cloneNamed(st.Params)
	}
	for i, v := range opt.Velocity() {
		st.Velocity[i].T.CopyFrom(v)
	}
}

// run is one call of a phase: it counts steps against the limit.
type run struct {
	lim   Limit
	start time.Time
	taken int
}

func (r *run) more() bool {
	if r.lim.Steps > 0 && r.taken >= r.lim.Steps {
		return false
	}
	return r.lim.Wall <= 0 || time.Since(r.start) < r.lim.Wall
}

// observe appends an Observation to st's curve; train, when not nil, is
// the training-set evaluation at the current weights.
func (e *Env) observe(st *State, phase string, train *data.Metrics, trace bool, lr, loss float64) error {
	o, err := e.measure(train, trace)
	if err != nil {
		return err
	}
	o.Phase, o.Step, o.Epoch, o.LR, o.Loss = phase, st.Step, st.Epoch, lr, loss
	st.Curve = append(st.Curve, o)
	return nil
}

// observeStart records the point before a phase's first step when ob
// observes every few steps (once: a resumed call finds it on the curve).
func (e *Env) observeStart(st *State, phase string, ob Observe) error {
	n := len(st.Curve)
	if ob.Every <= 0 || st.Step != 0 || n > 0 && st.Curve[n-1].Phase == phase && st.Curve[n-1].Step == 0 {
		return nil // not wanted, or recorded before a resume
	}
	_, tr := ob.due(0, false)
	return e.observe(st, phase, nil, tr, 0, 0)
}

// fullBatchStep takes one step of a full-batch phase: the chunked
// gradient of the expected loss at label-noise level p, a divergence
// check, the optimizer's step; it returns the loss before the step.
func (e *Env) fullBatchStep(st *State, p float64, step func([]*tensor.Tensor) error) (float64, error) {
	loss, err := e.train.Grad(e.g, e.Model, e.params, p, e.grads)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return 0, &optim.DivergenceError{Step: st.Step, What: "loss", Val: loss}
	}
	if err := step(e.grads); err != nil {
		return 0, err
	}
	st.Step++
	st.Epoch = st.Step
	return loss, nil
}

// Valley runs the valley phase on st within lim. On return st holds the
// run so far (st.Done when the phase has ended; st.Reached when it ended
// at 100% training accuracy). After an error st is not to be resumed:
// resume from the last saved bytes.
func (e *Env) Valley(st *State, cfg ValleyConfig, lim Limit) error {
	if err := cfg.check(); err != nil {
		return err
	}
	fresh, err := e.begin(st, PhaseValley, cfg)
	if err != nil || st.Done {
		return err
	}
	sched, _ := cfg.schedule()
	opt, err := e.momentum(st, math.Max(sched(st.Step), math.SmallestNonzeroFloat64), cfg.Beta, fresh)
	if err != nil {
		return err
	}
	if err := e.observeStart(st, PhaseValley, cfg.Observe); err != nil {
		return err
	}
	r := run{lim: lim, start: time.Now()}
	for !st.Done && r.more() {
		lr := sched(st.Step)
		if !(lr > 0) {
			// The cosine has reached 0 without a fit to the data.
			st.Done = true
			break
		}
		if err := opt.SetLR(lr); err != nil {
			return err
		}
		loss, err := e.fullBatchStep(st, cfg.P, opt.Step)
		if err != nil {
			return err
		}
		r.taken++
		// The stopping rule's evaluation; an observation at this step
		// reuses it.
		met, err := e.train.Evaluate(e.g, e.Model)
		if err != nil {
			return err
		}
		if met.Correct == met.N {
			st.Done, st.Reached = true, true
		} else if st.Step >= cfg.MaxEpochs {
			st.Done = true
		}
		if obs, tr := cfg.Observe.due(st.Step, st.Done); obs {
			if err := e.observe(st, PhaseValley, &met, tr, lr, loss); err != nil {
				return err
			}
		}
	}
	if err := optim.CheckFinite(st.Step, e.tensors); err != nil {
		return err
	}
	saveVelocity(st, opt)
	return st.capture(e.Model)
}

// minibatches is the batch order and label noise of a minibatch phase,
// restored from and saved to a State. Batches draws an epoch's
// permutation from its stream at the epoch's first batch, so the State
// keeps the stream as it was at the start of the current epoch, and a
// resumed run replays the batches already taken in it (copies of rows,
// no gradient) to stand where it stood.
type minibatches struct {
	b          *data.Batches
	brng, nrng *tensor.RNG
	noise      *data.LabelNoise
	perEpoch   int
	epochStart []byte
}

func (e *Env) openBatches(st *State, fresh bool, batch int, dropLast bool, seed uint64, p float64, noisy bool) (*minibatches, error) {
	mb := &minibatches{}
	if fresh {
		root := tensor.NewRNG(seed)
		mb.brng, mb.nrng = root.Split(), root.Split()
	} else {
		mb.brng, mb.nrng = &tensor.RNG{}, &tensor.RNG{}
		if err := mb.brng.UnmarshalBinary(st.BatchRNG); err != nil {
			return nil, fmt.Errorf("valley: batch RNG: %w", err)
		}
		if noisy {
			if err := mb.nrng.UnmarshalBinary(st.NoiseRNG); err != nil {
				return nil, fmt.Errorf("valley: noise RNG: %w", err)
			}
		}
	}
	var err error
	if mb.b, err = data.NewBatches(e.Train, batch, dropLast, mb.brng); err != nil {
		return nil, err
	}
	mb.perEpoch = mb.b.PerEpoch()
	if noisy {
		if mb.noise, err = data.NewLabelNoise(e.Train.Classes, p, mb.nrng); err != nil {
			return nil, err
		}
	}
	mb.epochStart, _ = mb.brng.MarshalBinary()
	for range st.Step % mb.perEpoch {
		mb.b.Next()
	}
	return mb, nil
}

// next returns the next batch, noting the stream's state at an epoch's
// start.
func (mb *minibatches) next(step int) *data.Batch {
	if step%mb.perEpoch == 0 {
		mb.epochStart, _ = mb.brng.MarshalBinary()
	}
	return mb.b.Next()
}

func (mb *minibatches) save(st *State) {
	if st.Step%mb.perEpoch == 0 {
		st.BatchRNG, _ = mb.brng.MarshalBinary()
	} else {
		st.BatchRNG = append([]byte(nil), mb.epochStart...)
	}
	if mb.noise != nil {
		st.NoiseRNG, _ = mb.nrng.MarshalBinary()
	}
}

// softTargets returns the expected label-noise targets of a batch's
// samples (rows of optim.ExpectedTargets over the training set), in a
// buffer reused per batch size.
func (e *Env) softTargets(b *data.Batch, p float64) (*tensor.Tensor, error) {
	if e.softAll == nil || e.softP != p {
		all, err := optim.ExpectedTargets(e.tensors[0].DType(), e.Train.Labels, e.Train.Classes, p)
		if err != nil {
			return nil, err
		}
		e.softAll, e.softP, e.soft = all, p, map[int]*tensor.Tensor{}
	}
	n, k := len(b.Index), e.Train.Classes
	t := e.soft[n]
	if t == nil {
		t = tensor.Must(tensor.New(e.softAll.DType(), n, k))
		e.soft[n] = t
	}
	for j, i := range b.Index {
		row, err := e.softAll.Rows(i, i+1)
		if err != nil {
			return nil, err
		}
		dst, _ := t.Rows(j, j+1)
		if err := dst.CopyFrom(row); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// sgdStep takes one minibatch step: the loss on labels (or soft targets)
// at the batch, its gradient, the optimizer's update.
func (e *Env) sgdStep(b *data.Batch, labels []int, soft *tensor.Tensor, step func([]*tensor.Tensor) error, at int) (float64, error) {
	g := e.g
	prev := g.SetRecording(true)
	defer g.SetRecording(prev)
	defer g.Reset()
	logits := e.Model.Forward(g, g.Const(b.X))
	var loss *autodiff.Value
	if soft != nil {
		loss = g.SoftCrossEntropy(logits, g.Const(soft))
	} else {
		loss = g.CrossEntropy(logits, labels)
	}
	if len(e.gv) != len(e.params) {
		e.gv = make([]*autodiff.Value, len(e.params))
	}
	if err := g.GradInto(e.gv, loss, e.params...); err != nil {
		return 0, err
	}
	l, err := loss.Item()
	if err != nil {
		return 0, err
	}
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return l, &optim.DivergenceError{Step: at, What: "loss", Val: l}
	}
	e.gt = autodiff.Tensors(e.gt, e.gv)
	return l, step(e.gt)
}

// Noisy runs the label-noise phase on st within lim (see Valley for the
// contract).
func (e *Env) Noisy(st *State, cfg NoisyConfig, lim Limit) error {
	if err := cfg.check(); err != nil {
		return err
	}
	fresh, err := e.begin(st, PhaseNoisy, cfg)
	if err != nil || st.Done {
		return err
	}
	// The phase starts from rest (pi = 0), whatever the valley phase's
	// momentum left: each (eta, beta) run starts from the same point.
	opt, err := e.momentum(st, cfg.LR, cfg.Beta, fresh)
	if err != nil {
		return err
	}
	if fresh {
		st.Velocity = nil
	}
	mb, err := e.openBatches(st, fresh, cfg.Batch, cfg.DropLast, cfg.Seed, cfg.P, true)
	if err != nil {
		return err
	}
	return e.minibatchLoop(st, PhaseNoisy, cfg.Observe, cfg.Epochs*mb.perEpoch, mb, cfg.LR, lim, opt.Step,
		func(b *data.Batch) ([]int, *tensor.Tensor, error) {
			l, err := mb.noise.Apply(b.Labels)
			return l, nil, err
		},
		func() { saveVelocity(st, opt) })
}

// minibatchLoop is the loop the noisy and SGD return phases share.
func (e *Env) minibatchLoop(st *State, phase string, ob Observe, total int, mb *minibatches, lr float64, lim Limit,
	step func([]*tensor.Tensor) error, labels func(*data.Batch) ([]int, *tensor.Tensor, error), saveOpt func()) error {
	if err := e.observeStart(st, phase, ob); err != nil {
		return err
	}
	r := run{lim: lim, start: time.Now()}
	for !st.Done && r.more() {
		b := mb.next(st.Step)
		y, soft, err := labels(b)
		if err != nil {
			return err
		}
		l, err := e.sgdStep(b, y, soft, step, st.Step)
		if err != nil {
			return err
		}
		st.LossSum += l
		st.LossCount++
		st.Step++
		st.Epoch = st.Step / mb.perEpoch
		r.taken++
		if st.Step >= total {
			st.Done, st.Reached = true, true
		}
		if obs, tr := ob.due(st.Step, st.Done); obs {
			loss := st.LossSum / float64(st.LossCount)
			if err := e.observe(st, phase, nil, tr, lr, loss); err != nil {
				return err
			}
			st.LossSum, st.LossCount = 0, 0
		}
	}
	if err := optim.CheckFinite(st.Step, e.tensors); err != nil {
		return err
	}
	mb.save(st)
	saveOpt()
	return st.capture(e.Model)
}

// Return runs the return phase on st within lim (see Valley for the
// contract).
func (e *Env) Return(st *State, cfg ReturnConfig, lim Limit) error {
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return err
	}
	fresh, err := e.begin(st, PhaseReturn, cfg)
	if err != nil || st.Done {
		return err
	}
	if cfg.Method == ReturnAdam {
		return e.returnAdam(st, cfg, fresh, lim)
	}
	if fresh && cfg.FreshVelocity {
		st.Velocity = nil
	}
	// Continuing: the velocity the Handoff carried is the optimizer's
	// state at entry, fresh or not.
	opt, err := e.momentum(st, cfg.LR, cfg.Beta, false)
	if err != nil {
		return err
	}
	mb, err := e.openBatches(st, fresh, cfg.Batch, cfg.DropLast, cfg.Seed, 0, false)
	if err != nil {
		return err
	}
	return e.minibatchLoop(st, PhaseReturn, cfg.Observe, cfg.Epochs*mb.perEpoch, mb, cfg.LR, lim, opt.Step,
		func(b *data.Batch) ([]int, *tensor.Tensor, error) {
			if cfg.P == 0 {
				return b.Labels, nil, nil
			}
			t, err := e.softTargets(b, cfg.P)
			return nil, t, err
		},
		func() { saveVelocity(st, opt) })
}

func (e *Env) returnAdam(st *State, cfg ReturnConfig, fresh bool, lim Limit) error {
	opt, err := optim.NewAdam(e.tensors, cfg.LR)
	if err != nil {
		return err
	}
	m, v := opt.Moments()
	if !fresh && st.AdamM != nil {
		for i := range m {
			if err := m[i].CopyFrom(st.AdamM[i].T); err != nil {
				return err
			}
			if err := v[i].CopyFrom(st.AdamV[i].T); err != nil {
				return err
			}
		}
		if err := opt.SetSteps(st.AdamT); err != nil {
			return err
		}
	}
	if err := e.observeStart(st, PhaseReturn, cfg.Observe); err != nil {
		return err
	}
	r := run{lim: lim, start: time.Now()}
	for !st.Done && r.more() {
		loss, err := e.fullBatchStep(st, cfg.P, opt.Step)
		if err != nil {
			return err
		}
		r.taken++
		// The loss is that of the weights before this step: the window
		// compares L(w_{k-W}) with L(w_k) once W+1 losses are in.
		st.Recent = append(st.Recent, loss)
		if len(st.Recent) > cfg.Window+1 {
			st.Recent = append(st.Recent[:0], st.Recent[len(st.Recent)-cfg.Window-1:]...)
		}
		if cfg.Tol >= 0 && len(st.Recent) == cfg.Window+1 && st.Recent[0]-loss <= cfg.Tol*math.Abs(st.Recent[0]) {
			st.Done, st.Reached = true, true
		} else if st.Step >= cfg.MaxSteps {
			st.Done = true
		}
		if obs, tr := cfg.Observe.due(st.Step, st.Done); obs {
			if err := e.observe(st, PhaseReturn, nil, tr, cfg.LR, loss); err != nil {
				return err
			}
		}
	}
	if err := optim.CheckFinite(st.Step, e.tensors); err != nil {
		return err
	}
	if st.AdamM == nil {
		st.AdamM, st.AdamV = cloneNamed(st.Params), cloneNamed(st.Params)
	}
	for i := range m {
		st.AdamM[i].T.CopyFrom(m[i])
		st.AdamV[i].T.CopyFrom(v[i])
	}
	st.AdamT = opt.Steps()
	return st.capture(e.Model)
}

// Check reports what the valley phase would refuse in c (nil: nothing),
// so that a sweep can validate its configuration before it starts.
func (c ValleyConfig) Check() error { return c.check() }

// Check reports what the noisy phase would refuse in c.
func (c NoisyConfig) Check() error { return c.check() }

// Check reports what the return phase would refuse in c, after its
// defaults (Window, Tol) are filled in.
func (c ReturnConfig) Check() error {
	c.defaults()
	return c.check()
}
