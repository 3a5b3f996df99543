package uv

import (
	"context"
	"encoding/json"
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
	res, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 1})
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
	if res, err = Execute(context.Background(), cfg, Options{Out: dir, Workers: 1}); err != nil || !res.Complete {
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
		_, err := Execute(context.Background(), cfg, Options{Out: dir, MaxMemory: 64 << 30})
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
	l, err := dirlock.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	before := dirtest.Snapshot(t, dir)
	_, err = Execute(context.Background(), oneEta(), Options{Out: dir})
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
	_, err := Execute(context.Background(), tiny(), Options{Out: dir, writeFile: func(path string, _ []byte) error {
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
	if _, err := Execute(context.Background(), tiny(), Options{Out: ro}); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Errorf("read-only directory: %v", err)
	}
}

// TestFailedCheckpointStopsTheRuns: the first checkpoint that cannot be
// written ends the experiment with an error naming the file; the runs do
// not go on to the end (and the later writes are not tried).
func TestFailedCheckpointStopsTheRuns(t *testing.T) {
	dir := t.TempDir()
	cfg := tiny()
	var failed atomic.Int32
	_, err := Execute(context.Background(), cfg, Options{Out: dir, Workers: 1, checkpointEvery: 1, writeFile: func(path string, b []byte) error {
		if filepath.Base(path) == checkpointFile && failed.Add(1) == 1 {
			return &os.PathError{Op: "write", Path: path, Err: errors.New("no space left on device")}
		}
		return repro.WriteFileAtomic(path, b)
	}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, checkpointFile)) {
		t.Fatalf("got %v, want an error naming the checkpoint", err)
	}
	if n := failed.Load(); n != 1 {
		t.Errorf("%d checkpoint writes, want the failed one only", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "results.json")); err == nil {
		t.Error("results.json written after a failed checkpoint")
	}
}

// finishedCheckpoint runs oneEta to the end in a new directory and
// returns the directory and its checkpoint, decoded as a generic JSON
// object for tests to damage.
func finishedCheckpoint(t *testing.T) (string, map[string]any) {
	t.Helper()
	dir := t.TempDir()
	if _, err := Execute(context.Background(), oneEta(), Options{Out: dir, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		t.Fatal(err)
	}
	var cp map[string]any
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	return dir, cp
}

// TestCraftedCheckpointIsRefused: a checkpoint whose runs hold impossible
// values (a negative or null timescale, a run both crossed and censored,
// ...) is an error naming the file and the field, and nothing is
// written; before, a tc of -5 or null was silently taken for a failed fit.
func TestCraftedCheckpointIsRefused(t *testing.T) {
	dir, cp := finishedCheckpoint(t)
	runs := cp["runs"].([]any)
	var crossed int
	for i, r := range runs {
		if m := r.(map[string]any); m["crossed"] == true && m["tc"].(float64) > 0 {
			crossed = i
		}
	}
	cases := []struct {
		name, field string
		set         func(r map[string]any)
	}{
		{"negative tc", "tc", func(r map[string]any) { r["tc"] = -5 }},
		{"null tc", "tc", func(r map[string]any) { r["tc"] = nil }},
		{"negative tc_se", "tc_se", func(r map[string]any) { r["tc_se"] = -1 }},
		{"zero steps", "steps", func(r map[string]any) { r["steps"] = 0 }},
		{"steps past the cap", "steps", func(r map[string]any) { r["steps"] = 1e9 }},
		{"crossed and censored", "censored", func(r map[string]any) { r["censored"] = true }},
		{"cross step elsewhere", "cross_step", func(r map[string]any) { r["cross_step"] = 3 }},
		{"negative norm", "final_norm", func(r map[string]any) { r["final_norm"] = -2 }},
		{"null norm", "final_norm", func(r map[string]any) { r["final_norm"] = nil }},
		{"fit past the end", "fit_to", func(r map[string]any) { r["fit_to"] = 1e6 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var damaged map[string]any
			b, _ := json.Marshal(cp)
			json.Unmarshal(b, &damaged)
			c.set(damaged["runs"].([]any)[crossed].(map[string]any))
			b, _ = json.Marshal(damaged)
			if err := os.WriteFile(filepath.Join(dir, checkpointFile), b, 0o644); err != nil {
				t.Fatal(err)
			}
			before := dirtest.Snapshot(t, dir)
			_, err := Execute(context.Background(), oneEta(), Options{Out: dir, Workers: 1})
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

// TestCraftedTimingsAreRefused: results.json is read back (for the
// timings of a finished experiment); impossible figures are an error
// naming the field.
func TestCraftedTimingsAreRefused(t *testing.T) {
	dir, _ := finishedCheckpoint(t)
	path := filepath.Join(dir, "results.json")
	b, _ := os.ReadFile(path)
	var top map[string]any
	json.Unmarshal(b, &top)
	top["performance"].(map[string]any)["seconds"] = -4
	b, _ = json.Marshal(top)
	os.WriteFile(path, b, 0o644)
	_, err := Execute(context.Background(), oneEta(), Options{Out: dir, Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "seconds") || !strings.Contains(err.Error(), path) {
		t.Errorf("got %v", err)
	}
}

// FuzzDecodeCheckpoint: no checkpoint bytes make the reader panic, and
// what it accepts is valid runs of the configuration.
func FuzzDecodeCheckpoint(f *testing.F) {
	cfg := oneEta()
	s, err := NewSetup(&cfg)
	if err != nil {
		f.Fatal(err)
	}
	runs, err := Runs(&cfg, s)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(checkpoint{Hash: cfg.Hash(), Config: &cfg, Runs: []RunResult{
		{Run: runs[1], Steps: 1500, Crossed: true, CrossStep: 1500, FinalNorm: 0.9, Tc: 300, TcSE: 2, FitFrom: 1000, FitTo: 1500, FitPoints: 300},
		{Run: runs[0], Steps: 2000, FinalNorm: 14},
	}})
	f.Add(good)
	f.Add([]byte(strings.Replace(string(good), `"tc":300`, `"tc":-5`, 1)))
	f.Add([]byte(strings.Replace(string(good), `"tc":300`, `"tc":null`, 1)))
	f.Add([]byte(strings.Replace(string(good), `"id":1`, `"id":99`, 1)))
	f.Add([]byte(`{"config_hash": "` + cfg.Hash() + `", "runs": [{"id": 0}, {"id": 0}]}`))
	f.Add([]byte(`{"config_hash": "other", "settings": {"n": 3, "seeds": [1]}, "runs": []}`))
	f.Add([]byte(`{"runs": null}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := decodeCheckpoint(b, "out", &cfg, runs)
		if err != nil {
			return
		}
		for _, r := range rs {
			if err := r.validate(&cfg); err != nil || runs[r.ID] != r.Run {
				t.Fatalf("accepted an invalid run %+v: %v", r, err)
			}
		}
	})
}

// FuzzDecodeTimings: no results.json bytes make the timings reader panic,
// and what it accepts is valid.
func FuzzDecodeTimings(f *testing.F) {
	cfg := oneEta()
	settings, _ := json.Marshal(&cfg)
	f.Add([]byte(`{"settings": ` + string(settings) + `, "performance": {"workers": 2, "seconds": 1.5, "run_steps": 100}, "runs_from_checkpoint": 2}`))
	f.Add([]byte(`{"settings": ` + string(settings) + `, "performance": {"workers": -2}}`))
	f.Add([]byte(`{"settings": ` + string(settings) + `, "runs_from_checkpoint": 7}`))
	f.Add([]byte(`{"settings": {"n": "x"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, resumed, found, err := decodeTimings(b, "results.json", &cfg, 4)
		if err == nil && found && (p.validate() != nil || resumed < 0 || resumed > 4) {
			t.Fatalf("accepted %+v, %d", p, resumed)
		}
	})
}
