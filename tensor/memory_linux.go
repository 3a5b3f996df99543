package tensor

import (
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// systemMemory returns the bytes a process here can ever hold: RAM plus
// swap (what the kernel's overcommit heuristic grants at most), or less
// where a cgroup sets a lower limit (containers). It returns MaxInt64 when
// nothing can be learned.
func systemMemory() int64 {
	limit := int64(math.MaxInt64)
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil && si.Unit > 0 {
		total := (uint64(si.Totalram) + uint64(si.Totalswap)) * uint64(si.Unit)
		if total > 0 && total < math.MaxInt64 {
			limit = int64(total)
		}
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// "max" (no limit) and unreadable values leave the limit alone.
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && v < limit {
			limit = v
		}
	}
	return limit
}
