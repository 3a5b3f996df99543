package simd

import "math"

// The activation kernels: tanh and sigmoid on the steps of expScalar, and
// their element-wise backward rules in terms of the forward output. The
// assembly of every level follows these functions step by step (written by
// _gen/activation.go and _gen/arm64.go).

// Constants of tanhScalar; _gen writes the same float32 values.
const (
	// tanhSmall: below it the polynomial, from it 1 - 2/(e^(2a)+1).
	tanhSmall = 0.8
	// q(s), with tanh(a) = a + a*s*q(s), s = a^2 on [0, tanhSmall):
	// degree 5, fitted minimax in the relative error of tanh (4e-9 on the
	// interval, well under float32's 6e-8).
	tanhQ5 = 0.0015846696
	tanhQ4 = -0.0074094133
	tanhQ3 = 0.021302903
	tanhQ2 = -0.05385231
	tanhQ1 = 0.13332221
	tanhQ0 = -0.333333
)

const signBit = 1 << 31

// tanhScalar is the algorithm of every Tanh kernel, in Go. With a = |x|:
// below tanhSmall the odd polynomial a + a*s*q(s), s = a^2, which keeps
// full relative accuracy near 0 (where 1 - 2/(e+1) would cancel) and
// gives a itself for tiny a; from tanhSmall on 1 - 2/(e^(2a)+1), 2a
// clamped to expHi (tanh rounds to 1 from 9.01 on). NaN takes the second
// branch, which keeps it. The sign of x is put back last, so that
// tanh(-x) = -tanh(x) bit for bit and tanh(-0) = -0.
func tanhScalar(x float32) float32 {
	bits := math.Float32bits(x)
	a := math.Float32frombits(bits &^ signBit)
	var r float32
	if a < tanhSmall {
		s := a * a
		q := float32(tanhQ5)
		q = q*s + tanhQ4
		q = q*s + tanhQ3
		q = q*s + tanhQ2
		q = q*s + tanhQ1
		q = q*s + tanhQ0
		r = a*s*q + a
	} else {
		e := expScalar(min(a+a, expHi))
		r = 1 - 2/(e+1)
	}
	return math.Float32frombits(math.Float32bits(r) | bits&signBit)
}

// sigmoidScalar is the algorithm of every Sigmoid kernel, in Go: with
// e = e^(-|x|) (never overflowing; NaN stays NaN), 1/(1+e) for x >= 0 and
// e/(1+e) for x < 0, so that the tiny results for very negative x are e's
// own (subnormal below -87.3, 0 below -103.97).
func sigmoidScalar(x float32) float32 {
	e := expScalar(math.Float32frombits(math.Float32bits(x) | signBit))
	num := float32(1)
	if x < 0 {
		num = e
	}
	return num / (1 + e)
}

func tanhGeneric(z, x []float32) {
	x = x[:len(z)]
	for i, v := range x {
		z[i] = tanhScalar(v)
	}
}

func sigmoidGeneric(z, x []float32) {
	x = x[:len(z)]
	for i, v := range x {
		z[i] = sigmoidScalar(v)
	}
}

// tanhBackwardGeneric: z = g*(1-y^2), as g*((1-y)*(1+y)), which keeps its
// relative accuracy as |y| nears 1 (1-y is exact there) where 1 - y*y
// would cancel. Nothing here can fuse, so every level gives these bits.
func tanhBackwardGeneric(z, g, y []float32) {
	g, y = g[:len(z)], y[:len(z)]
	for i, v := range y {
		z[i] = g[i] * ((1 - v) * (1 + v))
	}
}

// sigmoidBackwardGeneric: z = g*(y*(1-y)).
func sigmoidBackwardGeneric(z, g, y []float32) {
	g, y = g[:len(z)], y[:len(z)]
	for i, v := range y {
		z[i] = g[i] * (v * (1 - v))
	}
}

// Tanh computes z[i] = tanh(x[i]).
func (k *Impl) Tanh(z, x []float32) { k.unary("Tanh", k.tanh, z, x) }

// Sigmoid computes z[i] = 1/(1+e^-x[i]).
func (k *Impl) Sigmoid(z, x []float32) { k.unary("Sigmoid", k.sigmoid, z, x) }

// TanhBackward computes z[i] = g[i]*(1-y[i]^2), the gradient through
// y = tanh(x) given the output y (as g*((1-y)*(1+y)); bitwise the same at
// every level).
func (k *Impl) TanhBackward(z, g, y []float32) { k.binary("TanhBackward", k.tanhBackward, z, g, y) }

// SigmoidBackward computes z[i] = g[i]*y[i]*(1-y[i]), the gradient through
// y = sigmoid(x) given the output y (as g*(y*(1-y)); bitwise the same at
// every level).
func (k *Impl) SigmoidBackward(z, g, y []float32) {
	k.binary("SigmoidBackward", k.sigmoidBackward, z, g, y)
}

// Tanh computes z[i] = tanh(x[i]).
func Tanh(z, x []float32) { active.Tanh(z, x) }

// Sigmoid computes z[i] = 1/(1+e^-x[i]).
func Sigmoid(z, x []float32) { active.Sigmoid(z, x) }

// TanhBackward computes z[i] = g[i]*(1-y[i]^2) for y = tanh(x).
func TanhBackward(z, g, y []float32) { active.TanhBackward(z, g, y) }

// SigmoidBackward computes z[i] = g[i]*y[i]*(1-y[i]) for y = sigmoid(x).
func SigmoidBackward(z, g, y []float32) { active.SigmoidBackward(z, g, y) }
