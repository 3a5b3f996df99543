package simd

import "fmt"

// The 1-D transforms of Winograd's F(4, 3) (tensor's 3x3 convolutions,
// docs/conv.md "Winograd"), applied to rows of channels: each output row is
// a fixed combination of six input rows, element by element, so a 2-D
// tile transform is two passes of these, one along each axis, on vectors
// that run over the channels of a channels-last tile.
//
// Input transform B^T (interpolation points 0, 1, -1, 2, -2, infinity):
//
//	o0 = 4 d0 - 5 d2 + d4          o3 = (d4 - d2) + 2 (d3 - d1)
//	o1 = (d4 - 4 d2) + (d3 - 4 d1)  o4 = (d4 - d2) - 2 (d3 - d1)
//	o2 = (d4 - 4 d2) - (d3 - 4 d1)  o5 = 4 d1 - 5 d3 + d5
//
// Kernel transform G:
//
//	u0 = g0 / 4                     u3 = (g2/6 + g0/24) + g1/12
//	u1 = ((g0 + g2) + g1) (-1/6)    u4 = (g2/6 + g0/24) - g1/12
//	u2 = ((g0 + g2) - g1) (-1/6)    u5 = g2
//
// Output transform A^T:
//
//	y0 = m0 + (m1 + m2) + (m3 + m4)      y2 = (m1 + m2) + 4 (m3 + m4)
//	y1 = (m1 - m2) + 2 (m3 - m4)         y3 = (m1 - m2) + 8 (m3 - m4) + m5
//
// The weight gradient runs the adjoints (transposes) of the output and
// kernel transforms. A, four rows into six:
//
//	m0 = y0                 m3 = (y0 + 4 y2) + 2 (y1 + 4 y3)
//	m1 = (y0 + y2) + (y1 + y3)  m4 = (y0 + 4 y2) - 2 (y1 + 4 y3)
//	m2 = (y0 + y2) - (y1 + y3)  m5 = y3
//
// G^T, six rows into three, with a = u1 + u2, b = u1 - u2, c = u3 + u4,
// d = u3 - u4:
//
//	w0 = (a (-1/6) + c/24) + u0/4   w1 = b (-1/6) + d/12
//	w2 = (c - a)/6 + u5
//
// The assembly kernels evaluate the same groupings with fused
// multiply-adds, so levels agree to rounding, not bitwise.

func winoIn4Generic(dst []float32, ds int, src []float32, ss int, n int) {
	d0, d1, d2 := src[:n], src[ss:ss+n], src[2*ss:2*ss+n]
	d3, d4, d5 := src[3*ss:3*ss+n], src[4*ss:4*ss+n], src[5*ss:5*ss+n]
	o0, o1, o2 := dst[:n], dst[ds:ds+n], dst[2*ds:2*ds+n]
	o3, o4, o5 := dst[3*ds:3*ds+n], dst[4*ds:4*ds+n], dst[5*ds:5*ds+n]
	for e := 0; e < n; e++ {
		a0, a1, a2, a3, a4, a5 := d0[e], d1[e], d2[e], d3[e], d4[e], d5[e]
		t0 := a4 - 4*a2
		t1 := a3 - 4*a1
		t2 := a4 - a2
		t3 := a3 - a1
		o0[e] = (a4 + 4*a0) - 5*a2
		o1[e] = t0 + t1
		o2[e] = t0 - t1
		o3[e] = t2 + 2*t3
		o4[e] = t2 - 2*t3
		o5[e] = (a5 + 4*a1) - 5*a3
	}
}

func winoOut4Generic(dst []float32, ds int, src []float32, ss int, n int) {
	m0, m1, m2 := src[:n], src[ss:ss+n], src[2*ss:2*ss+n]
	m3, m4, m5 := src[3*ss:3*ss+n], src[4*ss:4*ss+n], src[5*ss:5*ss+n]
	y0, y1, y2, y3 := dst[:n], dst[ds:ds+n], dst[2*ds:2*ds+n], dst[3*ds:3*ds+n]
	for e := 0; e < n; e++ {
		a := m1[e] + m2[e]
		b := m1[e] - m2[e]
		c := m3[e] + m4[e]
		d := m3[e] - m4[e]
		y0[e] = (m0[e] + a) + c
		y1[e] = b + 2*d
		y2[e] = a + 4*c
		y3[e] = (b + 8*d) + m5[e]
	}
}

func winoKer4Generic(dst []float32, ds int, g0, g1, g2 []float32) {
	n := len(g0)
	g1, g2 = g1[:n], g2[:n]
	u0, u1, u2 := dst[:n], dst[ds:ds+n], dst[2*ds:2*ds+n]
	u3, u4, u5 := dst[3*ds:3*ds+n], dst[4*ds:4*ds+n], dst[5*ds:5*ds+n]
	for e := 0; e < n; e++ {
		p := g0[e] + g2[e]
		q := g2[e]*(1.0/6) + g0[e]*(1.0/24)
		u0[e] = g0[e] * (1.0 / 4)
		u1[e] = (p + g1[e]) * (-1.0 / 6)
		u2[e] = (p - g1[e]) * (-1.0 / 6)
		u3[e] = q + g1[e]*(1.0/12)
		u4[e] = q - g1[e]*(1.0/12)
		u5[e] = g2[e]
	}
}

func winoOutAdj4Generic(dst []float32, ds int, src []float32, ss int, n int) {
	y0, y1, y2, y3 := src[:n], src[ss:ss+n], src[2*ss:2*ss+n], src[3*ss:3*ss+n]
	m0, m1, m2 := dst[:n], dst[ds:ds+n], dst[2*ds:2*ds+n]
	m3, m4, m5 := dst[3*ds:3*ds+n], dst[4*ds:4*ds+n], dst[5*ds:5*ds+n]
	for e := 0; e < n; e++ {
		p := y0[e] + y2[e]
		q := y1[e] + y3[e]
		r := y0[e] + 4*y2[e]
		s := y1[e] + 4*y3[e]
		m0[e] = y0[e]
		m1[e] = p + q
		m2[e] = p - q
		m3[e] = r + 2*s
		m4[e] = r - 2*s
		m5[e] = y3[e]
	}
}

func winoKerAdj4Generic(dst []float32, ds int, src []float32, ss int, n int) {
	u0, u1, u2 := src[:n], src[ss:ss+n], src[2*ss:2*ss+n]
	u3, u4, u5 := src[3*ss:3*ss+n], src[4*ss:4*ss+n], src[5*ss:5*ss+n]
	w0, w1, w2 := dst[:n], dst[ds:ds+n], dst[2*ds:2*ds+n]
	for e := 0; e < n; e++ {
		a := u1[e] + u2[e]
		b := u1[e] - u2[e]
		c := u3[e] + u4[e]
		d := u3[e] - u4[e]
		w0[e] = (a*(-1.0/6) + c*(1.0/24)) + u0[e]*(1.0/4)
		w1[e] = b*(-1.0/6) + d*(1.0/12)
		w2[e] = (c-a)*(1.0/6) + u5[e]
	}
}

// checkRows panics unless rows rows of n floats, stride apart, fit in s
// and do not overlap.
func checkRows(op, what string, s []float32, stride, rows, n int) {
	if n < 0 || stride < n || (n > 0 && len(s) < (rows-1)*stride+n) {
		panic(fmt.Sprintf("simd.%s: %s of %d floats cannot hold %d rows of %d, %d apart", op, what, len(s), rows, n, stride))
	}
}

// WinogradInput4 applies the F(4, 3) input transform B^T to six rows of n
// floats: dst row i (at dst[i*ds:]) is sum_j B^T[i][j] times src row j (at
// src[j*ss:]). Strides are in floats and at least n; dst must not overlap
// src.
func (k *Impl) WinogradInput4(dst []float32, ds int, src []float32, ss int, n int) {
	k.rowTransform("WinogradInput4", 6, 6, k.winoIn4, winoIn4Generic, dst, ds, src, ss, n)
}

// WinogradOutput4 applies the F(4, 3) output transform A^T: four dst rows
// from six src rows (see WinogradInput4).
func (k *Impl) WinogradOutput4(dst []float32, ds int, src []float32, ss int, n int) {
	k.rowTransform("WinogradOutput4", 6, 4, k.winoOut4, winoOut4Generic, dst, ds, src, ss, n)
}

// WinogradOutputAdjoint4 applies A, the adjoint of the output transform
// (the transform of the output gradient in the weight gradient): six dst
// rows from four src rows (see WinogradInput4).
func (k *Impl) WinogradOutputAdjoint4(dst []float32, ds int, src []float32, ss int, n int) {
	k.rowTransform("WinogradOutputAdjoint4", 4, 6, k.winoOutAdj4, winoOutAdj4Generic, dst, ds, src, ss, n)
}

// WinogradKernelAdjoint4 applies G^T, the adjoint of the kernel transform
// (from the transformed weight gradient back to the 3x3 taps): three dst
// rows from six src rows (see WinogradInput4).
func (k *Impl) WinogradKernelAdjoint4(dst []float32, ds int, src []float32, ss int, n int) {
	k.rowTransform("WinogradKernelAdjoint4", 6, 3, k.winoKerAdj4, winoKerAdj4Generic, dst, ds, src, ss, n)
}

// rowTransform checks the rows of a transform of in input rows into out
// output rows and runs kernel (nil: none at this level) on the whole
// vectors and generic on the rest.
func (k *Impl) rowTransform(op string, in, out int, kernel, generic func(dst []float32, ds int, src []float32, ss int, n int), dst []float32, ds int, src []float32, ss int, n int) {
	checkRows(op, "dst", dst, ds, out, n)
	checkRows(op, "src", src, ss, in, n)
	v := 0
	if kernel != nil {
		v = n / k.lanes * k.lanes
		if v > 0 {
			kernel(dst, ds, src, ss, v)
		}
	}
	if v < n {
		generic(dst[v:], ds, src[v:], ss, n-v)
	}
}

// WinogradKernel4 applies the F(4, 3) kernel transform G to three rows
// g0, g1, g2 of equal length n: six dst rows of n floats, ds apart (dst
// must not overlap the inputs).
func (k *Impl) WinogradKernel4(dst []float32, ds int, g0, g1, g2 []float32) {
	n := len(g0)
	if len(g1) != n || len(g2) != n {
		panic(mismatch("WinogradKernel4", n, len(g1), len(g2)))
	}
	checkRows("WinogradKernel4", "dst", dst, ds, 6, n)
	if n == 0 {
		return
	}
	v := 0
	if k.winoKer4 != nil {
		v = n / k.lanes * k.lanes
		if v > 0 {
			k.winoKer4(dst, ds, g0[:v], g1[:v], g2[:v])
		}
	}
	if v < n {
		winoKer4Generic(dst[v:], ds, g0[v:], g1[v:], g2[v:])
	}
}
