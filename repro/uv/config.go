// Package uv reproduces Figure 1 of the paper: the training timescale of
// the vector UV model under momentum SGD with label noise, as a function
// of the learning rate eta and the exponent gamma of the scaling rule
// beta = 1 - C*eta^gamma (paper Sec. 3.4, 4.1 and App. A.1).
//
// The model is f(x) = sum_k u_k act(v_k x)/sqrt(n) on P = 5 fixed points
// x ~ N(0, 1) with targets y = 0 plus label noise eps*xi, xi ~ N(0, 1)
// fresh at every step; u and v start from one fixed N(0, 1) draw. Each run
// trains (full batch, float64, through layers + autodiff + optim) until
// |u|^2 + |v|^2 < 0.1 n, and its timescale T_c is -1/slope of a line fitted
// to log(|u|^2 + |v|^2) against the step over the end of the trajectory.
// A cell's T_c is the geometric mean over its seeds; a run whose fit fails
// (the norm does not decay over the fit window) gives no timescale and is
// left out of that mean, and cells.csv counts such runs (runs_fit_failed)
// beside the censored and diverged ones.
// For each gamma, T_c = T0 eta^-alpha(gamma) is fitted across eta; the
// theory says alpha = max(gamma, 2 - 2 gamma), smallest at gamma = 2/3.
//
// Every (activation, eta, gamma) cell also runs a noise-free twin (eps = 0,
// same start): a cell whose twin also crosses the threshold measured
// deterministic momentum dynamics, not the noise-driven drift the theory
// is about; such cells are reported and left out of the fits.
//
// The start. The paper draws u, v i.i.d. N(0, 1) and trains from there; its
// theory assumes a start near the zero-loss valley. From a raw Gaussian
// draw (u.v of order sqrt(n)), the momentum transient itself carries
// |u|^2+|v|^2 below the threshold for gamma >= 0.5: on this package's
// default draw every twin with gamma >= 0.5 crosses, within a few hundred
// steps, so those cells measure the transient. The default start is
// therefore on the valley: u, v ~ N(0, 1), then u replaced by its
// projection orthogonal to the vectors act(v x_a), so that f(x_a) = 0 at
// every data point (for the linear model: u orthogonal to v). The noise-free
// twins then stay put, and the crossing is the noise-driven drift. The
// flag -start random restores the raw draw.
//
// Settled. The norm crossing is not the paper's training time on the
// right branch (gamma > 2/3): from the valley start the norm crosses
// while the transverse variance and the drift's momentum are still
// building up (docs/uv.md derives the crossing time: it scales as
// eta^-2/3 there, whatever gamma), and the state that crosses is not at
// rest. A noisy run therefore goes on after its crossing with a return
// phase of fixed rule, the paper's projection Phi: the label noise is
// switched off and the same heavy ball (eta, beta) runs until the energy
// E = L0(w) + (eta/2)|pi|^2 is under settle_tol (L0 the loss without label
// noise; E is the Lyapunov function of heavy ball, which, unlike L0 or
// max |f(x_a)|, does not pass through zero twice per transverse
// oscillation). The run has settled at that step if the norm is then under
// the threshold; if it came to rest above it (the crossing was an
// excursion), the label noise comes back from the next step until the
// norm crosses again, and so on (RunResult.Returns counts the return
// phases). A criterion with the noise on (norm and L0 under a tolerance
// at the same step) was not taken: with noise the transverse energy has a
// floor of order eta^(1-gamma)/C, so a tolerance under it is met only by
// rare fluctuations and one over it is met at the crossing itself. The
// crossing's numbers (cross_step, T_c and its fit window) end at the
// crossing and do not depend on the return phase; twins stop at their
// crossing as before. alpha_settled fits the mean settled step like
// alpha_crossing_time fits the mean crossing step.
//
// Runs are independent; many of them are stepped in lockstep as one
// batched model (a leading run axis) to amortise the per-operation cost of
// the framework, and batches are spread over the cores. A run's numbers do
// not depend on its batch or on GOMAXPROCS.
package uv

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strings"

	"github.com/flatfast/flatfast/layers"
)

// Config is one experiment. Every choice the paper leaves open is a field
// (and a flag of `flatfast repro uv`), recorded in results.json.
type Config struct {
	Preset string `json:"preset"`

	N          int     `json:"n"`           // hidden width (paper: implied n = 10 by C = 0.17)
	P          int     `json:"p"`           // data points (paper: 5)
	Eps        float64 `json:"eps"`         // label-noise strength (paper: 1/2)
	NormalizeX bool    `json:"normalize_x"` // rescale x so that mu2 = mean(x^2) = 1
	DataSeed   uint64  `json:"data_seed"`   // draw of x
	InitSeed   uint64  `json:"init_seed"`   // draw of u, v (fixed across runs, as in the paper)
	// Start is "valley" (the default: u, v ~ N(0,1), then u projected so
	// that f(x_a) = 0 on every data point, a zero-loss point) or "random"
	// (u, v ~ N(0,1) as drawn). See the package documentation.
	Start     string `json:"start"`
	NoiseSeed uint64 `json:"noise_seed"` // base of the label-noise streams
	Seeds     int    `json:"seeds"`      // noise seeds per cell

	Activations []string  `json:"activations"` // identity, tanh, relu
	Gammas      []float64 `json:"gammas"`
	Etas        []float64 `json:"etas"`
	// C of the scaling rule used for the runs; 0 means eq. 10's value
	// (eps^2 mu2 / (P n))^(1/3) with the sample mu2.
	C float64 `json:"c"`

	Threshold float64 `json:"threshold"`  // stop when |u|^2+|v|^2 < Threshold*n (paper: 0.1)
	MaxSteps  int     `json:"max_steps"`  // step cap; runs that reach it are censored
	FitEFolds float64 `json:"fit_efolds"` // fit over the last FitEFolds e-folds of the norm before the crossing
	// SettleTol is the energy L0(w) + (eta/2)|pi|^2 (L0 the noise-free
	// loss) under which a run counts as back at rest on the valley in its
	// noise-free return phase; see the package documentation ("settled").
	SettleTol float64 `json:"settle_tol"`
}

// Presets are the named configurations.
var Presets = map[string]Config{
	// quick: the paper's learning-rate range on a coarser grid; about
	// 80 s on 2 cores (the slowest cells, gamma = 0.2 at eta = 1e-3,
	// need about a million steps).
	"quick": {
		Preset: "quick", N: 10, P: 5, Eps: 0.5, NormalizeX: true,
		DataSeed: 1, InitSeed: 2, Start: "valley", NoiseSeed: 3, Seeds: 6,
		Activations: []string{"identity", "tanh", "relu"},
		Gammas:      []float64{0.2, 0.35, 0.5, 0.6, 2.0 / 3, 0.75, 0.85, 1},
		Etas:        logspace(0.001, 0.1, 7),
		Threshold:   0.1, MaxSteps: 3000000, FitEFolds: 2, SettleTol: 1e-8,
	},
	// paper: eta over the paper's [1e-3, 1e-1], a fine gamma grid, more
	// seeds. From the valley start 1.9e9 run-steps, most of them tanh's
	// gamma = 1 runs that never cross and run to the cap: about 1.5 hours
	// of both cores of a 2-vCPU Xeon, sharded (docs/uv.md). -plan, which
	// assumes every run crosses, says minutes.
	"paper": {
		Preset: "paper", N: 10, P: 5, Eps: 0.5, NormalizeX: true,
		DataSeed: 1, InitSeed: 2, Start: "valley", NoiseSeed: 3, Seeds: 16,
		Activations: []string{"identity", "tanh", "relu"},
		Gammas:      []float64{0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 2.0 / 3, 0.7, 0.75, 0.8, 0.9, 1},
		Etas:        logspace(0.001, 0.1, 13),
		Threshold:   0.1, MaxSteps: 20000000, FitEFolds: 2, SettleTol: 1e-8,
	},
}

func logspace(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo * math.Pow(hi/lo, float64(i)/float64(n-1))
	}
	return out
}

// Bounds of the settings. maxSteps is a step cap no run reaches in a
// lifetime (about 10^7 steps per second per core); maxEFolds a fit window
// that starts e^50 above the threshold, far beyond any start.
const (
	maxWidth  = 1 << 30
	maxPoints = 1 << 20
	maxSeeds  = 1 << 40
	maxSteps  = 1_000_000_000_000
	maxEFolds = 50
)

// MemoryEstimate returns the bytes a run of the experiment with workers
// goroutines (0: GOMAXPROCS) needs, estimated from the configuration
// (from above: the records kept per run, the data and starts, and the
// batched models in flight), and the setting that makes most of it, for
// messages.
func (c *Config) MemoryEstimate(workers int) (float64, string) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n, p := float64(c.N), float64(c.P)
	cells := float64(len(c.Activations)) * float64(len(c.Gammas)) * float64(len(c.Etas))
	runs := cells * (float64(c.Seeds) + 1)
	// Per run: its Run and RunResult, its run file and its line in
	// results.json, its row of runs.csv (about 2 KiB in all).
	perRun := runs * 2048
	// The data and the starts: x, u0, v0, a valley start per activation
	// and the P basis vectors of its projection.
	setup := 8 * n * (3 + float64(len(c.Activations)) + p)
	// In flight: up to 96 runs per batch, one batch per worker; each run
	// has its samples (maxSamples of step and norm), u, v, their
	// velocities and gradients, and the [n, P] intermediates of a step.
	active := math.Min(runs, float64(workers)*96)
	inFlight := active * (maxSamples*16 + 8*n*(12+8*p))
	if perRun >= setup+inFlight {
		return perRun + setup + inFlight, fmt.Sprintf("the grid (%d activations x %d gammas x %d learning rates x (seeds = %d + 1) = %.3g runs)",
			len(c.Activations), len(c.Gammas), len(c.Etas), c.Seeds, runs)
	}
	return perRun + setup + inFlight, fmt.Sprintf("the width n = %d", c.N)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []string
	add := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	// The upper bounds keep products of the sizes inside an int; whether
	// a configuration fits in memory is MemoryEstimate's question.
	if c.N < 1 || c.N > maxWidth {
		add("n = %d must be in [1, %d]", c.N, maxWidth)
	}
	if c.P < 2 || c.P > maxPoints {
		add("P = %d must be in [2, %d]", c.P, maxPoints)
	}
	if !(c.Eps > 0) || math.IsInf(c.Eps, 0) {
		add("eps = %v must be positive and finite", c.Eps)
	}
	if c.Seeds < 1 || int64(c.Seeds) > maxSeeds {
		add("seeds = %d must be in [1, %d]", c.Seeds, int64(maxSeeds))
	}
	dup := func(what string, n int, eq func(i, j int) bool, show func(i int) any) {
		for i := 0; i < n; i++ {
			for j := 0; j < i; j++ {
				if eq(i, j) {
					// Runs are grouped into cells by their values, so a
					// repeated value would merge two cells into one.
					add("%s %v listed twice", what, show(i))
					return
				}
			}
		}
	}
	dup("activation", len(c.Activations), func(i, j int) bool { return c.Activations[i] == c.Activations[j] }, func(i int) any { return c.Activations[i] })
	dup("gamma", len(c.Gammas), func(i, j int) bool { return c.Gammas[i] == c.Gammas[j] }, func(i int) any { return c.Gammas[i] })
	dup("learning rate", len(c.Etas), func(i, j int) bool { return c.Etas[i] == c.Etas[j] }, func(i int) any { return c.Etas[i] })
	if len(c.Activations) == 0 {
		add("no activations")
	}
	for _, a := range c.Activations {
		if _, err := layers.ParseActivation(a); err != nil {
			add("%v", err)
		}
	}
	if len(c.Gammas) == 0 || len(c.Etas) < 2 {
		add("need at least one gamma and two learning rates (got %d and %d)", len(c.Gammas), len(c.Etas))
	}
	for _, g := range c.Gammas {
		if !(g > 0) || g > 3 {
			add("gamma %v outside (0, 3]", g)
		}
	}
	for _, e := range c.Etas {
		if !(e > 0 && e < 1) {
			add("learning rate %v outside (0, 1)", e)
		}
	}
	if c.Start != "valley" && c.Start != "random" {
		add("start %q must be valley or random", c.Start)
	}
	if c.C < 0 || math.IsNaN(c.C) || math.IsInf(c.C, 0) {
		add("C = %v must be >= 0 (0: eq. 10)", c.C)
	}
	if !(c.Threshold > 0) || math.IsInf(c.Threshold, 0) {
		add("threshold %v must be positive and finite", c.Threshold)
	}
	if c.MaxSteps < 100 || int64(c.MaxSteps) > maxSteps {
		add("max steps %d outside [100, %g]", c.MaxSteps, float64(maxSteps))
	}
	if !(c.FitEFolds > 0 && c.FitEFolds <= maxEFolds) {
		add("fit window of %v e-folds must be in (0, %d]", c.FitEFolds, maxEFolds)
	}
	if !(c.SettleTol > 0 && c.SettleTol < 1) {
		add("settle tolerance %v must be in (0, 1)", c.SettleTol)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Hash identifies the configuration (for resuming): two configurations
// with the same hash give the same runs.
func (c *Config) Hash() string {
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}
