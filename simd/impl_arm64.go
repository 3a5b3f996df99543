//go:build arm64 && !purego

package simd

// archImpls: the NEON level is added by kernels_arm64.s (work in progress).
func archImpls() []*Impl { return nil }
