package repro

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"

	"github.com/flatfast/flatfast/internal/atomicfile"
)

// WriteFileAtomic writes data to path so that readers (and a resumed
// run) see the old file or the new one, never a part.
func WriteFileAtomic(path string, data []byte) error { return atomicfile.Write(path, data) }

// WriteJSON writes v as indented JSON, atomically. NaN and Inf, which
// JSON cannot hold, must be replaced by the caller (see Finite).
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	return WriteFileAtomic(path, append(b, '\n'))
}

// WriteCSV writes a header and rows, atomically.
func WriteCSV(path string, header []string, rows [][]string) error {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(header); err != nil {
		return err
	}
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	return WriteFileAtomic(path, buf.Bytes())
}

// Finite is a float64 that encodes NaN and infinities as JSON null.
type Finite float64

// MarshalJSON encodes the value, or null when it is not finite.
func (f Finite) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON decodes a number, or null as NaN.
func (f *Finite) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Finite(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Finite(v)
	return nil
}
