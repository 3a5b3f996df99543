package dirlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The test binary run with this variable set is a lock holder: it locks
// the directory, says so on stdout, and waits for stdin to close (or is
// killed).
const holderEnv = "DIRLOCK_TEST_HOLD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holderEnv); dir != "" {
		l, err := Acquire(dir)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		if err := l.Release(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// holder starts a process that holds the lock on dir.
func holder(t *testing.T, dir string) (*exec.Cmd, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("holder: %q", line)
	}
	return cmd, func() { in.Close(); _ = cmd.Wait() }
}

func flockPlatform(t *testing.T) {
	switch runtime.GOOS {
	case "linux", "darwin", "dragonfly", "freebsd", "netbsd", "openbsd":
	default:
		t.Skip("no flock on " + runtime.GOOS)
	}
}

// TestSecondProcessIsRefused: while another process holds the lock, Acquire
// fails at once with a HeldError naming the directory and that process;
// once it has released the lock (and removed the file), Acquire succeeds.
func TestSecondProcessIsRefused(t *testing.T) {
	flockPlatform(t)
	dir := t.TempDir()
	cmd, stop := holder(t, dir)
	_, err := Acquire(dir)
	var he *HeldError
	if !errors.As(err, &he) || he.PID != cmd.Process.Pid {
		t.Fatalf("second Acquire: %v, want a HeldError with pid %d", err, cmd.Process.Pid)
	}
	for _, s := range []string{dir, strconv.Itoa(cmd.Process.Pid)} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not name %q", err, s)
		}
	}
	stop()
	if _, err := os.Stat(filepath.Join(dir, File)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after release: %v", err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}

// TestKilledHolderDoesNotBlock: a holder killed with SIGKILL leaves its
// lock file behind but not its lock.
func TestKilledHolderDoesNotBlock(t *testing.T) {
	flockPlatform(t)
	dir := t.TempDir()
	cmd, stop := holder(t, dir)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	stop()
	if _, err := os.Stat(filepath.Join(dir, File)); err != nil {
		t.Fatalf("a killed holder should leave its file: %v", err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("stale lock blocks: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, File))
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid %d", b, os.Getpid())
	}
	l.Release()
}

// TestSameProcessTwice: flock locks belong to open files, so a second
// Acquire in the same process is refused too (naming this process).
func TestSameProcessTwice(t *testing.T) {
	flockPlatform(t)
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	var he *HeldError
	if _, err := Acquire(dir); !errors.As(err, &he) || he.PID != os.Getpid() {
		t.Errorf("second Acquire: %v", err)
	}
}

func TestMissingDirectory(t *testing.T) {
	if _, err := Acquire(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("locked a missing directory")
	}
}
