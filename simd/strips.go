package simd

import "fmt"

// CopyStrips copies count strips of a row-major matrix into packed
// panels: strip s is the w columns s*w .. s*w+w-1 of src over kb rows
// (row p at src[p*ld:]), and its rows go one after another, w floats
// each, to dst[s*stride:]. It is the packing of a k-major GEMM operand (B
// as stored, or A transposed) into the micro-kernel's panels; the amd64
// levels move the rows of the tile widths (4, 6, 8, 12, 16 and 32 floats)
// in 32-, 16- and 8-byte pieces in assembly, other widths and levels copy
// in Go. It panics when the slices are too short for the strips, when the
// strips of a row overlap (ld < count*w with kb > 1) or when two strips'
// panels overlap (stride < kb*w with count > 1).
func (k *Impl) CopyStrips(dst []float32, stride int, src []float32, ld, kb, w, count int) {
	if kb <= 0 || w <= 0 || count <= 0 {
		return
	}
	if (kb > 1 && ld < count*w) || (count > 1 && stride < kb*w) ||
		len(src) < (kb-1)*ld+count*w || len(dst) < (count-1)*stride+kb*w {
		panic(fmt.Sprintf("simd.CopyStrips: %d strips of %d x %d with ld=%d stride=%d: len(src)=%d len(dst)=%d",
			count, kb, w, ld, stride, len(src), len(dst)))
	}
	// Bound each call to about 16K floats (the assembly cannot be
	// preempted): whole strips while they are that small, else runs of
	// rows of one strip.
	const chunk = 16 << 10
	rows := min(kb, max(1, chunk/w))
	for s := 0; s < count; {
		n := 1
		if rows == kb {
			n = min(count-s, max(1, chunk/(kb*w)))
		}
		for p := 0; p < kb; p += rows {
			k.copyStrips(dst[s*stride+p*w:], stride, src[s*w+p*ld:], ld, min(rows, kb-p), w, n)
		}
		s += n
	}
}

// CopyStrips copies count strips of w columns of src into packed panels
// with the active implementation (see Impl.CopyStrips).
func CopyStrips(dst []float32, stride int, src []float32, ld, kb, w, count int) {
	active.CopyStrips(dst, stride, src, ld, kb, w, count)
}

// copyStripsGeneric is CopyStrips in Go. The tile widths are moved in
// 16-byte array copies written out per width, which the compiler keeps in
// registers: a copy() of 6 or 16 floats, or an assignment of a larger
// array, calls memmove, whose call and size dispatch cost more than the
// move, and a loop over the 4-float pieces of a 32-float row ran at a
// quarter of the speed (Intel Xeon, 2026-12-03: 392 x 512 floats in 72 us
// against 17). Other widths copy().
func copyStripsGeneric(dst []float32, stride int, src []float32, ld, kb, w, count int) {
	for s := range count {
		stripGeneric(dst[s*stride:], src[s*w:], ld, kb, w)
	}
}

func stripGeneric(dst, src []float32, ld, kb, w int) {
	switch w {
	case 6:
		for p := range kb {
			d, s := dst[p*6:p*6+6], src[p*ld:p*ld+6]
			*(*[4]float32)(d) = *(*[4]float32)(s)
			*(*[2]float32)(d[4:]) = *(*[2]float32)(s[4:])
		}
	case 16:
		for p := range kb {
			d, s := dst[p*16:p*16+16], src[p*ld:p*ld+16]
			*(*[4]float32)(d) = *(*[4]float32)(s)
			*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
			*(*[4]float32)(d[8:]) = *(*[4]float32)(s[8:])
			*(*[4]float32)(d[12:]) = *(*[4]float32)(s[12:])
		}
	case 32:
		for p := range kb {
			d, s := dst[p*32:p*32+32], src[p*ld:p*ld+32]
			*(*[4]float32)(d) = *(*[4]float32)(s)
			*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
			*(*[4]float32)(d[8:]) = *(*[4]float32)(s[8:])
			*(*[4]float32)(d[12:]) = *(*[4]float32)(s[12:])
			*(*[4]float32)(d[16:]) = *(*[4]float32)(s[16:])
			*(*[4]float32)(d[20:]) = *(*[4]float32)(s[20:])
			*(*[4]float32)(d[24:]) = *(*[4]float32)(s[24:])
			*(*[4]float32)(d[28:]) = *(*[4]float32)(s[28:])
		}
	case 12:
		for p := range kb {
			d, s := dst[p*12:p*12+12], src[p*ld:p*ld+12]
			*(*[4]float32)(d) = *(*[4]float32)(s)
			*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
			*(*[4]float32)(d[8:]) = *(*[4]float32)(s[8:])
		}
	case 8:
		for p := range kb {
			d, s := dst[p*8:p*8+8], src[p*ld:p*ld+8]
			*(*[4]float32)(d) = *(*[4]float32)(s)
			*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
		}
	case 4:
		for p := range kb {
			*(*[4]float32)(dst[p*4:]) = *(*[4]float32)(src[p*ld:])
		}
	default:
		for p := range kb {
			copy(dst[p*w:p*w+w], src[p*ld:p*ld+w])
		}
	}
}
