package simd

import "math"

// The pure-Go reference kernels. They are written to be read (and to be
// the oracle of the tests) first, and to be reasonably fast second: the
// reductions keep four accumulators, as a compiler for a machine without
// vectors would want.

var genericImpl = &Impl{
	level:           Generic,
	mr:              4,
	nr:              4,
	dot:             dotGeneric,
	sum:             sumGeneric,
	max:             maxGeneric,
	axpy:            axpyGeneric,
	scale:           scaleGeneric,
	add:             addGeneric,
	sub:             subGeneric,
	mul:             mulGeneric,
	relu:            reluGeneric,
	reluBackward:    reluBackwardGeneric,
	exp:             expGeneric,
	tanh:            tanhGeneric,
	sigmoid:         sigmoidGeneric,
	tanhBackward:    tanhBackwardGeneric,
	sigmoidBackward: sigmoidBackwardGeneric,
	gemm:            gemmGeneric,
	transpose:       transposeGeneric,
	copyStrips:      copyStripsGeneric,
	gemmIndirect:    gemmIndirectGeneric,
	nv:              1,
	affine:          affineGeneric,
	affine2:         affine2Generic,
	sqdev:           sqdevGeneric,
}

func dotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func sumGeneric(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func maxGeneric(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v != v {
			return v
		}
		if v > m {
			m = v
		}
	}
	return m
}

func axpyGeneric(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

func scaleGeneric(a float32, x []float32) {
	for i := range x {
		x[i] *= a
	}
}

func addGeneric(z, x, y []float32) {
	x, y = x[:len(z)], y[:len(z)]
	for i := range z {
		z[i] = x[i] + y[i]
	}
}

func subGeneric(z, x, y []float32) {
	x, y = x[:len(z)], y[:len(z)]
	for i := range z {
		z[i] = x[i] - y[i]
	}
}

func mulGeneric(z, x, y []float32) {
	x, y = x[:len(z)], y[:len(z)]
	for i := range z {
		z[i] = x[i] * y[i]
	}
}

func reluGeneric(z, x []float32) {
	x = x[:len(z)]
	for i, v := range x {
		if v < 0 {
			v = 0
		}
		z[i] = v
	}
}

func reluBackwardGeneric(z, g, x []float32) {
	g, x = g[:len(z)], x[:len(z)]
	for i := range z {
		if x[i] > 0 {
			z[i] = g[i]
		} else {
			z[i] = 0
		}
	}
}

// Constants of expScalar; the assembly uses the same ones (written by _gen).
const (
	expHi     = 89
	expLo     = -104
	expLn2Hi  = 0.693359375 // 9 significant bits: n*expLn2Hi is exact for |n| <= 2^15
	expLn2Lo  = math.Ln2 - expLn2Hi
	expLog2E  = math.Log2E
	expBias   = 127
	expMantLn = 23
)

// expScalar is the algorithm of every Exp kernel, in Go: x = n*ln2 + r with
// |r| <= ln2/2 (Cody-Waite reduction with a two-part ln2), e^r from its
// degree-7 Taylor polynomial (truncation error below 1e-8 relative on that
// interval), and 2^n applied in two halves so that subnormal results come
// from a single rounding multiply.
func expScalar(x float32) float32 {
	if x != x {
		return x
	}
	x = min(max(x, expLo), expHi)
	n := float32(math.RoundToEven(float64(x * expLog2E)))
	r := x - n*expLn2Hi
	r -= n * expLn2Lo
	p := float32(1.0 / 5040)
	p = p*r + 1.0/720
	p = p*r + 1.0/120
	p = p*r + 1.0/24
	p = p*r + 1.0/6
	p = p*r + 0.5
	p = p*r + 1
	p = p*r + 1
	i := int32(n)
	h := i >> 1
	s1 := math.Float32frombits(uint32(h+expBias) << expMantLn)
	s2 := math.Float32frombits(uint32(i-h+expBias) << expMantLn)
	return p * s1 * s2
}

func expGeneric(z, x []float32) {
	x = x[:len(z)]
	for i, v := range x {
		z[i] = expScalar(v)
	}
}

// gemmGeneric is the 4x4 micro-kernel in Go: sixteen accumulators, which is
// what the amd64 register file holds without spilling much.
func gemmGeneric(k int, a, b, c []float32, ldc, acc int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	a, b = a[:4*k], b[:4*k]
	for p := 0; p < 4*k; p += 4 {
		a0, a1, a2, a3 := a[p], a[p+1], a[p+2], a[p+3]
		b0, b1, b2, b3 := b[p], b[p+1], b[p+2], b[p+3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	sums := [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
	storeTile4(c, ldc, &sums, acc)
}

// storeTile4 adds (acc != 0) or writes the 4x4 sums into C.
func storeTile4(c []float32, ldc int, sums *[16]float32, acc int) {
	for i := 0; i < 4; i++ {
		r := c[i*ldc : i*ldc+4]
		for j := range r {
			if acc != 0 {
				r[j] += sums[4*i+j]
			} else {
				r[j] = sums[4*i+j]
			}
		}
	}
}

// transposeGeneric: dst[c*ldd+r] = src[r*lds+c], in strips of 8 rows, so
// that the writes of one column of a strip stay within a cache line or
// two.
func transposeGeneric(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	for r0 := 0; r0 < rows; r0 += 8 {
		for r := r0; r < min(r0+8, rows); r++ {
			row := src[r*lds : r*lds+cols]
			for c, v := range row {
				dst[c*ldd+r] = v
			}
		}
	}
}

// gemmIndirectGeneric is the 4x4 kernel with each B row read from base
// (one piece of 4 floats per row).
func gemmIndirectGeneric(k int, a, base []float32, koff []int32, pieces []int, c []float32, ldc, acc int) {
	var b [4]float32
	var sums [16]float32
	a = a[:4*k]
	src := base[pieces[0]:]
	for p := 0; p < k; p++ {
		o := koff[p]
		copy(b[:], src[o:o+4])
		for i := 0; i < 4; i++ {
			ai := a[4*p+i]
			sums[4*i] += ai * b[0]
			sums[4*i+1] += ai * b[1]
			sums[4*i+2] += ai * b[2]
			sums[4*i+3] += ai * b[3]
		}
	}
	storeTile4(c, ldc, &sums, acc)
}

func affineGeneric(z, x []float32, a, b float32) {
	x = x[:len(z)]
	for i, v := range x {
		z[i] = a*v + b
	}
}

func affine2Generic(z, x, y []float32, a, b, c float32) {
	x, y = x[:len(z)], y[:len(z)]
	for i := range z {
		z[i] = a*x[i] + b*y[i] + c
	}
}

func sqdevGeneric(x []float32, c float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		d0, d1, d2, d3 := x[i]-c, x[i+1]-c, x[i+2]-c, x[i+3]-c
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := x[i] - c
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}
