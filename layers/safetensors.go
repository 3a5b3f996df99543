package layers

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/flatfast/flatfast/internal/atomicfile"
	"github.com/flatfast/flatfast/tensor"
)

// The safetensors format (github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data
// that follows) plus an optional "__metadata__" map of strings, then the
// raw little-endian data. PyTorch writes and reads it with the safetensors
// package, so models move between the two.

// ErrFormat is wrapped by every error about a malformed safetensors file.
var ErrFormat = errors.New("safetensors: malformed file")

// Entry is one tensor to write. Integer writes the values as int64 ("I64",
// as PyTorch keeps batch-norm's num_batches_tracked); they must be whole.
type Entry struct {
	Name    string
	Tensor  *tensor.Tensor
	Integer bool
}

type headerEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// WriteSafetensors writes entries (and optional string metadata) to w.
func WriteSafetensors(w io.Writer, entries []Entry, meta map[string]string) error {
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var data bytes.Buffer
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Name == "" || e.Name == "__metadata__" || seen[e.Name] {
			return fmt.Errorf("safetensors: invalid or repeated tensor name %q", e.Name)
		}
		if e.Tensor == nil {
			return fmt.Errorf("safetensors: entry %q has no tensor", e.Name)
		}
		seen[e.Name] = true
		begin := int64(data.Len())
		var dt string
		switch {
		case e.Integer:
			dt = "I64"
			for i := 0; i < e.Tensor.Len(); i++ {
				v := e.Tensor.Flat(i)
				if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
					return fmt.Errorf("safetensors: %s element %d = %v is not an integer", e.Name, i, v)
				}
				_ = binary.Write(&data, binary.LittleEndian, int64(v))
			}
		case e.Tensor.DType() == tensor.Float32:
			dt = "F32"
			_ = binary.Write(&data, binary.LittleEndian, e.Tensor.Float32s())
		default:
			dt = "F64"
			_ = binary.Write(&data, binary.LittleEndian, e.Tensor.Float64s())
		}
		shape := append([]int{}, e.Tensor.Shape()...)
		header[e.Name] = headerEntry{DType: dt, Shape: shape, Offsets: [2]int64{begin, int64(data.Len())}}
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hj)))
	for _, b := range [][]byte{n[:], hj, data.Bytes()} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// maxHeader bounds the JSON header (the format's own limit is 100 MB).
const maxHeader = 100 << 20

// ReadSafetensors parses a safetensors file held in data. F32 tensors load
// as float32, F64 as float64, I64 (whole numbers up to 2^53) as float64;
// other dtypes are an error. Every offset is checked against the data.
func ReadSafetensors(data []byte) (map[string]*tensor.Tensor, map[string]string, error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("%w: %d bytes, shorter than the 8-byte header length", ErrFormat, len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > maxHeader || n > uint64(len(data)-8) {
		return nil, nil, fmt.Errorf("%w: header length %d exceeds the file (%d bytes)", ErrFormat, n, len(data))
	}
	body := data[8+n:]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &raw); err != nil {
		return nil, nil, fmt.Errorf("%w: header is not a JSON object: %v", ErrFormat, err)
	}
	var meta map[string]string
	out := map[string]*tensor.Tensor{}
	type span struct{ b, e int64 }
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, fmt.Errorf("%w: __metadata__ is not a map of strings: %v", ErrFormat, err)
			}
			continue
		}
		var h headerEntry
		if err := json.Unmarshal(msg, &h); err != nil {
			return nil, nil, fmt.Errorf("%w: entry %q: %v", ErrFormat, name, err)
		}
		size := map[string]int64{"F32": 4, "F64": 8, "I64": 8}[h.DType]
		if size == 0 {
			return nil, nil, fmt.Errorf("%w: entry %q has unsupported dtype %q (want F32, F64 or I64)", ErrFormat, name, h.DType)
		}
		count := int64(1)
		if len(h.Shape) > tensor.MaxDims {
			return nil, nil, fmt.Errorf("%w: entry %q has %d dimensions", ErrFormat, name, len(h.Shape))
		}
		for _, d := range h.Shape {
			if d < 0 || (d > 0 && count > int64(len(body))/int64(d)) {
				return nil, nil, fmt.Errorf("%w: entry %q has shape %v, larger than the file", ErrFormat, name, h.Shape)
			}
			count *= int64(d)
		}
		b, e := h.Offsets[0], h.Offsets[1]
		if b < 0 || e < b || e > int64(len(body)) || e-b != count*size {
			return nil, nil, fmt.Errorf("%w: entry %q: offsets [%d, %d) do not hold %d %s values in %d data bytes", ErrFormat, name, b, e, count, h.DType, len(body))
		}
		spans = append(spans, span{b, e})
		src := body[b:e]
		var t *tensor.Tensor
		var err error
		switch h.DType {
		case "F32":
			v := make([]float32, count)
			_ = binary.Read(bytes.NewReader(src), binary.LittleEndian, v)
			t, err = tensor.FromFloat32(v, h.Shape...)
		case "F64":
			v := make([]float64, count)
			_ = binary.Read(bytes.NewReader(src), binary.LittleEndian, v)
			t, err = tensor.FromFloat64(v, h.Shape...)
		case "I64":
			iv := make([]int64, count)
			_ = binary.Read(bytes.NewReader(src), binary.LittleEndian, iv)
			v := make([]float64, count)
			for i, x := range iv {
				if x > 1<<53 || x < -(1<<53) {
					return nil, nil, fmt.Errorf("%w: entry %q: integer %d too large to hold exactly", ErrFormat, name, x)
				}
				v[i] = float64(x)
			}
			t, err = tensor.FromFloat64(v, h.Shape...)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: entry %q: %v", ErrFormat, name, err)
		}
		out[name] = t
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].b < spans[j].b })
	for i := 1; i < len(spans); i++ {
		if spans[i].b < spans[i-1].e {
			return nil, nil, fmt.Errorf("%w: tensor data overlap", ErrFormat)
		}
	}
	return out, meta, nil
}

// StateEntries lists a module's parameters and buffers for saving.
func StateEntries(m Module) []Entry {
	var es []Entry
	for _, p := range m.Params() {
		es = append(es, Entry{Name: p.Name, Tensor: p.Value.Tensor()})
	}
	for _, b := range m.Buffers() {
		es = append(es, Entry{Name: b.Name, Tensor: b.Tensor, Integer: b.Integer})
	}
	return es
}

// Save writes m's parameters and buffers to path in the safetensors
// format, atomically: a reader sees the old file or the new one, never a
// part.
func Save(path string, m Module, meta map[string]string) error {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, StateEntries(m), meta); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes())
}

// Load reads a safetensors file into m's parameters and buffers. Every
// tensor of m must be present with the same shape (values are converted to
// the module's dtype); tensors in the file that m does not have are an
// error too, so a mismatched architecture cannot load silently. m is left
// unchanged when loading fails.
func Load(path string, m Module) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ts, _, err := ReadSafetensors(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return LoadState(m, ts)
}

// LoadState copies named tensors into m (see Load).
func LoadState(m Module, ts map[string]*tensor.Tensor) error {
	entries := StateEntries(m)
	used := map[string]bool{}
	for _, e := range entries {
		t, ok := ts[e.Name]
		if !ok || t == nil {
			return fmt.Errorf("layers: state has no tensor %q", e.Name)
		}
		if !t.SameShape(e.Tensor) {
			return fmt.Errorf("layers: tensor %q has shape %v, the model has %v", e.Name, t.Shape(), e.Tensor.Shape())
		}
		used[e.Name] = true
	}
	for name := range ts {
		if !used[name] {
			return fmt.Errorf("layers: state has tensor %q, which the model does not", name)
		}
	}
	for _, e := range entries {
		if err := e.Tensor.CopyFrom(ts[e.Name]); err != nil {
			return err
		}
	}
	return nil
}
