package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/sensing"
	"github.com/flatfast/flatfast/repro/uv"
)

// floatList is a flag of comma-separated numbers.
type floatList []float64

func (f *floatList) String() string {
	var s []string
	for _, v := range *f {
		s = append(s, strconv.FormatFloat(v, 'g', -1, 64))
	}
	return strings.Join(s, ",")
}

func (f *floatList) Set(v string) error {
	*f = nil
	for _, p := range strings.Split(v, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", p)
		}
		*f = append(*f, x)
	}
	return nil
}

// memoryFlag is -max-memory: a size such as 8G, or 0 for the physical
// memory.
type memoryFlag int64

func (m *memoryFlag) String() string {
	if *m == 0 {
		return "0"
	}
	return repro.FormatSize(float64(*m))
}

func (m *memoryFlag) Set(v string) error {
	if strings.TrimSpace(v) == "0" {
		*m = 0
		return nil
	}
	n, err := repro.ParseSize(v)
	if err != nil {
		return err
	}
	*m = memoryFlag(n)
	return nil
}

const memoryUsage = "memory the run may plan to use, like 8G (0: the physical memory); a configuration estimated to need more is refused before it starts"

// maxWorkers bounds -workers: far more goroutines than any machine's
// cores, far fewer than would exhaust memory.
const maxWorkers = 4096

// interruptible returns a context cancelled by Ctrl-C: the experiment
// stops, saving its runs in progress, and resumes when run again.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

func reproUV(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("repro uv", stderr)
	preset := fs.String("preset", "quick", "quick (about 80 s on 2 cores) or paper (hours)")
	sf := addSweepFlags(fs, "out/uv")
	workers := fs.Int("workers", 0, "goroutines (default GOMAXPROCS); results do not depend on it")
	n := fs.Int("n", 0, "hidden width n (preset: 10)")
	seeds := fs.Int("seeds", 0, "noise seeds per cell")
	c := fs.Float64("C", 0, "C of the scaling rule (0: eq. 10's value, the presets' choice)")
	eps := fs.Float64("eps", 0, "label-noise strength")
	start := fs.String("start", "", "valley or random start (see doc)")
	normX := fs.String("normalize-x", "", "true or false: rescale x to mean(x^2) = 1")
	acts := fs.String("activations", "", "comma-separated: identity,tanh,relu")
	maxSteps := fs.Int("max-steps", 0, "step cap per run")
	efolds := fs.Float64("fit-efolds", 0, "fit T_c over the last e-folds before the threshold")
	settleTol := fs.Float64("settle-tol", 0, "settled: energy L0 + (eta/2)|pi|^2 under which the noise-free return phase ends (preset: 1e-8)")
	var gammas, etas floatList
	fs.Var(&gammas, "gammas", "comma-separated gammas")
	fs.Var(&etas, "etas", "comma-separated learning rates")
	dataSeed := fs.Uint64("data-seed", 0, "seed of x (preset: 1)")
	initSeed := fs.Uint64("init-seed", 0, "seed of u, v (preset: 2)")
	var maxMem memoryFlag
	fs.Var(&maxMem, "max-memory", memoryUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *workers < 0 || *workers > maxWorkers {
		return fmt.Errorf("%w: -workers %d outside [0, %d]", errUsage, *workers, maxWorkers)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	cfg, ok := uv.Presets[*preset]
	if !ok {
		return fmt.Errorf("%w: unknown preset %q (want quick or paper)", errUsage, *preset)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["n"] {
		cfg.N = *n
	}
	if set["seeds"] {
		cfg.Seeds = *seeds
	}
	if set["C"] {
		cfg.C = *c
	}
	if set["eps"] {
		cfg.Eps = *eps
	}
	if set["start"] {
		cfg.Start = *start
	}
	if set["normalize-x"] {
		b, err := strconv.ParseBool(*normX)
		if err != nil {
			return fmt.Errorf("%w: -normalize-x %q", errUsage, *normX)
		}
		cfg.NormalizeX = b
	}
	if set["activations"] {
		cfg.Activations = strings.Split(*acts, ",")
	}
	if set["max-steps"] {
		cfg.MaxSteps = *maxSteps
	}
	if set["fit-efolds"] {
		cfg.FitEFolds = *efolds
	}
	if set["settle-tol"] {
		cfg.SettleTol = *settleTol
	}
	if set["gammas"] {
		cfg.Gammas = gammas
	}
	if set["etas"] {
		cfg.Etas = etas
	}
	if set["data-seed"] {
		cfg.DataSeed = *dataSeed
	}
	if set["init-seed"] {
		cfg.InitSeed = *initSeed
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	command := commandLine("flatfast repro uv", args)
	ctx, stop := interruptible()
	defer stop()
	if *sf.plan {
		sw, probe, err := uv.Sweep(cfg, command, *workers)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return printPlan(ctx, stdout, sw, sf.planShards(), probe)
	}
	shard, err := sf.shard()
	if err != nil {
		return err
	}
	res, oc, err := uv.Execute(ctx, cfg, uv.Options{Out: *sf.out, Workers: *workers, Progress: stderr, Quiet: *sf.quiet, Fresh: *sf.fresh,
		Shard: shard, Prerequisites: *sf.prereq, Command: command, MaxMemory: int64(maxMem)})
	if complete, err := sf.outcome(ctx, stderr, oc, err); !complete || err != nil {
		return err
	}
	res.Summary(stdout)
	fmt.Fprintf(stdout, "\nwrote %s/results.json, runs.csv, cells.csv, fig1a_alpha.png, fig1_tc_vs_eta.png, perf.json\n", *sf.out)
	return nil
}

func reproSensing(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("repro sensing", stderr)
	preset := fs.String("preset", "quick", "quick (about 3 min on 2 cores) or paper (about 30 min, estimated)")
	sf := addSweepFlags(fs, "out/sensing")
	steps := fs.Int("steps", 0, "steps per run")
	seeds := fs.Int("seeds", 0, "noise seeds per beta")
	every := fs.Int("every", 0, "record the curves every this many steps")
	var betas floatList
	fs.Var(&betas, "betas", "comma-separated momenta")
	var maxMem memoryFlag
	fs.Var(&maxMem, "max-memory", memoryUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	cfg, ok := sensing.Presets[*preset]
	if !ok {
		return fmt.Errorf("%w: unknown preset %q (want quick or paper)", errUsage, *preset)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["seeds"] {
		cfg.Seeds = *seeds
	}
	if set["every"] {
		cfg.Every = *every
	}
	if set["steps"] {
		cfg.Steps = *steps
	}
	if set["steps"] || set["every"] {
		ev := max(1, cfg.Every)
		cfg.HutchinsonSteps = []int{0, cfg.Steps / (2 * ev) * ev, cfg.Steps}
	}
	if set["betas"] {
		cfg.Betas = betas
		// Check the trace against autodiff on the beta nearest the
		// paper's optimum.
		best := betas[0]
		for _, b := range betas {
			if math.Abs(b-sensing.PaperBetaStar(cfg.P, cfg.Eta)) < math.Abs(best-sensing.PaperBetaStar(cfg.P, cfg.Eta)) {
				best = b
			}
		}
		cfg.HutchinsonBetas = []float64{best}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	command := commandLine("flatfast repro sensing", args)
	ctx, stop := interruptible()
	defer stop()
	if *sf.plan {
		sw, probe, err := sensing.Sweep(cfg, command)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return printPlan(ctx, stdout, sw, sf.planShards(), probe)
	}
	shard, err := sf.shard()
	if err != nil {
		return err
	}
	res, perf, oc, err := sensing.Execute(ctx, cfg, sensing.Options{Out: *sf.out, Progress: stderr, Quiet: *sf.quiet, Fresh: *sf.fresh,
		Shard: shard, Prerequisites: *sf.prereq, Command: command, MaxMemory: int64(maxMem)})
	if complete, err := sf.outcome(ctx, stderr, oc, err); !complete || err != nil {
		return err
	}
	res.Summary(stdout, perf)
	fmt.Fprintf(stdout, "\nwrote %s/results.json, perf.json, curves.csv, summary.csv, fig3_test_error.png, fig3_hessian_trace.png\n", *sf.out)
	return nil
}
