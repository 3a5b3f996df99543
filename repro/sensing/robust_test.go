package sensing

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flatfast/flatfast/internal/dirlock"
	"github.com/flatfast/flatfast/internal/dirtest"
	"github.com/flatfast/flatfast/repro"
)

// TestPerfSurvivesAKillBeforeTheReports: a sweep killed after its final
// checkpoint and before perf.json keeps its timings (in the checkpoint):
// the rerun writes perf.json. Before, perf.json was lost for good while
// the rerun said it was the finished sweep's.
func TestPerfSurvivesAKillBeforeTheReports(t *testing.T) {
	cfg := tinyConfig()
	dir := t.TempDir()
	_, perf, err := Execute(context.Background(), cfg, Options{Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(dir, "perf.json"))
	// What a kill between the final checkpoint and the reports leaves.
	for _, f := range []string{"perf.json", "results.json", "curves.csv"} {
		os.Remove(filepath.Join(dir, f))
	}
	res, perf2, err := Execute(context.Background(), cfg, Options{Out: dir})
	if err != nil || !res.Complete {
		t.Fatalf("rerun: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "perf.json"))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("perf.json after the rerun: %v, %q, want %q", err, got, want)
	}
	if perf2 == nil || *perf2 != *perf {
		t.Errorf("rerun's perf %+v, want %+v", perf2, perf)
	}
	// The same through the test hook that stops where a kill would.
	dir2 := t.TempDir()
	if _, _, err := Execute(context.Background(), cfg, Options{Out: dir2, killBeforeReports: true}); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "perf.json")); err == nil {
		t.Fatal("the hook did not stop before perf.json")
	}
	if _, perf3, err := Execute(context.Background(), cfg, Options{Out: dir2}); err != nil || perf3 == nil {
		t.Fatalf("rerun after the hook: %v, %v", perf3, err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "perf.json")); err != nil {
		t.Error(err)
	}
}

// TestRepeatedBetasAreRefused: a beta twice would average copies of the
// same runs.
func TestRepeatedBetasAreRefused(t *testing.T) {
	c := tinyConfig()
	c.Betas = []float64{0, 0.9, 0.9}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("got %v", err)
	}
	for name, f := range map[string]func(c *Config){
		"steps huge":     func(c *Config) { c.Steps = 1 << 40 },
		"seeds negative": func(c *Config) { c.Seeds = -2 },
		"every zero":     func(c *Config) { c.Every = 0 },
		"beta NaN":       func(c *Config) { c.Betas = []float64{math.NaN()} },
		"beta one":       func(c *Config) { c.Betas = []float64{1} },
		"d huge":         func(c *Config) { c.D = 1 << 20 },
		"probes huge":    func(c *Config) { c.HutchinsonProbes = 1 << 30 },
	} {
		c := tinyConfig()
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// TestTooLargeIsRefusedBeforeAllocating: a sweep that cannot fit in
// memory is refused at once, naming the setting and the estimate.
func TestTooLargeIsRefusedBeforeAllocating(t *testing.T) {
	for _, c := range []struct {
		name, setting string
		set           func(c *Config)
	}{
		{"seeds", "seeds = 10000000000", func(c *Config) { c.Seeds = 10000000000 }},
		{"steps", "steps / measure_every = 1000000000 / 1", func(c *Config) { c.Steps, c.Every, c.HutchinsonSteps = 1000000000, 1, nil }},
	} {
		cfg := Presets["quick"]
		c.set(&cfg)
		dir := filepath.Join(t.TempDir(), "out")
		_, _, err := Execute(context.Background(), cfg, Options{Out: dir, MaxMemory: 8 << 30})
		var me *repro.MemoryError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), c.setting) || !strings.Contains(err.Error(), "8 GiB") {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: created the output directory", c.name)
		}
	}
	for name, cfg := range Presets {
		if need, _ := cfg.MemoryEstimate(); need > 2<<30 {
			t.Errorf("preset %s: estimated %s", name, repro.FormatSize(need))
		}
	}
}

// TestLockedDirectoryIsRefused: a second writer of -out is refused at
// once, naming the directory and the holder's pid.
func TestLockedDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := dirlock.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	before := dirtest.Snapshot(t, dir)
	_, _, err = Execute(context.Background(), tinyConfig(), Options{Out: dir})
	var he *dirlock.HeldError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("got %v", err)
	}
	dirtest.Same(t, "locked", dir, before)
}

// TestUnwritableDirectoryFailsBeforeTraining, and a checkpoint that cannot
// be written ends the sweep at once, with an error naming the file.
func TestUnwritableDirectoryFailsBeforeTraining(t *testing.T) {
	dir := t.TempDir()
	var calls atomic.Int32
	full := func(path string, _ []byte) error {
		calls.Add(1)
		return &os.PathError{Op: "write", Path: path, Err: errors.New("no space left on device")}
	}
	_, _, err := Execute(context.Background(), tinyConfig(), Options{Out: dir, writeFile: full})
	if err == nil || !strings.Contains(err.Error(), "not writable") || !strings.Contains(err.Error(), dir) || calls.Load() != 1 {
		t.Fatalf("got %v after %d writes", err, calls.Load())
	}
	calls.Store(0)
	cfg := tinyConfig()
	_, _, err = Execute(context.Background(), cfg, Options{Out: dir, CheckpointEvery: time.Nanosecond, writeFile: func(path string, b []byte) error {
		if filepath.Base(path) == checkpointFile {
			return full(path, b)
		}
		return repro.WriteFileAtomic(path, b)
	}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, checkpointFile)) || calls.Load() != 1 {
		t.Fatalf("got %v after %d checkpoint writes", err, calls.Load())
	}
}

// stoppedState runs tinyConfig for 27 steps and returns the directory
// and its decoded checkpoint.
func stoppedState(t testing.TB) (string, *state) {
	dir := t.TempDir()
	if _, _, err := Execute(context.Background(), tinyConfig(), Options{Out: dir, stopAfter: 27}); !errors.Is(err, ErrStopped) {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	return dir, st
}

func encodeState(t testing.TB, st *state) []byte {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(st); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCraftedCheckpointIsRefused: a checkpoint whose parts disagree
// (curves of different lengths, a step rewound below its curves, values
// that are not finite, a generator state that does not decode) is an
// error naming the file and the field, and nothing is written. Before, a
// rewound checkpoint was resumed and its curves got duplicate rows.
func TestCraftedCheckpointIsRefused(t *testing.T) {
	dir, good := stoppedState(t)
	cases := []struct {
		name, field string
		set         func(st *state)
	}{
		{"rewound step", "Curves[0].Steps", func(st *state) { st.Step = 10 }},
		{"step past the end", "Step", func(st *state) { st.Step = 1000 }},
		{"curves of different lengths", "Curves[1].TestError", func(st *state) { st.Curves[1].TestError = st.Curves[1].TestError[:2] }},
		{"one curve longer", "Curves[2].Steps", func(st *state) {
			c := &st.Curves[2]
			c.Steps, c.TrainLoss, c.TestError, c.Trace = append(c.Steps, 30), append(c.TrainLoss, 1), append(c.TestError, 1), append(c.Trace, 1)
		}},
		{"NaN test error", "Curves[0].TestError[1]", func(st *state) { st.Curves[0].TestError[1] = math.NaN() }},
		{"Inf in U", "U[5]", func(st *state) { st.U[5] = float32(math.Inf(1)) }},
		{"short V", "V", func(st *state) { st.V = st.V[:3] }},
		{"bad generator", "RNG[1]", func(st *state) { st.RNG[1] = []byte("junk") }},
		{"extra Hutchinson check", "Hutch", func(st *state) { st.Hutch = append(st.Hutch, st.Hutch[0]) }},
		{"timings of an unfinished sweep", "Perf", func(st *state) { st.Perf = &Perf{} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := decodeState(encodeState(t, good))
			if err != nil {
				t.Fatal(err)
			}
			c.set(st)
			if err := os.WriteFile(filepath.Join(dir, checkpointFile), encodeState(t, st), 0o644); err != nil {
				t.Fatal(err)
			}
			before := dirtest.Snapshot(t, dir)
			_, _, err = Execute(context.Background(), tinyConfig(), Options{Out: dir})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, s := range []string{filepath.Join(dir, checkpointFile), c.field, "-fresh"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not mention %q", err, s)
				}
			}
			dirtest.Same(t, c.name, dir, before)
		})
	}
}

// TestCraftedPerfIsRefused: perf.json, read back for a finished sweep of
// an earlier version, is checked too.
func TestCraftedPerfIsRefused(t *testing.T) {
	if _, err := decodePerf([]byte(`{"seconds": -1}`), "x/perf.json"); err == nil || !strings.Contains(err.Error(), "seconds") || !strings.Contains(err.Error(), "x/perf.json") {
		t.Errorf("got %v", err)
	}
}

// FuzzDecodeCheckpoint: no checkpoint bytes make the reader panic, and a
// state it accepts fits the sweep.
func FuzzDecodeCheckpoint(f *testing.F) {
	_, good := stoppedState(f)
	cfg := tinyConfig()
	runs := Runs(&cfg)
	f.Add(encodeState(f, good))
	bad := *good
	bad.Step = 5
	f.Add(encodeState(f, &bad))
	bad = *good
	bad.Curves = bad.Curves[:1]
	f.Add(encodeState(f, &bad))
	f.Add([]byte("not a checkpoint"))
	f.Add([]byte{})
	pr, err := NewProblem(cfg.D, cfg.R, cfg.P, cfg.DataSeed, false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		if err := checkState(&cfg, runs, st); err != nil {
			return
		}
		// Accepted: the analysis of it must not panic either.
		Analyze(&cfg, pr, runs, st)
	})
}

// FuzzDecodePerf: no perf.json bytes make the reader panic, and what it
// accepts is valid.
func FuzzDecodePerf(f *testing.F) {
	f.Add([]byte(`{"runs": 6, "steps_this_session": 60, "seconds": 0.5, "steps_per_second": 120}`))
	f.Add([]byte(`{"runs": -6}`))
	f.Add([]byte(`{"seconds": 1e999}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePerf(b, "perf.json")
		if err == nil && p.validate() != nil {
			t.Fatalf("accepted %+v", p)
		}
	})
}
