package classify

import (
	"fmt"
	"sort"
	"strconv"
)

// ValleyID is the valley point's run: every other run starts from its
// result.
const ValleyID = "valley"

// Run is one (eta, beta, seed) of the sweep: the noisy phase from the
// valley point, then the return.
type Run struct {
	Index int     `json:"index"` // position among the grid runs (the sweep's run Index+1)
	Eta   float64 `json:"eta"`
	Beta  float64 `json:"beta"`
	Seed  int     `json:"seed"`
	// Grid: beta is one of eta's grid (these runs enter the eq. 14 fits);
	// Baselines names the baselines this beta is at this eta (a baseline
	// that falls on a grid beta shares its run).
	Grid      bool     `json:"grid"`
	Baselines []string `json:"baselines,omitempty"`
}

// ID is the run's file name: its position, eta, beta and seed.
func (r Run) ID() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	return fmt.Sprintf("%04d_eta%s_beta%s_s%d", r.Index, f(r.Eta), f(r.Beta), r.Seed)
}

// Runs lists the grid and baseline runs of c, eta by eta in the order of
// the settings, betas ascending, seeds innermost.
func Runs(c *Config) ([]Run, error) {
	var runs []Run
	for _, eta := range c.Noisy.Etas {
		grid, err := c.Noisy.Betas.For(eta)
		if err != nil {
			return nil, err
		}
		type entry struct {
			grid      bool
			baselines []string
		}
		at := map[float64]*entry{}
		var betas []float64
		get := func(b float64) *entry {
			if at[b] == nil {
				at[b] = &entry{}
				betas = append(betas, b)
			}
			return at[b]
		}
		for _, b := range grid {
			get(b).grid = true
		}
		for _, name := range c.Noisy.Baselines {
			b := BaselineBeta(name, eta)
			if !(b >= 0 && b < 1) {
				return nil, fmt.Errorf("baseline %s at eta %v has momentum %v outside [0, 1)", name, eta, b)
			}
			e := get(b)
			e.baselines = append(e.baselines, name)
		}
		sort.Float64s(betas)
		for _, b := range betas {
			for s := range c.Noisy.Seeds {
				runs = append(runs, Run{Index: len(runs), Eta: eta, Beta: b, Seed: s, Grid: at[b].grid, Baselines: at[b].baselines})
			}
		}
	}
	return runs, nil
}
