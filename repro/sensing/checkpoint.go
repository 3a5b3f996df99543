package sensing

import (
	"fmt"
	"math"
	"slices"

	"github.com/flatfast/flatfast/tensor"
)

// checkState checks a checkpoint read back from disk against the sweep
// of cfg (runs): sizes, the step, every curve's recorded steps (exactly
// those the sweep records up to that step, so that a checkpoint rewound
// to an earlier step cannot make the resumed sweep record rows twice),
// finite values, the Hutchinson checks and the generator states. Errors
// name the field.
func checkState(cfg *Config, runs []Run, st *state) error {
	n, d2 := len(runs), cfg.D*cfg.D
	if st.Step < 0 || st.Step > cfg.Steps {
		return fmt.Errorf("Step = %d outside [0, %d]", st.Step, cfg.Steps)
	}
	for _, f := range []struct {
		name string
		v    []float32
	}{{"U", st.U}, {"V", st.V}, {"PiU", st.PiU}, {"PiV", st.PiV}} {
		if len(f.v) != n*d2 {
			return fmt.Errorf("%s holds %d values, want %d runs x %d x %d", f.name, len(f.v), n, cfg.D, cfg.D)
		}
		for i, x := range f.v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("%s[%d] = %v is not finite", f.name, i, x)
			}
		}
	}
	if len(st.RNG) != n {
		return fmt.Errorf("RNG holds %d generator states, want %d", len(st.RNG), n)
	}
	for i, b := range st.RNG {
		if err := new(tensor.RNG).UnmarshalBinary(b); err != nil {
			return fmt.Errorf("RNG[%d]: %w", i, err)
		}
	}
	// The steps the sweep has recorded by now: the multiples of Every
	// before Step, and Steps itself once the last step has run.
	var want []int
	for s := 0; s < st.Step; s += cfg.Every {
		want = append(want, s)
	}
	if len(st.Curves) != n {
		return fmt.Errorf("Curves holds %d curves, want %d", len(st.Curves), n)
	}
	finished := false
	for r, c := range st.Curves {
		steps := c.Steps
		if st.Step == cfg.Steps && len(steps) == len(want)+1 && steps[len(steps)-1] == cfg.Steps {
			steps = steps[:len(want)]
			finished = finished || r == 0
		}
		if !slices.Equal(steps, want) || (r > 0 && finished != (len(c.Steps) > len(want))) {
			return fmt.Errorf("Curves[%d].Steps (%d points) are not the steps recorded up to step %d", r, len(c.Steps), st.Step)
		}
		for _, f := range []struct {
			name string
			v    []float64
		}{{"TrainLoss", c.TrainLoss}, {"TestError", c.TestError}, {"Trace", c.Trace}} {
			if len(f.v) != len(c.Steps) {
				return fmt.Errorf("Curves[%d].%s holds %d values for %d steps", r, f.name, len(f.v), len(c.Steps))
			}
			for k, x := range f.v {
				if math.IsNaN(x) || math.IsInf(x, 0) || (f.name != "Trace" && x < 0) {
					return fmt.Errorf("Curves[%d].%s[%d] = %v is not a possible value", r, f.name, k, x)
				}
			}
		}
	}
	// The Hutchinson checks: one per checked run at each checked step
	// done, in the order the sweep makes them.
	type check struct {
		step int
		beta float64
	}
	var checks []check
	for s := 0; s <= st.Step; s++ {
		if s == st.Step && !finished {
			break
		}
		if (s%cfg.Every != 0 && s != cfg.Steps) || !contains(cfg.HutchinsonSteps, s) {
			continue
		}
		for _, run := range runs {
			if run.Seed == 0 && containsF(cfg.HutchinsonBetas, run.Beta) {
				checks = append(checks, check{s, run.Beta})
			}
		}
	}
	if len(st.Hutch) != len(checks) {
		return fmt.Errorf("Hutch holds %d checks, want %d by step %d", len(st.Hutch), len(checks), st.Step)
	}
	for i, h := range st.Hutch {
		if h.Step != checks[i].step || h.Beta != checks[i].beta || h.Seed != 0 || h.Probes != cfg.HutchinsonProbes {
			return fmt.Errorf("Hutch[%d] (step %d, beta %v, seed %d, %d probes) is not the check the sweep makes there", i, h.Step, h.Beta, h.Seed, h.Probes)
		}
		for _, v := range []float64{float64(h.ClosedForm), float64(h.Estimate), float64(h.StdErr), float64(h.Sigmas)} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("Hutch[%d] holds a value that is not finite", i)
			}
		}
		if h.StdErr < 0 || h.Sigmas < 0 {
			return fmt.Errorf("Hutch[%d]: stderr %v and deviation %v must be non-negative", i, h.StdErr, h.Sigmas)
		}
	}
	if st.Perf != nil {
		if !finished {
			return fmt.Errorf("Perf recorded for a sweep that is not finished")
		}
		if err := st.Perf.validate(); err != nil {
			return fmt.Errorf("Perf: %w", err)
		}
	}
	return nil
}
