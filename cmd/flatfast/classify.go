package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/flatfast/flatfast/repro/cifar"
	"github.com/flatfast/flatfast/repro/classify"
	"github.com/flatfast/flatfast/repro/fashion"
)

// classifyExperiment is what differs between the classification
// experiments' commands: their presets and default output.
type classifyExperiment struct {
	name       string // "fashion"
	preset     func(string) (classify.Config, error)
	presetHelp string
	defData    string // the data set's name, for the -data help
}

func reproFashion(args []string, stdout, stderr io.Writer) error {
	return reproClassify(classifyExperiment{name: "fashion", preset: fashion.Presets.Get,
		presetHelp: "quick (about 10 min on 2 cores), cpu (hours) or paper (a cluster job: see -plan)", defData: "fashion-mnist"}, args, stdout, stderr)
}

func reproCifar(args []string, stdout, stderr io.Writer) error {
	return reproClassify(classifyExperiment{name: "cifar", preset: cifar.Presets.Get,
		presetHelp: "quick (about 11 min on 2 cores), cpu (hours) or paper (a cluster job: see -plan)", defData: "cifar10"}, args, stdout, stderr)
}

// reproClassify is `flatfast repro <experiment>` for the classification
// experiments on repro/classify: a preset, overrides of its grid and
// phases, the sweep engine's flags.
func reproClassify(ex classifyExperiment, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("repro "+ex.name, stderr)
	preset := fs.String("preset", "quick", ex.presetHelp)
	sf := addSweepFlags(fs, "out/"+ex.name)
	dataDir := fs.String("data", "", "directory holding the "+ex.defData+" files (default: $FLATFAST_DATA/"+ex.defData+", then the system and user locations: see 'flatfast data')")
	workers := fs.Int("workers", 0, "runs trained at once (default GOMAXPROCS); results do not depend on it")
	var etas, betas floatList
	fs.Var(&etas, "etas", "comma-separated learning rates of the noisy phase (default: the preset's)")
	fs.Var(&betas, "betas", "comma-separated momenta, the same at every eta (default: the preset's grid per eta)")
	seeds := fs.Int("seeds", 0, "noise seeds per (eta, beta) (default: the preset's)")
	epochs := fs.Int("epochs", 0, "epochs of the noisy phase (default: the preset's)")
	retEpochs := fs.Int("return-epochs", 0, "epochs of the SGD return phase (default: the preset's)")
	retSteps := fs.Int("return-steps", 0, "most steps of the Adam return phase (default: the preset's)")
	trainK := fs.Int("train-per-class", 0, "training images per class (0: the whole training set; default: the preset's)")
	testK := fs.Int("test-per-class", 0, "test images per class (0: the whole test set; default: the preset's)")
	probes := fs.Int("probes", 0, "Hutchinson probes per Hessian trace (0: no trace; default: the preset's)")
	baselines := fs.String("baselines", "", "comma-separated baselines run at every eta: sgd (beta 0), fixed0.9, critical (1 - beta = 2 sqrt(eta)); \"\" for none (default: the preset's, all three)")
	fitVar := fs.String("fit-var", "", "variable eq. 14 is piecewise linear in: beta (the paper's) or log1m (-log(1 - beta); the presets')")
	var maxMem memoryFlag
	fs.Var(&maxMem, "max-memory", memoryUsage)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %v", errUsage, fs.Args())
	}
	if *workers < 0 || *workers > maxWorkers {
		return fmt.Errorf("%w: -workers %d outside [0, %d]", errUsage, *workers, maxWorkers)
	}
	cfg, err := ex.preset(*preset)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["etas"] {
		cfg.Noisy.Etas = etas
	}
	if set["betas"] {
		cfg.Noisy.Betas = classify.BetaGrid{List: betas}
	}
	if set["seeds"] {
		cfg.Noisy.Seeds = *seeds
	}
	if set["epochs"] {
		cfg.Noisy.Epochs = *epochs
	}
	if set["return-epochs"] {
		cfg.Return.Epochs = *retEpochs
	}
	if set["return-steps"] {
		cfg.Return.MaxSteps = *retSteps
	}
	if set["train-per-class"] {
		cfg.Data.TrainPerClass = *trainK
	}
	if set["test-per-class"] {
		cfg.Data.TestPerClass = *testK
	}
	if set["probes"] {
		cfg.Trace.Probes = *probes
		if *probes == 0 {
			cfg.Trace.PerClass = 0
		}
	}
	if set["baselines"] {
		cfg.Noisy.Baselines = nil
		for _, b := range strings.Split(*baselines, ",") {
			if b = strings.TrimSpace(b); b != "" {
				cfg.Noisy.Baselines = append(cfg.Noisy.Baselines, b)
			}
		}
	}
	if set["fit-var"] {
		cfg.Fit.Var = *fitVar
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	command := commandLine("flatfast repro "+ex.name, args)
	ctx, stop := interruptible()
	defer stop()
	if *sf.plan {
		sw, probe, err := classify.Sweep(cfg, command, *dataDir, *workers)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return printPlan(ctx, stdout, sw, sf.planShards(), probe)
	}
	shard, err := sf.shard()
	if err != nil {
		return err
	}
	res, oc, err := classify.Execute(ctx, cfg, classify.Options{Out: *sf.out, DataDir: *dataDir, Workers: *workers, Progress: stderr, Quiet: *sf.quiet,
		Fresh: *sf.fresh, Shard: shard, Prerequisites: *sf.prereq, Command: command, MaxMemory: int64(maxMem)})
	if complete, err := sf.outcome(ctx, stderr, oc, err); !complete || err != nil {
		return err
	}
	res.Summary(stdout)
	fmt.Fprintf(stdout, "\nwrote %s/%s, perf.json\n", *sf.out, strings.Join(classify.Files, ", "))
	return nil
}
