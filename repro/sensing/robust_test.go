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
	"github.com/flatfast/flatfast/repro/sweep"
	"github.com/flatfast/flatfast/tensor"
)

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
		_, _, _, err := Execute(context.Background(), cfg, Options{Out: dir, MaxMemory: 8 << 30})
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
	shard := filepath.Join(dir, sweep.ShardsDir, "0-of-1")
	os.MkdirAll(shard, 0o755)
	l, err := dirlock.Acquire(shard)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	before := dirtest.Snapshot(t, dir)
	_, _, _, err = Execute(context.Background(), tinyConfig(), Options{Out: dir})
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
	_, _, _, err := Execute(context.Background(), tinyConfig(), Options{Out: dir, WriteFile: full})
	if err == nil || !strings.Contains(err.Error(), "not writable") || !strings.Contains(err.Error(), dir) || calls.Load() != 1 {
		t.Fatalf("got %v after %d writes", err, calls.Load())
	}
	calls.Store(0)
	cfg := tinyConfig()
	var where string
	_, _, _, err = Execute(context.Background(), cfg, Options{Out: dir, CheckpointEvery: time.Nanosecond, WriteFile: func(path string, b []byte) error {
		if filepath.Base(filepath.Dir(path)) == sweep.StateDir {
			where = path
			return full(path, b)
		}
		return repro.WriteFileAtomic(path, b)
	}})
	if err == nil || where == "" || !strings.Contains(err.Error(), where) || calls.Load() != 1 {
		t.Fatalf("got %v after %d state writes", err, calls.Load())
	}
}

// stoppedState interrupts tinyConfig once its runs have saved their
// state, and returns the directory and the first run's state file.
func stoppedState(t testing.TB) (string, string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	_, _, _, err := Execute(ctx, tinyConfig(), Options{Out: dir, CheckpointEvery: time.Nanosecond, WriteFile: func(path string, b []byte) error {
		if filepath.Base(filepath.Dir(path)) == sweep.StateDir && n.Add(1) == 20 {
			cancel()
		}
		return repro.WriteFileAtomic(path, b)
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted sweep: %v", err)
	}
	states, _ := filepath.Glob(filepath.Join(dir, sweep.StateDir, "*"))
	if len(states) == 0 {
		t.Fatal("no state saved")
	}
	return dir, states[0]
}

// TestCraftedStateIsRefused: a run's saved state that does not fit the
// configuration (sizes, a step out of range, values that are not finite,
// a generator state that does not decode, a rewound curve) is refused
// with the field named.
func TestCraftedStateIsRefused(t *testing.T) {
	cfg := tinyConfig()
	run := Run{ID: 2, Beta: 0.9, Seed: 0}
	good := runState{Step: 10, U: make([]float32, 64), V: make([]float32, 64), PiU: make([]float32, 64), PiV: make([]float32, 64),
		Curve: Curve{Steps: []int{0, 5}, TrainLoss: []float64{1, 1}, TestError: []float64{1, 1}, Trace: []float64{1, 1}}}
	good.RNG, _ = tensor.NewRNG(1).MarshalBinary()
	good.Hutch = []HutchCheck{{Step: 0, Beta: 0.9, Seed: 0, Probes: cfg.HutchinsonProbes}}
	enc := func(rs runState) []byte {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(&rs); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if _, err := decodeRunState(enc(good), &cfg, run); err != nil {
		t.Fatalf("a good state: %v", err)
	}
	for _, c := range []struct {
		field string
		set   func(rs *runState)
	}{
		{"Step", func(rs *runState) { rs.Step = 61 }},
		{"U holds", func(rs *runState) { rs.U = rs.U[:3] }},
		{"PiV[1]", func(rs *runState) { rs.PiV = append([]float32(nil), rs.PiV...); rs.PiV[1] = float32(math.Inf(1)) }},
		{"RNG", func(rs *runState) { rs.RNG = []byte("x") }},
		{"curve steps", func(rs *runState) { rs.Step = 15 }},
		{"test_error[1]", func(rs *runState) { rs.Curve.TestError = []float64{1, -1} }},
		{"Hutchinson checks", func(rs *runState) { rs.Hutch = nil }},
	} {
		rs := good
		c.set(&rs)
		if _, err := decodeRunState(enc(rs), &cfg, run); err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got %v", c.field, err)
		}
	}
	// Through the engine: the file is named.
	dir, path := stoppedState(t)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, b[:len(b)-1], 0o644)
	if _, _, _, err := Execute(context.Background(), tinyConfig(), Options{Out: dir}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a damaged state file: %v", err)
	}
}

// FuzzDecodeRunState: no bytes make the state reader panic.
func FuzzDecodeRunState(f *testing.F) {
	cfg := tinyConfig()
	rs := runState{Step: 5, U: make([]float32, 64), V: make([]float32, 64), PiU: make([]float32, 64), PiV: make([]float32, 64),
		Curve: Curve{Steps: []int{0}, TrainLoss: []float64{1}, TestError: []float64{1}, Trace: []float64{1}}}
	rs.RNG, _ = tensor.NewRNG(1).MarshalBinary()
	var buf bytes.Buffer
	gob.NewEncoder(&buf).Encode(&rs)
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeRunState(b, &cfg, Run{ID: 1, Beta: 0, Seed: 1})
	})
}
