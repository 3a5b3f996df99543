package classify

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/flatfast/flatfast/repro/data"
	"github.com/flatfast/flatfast/repro/valley"
)

// Config is one classification experiment: what it trains, on what,
// with which phases and over which grid. Its JSON encoding is the
// sweep's settings (hashed: a directory of another configuration is
// refused) and is recorded in results.json. Where the data directory
// lies is not part of it (a path of one machine); the data's contents
// are, through the valley package's configuration hash.
type Config struct {
	Experiment string `json:"experiment"` // "fashion", "cifar": the command and the report's name
	Preset     string `json:"preset"`     // the preset it started from (informational)

	Data  DataConfig  `json:"data"`
	Model ModelConfig `json:"model"`
	// InitSeed seeds the model's initialisation (the valley phase's start).
	InitSeed uint64 `json:"init_seed"`
	// Chunk is the rows per chunk of full-batch passes and evaluations
	// (valley.Env.Chunk); with batch norm it is part of the objective.
	Chunk int `json:"chunk"`

	Valley valley.ValleyConfig `json:"valley"`
	// ValleyEpochs is the valley phase's expected length, for progress,
	// the ETA and -plan only (the phase runs to 100% training accuracy or
	// Valley.MaxEpochs); 0 counts the cap.
	ValleyEpochs int          `json:"plan_valley_epochs"`
	Noisy        NoisyConfig  `json:"noisy"`
	Return       ReturnConfig `json:"return"`
	Trace        TraceConfig  `json:"trace"`
	Fit          FitConfig    `json:"fit"`
}

// DataConfig chooses the data set and the subsets trained and tested on.
type DataConfig struct {
	// Set is a data set name of repro/data ("fashion-mnist", "cifar10").
	Set string `json:"set"`
	// TrainPerClass and TestPerClass take the first k images of each
	// class (data.Set.Balanced); 0 takes the whole split.
	TrainPerClass int `json:"train_per_class"`
	TestPerClass  int `json:"test_per_class"`
}

// Architectures.
const (
	ArchMLP    = "mlp"    // the paper's FashionMNIST MLP, with its hidden width
	ArchResNet = "resnet" // the CIFAR ResNet-18, with its width multiplier
)

// ModelConfig is the network.
type ModelConfig struct {
	Arch string `json:"arch"`
	// MLP: the width of the five hidden layers (the paper's: 512); the
	// layers and activations are the paper's (ReLU x4, tanh, linear).
	Hidden int `json:"hidden,omitempty"`
	// ResNet: the channel multiplier (1: ResNet-18's 64-128-256-512).
	Width float64 `json:"width,omitempty"`
}

// NoisyConfig is phase 2 and the grid it is run over: every eta with
// every beta of its grid, plus the baselines, for each seed.
type NoisyConfig struct {
	Etas  []float64 `json:"etas"`
	Betas BetaGrid  `json:"betas"`
	// Baselines are run at every eta as rows of their own: BaselineSGD
	// (beta = 0), BaselineFixed (beta = 0.9), BaselineCritical
	// (critical damping, 1 - beta = 2 sqrt(eta)).
	Baselines []string `json:"baselines"`
	Batch     int      `json:"batch"`
	DropLast  bool     `json:"drop_last"`
	P         float64  `json:"p"`
	Epochs    int      `json:"epochs"`
	// Seeds is the number of noise seeds per (eta, beta); seed s draws its
	// batch order and label noise from NoiseSeed + s, the same for every
	// (eta, beta) (common random numbers: betas differ by their dynamics,
	// not by their draws).
	Seeds     int            `json:"seeds"`
	NoiseSeed uint64         `json:"noise_seed"`
	Observe   valley.Observe `json:"observe"`
}

// BetaGrid gives each eta its momenta. With List set, every eta gets
// that list. Otherwise Count values of 1 - beta spaced geometrically
// from OneMinusMax down to the larger of OneMinusMin and EtaFactor*eta
// (the paper's grid beta in [0.95, 1 - 2 eta] is OneMinusMax 0.05,
// EtaFactor 2), each rounded to three significant digits.
type BetaGrid struct {
	List        []float64 `json:"list,omitempty"`
	OneMinusMax float64   `json:"one_minus_beta_max,omitempty"`
	OneMinusMin float64   `json:"one_minus_beta_min,omitempty"`
	EtaFactor   float64   `json:"eta_factor,omitempty"`
	Count       int       `json:"count,omitempty"`
}

// Baselines.
const (
	BaselineSGD      = "sgd"      // beta = 0: plain label-noise SGD
	BaselineFixed    = "fixed0.9" // beta = 0.9, the customary value
	BaselineCritical = "critical" // 1 - beta = 2 sqrt(eta) (arXiv 2603.28921)
)

// ReturnConfig is phase 3 (see valley.ReturnConfig). With Inherit (SGD
// only), the return runs at the run's own eta and beta and continues its
// velocity, as A.4's "400 epochs without label noise" reads; without,
// every run returns by the same rule (LR, Beta, a fresh velocity unless
// the template says otherwise), so that the return treats every beta
// alike.
type ReturnConfig struct {
	valley.ReturnConfig
	Inherit bool `json:"inherit_eta_beta"`
}

// TraceConfig says how the Hessian trace is measured (valley.TraceConfig):
// Probes Rademacher probes on the first PerClass training images of each
// class, of the expected label-noise loss at P.
type TraceConfig struct {
	PerClass int     `json:"per_class"`
	Probes   int     `json:"probes"`
	P        float64 `json:"p"`
	Seed     uint64  `json:"seed"`
	Chunk    int     `json:"chunk,omitempty"`
}

// FitConfig configures the eq. 14 fits.
type FitConfig struct {
	// Var: "beta" fits eq. 14 in beta, as the paper writes it;
	// "log1m" in -log(1 - beta), for grids geometric in 1 - beta.
	Var string `json:"var"`
	// MinSlopeZ is fit.Eq14Options.MinSlopeZ (0: its default, 2).
	MinSlopeZ float64 `json:"min_slope_z,omitempty"`
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []string
	add := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if c.Experiment == "" {
		add("experiment name is empty")
	}
	if _, err := data.Lookup(c.Data.Set); err != nil {
		add("data set: %v", err)
	}
	if c.Data.TrainPerClass < 0 || c.Data.TestPerClass < 0 {
		add("images per class %d (train), %d (test) must be >= 0", c.Data.TrainPerClass, c.Data.TestPerClass)
	}
	switch c.Model.Arch {
	case ArchMLP:
		if c.Model.Hidden < 1 || c.Model.Hidden > 1<<16 {
			add("MLP hidden width %d outside [1, 65536]", c.Model.Hidden)
		}
	case ArchResNet:
		if !(c.Model.Width > 0 && c.Model.Width <= 8) {
			add("ResNet width %v outside (0, 8]", c.Model.Width)
		}
	default:
		add("model architecture %q, want %q or %q", c.Model.Arch, ArchMLP, ArchResNet)
	}
	if c.ValleyEpochs < 0 {
		add("planned valley epochs %d", c.ValleyEpochs)
	}
	if c.Chunk < 1 || c.Chunk > 1<<16 {
		add("chunk %d outside [1, 65536]", c.Chunk)
	}
	if err := c.Valley.Check(); err != nil {
		add("%v", err)
	}
	n := &c.Noisy
	if len(n.Etas) == 0 {
		add("no learning rates (etas)")
	}
	seen := map[float64]bool{}
	for _, e := range n.Etas {
		if !(e > 0 && e < 1) {
			add("learning rate %v outside (0, 1)", e)
		}
		if seen[e] {
			add("learning rate %v given twice", e)
		}
		seen[e] = true
	}
	if err := n.Betas.check(); err != nil {
		add("%v", err)
	}
	for _, b := range n.Baselines {
		switch b {
		case BaselineSGD, BaselineFixed, BaselineCritical:
		default:
			add("baseline %q, want %s, %s or %s", b, BaselineSGD, BaselineFixed, BaselineCritical)
		}
	}
	if n.Seeds < 1 || n.Seeds > 1000 {
		add("seeds %d outside [1, 1000]", n.Seeds)
	}
	// The phase's own checks, at a representative (eta, beta).
	if err := (valley.NoisyConfig{LR: 0.1, Beta: 0, Batch: n.Batch, P: n.P, Epochs: n.Epochs, Observe: n.Observe}).Check(); err != nil {
		add("%v", err)
	}
	r := c.Return
	if r.Inherit && r.Method != valley.ReturnSGD {
		add("the return inherits eta and beta only with method %q", valley.ReturnSGD)
	}
	if r.Inherit {
		r.LR, r.Beta = 0.1, 0
	}
	if err := r.ReturnConfig.Check(); err != nil {
		add("%v", err)
	}
	t := c.Trace
	if t.Probes < 0 || t.Probes > 10000 || t.PerClass < 0 || t.Chunk < 0 {
		add("trace: %d probes on %d images per class (chunk %d): want probes in [0, 10000], others >= 0", t.Probes, t.PerClass, t.Chunk)
	}
	if (t.Probes > 0) != (t.PerClass > 0) {
		add("trace: %d probes on %d images per class: both or neither must be positive", t.Probes, t.PerClass)
	}
	if t.Probes == 1 {
		add("trace: 1 probe has no standard error, want at least 2")
	}
	if !(t.P >= 0 && t.P <= 1) {
		add("trace: label-noise probability %v outside [0, 1]", t.P)
	}
	if _, err := c.Fit.variable(); err != nil {
		add("%v", err)
	}
	if math.IsNaN(c.Fit.MinSlopeZ) || math.IsInf(c.Fit.MinSlopeZ, 0) {
		add("fit: minimum slope z %v", c.Fit.MinSlopeZ)
	}
	if len(errs) == 0 {
		if _, err := Runs(c); err != nil {
			add("%v", err)
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (g BetaGrid) check() error {
	if len(g.List) > 0 {
		seen := map[float64]bool{}
		for _, b := range g.List {
			if !(b >= 0 && b < 1) {
				return fmt.Errorf("momentum %v outside [0, 1)", b)
			}
			if seen[b] {
				return fmt.Errorf("momentum %v given twice", b)
			}
			seen[b] = true
		}
		return nil
	}
	switch {
	case g.Count < 1 || g.Count > 1000:
		return fmt.Errorf("beta grid of %d values, want [1, 1000]", g.Count)
	case !(g.OneMinusMax > 0 && g.OneMinusMax <= 1):
		return fmt.Errorf("beta grid: largest 1 - beta %v outside (0, 1]", g.OneMinusMax)
	case !(g.OneMinusMin >= 0 && g.OneMinusMin <= g.OneMinusMax):
		return fmt.Errorf("beta grid: smallest 1 - beta %v outside [0, %v]", g.OneMinusMin, g.OneMinusMax)
	case !(g.EtaFactor >= 0) || math.IsInf(g.EtaFactor, 0):
		return fmt.Errorf("beta grid: eta factor %v", g.EtaFactor)
	case g.OneMinusMin == 0 && g.EtaFactor == 0:
		return errors.New("beta grid: neither a smallest 1 - beta nor an eta factor bounds it")
	}
	return nil
}

// For returns the momenta of eta's grid, ascending.
func (g BetaGrid) For(eta float64) ([]float64, error) {
	if len(g.List) > 0 {
		out := append([]float64(nil), g.List...)
		sort.Float64s(out)
		return out, nil
	}
	lo := math.Max(g.OneMinusMin, g.EtaFactor*eta)
	hi := g.OneMinusMax
	if !(lo > 0) || lo > hi {
		return nil, fmt.Errorf("beta grid at eta %v: 1 - beta from %v down to %v is empty", eta, hi, lo)
	}
	var out []float64
	for i := range g.Count {
		omb := hi
		if g.Count > 1 {
			omb = hi * math.Pow(lo/hi, float64(i)/float64(g.Count-1))
		}
		b := oneMinus(roundSig(omb, 3))
		if len(out) > 0 && b <= out[len(out)-1] {
			return nil, fmt.Errorf("beta grid at eta %v: %d values between 1 - beta = %v and %v do not stay distinct at three digits", eta, g.Count, hi, lo)
		}
		out = append(out, b)
	}
	return out, nil
}

// oneMinus returns 1 - x printed and parsed back at 12 significant
// digits: 1 - 0.0051 is not exactly 0.9949 in binary, and the grid's
// betas should read as they were meant.
func oneMinus(x float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(1-x, 'g', 12, 64), 64)
	return v
}

func roundSig(x float64, digits int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', digits, 64), 64)
	return v
}

// BaselineBeta is the momentum of a baseline at eta.
func BaselineBeta(name string, eta float64) float64 {
	switch name {
	case BaselineSGD:
		return 0
	case BaselineFixed:
		return 0.9
	case BaselineCritical:
		return oneMinus(roundSig(2*math.Sqrt(eta), 6))
	}
	return math.NaN()
}

func (f FitConfig) variable() (int, error) {
	switch f.Var {
	case "beta":
		return 0, nil
	case "log1m":
		return 1, nil
	}
	return 0, fmt.Errorf("fit variable %q, want beta or log1m", f.Var)
}

// FormatEta writes an eta as results.json keys it (as in the settings).
func FormatEta(eta float64) string { return strconv.FormatFloat(eta, 'g', -1, 64) }

// Presets are an experiment's named configurations.
type Presets map[string]func() Config

// Names lists the presets, sorted.
func (p Presets) Names() []string {
	var n []string
	for k := range p {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// All returns a fresh copy of every preset by name, each checked: it
// passes Validate and carries its own name in Preset.
func (p Presets) All() (map[string]Config, error) {
	all := map[string]Config{}
	for _, name := range p.Names() {
		c := p[name]()
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("preset %s: %w", name, err)
		}
		if c.Preset != name {
			return nil, fmt.Errorf("preset %s calls itself %q", name, c.Preset)
		}
		all[name] = c
	}
	return all, nil
}

// Get returns a fresh copy of the named preset.
func (p Presets) Get(name string) (Config, error) {
	f, ok := p[name]
	if !ok {
		return Config{}, fmt.Errorf("unknown preset %q (want %s)", name, strings.Join(p.Names(), ", "))
	}
	return f(), nil
}
