//go:build purego || !(amd64 || arm64)

package simd

// archImpls is empty without assembly: only the generic level exists.
func archImpls() []*Impl { return nil }
