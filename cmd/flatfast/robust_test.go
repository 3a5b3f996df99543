package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flatfast/flatfast/internal/dirlock"
)

// leaves are the commands that parse flags.
func leaves() [][]string {
	var out [][]string
	for _, c := range commands() {
		if c.subs == nil {
			if c.name != "help" {
				out = append(out, []string{c.name})
			}
			continue
		}
		for _, s := range c.subs {
			out = append(out, []string{c.name, s.name})
		}
	}
	return out
}

// TestFlagErrorsAreReportedOnce: a flag parse error prints one line (not
// the message twice and the whole usage) and exits 2, as validation errors
// do, for every command.
func TestFlagErrorsAreReportedOnce(t *testing.T) {
	for _, args := range leaves() {
		for _, bad := range [][]string{{"-no-such-flag"}, {"-q=maybe"}} {
			name := strings.Join(args, " ")
			t.Run(name+" "+bad[0], func(t *testing.T) {
				var out, errw bytes.Buffer
				code := run(append(append([]string(nil), args...), bad...), &out, &errw)
				if code != 2 {
					t.Errorf("exit %d, want 2", code)
				}
				msg := errw.String()
				if strings.Count(msg, "\n") != 1 || strings.Contains(msg, "usage:") || strings.Contains(msg, "flags:") {
					t.Errorf("stderr is not one line without the usage:\n%s", msg)
				}
				if !strings.HasPrefix(msg, "flatfast "+name+": ") {
					t.Errorf("stderr %q does not start with the command", msg)
				}
			})
		}
	}
}

// TestBadValuesExit2: validation errors and refused sizes are bad usage
// too (exit 2, one message naming the setting).
func TestBadValuesExit2(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"repro", "uv", "-seeds", "0"}, "seeds = 0"},
		{[]string{"repro", "uv", "-n", "-5"}, "n = -5"},
		{[]string{"repro", "uv", "-eps", "NaN"}, "eps = NaN"},
		{[]string{"repro", "uv", "-max-steps", "1000000000000000"}, "max steps"},
		{[]string{"repro", "uv", "-workers", "-1"}, "-workers"},
		{[]string{"repro", "uv", "-seeds", "10000000000", "-max-memory", "8G"}, "seeds = 10000000000"},
		{[]string{"repro", "uv", "-n", "1000000000", "-max-memory", "8G"}, "n = 1000000000"},
		{[]string{"repro", "uv", "-activations", "identity", "-gammas", "0.5", "-etas", "0.1,0.1", "-seeds", "1", "-max-steps", "2000"}, "listed twice"},
		{[]string{"repro", "uv", "-C", "1e308"}, "beta = 1 - C*eta^gamma"},
		{[]string{"repro", "uv", "-eps", "1e300"}, "UVOptimalC(1e+300"},
		{[]string{"repro", "uv", "-n", "1"}, "no freedom"},
		{[]string{"repro", "uv", "-settle-tol", "0"}, "settle tolerance 0"},
		{[]string{"repro", "sensing", "-steps", "-3"}, "steps"},
		{[]string{"repro", "sensing", "-betas", "0.5,NaN"}, "beta NaN"},
		{[]string{"repro", "sensing", "-seeds", "10000000000", "-max-memory", "8G"}, "seeds = 10000000000"},
		{[]string{"repro", "sensing", "-max-memory", "-1G"}, "-max-memory"},
		{[]string{"repro", "fashion", "-seeds", "0"}, "seeds 0"},
		{[]string{"repro", "fashion", "-etas", "0.01,0.01"}, "learning rate 0.01 given twice"},
		{[]string{"repro", "fashion", "-betas", "0.5,1"}, "momentum 1 outside"},
		{[]string{"repro", "fashion", "-baselines", "nesterov"}, `baseline "nesterov"`},
		{[]string{"repro", "fashion", "-fit-var", "logit"}, `fit variable "logit"`},
		{[]string{"repro", "fashion", "-train-per-class", "-3"}, "images per class -3"},
		{[]string{"repro", "fashion", "-preset", "huge"}, `unknown preset "huge"`},
		{[]string{"repro", "cifar", "-epochs", "-1"}, "noisy phase of -1 epochs"},
		{[]string{"repro", "cifar", "-return-steps", "0"}, "at most 0 Adam steps"},
		{[]string{"repro", "cifar", "-probes", "1"}, "1 probe"},
	} {
		var out, errw bytes.Buffer
		args := append(append([]string(nil), c.args...), "-out", filepath.Join(dir, "never"))
		code := run(args, &out, &errw)
		if code != 2 || !strings.Contains(errw.String(), c.want) || strings.Count(errw.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q (want 2 and %q)", c.args, code, errw.String(), c.want)
		}
		if strings.Contains(errw.String(), ": "+c.args[1]+": ") {
			t.Errorf("%v: stderr %q names the experiment twice", c.args, errw.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "never")); err == nil {
		t.Error("a refused configuration created its output directory")
	}
}

// TestPanicIsABugReport: a panic in a command reaches the user as one
// error that says it is a bug, with exit status 3, not a goroutine dump
// and status 2.
func TestPanicIsABugReport(t *testing.T) {
	c := command{name: "boom", run: func([]string, io.Writer, io.Writer) error {
		var m map[string]int
		m["x"]++
		return nil
	}}
	var errw bytes.Buffer
	code := report("boom", runCommand(c, nil, io.Discard, io.Discard), &errw)
	if code != 3 || !strings.Contains(errw.String(), "bug") || !strings.Contains(errw.String(), "assignment to entry in nil map") {
		t.Errorf("exit %d: %s", code, errw.String())
	}
}

// TestOneFittedEtaWritesItsPlots is the report: a grid whose
// fitted cells share one learning rate panicked in gonum's log ticks, and
// its rerun (from the checkpoint) again.
func TestOneFittedEtaWritesItsPlots(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "uv")
	args := []string{"repro", "uv", "-q", "-out", dir, "-activations", "identity", "-gammas", "0.5", "-etas", "0.001,0.1", "-seeds", "1", "-max-steps", "2000"}
	for _, what := range []string{"first run", "rerun"} {
		var out, errw bytes.Buffer
		if code := run(args, &out, &errw); code != 0 {
			t.Fatalf("%s: exit %d: %s", what, code, errw.String())
		}
		if _, err := os.Stat(filepath.Join(dir, "fig1_tc_vs_eta.png")); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// TestSecondWriterIsRefused: while another process runs the same shard
// (here: the whole sweep) in -out, repro uv and repro sensing exit 1 at
// once, naming the directory and the holder's pid, and write nothing.
func TestSecondWriterIsRefused(t *testing.T) {
	dir := t.TempDir()
	shard := filepath.Join(dir, "shards", "0-of-1")
	if err := os.MkdirAll(shard, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := dirlock.Acquire(shard)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, args := range [][]string{
		{"repro", "uv", "-q", "-out", dir, "-activations", "identity", "-gammas", "1", "-etas", "0.05,0.1", "-seeds", "1"},
		{"repro", "sensing", "-q", "-out", dir, "-steps", "10", "-seeds", "1", "-betas", "0"},
		// The lock is taken before the data are read: any directory will do.
		{"repro", "fashion", "-q", "-out", dir, "-data", shard},
		{"repro", "cifar", "-q", "-out", dir, "-data", shard},
	} {
		var out, errw bytes.Buffer
		code := run(args, &out, &errw)
		if code != 1 || !strings.Contains(errw.String(), dir) || !strings.Contains(errw.String(), strconv.Itoa(os.Getpid())) || strings.Contains(out.String(), "wrote") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args[:2], code, out.String(), errw.String())
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("the refused runs left %d entries", len(ents))
	}
	if ents, _ := os.ReadDir(shard); len(ents) != 1 {
		t.Errorf("the refused runs left %d entries in %s", len(ents), shard)
	}
}

// TestMissingDataWritesNothing: a classification experiment without its
// data set says where it looked and how to get it, exit 1, before it
// creates its output directory.
func TestMissingDataWritesNothing(t *testing.T) {
	dir := t.TempDir()
	for _, ex := range []string{"fashion", "cifar"} {
		var out, errw bytes.Buffer
		never := filepath.Join(dir, ex)
		t.Setenv("FLATFAST_DATA", filepath.Join(dir, "empty"))
		code := run([]string{"repro", ex, "-q", "-out", never, "-data", filepath.Join(dir, "nonexistent")}, &out, &errw)
		if code != 1 || !strings.Contains(errw.String(), "nonexistent") {
			t.Errorf("%s: exit %d, stderr %q", ex, code, errw.String())
		}
		if _, err := os.Stat(never); err == nil {
			t.Errorf("%s: the output directory was created", ex)
		}
	}
}
