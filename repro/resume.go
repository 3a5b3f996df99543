package repro

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Overwrite is how the errors below tell the user to get past them.
const Overwrite = "pass -fresh to overwrite it or -out to choose another directory"

// OtherConfigError is the error of a run started in a directory that
// holds the output (a checkpoint or results.json) of another
// configuration: resuming would mix the two, and running would overwrite
// the other one's results.
type OtherConfigError struct {
	Dir  string // the output directory
	File string // the file, in Dir, that holds the other configuration
	// StoredHash and Hash are the two configurations' hashes.
	StoredHash, Hash string
	// Recorded says whether the file records its settings; Diffs are
	// those that differ ("steps: 60 there, 40 now").
	Recorded bool
	Diffs    []string
}

func (e *OtherConfigError) Error() string {
	var what string
	const maxDiffs = 6
	switch {
	case len(e.Diffs) > maxDiffs:
		what = strings.Join(e.Diffs[:maxDiffs], "; ") + fmt.Sprintf("; and %d more settings", len(e.Diffs)-maxDiffs)
	case len(e.Diffs) > 0:
		what = strings.Join(e.Diffs, "; ")
	case e.Recorded:
		what = "the same settings recorded (written by another version?)"
	default:
		what = "settings not recorded"
	}
	return fmt.Sprintf("%s holds the output of another configuration (%s: %s; config hash %s there, %s now); %s",
		e.Dir, e.File, what, e.StoredHash, e.Hash, Overwrite)
}

// OtherConfig returns the OtherConfigError for dir/file, written by a
// configuration with hash storedHash and settings stored (as JSON; nil or
// empty when the file does not record them), found by a run of current
// (a configuration struct, encoded as JSON) with hash hash.
func OtherConfig(dir, file, storedHash, hash string, stored json.RawMessage, current any) error {
	e := &OtherConfigError{Dir: dir, File: file, StoredHash: storedHash, Hash: hash}
	if len(stored) == 0 || string(stored) == "null" {
		return e
	}
	cur, err := json.Marshal(current)
	if err != nil {
		return e
	}
	old, err1 := jsonFields(stored)
	now, err2 := jsonFields(cur)
	if err1 != nil || err2 != nil {
		return e
	}
	e.Recorded = true
	oldVal := map[string]json.RawMessage{}
	for _, f := range old {
		oldVal[f.key] = f.val
	}
	seen := map[string]bool{}
	for _, f := range now {
		seen[f.key] = true
		o, ok := oldVal[f.key]
		switch {
		case !ok:
			e.Diffs = append(e.Diffs, fmt.Sprintf("%s: not recorded there, %s now", f.key, short(f.val)))
		case !bytes.Equal(o, f.val):
			e.Diffs = append(e.Diffs, fmt.Sprintf("%s: %s there, %s now", f.key, short(o), short(f.val)))
		}
	}
	for _, f := range old {
		if !seen[f.key] {
			e.Diffs = append(e.Diffs, fmt.Sprintf("%s: %s there, not a setting now", f.key, short(f.val)))
		}
	}
	return e
}

type jsonField struct {
	key string
	val json.RawMessage // compacted
}

// jsonFields returns the fields of a JSON object in their order.
func jsonFields(b []byte) ([]jsonField, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out []jsonField
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		k, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("not a JSON object")
		}
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return nil, err
		}
		var c bytes.Buffer
		if err := json.Compact(&c, raw); err != nil {
			return nil, err
		}
		out = append(out, jsonField{k, c.Bytes()})
	}
	return out, nil
}

// short is a JSON value cut to a readable length.
func short(v json.RawMessage) string {
	const n = 48
	if len(v) <= n {
		return string(v)
	}
	return string(v[:n-3]) + "..."
}

// Unreadable is the error for a checkpoint or results file at path that
// cannot be read back (err says why): it is neither resumed nor replaced
// unless the user says so.
func Unreadable(path string, err error) error {
	return fmt.Errorf("%s is unreadable (%w); %s", path, err, Overwrite)
}

// CheckResults checks that dir/results.json, if there is one, holds the
// settings (its "settings" field) of the configuration current, whose
// hash is hash; hashOf hashes the stored settings. It returns an
// OtherConfigError when they are another configuration's and an
// Unreadable error when the file cannot be read back.
func CheckResults(dir, hash string, current any, hashOf func(settings json.RawMessage) (string, error)) error {
	path := filepath.Join(dir, "results.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return checkResults(b, dir, hash, current, hashOf)
}

// checkResults is CheckResults on the bytes b of dir/results.json: the one
// reader of those bytes, fuzzed.
func checkResults(b []byte, dir, hash string, current any, hashOf func(settings json.RawMessage) (string, error)) error {
	path := filepath.Join(dir, "results.json")
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return Unreadable(path, err)
	}
	settings := top["settings"]
	if len(settings) == 0 || string(settings) == "null" {
		return Unreadable(path, errors.New("it records no settings"))
	}
	stored, err := hashOf(settings)
	if err != nil {
		return Unreadable(path, fmt.Errorf("settings: %w", err))
	}
	if stored != hash {
		return OtherConfig(dir, "results.json", stored, hash, settings, current)
	}
	return nil
}
