package valley

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math"
	"strings"
	"testing"

	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/tensor"
)

// microEnv is the smallest protocol there is (a 4-3-4 MLP on 16 samples
// of 2x2 pixels), so that its states are a few hundred bytes: the fuzz
// seeds.
func microEnv(t testing.TB) *Env {
	t.Helper()
	train := tinySet("train", 16, 1, 2, 2, 7).Flattened()
	m, err := layers.NewMLP(tensor.NewRNG(1), tensor.Float32, []int{4, 3, 4}, []layers.Activation{layers.TanhAct, layers.Identity})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Model: m, Train: train, Chunk: 8, Trace: TraceConfig{Set: train, Probes: 2, P: 0.2, Seed: 1}}
}

// microStates returns states of every kind: fresh, mid-valley, mid-noisy
// (velocity, both streams, a curve), mid-Adam (moments, the loss window).
func microStates(t testing.TB) []*State {
	t.Helper()
	e := microEnv(t)
	fresh := newState(t, e)
	v := fresh.Clone()
	if err := e.Valley(v, ValleyConfig{LR: 0.1, Beta: 0.5, MaxEpochs: 50, P: 0.2, Observe: Observe{Every: 2}}, Limit{Steps: 3}); err != nil {
		t.Fatal(err)
	}
	n := v.Handoff()
	if err := e.Noisy(n, NoisyConfig{LR: 0.1, Beta: 0.9, Batch: 5, P: 0.2, Epochs: 2, Seed: 3, Observe: Observe{Every: 2, TraceEvery: 4}}, Limit{Steps: 5}); err != nil {
		t.Fatal(err)
	}
	a := n.Handoff()
	if err := e.Return(a, ReturnConfig{Method: ReturnAdam, LR: 0.01, MaxSteps: 10, Window: 2, Tol: 1e-9, Observe: Observe{Every: 1}}, Limit{Steps: 4}); err != nil {
		t.Fatal(err)
	}
	return []*State{fresh, v, n, a}
}

// reseal recomputes the checksum, so that a test or the fuzzer reaches
// the field checks behind it.
func reseal(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	out := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(out[len(out)-4:], crc32.Checksum(out[:len(out)-4], castagnoli))
	return out
}

func TestStateRoundTrip(t *testing.T) {
	for i, st := range microStates(t) {
		b := save(t, st)
		got, err := Load(b)
		if err != nil {
			t.Fatalf("state %d: %v", i, err)
		}
		sameBytes(t, "saved, loaded and saved again", b, save(t, got))
		if i == 3 && (len(got.AdamM) == 0 || got.AdamT != 4 || len(got.Recent) != 3 || len(got.Curve) == 0 || len(got.NoiseRNG) != 0) {
			t.Errorf("Adam state: %d moments, t %d, %d recent losses, %d points", len(got.AdamM), got.AdamT, len(got.Recent), len(got.Curve))
		}
		if i == 2 && (len(got.Velocity) == 0 || len(got.BatchRNG) == 0 || len(got.NoiseRNG) == 0 || got.LossCount == 0) {
			t.Errorf("noisy state: %d velocity tensors, RNGs %d and %d bytes, %d losses", len(got.Velocity), len(got.BatchRNG), len(got.NoiseRNG), got.LossCount)
		}
	}
}

// TestStateLoadRefuses: truncation anywhere and a flipped bit anywhere
// are caught; behind a valid checksum, each bad field is refused by name.
func TestStateLoadRefuses(t *testing.T) {
	st := microStates(t)[2]
	b := save(t, st)
	for n := range len(b) {
		if _, err := Load(b[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: loaded", n, len(b))
		}
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 1 << (i % 8)
		if _, err := Load(c); err == nil {
			t.Fatalf("bit flipped in byte %d: loaded", i)
		}
	}
	if _, err := Load(append(append([]byte(nil), b...), 0)); err == nil {
		t.Error("a byte appended: loaded")
	}

	// Field by field, behind a recomputed checksum.
	edit := func(f func(s *State)) []byte {
		c := st.Clone()
		f(c)
		return c.encode() // Save would refuse it
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"magic", append([]byte("XXVSTATE"), b[8:]...), "magic"},
		{"version", reseal(append(append(append([]byte(nil), b[:8]...), 2, 0, 0, 0), b[12:]...)), "version 2"},
		{"unknown phase", edit(func(s *State) { s.Phase = "warmup" }), "phase"},
		{"negative step", edit(func(s *State) { s.Step = -1 }), "step"},
		{"NaN parameter", edit(func(s *State) { s.Params[1].T.SetFlat(2, math.NaN()) }), "parameter 0.bias element 2"},
		{"infinite velocity", edit(func(s *State) { s.Velocity[0].T.SetFlat(0, math.Inf(1)) }), "velocity 0.weight"},
		{"velocity shape", edit(func(s *State) {
			s.Velocity[0].T = tensor.Must(tensor.New(tensor.Float32, 2, 2))
		}), "velocity 0"},
		{"velocity count", edit(func(s *State) { s.Velocity = s.Velocity[:1] }), "velocity tensors"},
		{"duplicate name", edit(func(s *State) { s.Params[1].Name = s.Params[0].Name }), "twice"},
		{"batch RNG", edit(func(s *State) { s.BatchRNG = []byte("pcg:short") }), "batch RNG"},
		{"NaN loss sum", edit(func(s *State) { s.LossSum = math.NaN() }), "loss sum"},
		{"curve phase", edit(func(s *State) { s.Curve[0].Phase = "x" }), "curve point 0"},
		{"curve NaN", edit(func(s *State) { s.Curve[1].TestAcc = math.Inf(-1) }), "curve point 1"},
		{"Adam moments without second", edit(func(s *State) { s.AdamM = cloneNamed(s.Params) }), "Adam"},
		{"no parameters", edit(func(s *State) { s.Params, s.Velocity = nil, nil }), "no parameters"},
	}
	// Byte-level edits at known offsets: the done flag is after the
	// magic, version, phase, hash, step and epoch.
	hdr := 8 + 4 + 4 + len(st.Phase) + 4 + len(st.ConfigHash) + 16
	flag := append([]byte(nil), b...)
	flag[hdr] = 2
	cases = append(cases, struct {
		name string
		b    []byte
		want string
	}{"flag byte", reseal(flag), "done"})
	huge := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(huge[hdr+2:], 1<<30) // the parameter count
	cases = append(cases, struct {
		name string
		b    []byte
		want string
	}{"parameter count", reseal(huge), "parameters"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want an error naming %q", err, c.want)
			}
		})
	}
	// Save refuses what Load would.
	bad := st.Clone()
	bad.Params[0].T.SetFlat(0, math.NaN())
	if _, err := bad.Save(); err == nil {
		t.Error("Save of a NaN parameter")
	}
}

// FuzzStateLoad: Load never panics or over-allocates on any bytes, with
// or without a valid checksum, and what it accepts saves back to the
// same bytes.
func FuzzStateLoad(f *testing.F) {
	for _, st := range microStates(f) {
		f.Add(save(f, st))
	}
	f.Add([]byte(stateMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, reseal(b)} {
			st, err := Load(in)
			if err != nil {
				continue
			}
			out, err := st.Save()
			if err != nil {
				t.Fatalf("a loaded state does not save: %v", err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("loaded and saved: %d bytes, from %d", len(out), len(in))
			}
		}
	})
}
