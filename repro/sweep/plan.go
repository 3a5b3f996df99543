package sweep

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"time"
)

// Probe estimates the seconds that executing runs (positions in
// Sweep.Runs: one shard's) takes on this machine, from a short timed
// probe, and says in a few words what it timed.
type Probe func(ctx context.Context, runs []int) (seconds float64, how string, err error)

// Plan is the size of a sweep cut into shards.
type Plan struct {
	Experiment    string
	Runs          int
	Prerequisites int // runs that others need (a job of their own when sharded)
	Shards        int
	// Largest is the shard with the most cost; LargestRuns its runs.
	Largest     int
	LargestRuns int
	// Seconds is the probe's estimate for the largest shard, Total for
	// all the shards together (0 without a probe), ProbeSeconds the time
	// the probe itself took.
	Seconds, Total, ProbeSeconds float64
	How                          string
}

// MakePlan sizes sw in shards shards (0: 1), timing probe (nil: no time
// estimate) on the shard of largest cost; the others are scaled from it
// by their cost.
func MakePlan(ctx context.Context, sw *Sweep, shards int, probe Probe) (*Plan, error) {
	p, err := prepare(sw)
	if err != nil {
		return nil, err
	}
	s := Shard{Index: 0, Count: max(1, shards)}
	if err := s.validate(); err != nil {
		return nil, err
	}
	pl := &Plan{Experiment: sw.Experiment, Runs: len(sw.Runs), Prerequisites: len(p.prerequisites()), Shards: s.Count}
	var largest []int
	best, all := -1.0, 0.0
	for i := 0; i < s.Count; i++ {
		rs := p.assign(Shard{Index: i, Count: s.Count})
		c := 0.0
		for _, r := range rs {
			c += cost(sw.Runs[r])
		}
		all += c
		if c > best {
			best, pl.Largest, pl.LargestRuns, largest = c, i, len(rs), rs
		}
	}
	if probe == nil || len(largest) == 0 {
		return pl, nil
	}
	t0 := time.Now()
	sec, how, err := probe(ctx, largest)
	if err != nil {
		return nil, err
	}
	pl.Seconds, pl.How = sec, how
	// The other shards scale by their cost (Run.Cost).
	pl.Total = sec * all / best
	pl.ProbeSeconds = time.Since(t0).Seconds()
	return pl, nil
}

// Write prints the plan.
func (pl *Plan) Write(w io.Writer) {
	fmt.Fprintf(w, "%s: %d runs", pl.Experiment, pl.Runs)
	if pl.Prerequisites > 0 {
		fmt.Fprintf(w, " (%d of them prerequisites of the others: a job of their own, -prerequisites, before the shards)", pl.Prerequisites)
	}
	fmt.Fprintf(w, "\nshards: %d; the largest (shard %d/%d) has %d runs (runs i, i+%d, ... of the list)\n", pl.Shards, pl.Largest, pl.Shards, pl.LargestRuns, pl.Shards)
	if pl.How == "" {
		return
	}
	fmt.Fprintf(w, "estimated on this machine (GOMAXPROCS=%d), from a timed probe of %.1f s (%s):\n", runtime.GOMAXPROCS(0), pl.ProbeSeconds, pl.How)
	fmt.Fprintf(w, "  largest shard: %s\n  all shards:    %s (%.3g core-hours at %d cores per shard)\n",
		duration(pl.Seconds), duration(pl.Total), pl.Total/3600*float64(runtime.GOMAXPROCS(0)), runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "(an estimate, not a measurement: the probe times a few steps and scales by each run's expected length)\n")
}

func duration(s float64) string {
	switch {
	case s < 120:
		return fmt.Sprintf("%.0f s", s)
	case s < 7200:
		return fmt.Sprintf("%.1f min", s/60)
	case s < 3*86400:
		return fmt.Sprintf("%.1f h", s/3600)
	}
	return fmt.Sprintf("%.1f days", s/86400)
}
