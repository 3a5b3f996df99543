package sweep

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxShards bounds a shard count: far more than any cluster's array,
// small enough that a typo is caught.
const MaxShards = 1 << 20

// Shard is shard Index of Count: the runs at positions Index,
// Index+Count, ... of the sweep's dealt runs. The zero value is the whole
// sweep (shard 0 of 1).
type Shard struct {
	Index, Count int
	// Source says where the shard came from, for messages: "-shard",
	// "Slurm array", "Kubernetes Indexed Job" or "" (the whole sweep).
	Source string
}

// count is the shard count, 1 for the zero value.
func (s Shard) count() int { return max(1, s.Count) }

// String is "i/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.count()) }

// dirName is the shard's directory name under shards/.
func (s Shard) dirName() string { return fmt.Sprintf("%d-of-%d", s.Index, s.count()) }

// validate checks 0 <= Index < Count <= MaxShards.
func (s Shard) validate() error {
	if s.Count == 0 && s.Index == 0 {
		return nil
	}
	if s.Count < 1 || s.Count > MaxShards {
		return fmt.Errorf("shard count %d outside [1, %d]", s.Count, MaxShards)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard index %d outside [0, %d) (shards are numbered from 0)", s.Index, s.Count)
	}
	return nil
}

// ParseShard reads "i/N" (0 <= i < N).
func ParseShard(v string) (Shard, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(v), "/")
	if !ok {
		return Shard{}, fmt.Errorf("-shard %q: want i/N, shard i (counted from 0) of N, like 0/4", v)
	}
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("-shard %q: want i/N with whole numbers, like 0/4", v)
	}
	s := Shard{Index: i, Count: n, Source: "-shard"}
	if n < 1 {
		return Shard{}, fmt.Errorf("-shard %q: shard count %d outside [1, %d]", v, n, MaxShards)
	}
	if err := s.validate(); err != nil {
		return Shard{}, fmt.Errorf("-shard %q: %w", v, err)
	}
	return s, nil
}

// Environment variables read by FromEnv.
const (
	EnvShards     = "FLATFAST_SHARDS"
	envSlurmID    = "SLURM_ARRAY_TASK_ID"
	envSlurmMin   = "SLURM_ARRAY_TASK_MIN"
	envSlurmMax   = "SLURM_ARRAY_TASK_MAX"
	envSlurmStep  = "SLURM_ARRAY_TASK_STEP"
	envSlurmCount = "SLURM_ARRAY_TASK_COUNT"
	envK8sIndex   = "JOB_COMPLETION_INDEX"
)

// FromEnv returns the shard of this process: flag (the value of -shard,
// "" when not given) if set; else a Slurm job array's task; else a
// Kubernetes Indexed Job's completion index; else the whole sweep.
// shards is -shards (0 when not given); getenv reads the environment
// (os.Getenv).
//
// Slurm: shard (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) /
// SLURM_ARRAY_TASK_STEP (step 1 when unset) of SLURM_ARRAY_TASK_COUNT, so
// --array=0-10:2 makes 6 shards; an array whose ids are not such a range
// (--array=1,4,9) is refused. Kubernetes: shard JOB_COMPLETION_INDEX of
// -shards or FLATFAST_SHARDS (the Job's completions, which Kubernetes does
// not export). A count given twice must agree; an index without a count,
// a count without an index, or both schedulers' variables at once, are
// errors that say which variables were read.
func FromEnv(flag string, shards int, getenv func(string) string) (Shard, error) {
	envN := strings.TrimSpace(getenv(EnvShards))
	count := 0
	countFrom := ""
	if shards != 0 {
		if shards < 1 || shards > MaxShards {
			return Shard{}, fmt.Errorf("-shards %d outside [1, %d]", shards, MaxShards)
		}
		count, countFrom = shards, fmt.Sprintf("-shards %d", shards)
	}
	if envN != "" {
		n, err := strconv.Atoi(envN)
		if err != nil || n < 1 || n > MaxShards {
			return Shard{}, fmt.Errorf("%s=%q: want a whole number in [1, %d]", EnvShards, envN, MaxShards)
		}
		if count != 0 && n != count {
			return Shard{}, fmt.Errorf("%s and %s=%d disagree on the number of shards", countFrom, EnvShards, n)
		}
		if count == 0 {
			count, countFrom = n, fmt.Sprintf("%s=%d", EnvShards, n)
		}
	}
	if flag != "" {
		s, err := ParseShard(flag)
		if err != nil {
			return Shard{}, err
		}
		if count != 0 && count != s.Count {
			return Shard{}, fmt.Errorf("-shard %s and %s disagree on the number of shards", flag, countFrom)
		}
		return s, nil
	}
	slurm := strings.TrimSpace(getenv(envSlurmID))
	k8s := strings.TrimSpace(getenv(envK8sIndex))
	if slurm != "" && k8s != "" {
		return Shard{}, fmt.Errorf("both %s=%s (Slurm) and %s=%s (Kubernetes) are set: pass -shard i/N to say which shard this is", envSlurmID, slurm, envK8sIndex, k8s)
	}
	switch {
	case slurm != "":
		s, err := slurmShard(getenv)
		if err != nil {
			return Shard{}, err
		}
		if count != 0 && count != s.Count {
			return Shard{}, fmt.Errorf("the Slurm array has %d tasks (%s) but %s", s.Count, envSlurmCount, countFrom)
		}
		return s, nil
	case k8s != "":
		i, err := strconv.Atoi(k8s)
		if err != nil {
			return Shard{}, fmt.Errorf("%s=%q is not a whole number", envK8sIndex, k8s)
		}
		if count == 0 {
			return Shard{}, fmt.Errorf("%s=%d (a Kubernetes Indexed Job) gives this shard's index but not the number of shards: pass -shards N or set %s to the Job's completions", envK8sIndex, i, EnvShards)
		}
		s := Shard{Index: i, Count: count, Source: "Kubernetes Indexed Job"}
		if err := s.validate(); err != nil {
			return Shard{}, fmt.Errorf("%s=%d with %s: %w", envK8sIndex, i, countFrom, err)
		}
		return s, nil
	}
	if count > 1 {
		return Shard{}, fmt.Errorf("%s, but no shard index: pass -shard i/%d, or run as a Slurm array task (%s) or a Kubernetes Indexed Job (%s)", countFrom, count, envSlurmID, envK8sIndex)
	}
	return Shard{}, nil
}

// slurmShard reads a Slurm array task's shard.
func slurmShard(getenv func(string) string) (Shard, error) {
	num := func(name string, def int, need bool) (int, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			if need {
				return 0, fmt.Errorf("%s is set but %s is not: is this a Slurm job array?", envSlurmID, name)
			}
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("%s=%q is not a whole number", name, v)
		}
		return n, nil
	}
	id, err := num(envSlurmID, 0, true)
	if err != nil {
		return Shard{}, err
	}
	lo, err := num(envSlurmMin, 0, true)
	if err != nil {
		return Shard{}, err
	}
	count, err := num(envSlurmCount, 0, true)
	if err != nil {
		return Shard{}, err
	}
	step, err := num(envSlurmStep, 1, false)
	if err != nil {
		return Shard{}, err
	}
	hi, err := num(envSlurmMax, lo+(count-1)*step, false)
	if err != nil {
		return Shard{}, err
	}
	desc := fmt.Sprintf("%s=%d %s=%d %s=%d %s=%d %s=%d", envSlurmID, id, envSlurmMin, lo, envSlurmMax, hi, envSlurmStep, step, envSlurmCount, count)
	if step < 1 || count < 1 {
		return Shard{}, fmt.Errorf("inconsistent Slurm array (%s): the step and the count must be positive", desc)
	}
	if id < lo || (id-lo)%step != 0 || (id-lo)/step >= count || hi != lo+(count-1)*step {
		return Shard{}, fmt.Errorf("inconsistent Slurm array (%s): the task ids must be MIN, MIN+STEP, ..., MAX with COUNT of them (an array like --array=0-9 or --array=0-10:2; a list like --array=1,4,9 is not a range: use -shard i/N there)", desc)
	}
	s := Shard{Index: (id - lo) / step, Count: count, Source: "Slurm array"}
	if err := s.validate(); err != nil {
		return Shard{}, fmt.Errorf("Slurm array (%s): %w", desc, err)
	}
	return s, nil
}
