package uv

import (
	"context"
	"fmt"
	"math"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/fit"
	"github.com/flatfast/flatfast/tensor"
)

// Setup is what every run shares: the data and the starting point.
type Setup struct {
	X       []float64 `json:"x"`
	Mu2     float64   `json:"mu2"` // mean(x^2) = Tr(Sigma) for d = 1
	U0      []float64 `json:"u0"`
	V0      []float64 `json:"v0"`
	CTheory float64   `json:"c_theory"` // eq. 10 with this mu2
	CRun    float64   `json:"c_run"`    // the C the runs use
	// Valley holds the start u projected onto the valley, per activation
	// (empty for the random start).
	Valley map[string][]float64 `json:"u0_valley,omitempty"`
}

// NewSetup draws the data and the start from the configuration's seeds.
func NewSetup(cfg *Config) (*Setup, error) {
	s := &Setup{X: make([]float64, cfg.P), U0: make([]float64, cfg.N), V0: make([]float64, cfg.N)}
	dr := tensor.NewRNG(cfg.DataSeed)
	for i := range s.X {
		s.X[i] = dr.NormFloat64()
	}
	for _, x := range s.X {
		s.Mu2 += x * x
	}
	s.Mu2 /= float64(cfg.P)
	if cfg.NormalizeX {
		f := 1 / math.Sqrt(s.Mu2)
		for i := range s.X {
			s.X[i] *= f
		}
		s.Mu2 = 1
	}
	ir := tensor.NewRNG(cfg.InitSeed)
	for k := 0; k < cfg.N; k++ {
		s.U0[k] = ir.NormFloat64()
	}
	for k := 0; k < cfg.N; k++ {
		s.V0[k] = ir.NormFloat64()
	}
	if cfg.Start == "valley" {
		if err := s.projectOntoValley(cfg); err != nil {
			return nil, err
		}
	}
	var err error
	if s.CTheory, err = optim.UVOptimalC(cfg.Eps, s.Mu2, cfg.P, cfg.N); err != nil {
		return nil, err
	}
	s.CRun = cfg.C
	if s.CRun == 0 {
		s.CRun = s.CTheory
	}
	return s, nil
}

// projectOntoValley replaces u by its component orthogonal to the vectors
// h_a = act(v x_a), so that f(x_a) = u.h_a/sqrt(n) = 0 at every data point:
// a point of the zero-loss valley (y = 0) close to the Gaussian draw. Each
// activation gets its own start (see startFor).
func (s *Setup) projectOntoValley(cfg *Config) error {
	s.Valley = map[string][]float64{}
	for _, name := range cfg.Activations {
		act, err := layers.ParseActivation(name)
		if err != nil {
			return err
		}
		u := append([]float64(nil), s.U0...)
		var basis [][]float64
		for _, x := range s.X {
			h := make([]float64, cfg.N)
			for k, v := range s.V0 {
				h[k] = applyAct(act, v*x)
			}
			// Gram-Schmidt against the basis so far (twice, for accuracy).
			for pass := 0; pass < 2; pass++ {
				for _, q := range basis {
					d := dot(h, q)
					for k := range h {
						h[k] -= d * q[k]
					}
				}
			}
			if nrm := math.Sqrt(dot(h, h)); nrm > 1e-10 {
				for k := range h {
					h[k] /= nrm
				}
				basis = append(basis, h)
			}
		}
		if len(basis) >= cfg.N {
			return fmt.Errorf("the valley at v0 leaves no freedom for u (n = %d, %d constraints)", cfg.N, len(basis))
		}
		for pass := 0; pass < 2; pass++ {
			for _, q := range basis {
				d := dot(u, q)
				for k := range u {
					u[k] -= d * q[k]
				}
			}
		}
		s.Valley[act.String()] = u
	}
	return nil
}

// startFor returns the starting u for an activation.
func (s *Setup) startFor(act string) []float64 {
	if u, ok := s.Valley[act]; ok {
		return u
	}
	return s.U0
}

func applyAct(a layers.Activation, z float64) float64 {
	switch a {
	case layers.TanhAct:
		return math.Tanh(z)
	case layers.ReLUAct:
		return math.Max(z, 0)
	}
	return z
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// TheoryTime is the slower of the two theoretical timescales for one
// cell: relaxation tau1 = 2/(C eta^gamma) and drift
// tau2 = 2 n P C^2 / (eps^2 mu2 eta^(2-2 gamma)) (eq. 9).
func (s *Setup) TheoryTime(cfg *Config, eta, gamma float64) float64 {
	c := s.CRun
	t1 := 2 / (c * math.Pow(eta, gamma))
	t2 := 2 * float64(cfg.N*cfg.P) * c * c / (cfg.Eps * cfg.Eps * s.Mu2 * math.Pow(eta, 2-2*gamma))
	return math.Max(t1, t2)
}

// Run is one training run.
type Run struct {
	ID    int     `json:"id"`
	Act   string  `json:"activation"`
	Eta   float64 `json:"eta"`
	Gamma float64 `json:"gamma"`
	Beta  float64 `json:"beta"`
	Seed  int     `json:"seed"` // label-noise stream; -1 for the noise-free twin
}

// Twin reports whether the run is a cell's noise-free twin.
func (r Run) Twin() bool { return r.Seed < 0 }

// RunResult is what a run measured.
type RunResult struct {
	Run
	Steps     int          `json:"steps"`      // steps taken (crossing and return phase)
	Crossed   bool         `json:"crossed"`    // reached |u|^2+|v|^2 < threshold*n
	CrossStep int          `json:"cross_step"` // first step below the threshold
	Censored  bool         `json:"censored"`   // a noisy run stopped by the step cap before it crossed
	Settled   bool         `json:"settled"`    // a twin stopped because it stopped moving (not SettleStep's sense)
	Diverged  bool         `json:"diverged"`   // |u|^2+|v|^2 became NaN or Inf (at step Steps)
	FinalNorm repro.Finite `json:"final_norm"` // |u|^2+|v|^2 at the last step
	// The return phase of a noisy run that crossed (see the package
	// documentation): CrossEnergy is E = L0 + (eta/2)|pi|^2 at the
	// crossing (0 for a run with no return phase); SettleStep the first
	// step at which E < settle_tol with the norm under the threshold (0:
	// not settled); Returns the return phases it took (a run at rest above
	// the threshold trains with label noise again until it crosses
	// again); SettleCensored: the cap came first; SettleFailed: it
	// diverged after crossing.
	CrossEnergy    repro.Finite `json:"cross_energy"`
	SettleStep     int          `json:"settle_step"`
	Returns        int          `json:"returns"`
	SettleCensored bool         `json:"settle_censored"`
	SettleFailed   bool         `json:"settle_failed"`
	Tc             repro.Finite `json:"tc"` // fitted timescale (0 when not fitted)
	TcSE           repro.Finite `json:"tc_se"`
	FitFrom        int          `json:"fit_from"` // fitted steps [FitFrom, FitTo]
	FitTo          int          `json:"fit_to"`
	FitPoints      int          `json:"fit_points"`
	FitError       string       `json:"fit_error,omitempty"`
}

// Runs enumerates the runs of cfg in a fixed order (IDs are stable, which
// resuming relies on): activation, gamma, eta, then the noise-free twin and
// the noise seeds.
func Runs(cfg *Config, s *Setup) ([]Run, error) {
	var out []Run
	for _, act := range cfg.Activations {
		for _, gamma := range cfg.Gammas {
			for _, eta := range cfg.Etas {
				beta, err := optim.ScaledBeta(eta, s.CRun, gamma)
				if err != nil {
					return nil, fmt.Errorf("eta %v, gamma %v: %w", eta, gamma, err)
				}
				for seed := -1; seed < cfg.Seeds; seed++ {
					out = append(out, Run{ID: len(out), Act: act, Eta: eta, Gamma: gamma, Beta: beta, Seed: seed})
				}
			}
		}
	}
	return out, nil
}

// noiseRNG is the label-noise stream of seed index s: the same for every
// cell (common random numbers make cells comparable with fewer seeds).
func noiseRNG(base uint64, s int) *tensor.RNG {
	return tensor.NewRNG(base*0x9e3779b97f4a7c15 + uint64(s)*0xbf58476d1ce4e5b9 + 1)
}

// recorder keeps (step, norm) samples at a stride that doubles whenever
// the buffer fills, so long runs keep a bounded, evenly spaced record.
type recorder struct {
	stride int
	steps  []int
	norms  []float64
}

const maxSamples = 4096

func (r *recorder) add(step int, norm float64) {
	if step%r.stride != 0 {
		return
	}
	r.steps = append(r.steps, step)
	r.norms = append(r.norms, norm)
	if len(r.steps) == maxSamples {
		j := 0
		for i := 0; i < len(r.steps); i += 2 {
			r.steps[j], r.norms[j] = r.steps[i], r.norms[i]
			j++
		}
		r.steps, r.norms = r.steps[:j], r.norms[:j]
		r.stride *= 2
	}
}

// runState is a run inside a batch.
type runState struct {
	// returning: a noisy run that crossed is in a noise-free return
	// phase (see RunResult.Returns).
	returning bool

	run      Run
	eps      float64
	rng      *tensor.RNG
	rec      recorder
	lastNorm float64 // norm at the last settling check (twins)
	res      RunResult
	bi       int // index in the sweep batch (sweep.Batch.Runs)
	// A run resumed from its saved state: u, v and their velocities, to
	// be put in the batched model (nil for a fresh start).
	u, v, piU, piV []float64
}

// newRunState is run at its start.
func newRunState(cfg *Config, r Run) *runState {
	st := &runState{run: r, rec: recorder{stride: 1}}
	if !r.Twin() {
		st.eps = cfg.Eps
		st.rng = noiseRNG(cfg.NoiseSeed, r.Seed)
	}
	return st
}

// settleEvery is how often (in steps) a twin checks whether it has stopped
// moving; settleTol the relative change of the norm that counts as still.
const (
	settleEvery = 2000
	settleTol   = 1e-12
)

// hooks connect stepBatch to its caller: done receives each finished
// run, steps the number of run-steps taken (for progress); every 1024
// steps, when due says so (and when ctx is cancelled), save receives
// every run in progress, at step (the steps it has taken).
type hooks struct {
	done  func(st *runState) error
	steps func(n int)
	due   func() bool
	save  func(st *runState, step int, u, v, piU, piV []float64) error
}

// stepBatch trains the runs of one activation in lockstep, from step
// from (every state has taken that many steps: 0 for fresh runs), until
// each has crossed, settled or reached the cap; finished runs leave the
// batch.
func stepBatch(ctx context.Context, cfg *Config, s *Setup, act layers.Activation, states []*runState, from int, h hooks) error {
	thr := cfg.Threshold * float64(cfg.N)
	n, p := cfg.N, cfg.P
	x := tensor.Must(tensor.FromFloat64(append([]float64(nil), s.X...), p))

	var (
		model *layers.VectorUV
		opt   *optim.RowMomentum
		y     *tensor.Tensor
		g     = autodiff.NewGraph()
	)
	// build (re)creates the batched model for the active runs, carrying
	// over weights and momentum from prev (nil at the start).
	build := func(active []*runState, prevU, prevV, prevPi []*tensor.Tensor, rows []int) error {
		var err error
		model, err = layers.NewVectorUV(tensor.Float64, len(active), s.startFor(act.String()), s.V0, act)
		if err != nil {
			return err
		}
		etas, betas := make([]float64, len(active)), make([]float64, len(active))
		for i, st := range active {
			etas[i], betas[i] = st.run.Eta, st.run.Beta
		}
		opt, err = optim.NewRowMomentum(layers.ParamTensors(model), etas, betas)
		if err != nil {
			return err
		}
		if prevU != nil {
			dst := []*tensor.Tensor{model.U.Tensor(), model.V.Tensor(), opt.Velocity()[0], opt.Velocity()[1]}
			src := []*tensor.Tensor{prevU[0], prevV[0], prevPi[0], prevPi[1]}
			for k := range dst {
				d, sr := dst[k].Float64s(), src[k].Float64s()
				for i, r := range rows {
					copy(d[i*n:(i+1)*n], sr[r*n:(r+1)*n])
				}
			}
		}
		y = tensor.Must(tensor.New(tensor.Float64, len(active), p))
		return nil
	}
	active := states
	if err := build(active, nil, nil, nil, nil); err != nil {
		return err
	}
	for i, st := range active {
		if st.u == nil {
			st.rec.add(0, normOf(s.startFor(act.String()), s.V0))
			continue
		}
		dst := []*tensor.Tensor{model.U.Tensor(), model.V.Tensor(), opt.Velocity()[0], opt.Velocity()[1]}
		for k, src := range [][]float64{st.u, st.v, st.piU, st.piV} {
			copy(dst[k].Float64s()[i*n:(i+1)*n], src)
		}
		st.u, st.v, st.piU, st.piV = nil, nil, nil, nil
	}
	saveAll := func(step int) error {
		if h.save == nil {
			return nil
		}
		uf, vf := model.U.Tensor().Float64s(), model.V.Tensor().Float64s()
		pu, pv := opt.Velocity()[0].Float64s(), opt.Velocity()[1].Float64s()
		for i, st := range active {
			if err := h.save(st, step, uf[i*n:(i+1)*n], vf[i*n:(i+1)*n], pu[i*n:(i+1)*n], pv[i*n:(i+1)*n]); err != nil {
				return err
			}
		}
		return nil
	}
	// Label noise through optim: each noisy run's row of y is
	// 0 + eps*xi from its own stream.
	zero := tensor.Must(tensor.New(tensor.Float64, p))
	var rowsY []*tensor.Tensor
	rowViews := func() {
		rowsY = rowsY[:0]
		yf := y.Float64s()
		for i := range active {
			rowsY = append(rowsY, tensor.Must(tensor.FromFloat64(yf[i*p:(i+1)*p], p)))
		}
	}
	rowViews()
	params := layers.Parameters(model)
	grads := make([]*autodiff.Value, len(params))
	var gt []*tensor.Tensor
	xc := g.Const(x)
	finished := 0
	for step := from + 1; step <= cfg.MaxSteps && len(active) > 0; step++ {
		if step%1024 == 0 {
			if err := ctx.Err(); err != nil {
				if serr := saveAll(step - 1); serr != nil {
					return serr
				}
				return err
			}
			if h.due != nil && h.due() {
				if err := saveAll(step - 1); err != nil {
					return err
				}
			}
		}
		// Fresh label noise: y = eps * xi for each run.
		for i, st := range active {
			if st.rng == nil || st.returning {
				// A twin, or a run in its noise-free return phase.
				rowsY[i].Zero()
				continue
			}
			if err := optim.GaussianTargets(rowsY[i], zero, st.eps, st.rng); err != nil {
				return err
			}
		}
		f := model.Forward(g, xc)
		if err := restCheck(cfg, active, f.Tensor(), opt.Velocity(), model, step-1, thr); err != nil {
			return err
		}
		loss := g.Scale(g.SumAll(g.Square(g.Sub(f, g.Const(y)))), 1/float64(2*p))
		if err := g.GradInto(grads, loss, params...); err != nil {
			return err
		}
		gt = autodiff.Tensors(gt, grads)
		if err := opt.Step(gt); err != nil {
			return err
		}
		g.Reset()
		xc = g.Const(x)

		uf, vf := model.U.Tensor().Float64s(), model.V.Tensor().Float64s()
		for i, st := range active {
			if st.res.Steps > 0 {
				// Came to rest at the step before this one (restCheck).
				continue
			}
			nrm := normOf(uf[i*n:(i+1)*n], vf[i*n:(i+1)*n])
			if math.IsNaN(nrm) || math.IsInf(nrm, 0) || nrm > 1e100 {
				// A diverged run is a result (reported, left out of the
				// fits), not an error that stops the experiment.
				st.res.Diverged, st.res.Steps, st.res.FinalNorm = true, step, repro.Finite(nrm)
				st.res.SettleFailed = st.res.Crossed
				continue
			}
			st.res.FinalNorm = repro.Finite(nrm)
			if st.res.Crossed {
				// Past the first crossing the record (and the T_c fit)
				// has ended; restCheck ends the run or restarts the noise.
				if !st.returning && nrm < thr {
					st.returning = true
					st.res.Returns++
				}
				if step == cfg.MaxSteps {
					st.res.SettleCensored, st.res.Steps = true, step
				}
				continue
			}
			st.rec.add(step, nrm)
			switch {
			case nrm < thr:
				st.res.Crossed, st.res.CrossStep = true, step
				if !st.run.Twin() {
					st.returning, st.res.Returns = true, 1
				}
			case st.run.Twin() && step%settleEvery == 0:
				if math.Abs(nrm-st.lastNorm) <= settleTol*nrm {
					st.res.Settled = true
				}
				st.lastNorm = nrm
			case step == cfg.MaxSteps && !st.run.Twin():
				st.res.Censored = true
			}
			if (st.res.Crossed && st.run.Twin()) || st.res.Settled || step == cfg.MaxSteps {
				st.res.Steps = step
				// A noisy run that crossed at the cap has no return phase.
				st.res.SettleCensored = st.res.Crossed && !st.run.Twin()
			}
			if st.res.Crossed || st.res.Steps > 0 {
				if st.rec.steps[len(st.rec.steps)-1] != step {
					st.rec.steps = append(st.rec.steps, step)
					st.rec.norms = append(st.rec.norms, nrm)
				}
			}
		}
		if h.steps != nil {
			h.steps(len(active))
		}
		// Drop finished runs from the batch now and then.
		var keep []*runState
		var rows []int
		for i, st := range active {
			if st.res.Steps > 0 {
				finalize(cfg, st)
				if err := h.done(st); err != nil {
					return err
				}
				finished++
				continue
			}
			keep = append(keep, st)
			rows = append(rows, i)
		}
		if len(keep) < len(active) {
			prevU, prevV := []*tensor.Tensor{model.U.Tensor()}, []*tensor.Tensor{model.V.Tensor()}
			prevPi := opt.Velocity()
			active = keep
			if len(active) > 0 {
				if err := build(active, prevU, prevV, prevPi, rows); err != nil {
					return err
				}
				params = layers.Parameters(model)
				rowViews()
			}
		}
	}
	return nil
}

// restCheck ends the return phase of the active runs that are at rest at
// step: f holds the outputs f(x_a) at the weights after step (the forward
// pass of the next step), pi the velocities, so that the run's energy
// E = L0 + (eta/2)|pi|^2 with L0 = sum_a f(x_a)^2 / (2P), the loss without
// label noise, costs no extra forward pass. The first step of the return
// phase checked is the crossing itself, whose E is kept as CrossEnergy.
func restCheck(cfg *Config, active []*runState, f *tensor.Tensor, pi []*tensor.Tensor, model *layers.VectorUV, step int, thr float64) error {
	n, p := cfg.N, cfg.P
	ff := f.Float64s()
	if len(ff) != len(active)*p {
		panic(fmt.Sprintf("uv: outputs of %d values for %d runs of %d points", len(ff), len(active), p))
	}
	pu, pv := pi[0].Float64s(), pi[1].Float64s()
	uf, vf := model.U.Tensor().Float64s(), model.V.Tensor().Float64s()
	for i, st := range active {
		if !st.returning || st.res.Steps > 0 {
			continue
		}
		var l0, k2 float64
		for _, y := range ff[i*p : (i+1)*p] {
			l0 += y * y
		}
		for k := i * n; k < (i+1)*n; k++ {
			k2 += pu[k]*pu[k] + pv[k]*pv[k]
		}
		e := l0/float64(2*p) + st.run.Eta/2*k2
		if step == st.res.CrossStep {
			st.res.CrossEnergy = repro.Finite(e)
		}
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return fmt.Errorf("uv: run %d: energy %v at step %d with a finite norm", st.run.ID, e, step)
		}
		if e >= cfg.SettleTol {
			continue
		}
		if normOf(uf[i*n:(i+1)*n], vf[i*n:(i+1)*n]) < thr {
			st.res.Steps, st.res.SettleStep = step, step
		} else {
			// At rest above the threshold: the crossing was an excursion;
			// label noise again from the next step.
			st.returning = false
		}
	}
	return nil
}

func normOf(u, v []float64) float64 {
	var s float64
	for k := range u {
		s += u[k]*u[k] + v[k]*v[k]
	}
	return s
}

// finalize fits the timescale of a finished run: a line through
// log(|u|^2+|v|^2) against the step over the samples after the norm first
// fell below threshold*e^FitEFolds (at least 8 samples), up to the crossing.
func finalize(cfg *Config, st *runState) {
	res := &st.res
	res.Run = st.run
	if !res.Crossed {
		// Diverged before crossing, censored, or a twin that settled.
		return
	}
	thr := cfg.Threshold * float64(cfg.N) * math.Exp(cfg.FitEFolds)
	steps, norms := st.rec.steps, st.rec.norms
	from := 0
	for from < len(norms) && norms[from] > thr {
		from++
	}
	from = min(from, max(0, len(norms)-8))
	ts := make([]float64, 0, len(norms)-from)
	for _, s := range steps[from:] {
		ts = append(ts, float64(s))
	}
	tc, err := fit.FitTimescale(ts, norms[from:])
	if err != nil {
		res.FitError = err.Error()
		return
	}
	res.Tc, res.TcSE = repro.Finite(tc.T), repro.Finite(tc.SE)
	res.FitFrom, res.FitTo, res.FitPoints = steps[from], steps[len(steps)-1], len(ts)
}
