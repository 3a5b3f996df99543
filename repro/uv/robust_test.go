package uv

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flatfast/flatfast/internal/dirlock"
	"github.com/flatfast/flatfast/internal/dirtest"
	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/sweep"
	"time"
)

// oneEta is the grid of the report: a single cell fitted (eta
// 0.1 crosses within the cap, eta 0.001 is censored), so the T_c panel
// has one learning rate.
func oneEta() Config {
	c := Presets["quick"]
	c.Activations = []string{"identity"}
	c.Gammas = []float64{0.5}
	c.Etas = []float64{0.001, 0.1}
	c.Seeds = 1
	c.MaxSteps = 2000
	return c
}

// TestGridWithOneFittedEta: a grid whose fitted cells share one learning
// rate writes its plots (gonum's log ticks panicked on the range of one
// value), and so does the rerun that rebuilds them from the checkpoint.
func TestGridWithOneFittedEta(t *testing.T) {
	cfg := oneEta()
	dir := t.TempDir()
	res, _, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	fitted := 0
	for _, c := range res.Activations[0].Cells {
		if c.Fitted {
			fitted++
		}
	}
	if fitted != 1 {
		t.Fatalf("%d fitted cells, want 1 for this test to mean anything", fitted)
	}
	png := filepath.Join(dir, "fig1_tc_vs_eta.png")
	if _, err := os.Stat(png); err != nil {
		t.Fatal(err)
	}
	os.Remove(png)
	if res, _, err = Execute(context.Background(), cfg, Options{Out: dir, Workers: 1}); err != nil || res == nil {
		t.Fatalf("rerun: %v", err)
	}
	if _, err := os.Stat(png); err != nil {
		t.Fatal(err)
	}
}

// TestRepeatedGridValuesAreRefused: the same eta (or gamma, activation)
// twice would merge two cells; it is a configuration error.
func TestRepeatedGridValuesAreRefused(t *testing.T) {
	for name, f := range map[string]func(c *Config){
		"etas":        func(c *Config) { c.Etas = []float64{0.1, 0.1} },
		"gammas":      func(c *Config) { c.Gammas = []float64{0.5, 1, 0.5} },
		"activations": func(c *Config) { c.Activations = []string{"tanh", "tanh"} },
	} {
		c := oneEta()
		f(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestBounds: every numeric setting has a range; out of it (negative,
// zero, NaN, infinite, absurdly large) is a configuration error.
func TestBounds(t *testing.T) {
	inf := math.Inf(1)
	for name, f := range map[string]func(c *Config){
		"n negative":       func(c *Config) { c.N = -3 },
		"n huge":           func(c *Config) { c.N = 1 << 40 },
		"seeds negative":   func(c *Config) { c.Seeds = -1 },
		"max steps huge":   func(c *Config) { c.MaxSteps = 1 << 50 },
		"max steps small":  func(c *Config) { c.MaxSteps = 10 },
		"eps inf":          func(c *Config) { c.Eps = inf },
		"threshold inf":    func(c *Config) { c.Threshold = inf },
		"fit efolds huge":  func(c *Config) { c.FitEFolds = 1e9 },
		"fit efolds zero":  func(c *Config) { c.FitEFolds = 0 },
		"gamma zero":       func(c *Config) { c.Gammas = []float64{0} },
		"eta one":          func(c *Config) { c.Etas = []float64{0.1, 1} },
		"C inf":            func(c *Config) { c.C = inf },
		"gamma NaN":        func(c *Config) { c.Gammas = []float64{math.NaN()} },
		"P one":            func(c *Config) { c.P = 1 },
		"no learning rate": func(c *Config) { c.Etas = nil },
	} {
		c := oneEta()
		f(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// TestTooLargeIsRefusedBeforeAllocating: -seeds 10000000000 or
// -n 1000000000 ended in "fatal error: out of memory"; they are refused
// at once with a *repro.MemoryError naming the setting and the estimate.
func TestTooLargeIsRefusedBeforeAllocating(t *testing.T) {
	for _, c := range []struct {
		name    string
		set     func(c *Config)
		setting string
	}{
		{"seeds", func(c *Config) { c.Seeds = 10000000000 }, "seeds = 10000000000"},
		{"n", func(c *Config) { c.N = 1000000000 }, "n = 1000000000"},
	} {
		cfg := Presets["quick"]
		c.set(&cfg)
		dir := filepath.Join(t.TempDir(), "out")
		_, _, err := Execute(context.Background(), cfg, Options{Out: dir, MaxMemory: 64 << 30})
		var me *repro.MemoryError
		if !errors.As(err, &me) {
			t.Fatalf("%s: %v, want a MemoryError", c.name, err)
		}
		for _, s := range []string{c.setting, "64 GiB", "-max-memory"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not mention %q", c.name, err, s)
			}
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the refused configuration created its output directory", c.name)
		}
	}
	// The presets fit in a small machine.
	for name, cfg := range Presets {
		if need, _ := cfg.MemoryEstimate(16); need > 1<<30 {
			t.Errorf("preset %s: estimated %s", name, repro.FormatSize(need))
		}
	}
}

// TestLockedDirectoryIsRefused: while another writer holds -out, a run
// is refused at once, naming the directory and the holder's pid, and
// leaves the directory as it was.
func TestLockedDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	shard := filepath.Join(dir, sweep.ShardsDir, "0-of-1")
	os.MkdirAll(shard, 0o755)
	l, err := dirlock.Acquire(shard)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	before := dirtest.Snapshot(t, dir)
	_, _, err = Execute(context.Background(), oneEta(), Options{Out: dir})
	var he *dirlock.HeldError
	if !errors.As(err, &he) {
		t.Fatalf("got %v, want a HeldError", err)
	}
	for _, s := range []string{dir, strconv.Itoa(os.Getpid())} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not mention %q", err, s)
		}
	}
	dirtest.Same(t, "locked", dir, before)
}

// TestUnwritableDirectoryFailsBeforeTraining: a directory that takes no
// file is an error before the first step (it was found after training).
func TestUnwritableDirectoryFailsBeforeTraining(t *testing.T) {
	dir := t.TempDir()
	var calls atomic.Int32
	_, _, err := Execute(context.Background(), tiny(), Options{Out: dir, WriteFile: func(path string, _ []byte) error {
		calls.Add(1)
		return &os.PathError{Op: "write", Path: path, Err: errors.New("no space left on device")}
	}})
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("got %v", err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d writes tried, want only the probe", calls.Load())
	}
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories")
	}
	ro := t.TempDir()
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(ro, 0o755)
	if _, _, err := Execute(context.Background(), tiny(), Options{Out: ro}); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("read-only directory: %v", err)
	}
}

// TestFailedCheckpointStopsTheRuns: the first state that cannot be
// written ends the experiment with an error naming the file; the runs do
// not go on to the end.
func TestFailedCheckpointStopsTheRuns(t *testing.T) {
	dir := t.TempDir()
	cfg := tiny()
	var failed atomic.Int32
	var where string
	_, _, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 1, CheckpointEvery: time.Nanosecond, WriteFile: func(path string, b []byte) error {
		if filepath.Base(filepath.Dir(path)) == sweep.StateDir && failed.Add(1) == 1 {
			where = path
			return &os.PathError{Op: "write", Path: path, Err: errors.New("no space left on device")}
		}
		return repro.WriteFileAtomic(path, b)
	}})
	if err == nil || where == "" || !strings.Contains(err.Error(), where) {
		t.Fatalf("got %v, want an error naming the state file", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.json")); err == nil {
		t.Error("results.json written after a failed checkpoint")
	}
}

// goodState is a state of a run of oneEta at step 7.
func goodState() (Config, Run, *runState, []byte) {
	cfg := oneEta()
	r := Run{ID: 1, Act: "identity", Eta: 0.1, Gamma: 0.5, Seed: 0}
	st := newRunState(&cfg, r)
	st.rec.add(0, 1)
	row := make([]float64, cfg.N)
	good, err := encodeState(st, 7, row, row, row, row)
	if err != nil {
		panic(err)
	}
	return cfg, r, st, good
}

// TestCraftedStateIsRefused: a saved state that does not decode, or
// holds impossible values, is refused with the reason.
func TestCraftedStateIsRefused(t *testing.T) {
	cfg, r, st, good := goodState()
	row := make([]float64, cfg.N)
	if s, err := decodeState(good, &cfg, newRunState(&cfg, r)); err != nil || s != 7 {
		t.Fatalf("a good state: %d, %v", s, err)
	}
	nan := append([]float64(nil), row...)
	nan[2] = math.NaN()
	withNaN, _ := encodeState(st, 7, row, nan, row, row)
	late, _ := encodeState(st, cfg.MaxSteps, row, row, row, row)
	for name, b := range map[string][]byte{"cut short": good[:len(good)-3], "NaN weight": withNaN, "step at the cap": late, "empty": nil} {
		if _, err := decodeState(b, &cfg, newRunState(&cfg, r)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := decodeState(good, &cfg, newRunState(&cfg, Run{ID: 0, Act: "identity", Eta: 0.1, Gamma: 0.5, Seed: -1})); err == nil {
		t.Error("a noisy run's state accepted for a noise-free twin")
	}
}

// FuzzDecodeState: no bytes make the state reader panic.
func FuzzDecodeState(f *testing.F) {
	cfg, r, _, good := goodState()
	f.Add(good)
	f.Add(good[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeState(b, &cfg, newRunState(&cfg, r))
	})
}
