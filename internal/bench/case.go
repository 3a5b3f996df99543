package bench

import "github.com/flatfast/flatfast/internal/kernelbench"

// Case is one timed unit of work, the kernel cases' type (package
// kernelbench), so that every case runs through the same timing loop.
type Case = kernelbench.Case
