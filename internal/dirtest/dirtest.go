// Package dirtest holds test helpers for commands that write results into
// a directory: a snapshot of every file under it, and a check that nothing
// was changed or added since.
package dirtest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Snapshot reads every file under dir, keyed by its path relative to dir
// (directories themselves are not recorded: an empty one made and left
// is not a file written).
func Snapshot(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		m[rel], err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Same fails the test when dir no longer holds exactly the files of
// before, byte for byte; what names the case in the message.
func Same(t testing.TB, what, dir string, before map[string][]byte) {
	t.Helper()
	after := Snapshot(t, dir)
	for f, b := range before {
		if !bytes.Equal(after[f], b) {
			t.Errorf("%s: %s changed", what, f)
		}
	}
	for f := range after {
		if _, ok := before[f]; !ok {
			t.Errorf("%s: wrote %s", what, f)
		}
	}
}
