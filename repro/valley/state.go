package valley

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"unicode/utf8"

	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/tensor"
)

// The phases a State can be in. A State made by NewState or Handoff has
// Phase "" until a phase function takes it.
const (
	PhaseValley = "valley"
	PhaseNoisy  = "noisy"
	PhaseReturn = "return"
)

// Named is a tensor with the name of the parameter or buffer it belongs
// to (layers' names, as PyTorch's state_dict spells them).
type Named struct {
	Name string
	T    *tensor.Tensor
}

// State is everything a phase needs to continue exactly where it
// stopped: the model's parameters and buffers (batch-norm statistics),
// the optimizer's state, the random streams, the counters, and the
// curve observed so far. A phase function reads it at entry and writes it
// back when it returns, so Save between two calls checkpoints the run;
// resuming from the bytes gives the same bits as never stopping.
type State struct {
	Phase      string // "", PhaseValley, PhaseNoisy or PhaseReturn
	ConfigHash string // of the phase configuration and the Env, set when the phase starts
	Step       int    // optimizer steps taken in this phase
	Epoch      int    // complete epochs (full-batch phases: = Step)
	Done       bool   // the phase has ended
	// Reached says how it ended: the valley phase reached 100% training
	// accuracy, the Adam return phase met its stopping rule (false: the
	// step limit ended it); minibatch phases set it when done.
	Reached bool

	Params   []Named
	Buffers  []Named
	Velocity []Named // the momentum pi of optim.Momentum; nil when none

	AdamM, AdamV []Named // Adam's moments (return phase with Adam)
	AdamT        int

	// BatchRNG is the batch-order stream's state at the start of the
	// current epoch (before its shuffle); NoiseRNG the label-noise
	// stream's current state. Empty when unused.
	BatchRNG, NoiseRNG []byte

	LossSum   float64   // minibatch losses since the last observation
	LossCount int       // and their number
	Recent    []float64 // the last full-batch losses (the Adam stopping rule)

	Curve []Observation
}

// NewState returns a State at the start of a phase from m's current
// parameters and buffers (copied): a fresh initialisation for the valley
// phase, or a loaded valley point.
func NewState(m layers.Module) (*State, error) {
	if m == nil {
		return nil, errors.New("valley: NewState of a nil model")
	}
	s := &State{}
	for _, p := range m.Params() {
		if p.Value == nil || p.Value.Tensor() == nil {
			return nil, fmt.Errorf("valley: parameter %s has no tensor", p.Name)
		}
		s.Params = append(s.Params, Named{p.Name, p.Value.Tensor().Clone()})
	}
	for _, b := range m.Buffers() {
		if b.Tensor == nil {
			return nil, fmt.Errorf("valley: buffer %s has no tensor", b.Name)
		}
		s.Buffers = append(s.Buffers, Named{b.Name, b.Tensor.Clone()})
	}
	if len(s.Params) == 0 {
		return nil, errors.New("valley: the model has no parameters")
	}
	return s, nil
}

// Handoff returns the State that starts the next phase from the end of
// this one: the parameters, buffers, velocity (which the SGD return phase
// continues) and the curve, with the counters, random streams and Adam
// state dropped.
func (s *State) Handoff() *State {
	n := &State{
		Params:   cloneNamed(s.Params),
		Buffers:  cloneNamed(s.Buffers),
		Velocity: cloneNamed(s.Velocity),
		Curve:    append([]Observation(nil), s.Curve...),
	}
	return n
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := *s
	c.Params, c.Buffers, c.Velocity = cloneNamed(s.Params), cloneNamed(s.Buffers), cloneNamed(s.Velocity)
	c.AdamM, c.AdamV = cloneNamed(s.AdamM), cloneNamed(s.AdamV)
	c.BatchRNG = append([]byte(nil), s.BatchRNG...)
	c.NoiseRNG = append([]byte(nil), s.NoiseRNG...)
	c.Recent = append([]float64(nil), s.Recent...)
	c.Curve = append([]Observation(nil), s.Curve...)
	return &c
}

func cloneNamed(ns []Named) []Named {
	if ns == nil {
		return nil
	}
	out := make([]Named, len(ns))
	for i, n := range ns {
		out[i] = Named{n.Name, n.T.Clone()}
	}
	return out
}

// ApplyTo copies the State's parameters and buffers into m, which must
// have the same names, shapes and dtypes in the same order.
func (s *State) ApplyTo(m layers.Module) error {
	ps, bs := m.Params(), m.Buffers()
	if len(ps) != len(s.Params) || len(bs) != len(s.Buffers) {
		return fmt.Errorf("valley: the state holds %d parameters and %d buffers, the model %d and %d", len(s.Params), len(s.Buffers), len(ps), len(bs))
	}
	for i, p := range ps {
		if err := copyNamed("parameter", s.Params[i], p.Name, p.Value.Tensor(), true); err != nil {
			return err
		}
	}
	for i, b := range bs {
		if err := copyNamed("buffer", s.Buffers[i], b.Name, b.Tensor, true); err != nil {
			return err
		}
	}
	return nil
}

// capture copies m's parameters and buffers into the State (ApplyTo's
// reverse; the shapes were checked when the phase started).
func (s *State) capture(m layers.Module) error {
	for i, p := range m.Params() {
		if err := copyNamed("parameter", s.Params[i], p.Name, p.Value.Tensor(), false); err != nil {
			return err
		}
	}
	for i, b := range m.Buffers() {
		if err := copyNamed("buffer", s.Buffers[i], b.Name, b.Tensor, false); err != nil {
			return err
		}
	}
	return nil
}

// copyNamed copies between a State's tensor and a model's, into the
// model when toModel.
func copyNamed(what string, n Named, name string, t *tensor.Tensor, toModel bool) error {
	if n.Name != name || t == nil || n.T == nil || !n.T.SameShape(t) || n.T.DType() != t.DType() {
		return fmt.Errorf("valley: %s %s %v %v in the state, %s %v %v in the model", what, n.Name, dtypeOf(n.T), shapeOf(n.T), name, dtypeOf(t), shapeOf(t))
	}
	if toModel {
		return t.CopyFrom(n.T)
	}
	return n.T.CopyFrom(t)
}

func shapeOf(t *tensor.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}

func dtypeOf(t *tensor.Tensor) string {
	if t == nil {
		return "nil"
	}
	return t.DType().String()
}

// The binary format: the magic, a version, the fields in a fixed order
// (little-endian; strings and byte slices length-prefixed; a tensor is
// its name, dtype, rank, dimensions and values), and a CRC-32C of all of
// it. Version 1 is the only one.
const (
	stateMagic   = "FFVSTATE"
	stateVersion = 1
	// Bounds that keep a corrupt header from asking for absurd
	// allocations; every count is also checked against the bytes left.
	maxString = 1 << 12
	maxRank   = 8
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Save returns the State as bytes (version 1 of the format), the same
// bytes for the same State on any machine.
func (s *State) Save() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s.encode(), nil
}

// encode writes the format without validating (Save validates first).
func (s *State) encode() []byte {
	w := &writer{b: make([]byte, 0, s.size())}
	w.b = append(w.b, stateMagic...)
	w.u32(stateVersion)
	w.str(s.Phase)
	w.str(s.ConfigHash)
	w.i64(s.Step)
	w.i64(s.Epoch)
	w.flag(s.Done)
	w.flag(s.Reached)
	for _, ns := range [][]Named{s.Params, s.Buffers, s.Velocity, s.AdamM, s.AdamV} {
		w.named(ns)
	}
	w.i64(s.AdamT)
	w.bytes(s.BatchRNG)
	w.bytes(s.NoiseRNG)
	w.f64(s.LossSum)
	w.i64(s.LossCount)
	w.u32(uint32(len(s.Recent)))
	for _, v := range s.Recent {
		w.f64(v)
	}
	w.u32(uint32(len(s.Curve)))
	for _, o := range s.Curve {
		w.str(o.Phase)
		for _, v := range o.ints() {
			w.i64(*v)
		}
		for _, v := range o.floats() {
			w.f64(*v)
		}
	}
	w.u32(crc32.Checksum(w.b, castagnoli))
	return w.b
}

// Load parses bytes written by Save. It checks everything: the magic,
// version and checksum, every count and length against the bytes left,
// tensor ranks and dtypes, finite values, counters >= 0, random-stream
// states that parse, velocity and Adam moments shaped as the parameters;
// an error names the field.
func Load(b []byte) (*State, error) {
	const trailer = 4
	if len(b) < len(stateMagic)+4+trailer {
		return nil, fmt.Errorf("valley: state: %d bytes, too short for a header", len(b))
	}
	if string(b[:len(stateMagic)]) != stateMagic {
		return nil, fmt.Errorf("valley: state: magic %q, want %q (not a state file)", b[:len(stateMagic)], stateMagic)
	}
	if v := binary.LittleEndian.Uint32(b[len(stateMagic):]); v != stateVersion {
		return nil, fmt.Errorf("valley: state: version %d, this build reads version %d", v, stateVersion)
	}
	body := b[:len(b)-trailer]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-trailer:]); got != want {
		return nil, fmt.Errorf("valley: state: checksum %08x, the bytes give %08x (corrupt or truncated)", want, got)
	}
	r := &reader{b: body, off: len(stateMagic) + 4}
	s := &State{}
	s.Phase = r.str("phase")
	s.ConfigHash = r.str("config hash")
	s.Step = r.count("step")
	s.Epoch = r.count("epoch")
	s.Done = r.flag("done")
	s.Reached = r.flag("reached")
	s.Params = r.named("parameters")
	s.Buffers = r.named("buffers")
	s.Velocity = r.named("velocity")
	s.AdamM = r.named("Adam first moments")
	s.AdamV = r.named("Adam second moments")
	s.AdamT = r.count("Adam step count")
	s.BatchRNG = r.bytes("batch RNG")
	s.NoiseRNG = r.bytes("noise RNG")
	s.LossSum = r.f64("loss sum")
	s.LossCount = r.count("loss count")
	if n := r.length("recent losses", 8); r.err == nil && n > 0 {
		s.Recent = make([]float64, n)
		for i := range s.Recent {
			s.Recent[i] = r.f64(fmt.Sprintf("recent loss %d", i))
		}
	}
	if n := r.length("curve", 4+obsInts*8+obsFloats*8); r.err == nil && n > 0 {
		s.Curve = make([]Observation, n)
		for i := range s.Curve {
			o := &s.Curve[i]
			o.Phase = r.str(fmt.Sprintf("curve point %d phase", i))
			for k, v := range o.ints() {
				*v = r.count(fmt.Sprintf("curve point %d %s", i, obsIntNames[k]))
			}
			for k, v := range o.floats() {
				*v = r.f64(fmt.Sprintf("curve point %d %s", i, obsFloatNames[k]))
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.off != len(body) {
		return nil, fmt.Errorf("valley: state: %d bytes after the last field", len(body)-r.off)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// validate checks the State's consistency, for Save and Load alike.
func (s *State) validate() error {
	switch s.Phase {
	case "", PhaseValley, PhaseNoisy, PhaseReturn:
	default:
		return fmt.Errorf("valley: state: phase %q unknown", s.Phase)
	}
	if len(s.ConfigHash) > maxString || len(s.Phase) > maxString {
		return fmt.Errorf("valley: state: config hash of %d bytes", len(s.ConfigHash))
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"step", s.Step}, {"epoch", s.Epoch}, {"Adam step count", s.AdamT}, {"loss count", s.LossCount}} {
		if c.v < 0 {
			return fmt.Errorf("valley: state: %s %d is negative", c.name, c.v)
		}
	}
	if len(s.Params) == 0 {
		return errors.New("valley: state: no parameters")
	}
	for _, g := range []struct {
		what string
		ns   []Named
	}{{"parameter", s.Params}, {"buffer", s.Buffers}, {"velocity", s.Velocity}, {"Adam first moment", s.AdamM}, {"Adam second moment", s.AdamV}} {
		seen := map[string]bool{}
		for i, n := range g.ns {
			if n.T == nil {
				return fmt.Errorf("valley: state: %s %d (%s) has no tensor", g.what, i, n.Name)
			}
			if len(n.Name) > maxString || !utf8.ValidString(n.Name) {
				return fmt.Errorf("valley: state: %s %d has a bad name", g.what, i)
			}
			if seen[n.Name] {
				return fmt.Errorf("valley: state: %s %s appears twice", g.what, n.Name)
			}
			seen[n.Name] = true
			if n.T.Dims() > maxRank {
				return fmt.Errorf("valley: state: %s %s has rank %d", g.what, n.Name, n.T.Dims())
			}
			if j := nonFinite(n.T); j >= 0 {
				return fmt.Errorf("valley: state: %s %s element %d is %v", g.what, n.Name, j, n.T.Flat(j))
			}
		}
	}
	for _, g := range []struct {
		what string
		ns   []Named
	}{{"velocity", s.Velocity}, {"Adam first moment", s.AdamM}, {"Adam second moment", s.AdamV}} {
		if len(g.ns) == 0 {
			continue
		}
		if len(g.ns) != len(s.Params) {
			return fmt.Errorf("valley: state: %d %s tensors for %d parameters", len(g.ns), g.what, len(s.Params))
		}
		for i, n := range g.ns {
			p := s.Params[i]
			if n.Name != p.Name || !n.T.SameShape(p.T) || n.T.DType() != p.T.DType() {
				return fmt.Errorf("valley: state: %s %d is %s %v %v, parameter %d is %s %v %v", g.what, i, n.Name, n.T.DType(), n.T.Shape(), i, p.Name, p.T.DType(), p.T.Shape())
			}
		}
	}
	if (len(s.AdamM) == 0) != (len(s.AdamV) == 0) {
		return fmt.Errorf("valley: state: %d Adam first moments and %d second", len(s.AdamM), len(s.AdamV))
	}
	for _, r := range []struct {
		what string
		b    []byte
	}{{"batch RNG", s.BatchRNG}, {"noise RNG", s.NoiseRNG}} {
		if len(r.b) == 0 {
			continue
		}
		var g tensor.RNG
		if err := g.UnmarshalBinary(r.b); err != nil {
			return fmt.Errorf("valley: state: %s: %v", r.what, err)
		}
	}
	if math.IsNaN(s.LossSum) || math.IsInf(s.LossSum, 0) {
		return fmt.Errorf("valley: state: loss sum %v", s.LossSum)
	}
	for i, v := range s.Recent {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("valley: state: recent loss %d is %v", i, v)
		}
	}
	for i := range s.Curve {
		if err := s.Curve[i].check(); err != nil {
			return fmt.Errorf("valley: state: curve point %d: %w", i, err)
		}
	}
	return nil
}

// nonFinite returns the index of the first NaN or Inf in t, or -1. (v-v
// is 0 for a finite v and NaN otherwise: one test per value, over the
// slices directly, since a state is checked at every phase call.)
func nonFinite(t *tensor.Tensor) int {
	if f := t.Float32s(); f != nil {
		for j, v := range f {
			if v-v != 0 {
				return j
			}
		}
		return -1
	}
	for j, v := range t.Float64s() {
		if v-v != 0 {
			return j
		}
	}
	return -1
}

// writer appends the format's fields to one growing slice (a ResNet-18
// state is tens of MB: no allocation per value).
type writer struct{ b []byte }

func (w *writer) u32(v uint32)  { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64)  { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *writer) i64(v int)     { w.u64(uint64(int64(v))) }
func (w *writer) f64(v float64) { w.u64(math.Float64bits(v)) }
func (w *writer) flag(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}
func (w *writer) str(s string) {
	w.u32(uint32(len(s)))
	w.b = append(w.b, s...)
}
func (w *writer) bytes(b []byte) {
	w.u32(uint32(len(b)))
	w.b = append(w.b, b...)
}

func (w *writer) named(ns []Named) {
	w.u32(uint32(len(ns)))
	for _, n := range ns {
		w.str(n.Name)
		t := n.T
		w.b = append(w.b, byte(t.DType()), byte(t.Dims()))
		for _, d := range t.Shape() {
			w.u64(uint64(d))
		}
		if f := t.Float32s(); f != nil {
			for _, v := range f {
				w.u32(math.Float32bits(v))
			}
		} else {
			for _, v := range t.Float64s() {
				w.f64(v)
			}
		}
	}
}

// size is an upper bound of the encoded length, to allocate once.
func (s *State) size() int {
	n := 1024 + len(s.BatchRNG) + len(s.NoiseRNG) + 8*len(s.Recent) + len(s.Curve)*(16+8*(obsInts+obsFloats))
	for _, ns := range [][]Named{s.Params, s.Buffers, s.Velocity, s.AdamM, s.AdamV} {
		for _, t := range ns {
			n += 16 + len(t.Name) + 8*t.T.Dims() + 8*t.T.Len()
		}
	}
	return n
}

// reader decodes fields; the first error sticks and names the field.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(field, format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("valley: state: %s: %s", field, fmt.Sprintf(format, a...))
	}
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(field, "needs %d bytes at offset %d, %d left (truncated)", n, r.off, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u32(field string) uint32 {
	if p := r.take(field, 4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if p := r.take(field, 8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (r *reader) f64(field string) float64 {
	v := math.Float64frombits(r.u64(field))
	if r.err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		r.fail(field, "%v is not finite", v)
	}
	return v
}

// count reads a non-negative int.
func (r *reader) count(field string) int {
	v := int64(r.u64(field))
	if r.err == nil && (v < 0 || v > math.MaxInt32*int64(1<<20)) {
		r.fail(field, "%d is out of range", v)
		return 0
	}
	return int(v)
}

func (r *reader) flag(field string) bool {
	p := r.take(field, 1)
	if p == nil {
		return false
	}
	if p[0] > 1 {
		r.fail(field, "flag byte %d, want 0 or 1", p[0])
	}
	return p[0] == 1
}

// length reads a count of items of at least min bytes each, checked
// against the bytes left.
func (r *reader) length(field string, min int) int {
	n := int(r.u32(field + " count"))
	if r.err == nil && n > (len(r.b)-r.off)/max(min, 1) {
		r.fail(field, "count %d does not fit in the %d bytes left", n, len(r.b)-r.off)
		return 0
	}
	return n
}

func (r *reader) bytes(field string) []byte {
	n := int(r.u32(field + " length"))
	p := r.take(field, n)
	if p == nil || n == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (r *reader) str(field string) string {
	n := int(r.u32(field + " length"))
	if r.err == nil && n > maxString {
		r.fail(field, "length %d, at most %d", n, maxString)
		return ""
	}
	p := r.take(field, n)
	if r.err == nil && !utf8.Valid(p) {
		r.fail(field, "not UTF-8")
	}
	return string(p)
}

func (r *reader) named(field string) []Named {
	n := r.length(field, 4+2) // a name's length, dtype and rank at least
	if r.err != nil || n == 0 {
		return nil
	}
	out := make([]Named, 0, n)
	for i := range n {
		name := r.str(fmt.Sprintf("%s %d name", field, i))
		what := fmt.Sprintf("%s %d (%s)", field, i, name)
		hdr := r.take(what+" header", 2)
		if hdr == nil {
			return nil
		}
		dt, rank := tensor.DType(hdr[0]), int(hdr[1])
		var size int
		switch dt {
		case tensor.Float32:
			size = 4
		case tensor.Float64:
			size = 8
		default:
			r.fail(what, "dtype %d unknown", hdr[0])
			return nil
		}
		if rank > maxRank {
			r.fail(what, "rank %d, at most %d", rank, maxRank)
			return nil
		}
		shape := make([]int, rank)
		elems := 1
		for k := range shape {
			d := r.u64(fmt.Sprintf("%s dimension %d", what, k))
			if r.err != nil {
				return nil
			}
			left := uint64(len(r.b) - r.off)
			// Each dimension bounded by the bytes left keeps the product
			// from overflowing before the check below.
			if d == 0 || d > left {
				r.fail(what, "dimension %d is %d (the data hold at most %d)", k, d, left)
				return nil
			}
			shape[k] = int(d)
			if elems > int(left)/int(d) {
				r.fail(what, "shape %v is larger than the %d bytes left", shape[:k+1], left)
				return nil
			}
			elems *= int(d)
		}
		data := r.take(what+" values", elems*size)
		if data == nil {
			return nil
		}
		t, err := tensor.New(dt, shape...)
		if err != nil {
			r.fail(what, "%v", err)
			return nil
		}
		if f := t.Float32s(); f != nil {
			for j := range f {
				f[j] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*j:]))
			}
		} else {
			f := t.Float64s()
			for j := range f {
				f[j] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*j:]))
			}
		}
		out = append(out, Named{name, t})
	}
	return out
}
