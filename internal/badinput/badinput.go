// Package badinput helps the tests that probe the public API with bad
// input: such a call must return an error, never panic.
package badinput

import "testing"

// Err runs f, one call of the public API with bad input, and returns its
// error, failing the test if f panics or returns none.
func Err(t testing.TB, f func() error) error {
	t.Helper()
	var err error
	func() {
		defer func() {
			if e := recover(); e != nil {
				t.Fatalf("panicked: %v", e)
			}
		}()
		err = f()
	}()
	if err == nil {
		t.Fatal("no error")
	}
	return err
}
