// Package sensing reproduces Figure 3 of the paper (App. A.2): matrix
// sensing with a factored model X = U V, trained by momentum SGD with label
// noise, where the test error and the Hessian trace both reach their best
// fastest at an interior momentum beta*.
//
// The problem: d = 100, r = 5, P = 5rd = 2500 Gaussian measurement
// matrices A_i, a rank-r target X* (the SVD truncation of a Gaussian
// matrix), y_i = Tr(A_i X*). The loss is eq. 12,
// (1/(dP)) sum_i (eps xi_i(t) + y_i - Tr(A_i U V))^2 with eps^2 = 0.1 and
// fresh xi every step, full batch, U = V = I at the start, eta = 0.1; a
// sweep over beta and noise seeds. Measured along the way: the noiseless
// training loss, the expected test error (1/d)||UV - X*||_F^2 (eq. 13) and
// the Hessian trace of the noiseless loss by eq. 127, cross-checked at a
// few steps against autodiff's Hutchinson estimate.
//
// All runs of the sweep step together: their X = U V are stacked so that
// one step reads the 2500 x 10^4 measurement operator once for every run
// (two GEMMs against an operator packed once), not once per run. Runs are
// independent, so their numbers do not depend on the sweep they are in or
// on GOMAXPROCS; the sweep runs on repro/sweep, so a killed sweep resumes
// each run from its saved state, a sweep can be sharded over a cluster,
// and every history ends with the same results.json.
package sensing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Config is one sweep.
type Config struct {
	Preset string  `json:"preset"`
	D      int     `json:"d"`
	R      int     `json:"r"`
	P      int     `json:"p"`
	Eta    float64 `json:"eta"`
	Eps2   float64 `json:"eps2"` // label-noise variance eps^2

	Betas []float64 `json:"betas"`
	Seeds int       `json:"seeds"`
	Steps int       `json:"steps"`
	// Every is how often (in steps) the loss, test error and trace are
	// recorded.
	Every int `json:"measure_every"`
	// HutchinsonSteps are the steps at which the closed-form trace of the
	// first seed's run of HutchinsonBetas is checked against a Hutchinson
	// estimate with HutchinsonProbes Rademacher probes.
	HutchinsonSteps  []int     `json:"hutchinson_steps"`
	HutchinsonBetas  []float64 `json:"hutchinson_betas"`
	HutchinsonProbes int       `json:"hutchinson_probes"`

	// Thresholds: the test error below TestThreshold, the Hessian trace
	// below TraceFactor times the problem's trace floor 4||X*||_* (see
	// Problem.TraceFloor).
	TestThreshold float64 `json:"test_threshold"`
	TraceFactor   float64 `json:"trace_factor"`

	DataSeed  uint64 `json:"data_seed"`
	NoiseSeed uint64 `json:"noise_seed"`
}

// PaperBetaStar is the paper's optimum 1 - beta* = 0.24 P^(-1/3) eta^(2/3).
func PaperBetaStar(p int, eta float64) float64 {
	return 1 - 0.24*math.Pow(float64(p), -1.0/3)*math.Pow(eta, 2.0/3)
}

// Presets are the named configurations.
var Presets = map[string]Config{
	// quick: beta = 0 and a ladder of 1 - beta around the paper's optimum
	// (1 - beta* = 0.0038 for P = 2500, eta = 0.1); three seeds; about
	// 3 min on 2 cores.
	"quick": {
		Preset: "quick", D: 100, R: 5, P: 2500, Eta: 0.1, Eps2: 0.1,
		Betas: []float64{0, 0.9, 0.97, 0.99, 0.993, 0.995, 0.996, 0.997, 0.998, 0.999},
		Seeds: 3, Steps: 8000, Every: 10,
		HutchinsonSteps: []int{0, 4000, 8000}, HutchinsonBetas: []float64{0.996}, HutchinsonProbes: 30,
		TestThreshold: 0.01, TraceFactor: 1.02,
		DataSeed: 1, NoiseSeed: 2,
	},
	// paper: a finer ladder, more seeds, longer runs: about 30 min on 2
	// cores, scaling the quick preset by runs x steps (not measured).
	"paper": {
		Preset: "paper", D: 100, R: 5, P: 2500, Eta: 0.1, Eps2: 0.1,
		Betas: []float64{0, 0.5, 0.9, 0.95, 0.97, 0.98, 0.985, 0.99, 0.992, 0.994, 0.995, 0.996, 0.997, 0.998, 0.9985, 0.999, 0.9995},
		Seeds: 4, Steps: 40000, Every: 20,
		HutchinsonSteps: []int{0, 10000, 40000}, HutchinsonBetas: []float64{0.99, 0.996, 0.999}, HutchinsonProbes: 50,
		TestThreshold: 0.01, TraceFactor: 1.02,
		DataSeed: 1, NoiseSeed: 2,
	},
}

// Bounds of the settings: maxSteps is years of training at this
// problem's speed.
const (
	maxDim          = 1 << 12
	maxMeasurements = 1 << 24
	maxSeeds        = 1 << 40
	maxSteps        = 1_000_000_000
	maxProbes       = 1 << 20
)

// MemoryEstimate returns the bytes the sweep needs, estimated (from
// above) from the configuration: the measurement operator, each run's
// factors with their velocities, gradients and snapshot, and the recorded
// curves as the state, results.json and curves.csv hold them; and the
// setting that makes most of it, for messages.
func (c *Config) MemoryEstimate() (float64, string) {
	d2, p := float64(c.D)*float64(c.D), float64(c.P)
	runs := float64(len(c.Betas)) * float64(c.Seeds)
	points := float64(c.Steps)/float64(max(1, c.Every)) + 2
	// A, its packed copy and the float64 work of building it.
	op := p*d2*4*3 + 8*d2*8
	perRun := runs * (d2*4*16 + p*4*6)
	curves := runs * points * 400
	need := op + perRun + curves
	switch {
	case curves >= op && curves >= perRun:
		return need, fmt.Sprintf("steps / measure_every = %d / %d (%.3g recorded points) x %.3g runs", c.Steps, c.Every, points, runs)
	case perRun >= op:
		return need, fmt.Sprintf("the sweep (%d betas x seeds = %d: %.3g runs)", len(c.Betas), c.Seeds, runs)
	}
	return need, fmt.Sprintf("the problem (d = %d, P = %d)", c.D, c.P)
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []string
	add := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	// The upper bounds keep products of the sizes inside an int; whether
	// a sweep fits in memory is MemoryEstimate's question.
	if c.D < 1 || c.R < 1 || c.R > c.D || c.P < 1 || c.D > maxDim || c.P > maxMeasurements {
		add("need %d >= d >= r >= 1 and %d >= P >= 1 (got d=%d r=%d P=%d)", maxDim, maxMeasurements, c.D, c.R, c.P)
	}
	if !(c.Eta > 0 && c.Eta < 10) {
		add("eta %v outside (0, 10)", c.Eta)
	}
	if !(c.Eps2 >= 0) || math.IsInf(c.Eps2, 0) {
		add("eps^2 %v must be finite and >= 0", c.Eps2)
	}
	if len(c.Betas) == 0 {
		add("no betas")
	}
	for i, b := range c.Betas {
		if !(b >= 0 && b < 1) {
			add("beta %v outside [0, 1)", b)
		}
		for _, x := range c.Betas[:i] {
			if x == b {
				// The analysis groups runs by beta: a repeated one would
				// average two copies of the same runs.
				add("beta %v listed twice", b)
			}
		}
	}
	if c.Seeds < 1 || c.Steps < 1 || c.Every < 1 {
		add("seeds, steps and measure_every must be positive (got %d, %d, %d)", c.Seeds, c.Steps, c.Every)
	}
	if int64(c.Seeds) > maxSeeds || int64(c.Steps) > maxSteps {
		add("seeds = %d and steps = %d must be at most %d and %d", c.Seeds, c.Steps, int64(maxSeeds), int64(maxSteps))
	}
	for _, s := range c.HutchinsonSteps {
		if c.Every < 1 {
			break
		}
		if s < 0 || s > c.Steps || (s%c.Every != 0 && s != c.Steps) {
			add("Hutchinson step %d must be a multiple of %d in [0, %d], or the last", s, c.Every, c.Steps)
		}
	}
	for _, b := range c.HutchinsonBetas {
		found := false
		for _, x := range c.Betas {
			found = found || x == b
		}
		if !found {
			add("Hutchinson beta %v is not in the sweep", b)
		}
	}
	if len(c.HutchinsonSteps) > 0 && (c.HutchinsonProbes < 2 || c.HutchinsonProbes > maxProbes) {
		add("Hutchinson needs between 2 and %d probes (got %d)", maxProbes, c.HutchinsonProbes)
	}
	if !(c.TestThreshold > 0) || !(c.TraceFactor > 1) || math.IsInf(c.TestThreshold, 0) || math.IsInf(c.TraceFactor, 0) {
		add("need a finite test threshold > 0 and trace factor > 1")
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Hash identifies the configuration (for resuming).
func (c *Config) Hash() string {
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}
