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

// FuzzCheckResults: no results.json bytes make the reader (or the
// message that compares the settings) panic; what it accepts has this
// configuration's hash.
func FuzzCheckResults(f *testing.F) {
	type cfg struct {
		Steps int       `json:"steps"`
		Betas []float64 `json:"betas"`
	}
	cur := cfg{Steps: 40, Betas: []float64{0, 0.9}}
	hashOf := func(b json.RawMessage) (string, error) {
		var c cfg
		if err := json.Unmarshal(b, &c); err != nil {
			return "", err
		}
		out, _ := json.Marshal(c)
		return string(out), nil
	}
	want, _ := json.Marshal(cur)
	f.Add([]byte(`{"settings": ` + string(want) + `, "runs": []}`))
	f.Add([]byte(`{"settings": {"steps": 60, "betas": [0, 0.9], "old": {"a": [1, 2]}}}`))
	f.Add([]byte(`{"settings": null}`))
	f.Add([]byte(`{"settings": "x"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"settings": {"steps": 1e999}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkResults(b, "out", string(want), cur, hashOf)
		if err != nil {
			_ = err.Error()
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(b, &top) != nil {
			t.Fatal("accepted bytes that are not a JSON object")
		}
		if h, err := hashOf(top["settings"]); err != nil || h != string(want) {
			t.Fatalf("accepted settings %s", top["settings"])
		}
	})
}
