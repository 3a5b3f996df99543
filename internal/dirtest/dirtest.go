// Package dirtest holds test helpers for commands that write results into
// a directory: a snapshot of every file in it, and a check that nothing
// was changed or added since.
package dirtest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Snapshot reads every file in dir.
func Snapshot(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		if m[e.Name()], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
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
