package repro

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flatfast/flatfast/internal/dirlock"
)

// OutDir is an experiment's output directory, held for writing: created,
// locked against a second writer, and known to accept files.
type OutDir struct {
	Dir  string
	lock *dirlock.Lock
}

// probeFile is written and removed to check, before any training, that
// files can be written in the output directory.
const probeFile = ".flatfast-probe"

// OpenOut creates dir if needed, locks it (another process holding it
// gives a *dirlock.HeldError naming that process) and checks that write
// (the writer the experiment will use; nil for WriteFileAtomic) can put a
// file in it, so that an unwritable directory fails now and not after
// hours of training. Close releases the directory.
func OpenOut(dir string, write func(path string, data []byte) error) (*OutDir, error) {
	if write == nil {
		write = WriteFileAtomic
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create the output directory: %w", err)
	}
	l, err := dirlock.Acquire(dir)
	if err != nil {
		return nil, err
	}
	probe := filepath.Join(dir, probeFile)
	if err := write(probe, []byte("flatfast checks that it can write here\n")); err != nil {
		_ = l.Release()
		return nil, fmt.Errorf("the output directory %s is not writable: %w", dir, err)
	}
	if err := os.Remove(probe); err != nil && !errors.Is(err, os.ErrNotExist) {
		_ = l.Release()
		return nil, fmt.Errorf("the output directory %s: removing %s: %w", dir, probe, err)
	}
	return &OutDir{Dir: dir, lock: l}, nil
}

// Close releases the directory's lock.
func (o *OutDir) Close() error {
	if o == nil {
		return nil
	}
	return o.lock.Release()
}
