package tensor

import (
	"math"

	"golang.org/x/sys/unix"
)

// systemMemory returns the machine's physical memory (macOS swaps to a
// file that grows on demand, so RAM is the honest bound for one array),
// or MaxInt64 when it cannot be read.
func systemMemory() int64 {
	if m, err := unix.SysctlUint64("hw.memsize"); err == nil && m > 0 && m < math.MaxInt64 {
		return int64(m)
	}
	return math.MaxInt64
}
