package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/flatfast/flatfast/tensor"
)

// A measurement at t threads runs with GOMAXPROCS t as well (useThreads'
// comment says why), and the bench commands leave both as they found them.
func TestUseThreadsSetsGOMAXPROCS(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	restore := keepThreads()
	useThreads(1)
	if g, th := runtime.GOMAXPROCS(0), tensor.Threads(); g != 1 || th != 1 {
		t.Errorf("useThreads(1): GOMAXPROCS %d, tensor.Threads %d; want 1 and 1", g, th)
	}
	useThreads(3)
	if g, th := runtime.GOMAXPROCS(0), tensor.Threads(); g != 3 || th != 3 {
		t.Errorf("useThreads(3): GOMAXPROCS %d, tensor.Threads %d; want 3 and 3", g, th)
	}
	restore()
	if g := runtime.GOMAXPROCS(0); g != before {
		t.Errorf("after restore: GOMAXPROCS %d, want %d", g, before)
	}
	if th := tensor.Threads(); th != min(before, 64) {
		t.Errorf("after restore: tensor.Threads %d, want the default %d", th, before)
	}
}

func TestBenchTrainRejectsThreads(t *testing.T) {
	var out, errb bytes.Buffer
	before := runtime.GOMAXPROCS(0)
	if code := run([]string{"bench", "train", "-threads", "0"}, &out, &errb); code == 0 {
		t.Fatalf("bench train -threads 0: exit 0, want a usage error")
	}
	if !strings.Contains(errb.String(), "-threads") {
		t.Errorf("bench train -threads 0: stderr %q does not name -threads", errb.String())
	}
	if g := runtime.GOMAXPROCS(0); g != before {
		t.Errorf("GOMAXPROCS %d after the failed command, want %d", g, before)
	}
}
