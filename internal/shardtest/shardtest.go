// Package shardtest tests an experiment's sharding the way a cluster
// runs it: the shards are separate processes (the test binary run
// again), started in any order, one of them killed with SIGKILL once it
// has saved a run in progress and then started again, and the files they
// leave are compared with an unsharded run's.
package shardtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flatfast/flatfast/repro"
	"github.com/flatfast/flatfast/repro/sweep"
)

const (
	envOut   = "FLATFAST_SHARDTEST_OUT"
	envShard = "FLATFAST_SHARDTEST_SHARD"
	envHold  = "FLATFAST_SHARDTEST_HOLD"
)

// Child is what a child process started by Killed runs: the shard to run
// into Out, and the CheckpointEvery and WriteFile to give the experiment.
type Child struct {
	Out             string
	Shard           sweep.Shard
	CheckpointEvery time.Duration
	// WriteFile is nil (the experiment's atomic writes), or, in the child
	// that Killed kills, a writer that writes atomically and, once it has
	// written a saved state, never returns; with CheckpointEvery as short
	// as it goes, that child saves a run in progress at its first chance
	// and stays in it until it is killed, however fast the machine runs
	// the tiny configuration (with time alone, a fast machine finished
	// every run of a shard between two looks for a state file).
	WriteFile func(path string, data []byte) error
}

// Main is a TestMain: in a child started by Killed, it runs shard (the
// experiment on a tiny configuration, as c says) and exits; otherwise it
// runs the tests.
func Main(m *testing.M, run func(c Child) error) {
	out := os.Getenv(envOut)
	if out == "" {
		os.Exit(m.Run())
	}
	s, err := sweep.ParseShard(os.Getenv(envShard))
	if err == nil {
		c := Child{Out: out, Shard: s, CheckpointEvery: 10 * time.Millisecond}
		if os.Getenv(envHold) != "" {
			c.CheckpointEvery, c.WriteFile = time.Nanosecond, holdAfterState
		}
		err = run(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// holdAfterState writes path atomically and, when it is a saved state,
// sleeps for good (sleeps: were every goroutine blocked, the runtime would
// end the process as deadlocked).
func holdAfterState(path string, data []byte) error {
	if err := repro.WriteFileAtomic(path, data); err != nil {
		return err
	}
	if filepath.Base(filepath.Dir(path)) == sweep.StateDir {
		for {
			time.Sleep(time.Hour)
		}
	}
	return nil
}

func child(out string, i, n int, env ...string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), envOut+"="+out, fmt.Sprintf("%s=%d/%d", envShard, i, n))
	c.Env = append(c.Env, env...)
	return c
}

// Killed runs the n shards into out, in order, as child processes
// (GOMAXPROCS=1, unlike the parent); shard kill is killed with SIGKILL as
// soon as it has saved a state, then run again. It then checks that out
// holds each of files with the bytes it has in want (an unsharded run's
// directory).
func Killed(t *testing.T, out, want string, n int, order []int, kill int, files []string) {
	t.Helper()
	for _, i := range order {
		if i != kill {
			if b, err := child(out, i, n, "GOMAXPROCS=1").CombinedOutput(); err != nil {
				t.Fatalf("shard %d/%d: %v\n%s", i, n, err, b)
			}
			continue
		}
		c := child(out, i, n, "GOMAXPROCS=1", envHold+"=1")
		var buf bytes.Buffer
		c.Stdout, c.Stderr = &buf, &buf
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		killed := false
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !killed; {
			select {
			case err := <-done:
				t.Fatalf("shard %d/%d exited (%v) without saving a run in progress\n%s", i, n, err, buf.String())
			case <-time.After(5 * time.Millisecond):
			}
			if states, _ := filepath.Glob(filepath.Join(out, sweep.StateDir, "*")); len(states) > 0 {
				if err := c.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				<-done
				killed = true
			}
		}
		if !killed {
			c.Process.Kill()
			t.Fatalf("shard %d/%d saved no state within a minute", i, n)
		}
		if states, _ := filepath.Glob(filepath.Join(out, sweep.StateDir, "*")); len(states) == 0 {
			t.Fatalf("shard %d/%d: no state left after SIGKILL", i, n)
		}
		if b, err := child(out, i, n).CombinedOutput(); err != nil {
			t.Fatalf("shard %d/%d rerun after SIGKILL: %v\n%s", i, n, err, b)
		}
	}
	for _, f := range files {
		a, err1 := os.ReadFile(filepath.Join(want, f))
		b, err2 := os.ReadFile(filepath.Join(out, f))
		if err1 != nil || err2 != nil {
			t.Errorf("%s: %v %v", f, err1, err2)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s of the sharded run (one shard killed and rerun) differs from the unsharded run's", f)
		}
	}
}
