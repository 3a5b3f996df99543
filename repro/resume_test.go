package repro

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestOtherConfigNamesTheDifferences(t *testing.T) {
	type cfg struct {
		Preset string    `json:"preset"`
		Steps  int       `json:"steps"`
		Betas  []float64 `json:"betas"`
		New    bool      `json:"new"`
	}
	stored := json.RawMessage(`{"preset": "quick", "steps": 60, "betas": [0, 0.9], "old": 1}`)
	err := OtherConfig("out/x", "checkpoint.gob", "aaaa", "bbbb", stored, cfg{Preset: "quick", Steps: 40, Betas: []float64{0, 0.9}})
	e, ok := err.(*OtherConfigError)
	if !ok {
		t.Fatalf("got %T", err)
	}
	want := []string{"steps: 60 there, 40 now", "new: not recorded there, false now", "old: 1 there, not a setting now"}
	if strings.Join(e.Diffs, "|") != strings.Join(want, "|") {
		t.Errorf("diffs %q, want %q", e.Diffs, want)
	}
	msg := err.Error()
	for _, s := range append(want, "out/x", "checkpoint.gob", "aaaa", "bbbb", "-fresh", "-out") {
		if !strings.Contains(msg, s) {
			t.Errorf("%q does not mention %q", msg, s)
		}
	}
	// The same settings (hashed differently by another version).
	same, _ := json.Marshal(cfg{Steps: 1})
	msg = OtherConfig("out/x", "checkpoint.gob", "aaaa", "bbbb", same, cfg{Steps: 1}).Error()
	if !strings.Contains(msg, "the same settings") {
		t.Errorf("same settings: %q", msg)
	}
	// Settings not recorded: the hashes alone.
	msg = OtherConfig("out/x", "checkpoint.gob", "aaaa", "bbbb", nil, cfg{}).Error()
	if !strings.Contains(msg, "aaaa there, bbbb now") || !strings.Contains(msg, "not recorded") {
		t.Errorf("without settings: %q", msg)
	}
}
