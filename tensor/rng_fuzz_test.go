package tensor

import "testing"

// FuzzRNGUnmarshalBinary: a generator state read back from a checkpoint
// (outside bytes) never makes UnmarshalBinary panic; a state it accepts
// gives a working generator that marshals back to the same bytes.
func FuzzRNGUnmarshalBinary(f *testing.F) {
	g := NewRNG(7)
	g.Float64()
	good, err := g.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(append([]byte(nil), good...), 0))
	f.Add([]byte("pcg:"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r RNG
		if err := r.UnmarshalBinary(b); err != nil {
			return
		}
		r.NormFloat64()
		r.IntN(10)
		again := NewRNG(1)
		if err := again.UnmarshalBinary(b); err != nil {
			t.Fatalf("accepted once, refused the second time: %v", err)
		}
		out, err := again.MarshalBinary()
		if err != nil || string(out) != string(b) {
			t.Fatalf("state %x marshals back as %x (%v)", b, out, err)
		}
	})
}
