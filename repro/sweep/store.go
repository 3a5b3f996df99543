package sweep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Format is the version of the files this package writes (run, state
// and manifest files); files of another version are refused.
const Format = 1

// magic is the first line of a run or state file.
var magic = []byte("flatfast-sweep " + strconv.Itoa(Format) + "\n")

// File and directory names inside an output directory.
const (
	ManifestFile = "sweep.json"
	RunsDir      = "runs"
	StateDir     = "state"
	ShardsDir    = "shards"
	PerfFile     = "perf.json"
	runExt       = ".run"
	stateExt     = ".state"
)

// Kinds of record.
const (
	kindResult = "result"
	kindState  = "state"
)

// header is the JSON line of a run or state file.
type header struct {
	Hash    string  `json:"config_hash"`
	Run     string  `json:"run"`
	Kind    string  `json:"kind"`
	Bytes   int     `json:"bytes"`
	SHA256  string  `json:"sha256"`
	Seconds float64 `json:"seconds"` // time spent on the run so far (perf only)
}

// encodeRecord frames payload as a run or state file.
func encodeRecord(h header, payload []byte) []byte {
	sum := sha256.Sum256(payload)
	h.Bytes, h.SHA256 = len(payload), hex.EncodeToString(sum[:])
	if !(h.Seconds >= 0) || math.IsInf(h.Seconds, 0) {
		h.Seconds = 0
	}
	hb, _ := json.Marshal(h) // a struct of strings and numbers: cannot fail
	out := make([]byte, 0, len(magic)+len(hb)+1+len(payload))
	out = append(out, magic...)
	out = append(out, hb...)
	out = append(out, '\n')
	return append(out, payload...)
}

// decodeRecord reads a run or state file of run id and kind, written for
// the configuration hash: the one reader of those bytes, fuzzed.
func decodeRecord(b []byte, hash, id, kind string) (header, []byte, error) {
	var h header
	if !bytes.HasPrefix(b, magic) {
		if bytes.HasPrefix(b, []byte("flatfast-sweep ")) {
			line, _, _ := bytes.Cut(b, []byte("\n"))
			return h, nil, fmt.Errorf("it is of another format (%q; this version reads %q), written by another version of flatfast", line, bytes.TrimSpace(magic))
		}
		return h, nil, errors.New("it is not a flatfast sweep file")
	}
	rest := b[len(magic):]
	line, payload, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return h, nil, errors.New("its header is cut short")
	}
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(&h); err != nil {
		return h, nil, fmt.Errorf("its header: %w", err)
	}
	switch {
	case h.Kind != kind:
		return h, nil, fmt.Errorf("it holds a %q, not a %q", h.Kind, kind)
	case h.Run != id:
		return h, nil, fmt.Errorf("it holds run %q, not %q", h.Run, id)
	case h.Hash != hash:
		return h, nil, fmt.Errorf("it belongs to another configuration (config hash %s, %s now)", h.Hash, hash)
	case h.Bytes != len(payload):
		return h, nil, fmt.Errorf("its payload holds %d bytes, its header says %d", len(payload), h.Bytes)
	case !(h.Seconds >= 0) || math.IsInf(h.Seconds, 0):
		return h, nil, fmt.Errorf("seconds = %v must be a non-negative number", h.Seconds)
	}
	sum := sha256.Sum256(payload)
	if hex.EncodeToString(sum[:]) != h.SHA256 {
		return h, nil, errors.New("its payload does not match its checksum")
	}
	return h, payload, nil
}

// Manifest is what sweep.json holds: the directory's record of the sweep
// it belongs to.
type Manifest struct {
	Format     int             `json:"format"`
	Experiment string          `json:"experiment"`
	Hash       string          `json:"config_hash"`
	Runs       int             `json:"runs"`
	Settings   json.RawMessage `json:"settings"`
}

// ReadManifest reads dir's sweep.json; found is false when there is none.
// A file that cannot be read back, or of another format, is an error
// naming it.
func ReadManifest(dir string) (m *Manifest, found bool, err error) {
	path := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	m, err = decodeManifest(b)
	if err != nil {
		return nil, false, unreadable(path, err)
	}
	return m, true, nil
}

// decodeManifest reads the bytes of a sweep.json: the one reader of
// them, fuzzed.
func decodeManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.Format != Format {
		return nil, fmt.Errorf("format %d, written by another version of flatfast (this version reads format %d)", m.Format, Format)
	}
	if m.Experiment == "" || m.Hash == "" || m.Runs < 0 || len(m.Settings) == 0 {
		return nil, errors.New("it lacks the experiment, the config hash, the run count or the settings")
	}
	if h, err := HashSettings(m.Settings); err != nil || h != m.Hash {
		return nil, fmt.Errorf("its settings do not have its config hash %s", m.Hash)
	}
	return &m, nil
}

// HashSettings is the configuration hash of settings (JSON, indented or
// not): the first 8 bytes of the SHA-256 of its compact form, in hex. It
// is the hash of json.Marshal of the configuration, so an experiment's
// Config.Hash and this agree.
func HashSettings(settings []byte) (string, error) {
	var c bytes.Buffer
	if err := json.Compact(&c, settings); err != nil {
		return "", err
	}
	h := sha256.Sum256(c.Bytes())
	return hex.EncodeToString(h[:8]), nil
}

func runPath(dir, id string) string   { return filepath.Join(dir, RunsDir, id+runExt) }
func statePath(dir, id string) string { return filepath.Join(dir, StateDir, id+stateExt) }

// readRecord reads the record of run id and kind in dir; found is false
// when there is none.
func readRecord(path, hash, id, kind string) (h header, payload []byte, found bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return h, nil, false, nil
	}
	if err != nil {
		return h, nil, false, err
	}
	h, payload, err = decodeRecord(b, hash, id, kind)
	if err != nil {
		return h, nil, false, unreadable(path, err)
	}
	return h, payload, true, nil
}

// exists reports whether path is there.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// DecodeJSON decodes b into v strictly: a field v does not have is an
// error (a file of another version), as is anything after the value.
func DecodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}
