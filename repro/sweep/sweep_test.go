package sweep

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flatfast/flatfast/repro"
)

// counter is a toy experiment: run k iterates an LCG from seed k for
// Steps+k steps; its result is the final value. With Valley set, run 0 is
// a prerequisite of the others, which start from its value.
type counter struct {
	Steps  int  `json:"steps"`
	Runs   int  `json:"runs"`
	Valley bool `json:"valley"`
	// stopAfter stops a session (state saved) after this many steps in
	// all; steps counts the steps taken.
	stopAfter int64
	steps     atomic.Int64
}

func lcg(x uint64) uint64 { return x*6364136223846793005 + 1442695040888963407 }

func (c *counter) sweep() *Sweep {
	var runs []Run
	for k := 0; k < c.Runs; k++ {
		r := Run{ID: fmt.Sprintf("r%02d", k), Cost: float64(c.Steps + k)}
		if c.Valley && k > 0 {
			r.Needs = []string{"r00"}
		}
		runs = append(runs, r)
	}
	return &Sweep{
		Experiment: "counter", Settings: c, Runs: runs, Workers: 2, Command: "flatfast repro counter",
		Legacy:  []string{"checkpoint.json"},
		Batches: func(todo []Todo) [][]Todo { return [][]Todo{todo[:len(todo)/2], todo[len(todo)/2:]} },
		Exec:    c.exec,
		CheckResult: func(i int, b []byte) error {
			if len(b) != 8 {
				return fmt.Errorf("%d bytes, want 8", len(b))
			}
			return nil
		},
		Report: func(dir string, results [][]byte) error {
			var s strings.Builder
			for _, r := range results {
				s.WriteString(hex.EncodeToString(r) + "\n")
			}
			return repro.WriteFileAtomic(filepath.Join(dir, "results.json"), []byte(s.String()))
		},
	}
}

func (c *counter) exec(ctx context.Context, b *Batch) error {
	if len(b.Runs) == 0 {
		return nil
	}
	type st struct{ step, x uint64 }
	sts := make([]st, len(b.Runs))
	for i, t := range b.Runs {
		sts[i] = st{0, uint64(t.Index)}
		if c.Valley && t.Index > 0 {
			v, err := b.Result("r00")
			if err != nil {
				return err
			}
			sts[i].x += binary.LittleEndian.Uint64(v)
		}
		if t.State != nil {
			if len(t.State) != 16 {
				return b.BadState(i, errors.New("not 16 bytes"))
			}
			sts[i] = st{binary.LittleEndian.Uint64(t.State), binary.LittleEndian.Uint64(t.State[8:])}
		}
	}
	save := func() error {
		for i := range b.Runs {
			if b.finished[i] {
				continue
			}
			var buf [16]byte
			binary.LittleEndian.PutUint64(buf[:], sts[i].step)
			binary.LittleEndian.PutUint64(buf[8:], sts[i].x)
			if err := b.Save(i, buf[:]); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		active := 0
		for i, t := range b.Runs {
			if b.finished[i] {
				continue
			}
			if sts[i].step == uint64(c.Steps+t.Index) {
				var buf [8]byte
				binary.LittleEndian.PutUint64(buf[:], sts[i].x)
				if err := b.Done(i, buf[:]); err != nil {
					return err
				}
				continue
			}
			active++
			sts[i].x = lcg(sts[i].x)
			sts[i].step++
		}
		if active == 0 {
			return nil
		}
		b.Work(float64(active))
		if n := c.steps.Add(1); c.stopAfter > 0 && n >= c.stopAfter {
			if err := save(); err != nil {
				return err
			}
			return ErrStopped
		}
		if err := ctx.Err(); err != nil {
			if serr := save(); serr != nil {
				return serr
			}
			return err
		}
		if b.Due() {
			if err := save(); err != nil {
				return err
			}
		}
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t *testing.T, c *counter, out string, s Shard) *Outcome {
	t.Helper()
	oc, err := Execute(context.Background(), c.sweep(), Options{Out: out, Shard: s, CheckpointEvery: time.Millisecond})
	if err != nil {
		t.Fatalf("shard %s: %v", s, err)
	}
	return oc
}

func TestShardsMergeAndResumeGiveTheSameBytes(t *testing.T) {
	tmp := t.TempDir()
	c := &counter{Steps: 200, Runs: 11}
	a := filepath.Join(tmp, "A")
	if oc := run(t, c, a, Shard{}); !oc.Complete || oc.Done != 11 {
		t.Fatalf("unsharded: %+v", oc)
	}
	want := read(t, filepath.Join(a, "results.json"))

	t.Run("three shards in one directory, out of order, one stopped and rerun", func(t *testing.T) {
		b := filepath.Join(tmp, "B")
		for _, i := range []int{2, 0} {
			if oc := run(t, &counter{Steps: 200, Runs: 11}, b, Shard{Index: i, Count: 3}); oc.Complete {
				t.Fatalf("shard %d/3 wrote the report before shard 1 ran", i)
			}
		}
		stopped := &counter{Steps: 200, Runs: 11, stopAfter: 50}
		if _, err := Execute(context.Background(), stopped.sweep(), Options{Out: b, Shard: Shard{Index: 1, Count: 3}, CheckpointEvery: time.Hour}); !errors.Is(err, ErrStopped) {
			t.Fatalf("stopped shard: %v", err)
		}
		rerun := &counter{Steps: 200, Runs: 11}
		oc := run(t, rerun, b, Shard{Index: 1, Count: 3})
		if !oc.Complete || oc.Resumed == 0 {
			t.Fatalf("rerun of shard 1/3: %+v", oc)
		}
		full := &counter{Steps: 200, Runs: 11}
		run(t, full, filepath.Join(tmp, "B1"), Shard{Index: 1, Count: 3})
		if n, m := rerun.steps.Load(), full.steps.Load(); n+stopped.steps.Load() > m+2 {
			t.Errorf("the rerun took %d lockstep steps after %d, where the shard takes %d: it did not continue from the saved states", n, stopped.steps.Load(), m)
		}
		if got := read(t, filepath.Join(b, "results.json")); !bytes.Equal(got, want) {
			t.Errorf("sharded results differ from the unsharded ones:\n%s\n%s", got, want)
		}
		states, _ := os.ReadDir(filepath.Join(b, StateDir))
		if len(states) != 0 {
			t.Errorf("%d states left behind by finished runs", len(states))
		}
	})
	t.Run("three shards in their own directories, merged", func(t *testing.T) {
		var dirs []string
		for i := 0; i < 3; i++ {
			d := filepath.Join(tmp, fmt.Sprintf("C%d", i))
			run(t, &counter{Steps: 200, Runs: 11}, d, Shard{Index: i, Count: 3})
			dirs = append(dirs, d)
		}
		out := filepath.Join(tmp, "C")
		if _, err := Merge(out, dirs, func(m *Manifest) (*Sweep, error) { return c.sweep(), nil }, nil); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(out, "results.json")); !bytes.Equal(got, want) {
			t.Errorf("merged results differ from the unsharded ones")
		}
		// The merged directory is complete: a run there trains nothing.
		again := &counter{Steps: 200, Runs: 11}
		if oc := run(t, again, out, Shard{}); !oc.Complete || again.steps.Load() != 0 {
			t.Errorf("a run in the merged directory: %+v, %d steps", oc, again.steps.Load())
		}
	})
}

func TestResumedRunEqualsAnUninterruptedOne(t *testing.T) {
	tmp := t.TempDir()
	a := filepath.Join(tmp, "a")
	run(t, &counter{Steps: 300, Runs: 4}, a, Shard{})
	b := filepath.Join(tmp, "b")
	for stop := int64(40); ; stop += 60 {
		c := &counter{Steps: 300, Runs: 4, stopAfter: stop}
		_, err := Execute(context.Background(), c.sweep(), Options{Out: b, CheckpointEvery: time.Hour})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrStopped) {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(read(t, filepath.Join(a, "results.json")), read(t, filepath.Join(b, "results.json"))) {
		t.Error("a run stopped and resumed five times differs from an uninterrupted one")
	}
	var sp shardPerf
	if b, err := os.ReadFile(filepath.Join(b, ShardsDir, "0-of-1", PerfFile)); err != nil || len(b) == 0 {
		t.Fatalf("no shard perf.json: %v", err)
	} else if err := json.Unmarshal(b, &sp); err != nil || len(sp.Sessions) < 5 {
		t.Errorf("perf.json records %d sessions (%v), want one per session", len(sp.Sessions), err)
	}
}

func TestEnvironmentSelectsTheShard(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	slurm := func(id, lo, hi, step, count int) func(string) string {
		return env("SLURM_ARRAY_TASK_ID", fmt.Sprint(id), "SLURM_ARRAY_TASK_MIN", fmt.Sprint(lo), "SLURM_ARRAY_TASK_MAX", fmt.Sprint(hi),
			"SLURM_ARRAY_TASK_STEP", fmt.Sprint(step), "SLURM_ARRAY_TASK_COUNT", fmt.Sprint(count))
	}
	for _, tc := range []struct {
		name   string
		flag   string
		shards int
		env    func(string) string
		want   string // "i/N", or an error fragment
	}{
		{"nothing: the whole sweep", "", 0, env(), "0/1"},
		{"-shard", "2/5", 0, env(), "2/5"},
		{"-shard wins over Slurm", "1/2", 0, slurm(3, 0, 3, 1, 4), "1/2"},
		{"-shard and -shards agree", "1/2", 2, env(), "1/2"},
		{"-shard and -shards disagree", "1/2", 3, env(), "disagree"},
		{"-shard syntax", "1-2", 0, env(), "want i/N"},
		{"-shard not numbers", "a/b", 0, env(), "whole numbers"},
		{"-shard i >= N", "3/3", 0, env(), "outside [0, 3)"},
		{"-shard N = 0", "0/0", 0, env(), "outside [1,"},
		{"-shard negative", "-1/3", 0, env(), "outside [0, 3)"},
		{"Slurm --array=0-3", "", 0, slurm(2, 0, 3, 1, 4), "2/4"},
		{"Slurm --array=5-8", "", 0, slurm(5, 5, 8, 1, 4), "0/4"},
		{"Slurm --array=0-10:2, task 4", "", 0, slurm(4, 0, 10, 2, 6), "2/6"},
		{"Slurm --array=0-10:2, task 10", "", 0, slurm(10, 0, 10, 2, 6), "5/6"},
		{"Slurm --array=1-9:4, task 9", "", 0, slurm(9, 1, 9, 4, 3), "2/3"},
		{"Slurm without STEP and MAX", "", 0, env("SLURM_ARRAY_TASK_ID", "3", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "4"), "3/4"},
		{"Slurm task off the step", "", 0, slurm(3, 0, 10, 2, 6), "inconsistent Slurm array"},
		{"Slurm list --array=1,4,9", "", 0, slurm(9, 1, 9, 1, 3), "inconsistent Slurm array"},
		{"Slurm without COUNT", "", 0, env("SLURM_ARRAY_TASK_ID", "3", "SLURM_ARRAY_TASK_MIN", "0"), "SLURM_ARRAY_TASK_COUNT is not"},
		{"Slurm id not a number", "", 0, env("SLURM_ARRAY_TASK_ID", "x", "SLURM_ARRAY_TASK_MIN", "0", "SLURM_ARRAY_TASK_COUNT", "2"), "not a whole number"},
		{"Slurm and -shards agree", "", 4, slurm(1, 0, 3, 1, 4), "1/4"},
		{"Slurm and -shards disagree", "", 3, slurm(1, 0, 3, 1, 4), "the Slurm array has 4 tasks"},
		{"Kubernetes with -shards", "", 3, env("JOB_COMPLETION_INDEX", "2"), "2/3"},
		{"Kubernetes with FLATFAST_SHARDS", "", 0, env("JOB_COMPLETION_INDEX", "0", "FLATFAST_SHARDS", "5"), "0/5"},
		{"Kubernetes without a count", "", 0, env("JOB_COMPLETION_INDEX", "1"), "pass -shards N or set FLATFAST_SHARDS"},
		{"Kubernetes index beyond the count", "", 2, env("JOB_COMPLETION_INDEX", "2"), "outside [0, 2)"},
		{"Kubernetes, -shards and FLATFAST_SHARDS disagree", "", 2, env("JOB_COMPLETION_INDEX", "0", "FLATFAST_SHARDS", "3"), "disagree"},
		{"FLATFAST_SHARDS not a number", "", 0, env("JOB_COMPLETION_INDEX", "0", "FLATFAST_SHARDS", "many"), "want a whole number"},
		{"Slurm and Kubernetes at once", "", 0, env("JOB_COMPLETION_INDEX", "0", "SLURM_ARRAY_TASK_ID", "0"), "both"},
		{"-shards without an index", "", 3, env(), "no shard index"},
		{"-shards 1 without an index", "", 1, env(), "0/1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := FromEnv(tc.flag, tc.shards, tc.env)
			if strings.Contains(tc.want, "/") && !strings.Contains(tc.want, " ") {
				if err != nil || s.String() != tc.want {
					t.Fatalf("got %v, %v; want %s", s, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, %v; want an error with %q", s, err, tc.want)
			}
		})
	}
	t.Run("a stepped array's tasks cover every run once", func(t *testing.T) {
		sw := (&counter{Steps: 1, Runs: 23}).sweep()
		seen := map[int]int{}
		for id := 0; id <= 10; id += 2 {
			s, err := FromEnv("", 0, slurm(id, 0, 10, 2, 6))
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Assign(sw, s)
			if err != nil {
				t.Fatal(err)
			}
			for k, r := range rs {
				if want := s.Index + 6*k; r != want {
					t.Errorf("task %d (shard %s): run %d at %d, want %d", id, s, r, k, want)
				}
				seen[r]++
			}
		}
		for r := 0; r < 23; r++ {
			if seen[r] != 1 {
				t.Errorf("run %d is in %d shards", r, seen[r])
			}
		}
	})
}

func TestMergeRefusesBadShards(t *testing.T) {
	tmp := t.TempDir()
	c := &counter{Steps: 20, Runs: 7}
	var dirs []string
	for i := 0; i < 3; i++ {
		d := filepath.Join(tmp, fmt.Sprintf("s%d", i))
		run(t, c, d, Shard{Index: i, Count: 3})
		dirs = append(dirs, d)
	}
	other := filepath.Join(tmp, "other")
	run(t, &counter{Steps: 21, Runs: 7}, other, Shard{Index: 1, Count: 3})
	build := func(*Manifest) (*Sweep, error) { return c.sweep(), nil }
	copyFile := func(from, to string) {
		if err := os.WriteFile(to, read(t, from), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) []string
		want  []string
	}{
		{"a missing run", func(t *testing.T) []string {
			d := filepath.Join(tmp, "missing")
			run(t, c, d, Shard{Index: 1, Count: 3})
			os.Remove(runPath(d, "r04"))
			return []string{dirs[0], d, dirs[2]}
		}, []string{"run r04 is missing"}},
		{"a missing shard", func(t *testing.T) []string { return dirs[:2] }, []string{"runs r02, r05 are missing"}},
		{"a duplicate", func(t *testing.T) []string {
			d := filepath.Join(tmp, "dup")
			run(t, c, d, Shard{Index: 2, Count: 3})
			copyFile(runPath(dirs[0], "r03"), runPath(d, "r03"))
			return []string{dirs[0], dirs[1], d}
		}, []string{"run r03 is in " + dirs[0] + " and " + filepath.Join(tmp, "dup")}},
		{"another configuration's shard", func(t *testing.T) []string { return []string{dirs[0], other, dirs[2]} },
			[]string{other + " is a shard of another configuration", "steps: 21 there, 20 now", "runs r01, r04 are missing"}},
		{"a damaged run file", func(t *testing.T) []string {
			d := filepath.Join(tmp, "damaged")
			run(t, c, d, Shard{Index: 0, Count: 3})
			b := read(t, runPath(d, "r00"))
			b[len(b)-1] ^= 1
			os.WriteFile(runPath(d, "r00"), b, 0o644)
			return []string{d, dirs[1], dirs[2]}
		}, []string{"r00.run is unreadable (its payload does not match its checksum)"}},
		{"not a sweep directory", func(t *testing.T) []string { return []string{dirs[0], dirs[1], t.TempDir()} }, []string{"holds no sweep.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.setup(t)
			out := filepath.Join(tmp, "out-"+strings.ReplaceAll(tc.name, " ", "-"))
			_, err := Merge(out, in, build, nil)
			var me *MergeError
			if !errors.As(err, &me) {
				t.Fatalf("got %v, want a MergeError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q:\n%v", w, err)
				}
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("the refused merge created %s", out)
			}
		})
	}
}

func TestPrerequisites(t *testing.T) {
	tmp := t.TempDir()
	c := &counter{Steps: 30, Runs: 7, Valley: true}
	a := filepath.Join(tmp, "a")
	run(t, c, a, Shard{})
	want := read(t, filepath.Join(a, "results.json"))
	b := filepath.Join(tmp, "b")
	_, err := Execute(context.Background(), c.sweep(), Options{Out: b, Shard: Shard{Index: 1, Count: 2}})
	var me *MissingError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "run r00") || !strings.Contains(err.Error(), "flatfast repro counter -out "+b+" -prerequisites") {
		t.Fatalf("a shard without its prerequisite: %v", err)
	}
	if _, err := Execute(context.Background(), c.sweep(), Options{Out: b, Prerequisites: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		run(t, c, b, Shard{Index: i, Count: 2})
	}
	if !bytes.Equal(read(t, filepath.Join(b, "results.json")), want) {
		t.Error("prerequisite job + 2 shards differ from one process")
	}
	if rs, _ := Assign(c.sweep(), Shard{Index: 0, Count: 2}); len(rs) != 3 || rs[0] != 1 {
		t.Errorf("shard 0/2 got runs %v, want 1, 3, 5 (the prerequisite is not dealt)", rs)
	}
}

func TestDirectoryChecks(t *testing.T) {
	tmp := t.TempDir()
	c := &counter{Steps: 10, Runs: 3}
	t.Run("another configuration", func(t *testing.T) {
		d := filepath.Join(tmp, "other")
		run(t, c, d, Shard{})
		_, err := Execute(context.Background(), (&counter{Steps: 11, Runs: 3}).sweep(), Options{Out: d})
		var oc *repro.OtherConfigError
		if !errors.As(err, &oc) || !strings.Contains(err.Error(), "steps: 10 there, 11 now") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an earlier version's checkpoint", func(t *testing.T) {
		d := filepath.Join(tmp, "legacy")
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "checkpoint.json"), []byte("{}"), 0o644)
		_, err := Execute(context.Background(), c.sweep(), Options{Out: d})
		var le *LegacyError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), "earlier version") {
			t.Fatalf("got %v", err)
		}
		if _, err := Execute(context.Background(), c.sweep(), Options{Out: d, Fresh: true}); err != nil {
			t.Fatalf("-fresh over it: %v", err)
		}
	})
	t.Run("-fresh on a shard", func(t *testing.T) {
		_, err := Execute(context.Background(), c.sweep(), Options{Out: filepath.Join(tmp, "f"), Fresh: true, Shard: Shard{Index: 0, Count: 2}})
		if err == nil || !strings.Contains(err.Error(), "delete the other shards' runs") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a damaged state", func(t *testing.T) {
		d := filepath.Join(tmp, "state")
		s := &counter{Steps: 100, Runs: 3, stopAfter: 10}
		if _, err := Execute(context.Background(), s.sweep(), Options{Out: d}); !errors.Is(err, ErrStopped) {
			t.Fatal(err)
		}
		p := statePath(d, "r01")
		b := read(t, p)
		os.WriteFile(p, b[:len(b)-1], 0o644)
		_, err := Execute(context.Background(), (&counter{Steps: 100, Runs: 3}).sweep(), Options{Out: d})
		if err == nil || !strings.Contains(err.Error(), "r01.state is unreadable") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestPlan(t *testing.T) {
	c := &counter{Steps: 10, Runs: 10, Valley: true}
	pl, err := MakePlan(context.Background(), c.sweep(), 4, func(_ context.Context, runs []int) (float64, string, error) {
		return float64(len(runs)), "one second a run", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pl.Runs != 10 || pl.Prerequisites != 1 || pl.LargestRuns != 3 || pl.Seconds != 3 {
		t.Errorf("plan %+v", pl)
	}
	var buf bytes.Buffer
	pl.Write(&buf)
	if !strings.Contains(buf.String(), "shards: 4; the largest") || !strings.Contains(buf.String(), "timed probe") {
		t.Errorf("plan text:\n%s", buf.String())
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(header{Hash: "h", Run: "r", Kind: kindResult, Seconds: 1}, []byte("payload")))
	f.Add([]byte("flatfast-sweep 2\n{}\n"))
	f.Add([]byte("flatfast-sweep 1\n{\"config_hash\":\"h\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := decodeRecord(b, "h", "r", kindResult)
		if err == nil && (h.Bytes != len(p) || h.Run != "r") {
			t.Fatalf("accepted %q", b)
		}
	})
}

func FuzzDecodeManifest(f *testing.F) {
	f.Add([]byte(`{"format":1,"experiment":"x","config_hash":"44136fa355b3678a","runs":1,"settings":{}}`))
	f.Add([]byte(`{"format":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeManifest(b); err == nil && m.Format != Format {
			t.Fatalf("accepted %q", b)
		}
	})
}

// TestPerfCountsEarlierSessions: a resumed run's header adds the seconds
// its saved state recorded, and OUT/perf.json totals the run headers.
func TestPerfCountsEarlierSessions(t *testing.T) {
	out := t.TempDir()
	c := &counter{Steps: 300, Runs: 4, stopAfter: 100}
	if _, err := Execute(context.Background(), c.sweep(), Options{Out: out, CheckpointEvery: time.Hour}); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	m, _, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	prior := map[string]float64{}
	for _, r := range c.sweep().Runs {
		if b, err := os.ReadFile(statePath(out, r.ID)); err == nil {
			h, _, err := decodeRecord(b, m.Hash, r.ID, kindState)
			if err != nil {
				t.Fatal(err)
			}
			prior[r.ID] = h.Seconds
		}
	}
	if len(prior) == 0 {
		t.Fatal("the stopped session saved no state")
	}
	run(t, &counter{Steps: 300, Runs: 4}, out, Shard{})
	var tp totalPerf
	if err := json.Unmarshal(read(t, filepath.Join(out, PerfFile)), &tp); err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, r := range c.sweep().Runs {
		h, _, err := decodeRecord(read(t, runPath(out, r.ID)), m.Hash, r.ID, kindResult)
		if err != nil {
			t.Fatal(err)
		}
		if h.Seconds < prior[r.ID] {
			t.Errorf("run %s: %v s in its header, less than the %v s of its saved state", r.ID, h.Seconds, prior[r.ID])
		}
		if tp.PerRun[r.ID] != h.Seconds {
			t.Errorf("run %s: %v s in perf.json, %v s in its header", r.ID, tp.PerRun[r.ID], h.Seconds)
		}
		total += h.Seconds
	}
	if tp.RunSeconds != total {
		t.Errorf("perf.json totals %v s, the headers %v s", tp.RunSeconds, total)
	}
}
