//go:build !linux && !darwin

package tensor

import "math"

// systemMemory is unknown on this system: only the per-tensor element
// limit applies.
func systemMemory() int64 { return math.MaxInt64 }
