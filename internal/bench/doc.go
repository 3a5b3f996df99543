// Package bench holds the measurement cases shared by the `go test -bench`
// benchmarks and the `flatfast bench` command, so that both time exactly
// the same work, and a small timing loop for the command. The simd
// kernels' cases are in internal/kernelbench, which depends on simd alone,
// so that simd's benchmarks do not compile the whole stack.
//
// The command reports the median of several timed batches rather than a
// mean: this machine is shared and a second core sometimes gives nothing
// for seconds, and a median shrugs off such stalls where a mean does not.
package bench
