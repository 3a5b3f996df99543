// Package dirlock gives an output directory a single writer: an advisory
// lock on a file in it that records the holder's process id. The lock is
// the kernel's (flock), so it goes away with the process however that
// ends: a run killed with -9 leaves a lock file but no lock, and the next
// run takes it. It is advisory: only processes that ask for it are kept
// out.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// File is the name of the lock file inside the locked directory.
const File = ".flatfast.lock"

// HeldError is the error of a directory whose lock another process holds.
type HeldError struct {
	Dir string
	PID int // the holder's process id; 0 when it could not be read
}

func (e *HeldError) Error() string {
	who := "another process (pid unknown)"
	if e.PID > 0 {
		who = fmt.Sprintf("process %d", e.PID)
	}
	return fmt.Sprintf("%s is in use by %s, which holds %s; wait for it to finish or choose another directory with -out",
		e.Dir, who, filepath.Join(e.Dir, File))
}

// Lock is a held lock; Release gives it up.
type Lock struct {
	f    *os.File
	path string
}

// Acquire locks dir (which must exist) without waiting: when another
// process holds the lock it returns a *HeldError naming that process.
func Acquire(dir string) (*Lock, error) {
	path := filepath.Join(dir, File)
	// A holder that releases the lock removes the file; a process that
	// opened the old file just before may then lock a file no longer in
	// the directory, so the lock counts only if the path still names the
	// file locked (a few retries cover a release racing with us).
	for try := 0; ; try++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("cannot lock %s: %w", dir, err)
		}
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("cannot lock %s: %w", dir, err)
		}
		if !ok {
			pid := readPID(f)
			f.Close()
			return nil, &HeldError{Dir: dir, PID: pid}
		}
		if same(f, path) {
			// The pid is written only once the lock is ours, so that a
			// loser never truncates the holder's.
			if err := writePID(f); err != nil {
				unlock(f)
				f.Close()
				return nil, fmt.Errorf("cannot lock %s: writing %s: %w", dir, path, err)
			}
			return &Lock{f: f, path: path}, nil
		}
		unlock(f)
		f.Close()
		if try == 10 {
			return nil, fmt.Errorf("cannot lock %s: %s keeps being replaced", dir, path)
		}
	}
}

// Release removes the lock file and gives up the lock. The file goes
// first, while the lock is still held, so that no one locks it in between.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	rerr := os.Remove(l.path)
	unlock(l.f)
	err := l.f.Close()
	l.f = nil
	if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		// Where an open file cannot be removed (Windows), it can be now.
		if rerr = os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	}
	return err
}

// same reports whether path still names the open file f.
func same(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the holder's pid, waiting briefly for a holder that has
// just taken the lock and not yet written it.
func readPID(f *os.File) int {
	for try := 0; try < 20; try++ {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil && pid > 0 {
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0
}
