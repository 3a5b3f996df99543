package sensing

import (
	"context"
	"math"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/tensor"
)

// Run is one (beta, noise seed) of the sweep.
type Run struct {
	ID   int     `json:"id"`
	Beta float64 `json:"beta"`
	Seed int     `json:"seed"`
}

// Curve is what a run records every Config.Every steps.
type Curve struct {
	Steps     []int     `json:"steps"`
	TrainLoss []float64 `json:"train_loss"` // noiseless loss (1/(dP)) sum (y - Tr(A X))^2
	TestError []float64 `json:"test_error"` // (1/d) ||UV - X*||_F^2
	Trace     []float64 `json:"hessian_trace"`
}

// HutchCheck compares the closed-form Hessian trace (eq. 127) with
// autodiff's Hutchinson estimate for one run at one step.
//
// The figures are Finite so that an estimate that is not finite is
// written as null instead of making results.json unwritable.
type HutchCheck struct {
	Step       int          `json:"step"`
	Beta       float64      `json:"beta"`
	Seed       int          `json:"seed"`
	ClosedForm repro.Finite `json:"closed_form"`
	Estimate   repro.Finite `json:"hutchinson"`
	StdErr     repro.Finite `json:"stderr"`
	Probes     int          `json:"probes"`
	Sigmas     repro.Finite `json:"deviation_in_stderr"`
}

// Runs enumerates the sweep: beta by beta, seeds within.
func Runs(cfg *Config) []Run {
	var out []Run
	for _, b := range cfg.Betas {
		for s := 0; s < cfg.Seeds; s++ {
			out = append(out, Run{ID: len(out), Beta: b, Seed: s})
		}
	}
	return out
}

func noiseRNG(base uint64, s int) *tensor.RNG {
	return tensor.NewRNG(base*0x9e3779b97f4a7c15 + uint64(s)*0xbf58476d1ce4e5b9 + 7)
}

// state is a batch of runs in progress: everything needed to continue
// it, per run (see runState for what a run saves).
type state struct {
	Step   int
	Curves []Curve
	Hutch  [][]HutchCheck // per run
}

// batch steps its runs together.
type batch struct {
	cfg    *Config
	pr     *Problem
	runs   []Run
	u, v   *tensor.Tensor
	pu, pv *autodiff.Value // u, v as parameters
	opt    *optim.RowMomentum
	rngs   []*tensor.RNG
	st     *state
	g      *autodiff.Graph
	y      *tensor.Tensor // [R, P] targets with noise
	y64    *tensor.Tensor // [P] the noiseless targets, float64
	noisy  *tensor.Tensor // [P] one run's noisy targets, float64
	grads  []*autodiff.Value
	gt     []*tensor.Tensor
}

func newBatch(cfg *Config, pr *Problem, runs []Run) (*batch, error) {
	d, n := cfg.D, len(runs)
	sw := &batch{cfg: cfg, pr: pr, runs: runs, g: autodiff.NewGraph()}
	sw.u = tensor.Must(tensor.New(tensor.Float32, n, d, d))
	sw.v = tensor.Must(tensor.New(tensor.Float32, n, d, d))
	for r := 0; r < n; r++ {
		for i := 0; i < d; i++ {
			sw.u.Float32s()[r*d*d+i*d+i] = 1
			sw.v.Float32s()[r*d*d+i*d+i] = 1
		}
	}
	sw.pu, sw.pv = autodiff.NewParam(sw.u), autodiff.NewParam(sw.v)
	etas, betas := make([]float64, n), make([]float64, n)
	for i, r := range runs {
		etas[i], betas[i] = cfg.Eta, r.Beta
		sw.rngs = append(sw.rngs, noiseRNG(cfg.NoiseSeed, r.Seed))
	}
	var err error
	if sw.opt, err = optim.NewRowMomentum([]*tensor.Tensor{sw.u, sw.v}, etas, betas); err != nil {
		return nil, err
	}
	sw.st = &state{Curves: make([]Curve, n), Hutch: make([][]HutchCheck, n)}
	sw.y = tensor.Must(tensor.New(tensor.Float32, n, cfg.P))
	sw.y64 = tensor.Must(tensor.FromFloat64(pr.Y, cfg.P))
	sw.noisy = tensor.Must(tensor.New(tensor.Float64, cfg.P))
	sw.grads = make([]*autodiff.Value, 2)
	return sw, nil
}

// step runs one step (s = sw.st.Step): records measurements when s is a
// multiple of Every, checks Hutchinson when asked, and (unless s is the
// last step) updates the parameters.
func (sw *batch) step(ctx context.Context) error {
	cfg, pr, g := sw.cfg, sw.pr, sw.g
	n, d, p := len(sw.runs), cfg.D, cfg.P
	s := sw.st.Step
	// Targets with fresh label noise, y + eps*xi, from optim in float64
	// (y is not a float32 number) and rounded once into the float32 row.
	eps := math.Sqrt(cfg.Eps2)
	yf := sw.y.Float32s()
	for r := 0; r < n; r++ {
		if err := optim.GaussianTargets(sw.noisy, sw.y64, eps, sw.rngs[r]); err != nil {
			return err
		}
		row, nf := yf[r*p:(r+1)*p], sw.noisy.Float64s()
		for i := range row {
			row[i] = float32(nf[i])
		}
	}
	U, V := sw.pu, sw.pv
	x := g.BatchMatMul(U, V, false, false)
	pred := g.ApplyOperator(pr.Op, g.Reshape(x, n, d*d))
	loss := g.Scale(g.SumAll(g.Square(g.Sub(pred, g.Const(sw.y)))), 1/float64(d*p))
	if err := loss.Err(); err != nil {
		return err
	}
	if s%cfg.Every == 0 || s == cfg.Steps {
		sw.measure(s, x.Tensor(), pred.Tensor())
		if err := sw.hutchinson(ctx, s); err != nil {
			return err
		}
	}
	if s == cfg.Steps {
		g.Reset()
		return nil
	}
	if err := g.GradInto(sw.grads, loss, U, V); err != nil {
		return err
	}
	sw.gt = autodiff.Tensors(sw.gt, sw.grads)
	if err := sw.opt.Step(sw.gt); err != nil {
		return err
	}
	g.Reset()
	if err := optim.CheckFinite(s, []*tensor.Tensor{sw.u, sw.v}); err != nil {
		return err
	}
	sw.st.Step++
	return nil
}

// measure records each run's noiseless training loss, test error and
// Hessian trace (eq. 127) at step s, from X = U V and the predictions.
func (sw *batch) measure(s int, x, pred *tensor.Tensor) {
	cfg, pr := sw.cfg, sw.pr
	d, p := cfg.D, cfg.P
	xf, pf := x.Float32s(), pred.Float32s()
	uf, vf := sw.u.Float32s(), sw.v.Float32s()
	u64, v64, x64 := make([]float64, d*d), make([]float64, d*d), make([]float64, d*d)
	for r := range sw.runs {
		var l float64
		for i, y := range pr.Y {
			e := float64(pf[r*p+i]) - y
			l += e * e
		}
		for i := 0; i < d*d; i++ {
			x64[i] = float64(xf[r*d*d+i])
			u64[i] = float64(uf[r*d*d+i])
			v64[i] = float64(vf[r*d*d+i])
		}
		c := &sw.st.Curves[r]
		c.Steps = append(c.Steps, s)
		c.TrainLoss = append(c.TrainLoss, l/float64(d*p))
		c.TestError = append(c.TestError, pr.TestError(x64))
		c.Trace = append(c.Trace, pr.HessianTrace(u64, v64))
	}
}

// hutchinson checks the closed-form trace against autodiff at step s for
// the first seed of each HutchinsonBetas run.
func (sw *batch) hutchinson(ctx context.Context, s int) error {
	cfg := sw.cfg
	if !contains(cfg.HutchinsonSteps, s) {
		return nil
	}
	d := cfg.D
	for r, run := range sw.runs {
		if run.Seed != 0 || !containsF(cfg.HutchinsonBetas, run.Beta) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		u := tensor.Must(tensor.FromFloat32(append([]float32(nil), sw.u.Float32s()[r*d*d:(r+1)*d*d]...), 1, d, d))
		v := tensor.Must(tensor.FromFloat32(append([]float32(nil), sw.v.Float32s()[r*d*d:(r+1)*d*d]...), 1, d, d))
		// Seeded by the run's place in the whole sweep, not in this batch,
		// so that a shard draws the probes the unsharded sweep draws.
		est, closed, err := HutchinsonTrace(sw.pr, u, v, cfg.HutchinsonProbes, tensor.NewRNG(uint64(1000*s+run.ID)))
		if err != nil {
			return err
		}
		hc := HutchCheck{Step: s, Beta: run.Beta, Seed: run.Seed, ClosedForm: repro.Finite(closed), Estimate: repro.Finite(est.Trace), StdErr: repro.Finite(est.StdErr), Probes: est.Probes}
		if est.StdErr > 0 {
			hc.Sigmas = repro.Finite(math.Abs(est.Trace-closed) / est.StdErr)
		}
		sw.st.Hutch[r] = append(sw.st.Hutch[r], hc)
	}
	return nil
}

// HutchinsonTrace estimates the Hessian trace of the noiseless loss at
// (u, v) (each [1, d, d]) by autodiff's Hutchinson estimator, and returns
// it with the closed form of eq. 127.
func HutchinsonTrace(pr *Problem, u, v *tensor.Tensor, probes int, rng *tensor.RNG) (autodiff.TraceEstimate, float64, error) {
	d, p := pr.D, pr.P
	g := autodiff.NewGraph()
	U, V := autodiff.NewParam(u), autodiff.NewParam(v)
	y := tensor.Must(tensor.New(u.DType(), 1, p))
	for i, v := range pr.Y {
		y.SetFlat(i, v)
	}
	pred := g.ApplyOperator(pr.Op, g.Reshape(g.BatchMatMul(U, V, false, false), 1, d*d))
	loss := g.Scale(g.SumAll(g.Square(g.Sub(pred, g.Const(y)))), 1/float64(d*p))
	h, err := g.Hessian(loss, U, V)
	if err != nil {
		return autodiff.TraceEstimate{}, 0, err
	}
	est, err := h.HessianTrace(probes, rng)
	if err != nil {
		return autodiff.TraceEstimate{}, 0, err
	}
	u64, v64 := make([]float64, d*d), make([]float64, d*d)
	for i := range u64 {
		u64[i], v64[i] = u.Flat(i), v.Flat(i)
	}
	return est, pr.HessianTrace(u64, v64), nil
}

func contains(l []int, x int) bool {
	for _, v := range l {
		if v == x {
			return true
		}
	}
	return false
}

func containsF(l []float64, x float64) bool {
	for _, v := range l {
		if v == x {
			return true
		}
	}
	return false
}
