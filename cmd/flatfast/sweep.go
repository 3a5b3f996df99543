package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/flatfast/flatfast/repro/classify"
	"github.com/flatfast/flatfast/repro/sensing"
	"github.com/flatfast/flatfast/repro/sweep"
	"github.com/flatfast/flatfast/repro/uv"
)

// sweepFlags are the flags every experiment on the sweep engine takes:
// where its files go and which of its runs this process executes.
type sweepFlags struct {
	out          *string
	quiet, fresh *bool
	plan         *bool
	shardFlag    *string
	shards       *int
	prereq       *bool
}

func addSweepFlags(fs *flag.FlagSet, defOut string) *sweepFlags {
	return &sweepFlags{
		out:       fs.String("out", defOut, "output directory (shards of one sweep may share it)"),
		quiet:     fs.Bool("q", false, "no progress line"),
		fresh:     fs.Bool("fresh", false, "start over, deleting the runs -out holds (default: resume this configuration's runs, refuse another configuration's output); refused for a shard of several"),
		plan:      fs.Bool("plan", false, "print the number of runs, the shards and an estimate of the cost on this machine (from a short timed probe), and exit"),
		shardFlag: fs.String("shard", "", "i/N: run only shard i (from 0) of N, the runs i, i+N, ...; default: from a Slurm array (SLURM_ARRAY_TASK_*) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX), else all runs"),
		shards:    fs.Int("shards", 0, "the number of shards, for a Kubernetes Indexed Job (which does not export it; or FLATFAST_SHARDS) or for -plan"),
		prereq:    fs.Bool("prerequisites", false, "run only the runs that the others start from (a cluster's first job, before the shards): the valley point of fashion and cifar; uv and sensing have none"),
	}
}

// shard is this process's shard, from the flags and the environment.
func (f *sweepFlags) shard() (sweep.Shard, error) {
	s, err := sweep.FromEnv(*f.shardFlag, *f.shards, os.Getenv)
	if err != nil {
		return s, fmt.Errorf("%w: %v", errUsage, err)
	}
	return s, nil
}

// planShards is the shard count -plan sizes: -shards, else the
// environment's (FLATFAST_SHARDS, a Slurm array), else 1; no index is
// needed to plan.
func (f *sweepFlags) planShards() int {
	if *f.shards > 0 {
		return *f.shards
	}
	if s, err := sweep.FromEnv(*f.shardFlag, 0, os.Getenv); err == nil && s.Count > 0 {
		return s.Count
	}
	if n, err := strconv.Atoi(os.Getenv(sweep.EnvShards)); err == nil && n > 0 {
		return n
	}
	return 1
}

// failed words an experiment's error: an interruption keeps the runs.
func (f *sweepFlags) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; finished runs and the state of those in progress are kept in %s, and the same command resumes them", *f.out)
	}
	return err
}

// outcome reports what an experiment's process did, on stderr, and
// whether the report was written (then the caller prints its summary).
func (f *sweepFlags) outcome(ctx context.Context, stderr io.Writer, oc *sweep.Outcome, err error) (bool, error) {
	if err != nil {
		return false, f.failed(ctx, err)
	}
	fmt.Fprintln(stderr, oc.Summary(*f.out))
	return oc.Complete, nil
}

// commandLine is the command that runs this configuration again,
// without the flags that say where and which shard (for messages).
func commandLine(name string, args []string) string {
	drop := map[string]bool{"out": true, "shard": true, "shards": true, "fresh": true, "plan": true, "q": true, "prerequisites": true}
	var keep []string
	for i := 0; i < len(args); i++ {
		a := strings.TrimLeft(args[i], "-")
		k, _, hasValue := strings.Cut(a, "=")
		if !strings.HasPrefix(args[i], "-") || !drop[k] {
			keep = append(keep, args[i])
			continue
		}
		if !hasValue && k != "fresh" && k != "plan" && k != "q" && k != "prerequisites" {
			i++ // the value
		}
	}
	return strings.TrimSpace(name + " " + strings.Join(keep, " "))
}

// printPlan prints the plan of sw in shards shards (-plan).
func printPlan(ctx context.Context, w io.Writer, sw *sweep.Sweep, shards int, probe sweep.Probe) error {
	pl, err := sweep.MakePlan(ctx, sw, shards, probe)
	if err != nil {
		return err
	}
	pl.Write(w)
	return nil
}

// reproMerge is `flatfast repro merge -out DIR SHARD_DIR...`.
func reproMerge(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("repro merge", stderr)
	out := fs.String("out", "", "the directory to write the merged sweep and its report into (required; not one of the shard directories). The arguments are the shard directories: every run of one configuration must be in exactly one of them, or nothing is written")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return fmt.Errorf("%w: want -out DIR and at least one shard directory", errUsage)
	}
	var summary func()
	build := func(m *sweep.Manifest) (*sweep.Sweep, error) {
		switch m.Experiment {
		case "uv":
			sw, res, err := uv.FromSettings(m.Settings)
			summary = func() { res().Summary(stdout) }
			return sw, err
		case "sensing":
			sw, res, err := sensing.FromSettings(m.Settings)
			summary = func() { res().Summary(stdout, nil) }
			return sw, err
		case "fashion", "cifar":
			sw, res, err := classify.FromSettings(m.Settings)
			summary = func() { res().Summary(stdout) }
			return sw, err
		}
		return nil, fmt.Errorf("unknown experiment %q (this version has uv, sensing, fashion and cifar)", m.Experiment)
	}
	sw, err := sweep.Merge(*out, fs.Args(), build, nil)
	if err != nil {
		return err
	}
	summary()
	fmt.Fprintf(stdout, "\nmerged %d runs of %s from %d directories into %s: its report and perf.json are written\n", len(sw.Runs), sw.Experiment, fs.NArg(), *out)
	return nil
}
