// Package fit holds the least-squares fits the experiments share: straight
// lines with standard errors, power laws in log-log, exponential
// timescales, and the hinge (piecewise-linear) model of the paper's eq. 14.
package fit

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrTooFew is returned when there are not enough points to fit (and to
// estimate an error).
var ErrTooFew = errors.New("fit: too few points")

// Line is y = A + B x fitted by least squares.
type Line struct {
	A, B       float64 // intercept and slope
	SEA, SEB   float64 // their standard errors (from the residuals)
	ResidualSD float64
	N          int
}

// FitLine fits y = A + B x by ordinary least squares. Standard errors need
// at least 3 points; with 2 they are NaN.
func FitLine(x, y []float64) (Line, error) {
	if len(x) != len(y) {
		return Line{}, fmt.Errorf("fit: %d x values and %d y values", len(x), len(y))
	}
	n := len(x)
	if n < 2 {
		return Line{}, fmt.Errorf("%w: %d points for a line", ErrTooFew, n)
	}
	var mx, my float64
	for i := range x {
		if math.IsNaN(x[i]) || math.IsNaN(y[i]) || math.IsInf(x[i], 0) || math.IsInf(y[i], 0) {
			return Line{}, fmt.Errorf("fit: point %d is not finite (%v, %v)", i, x[i], y[i])
		}
		mx += x[i]
		my += y[i]
	}
	mx /= float64(n)
	my /= float64(n)
	var sxx, sxy float64
	for i := range x {
		sxx += (x[i] - mx) * (x[i] - mx)
		sxy += (x[i] - mx) * (y[i] - my)
	}
	if sxx == 0 {
		return Line{}, fmt.Errorf("fit: all x values are equal (%v)", mx)
	}
	l := Line{B: sxy / sxx, N: n}
	l.A = my - l.B*mx
	if math.IsNaN(l.A) || math.IsInf(l.A, 0) || math.IsNaN(l.B) || math.IsInf(l.B, 0) {
		// Sums of squares of values near the float64 limit overflow.
		return Line{}, fmt.Errorf("fit: the values are too large to fit a line (slope %v, intercept %v)", l.B, l.A)
	}
	var ss float64
	for i := range x {
		r := y[i] - l.A - l.B*x[i]
		ss += r * r
	}
	if n > 2 {
		s2 := ss / float64(n-2)
		l.ResidualSD = math.Sqrt(s2)
		l.SEB = math.Sqrt(s2 / sxx)
		l.SEA = math.Sqrt(s2 * (1/float64(n) + mx*mx/sxx))
	} else {
		l.ResidualSD, l.SEA, l.SEB = math.NaN(), math.NaN(), math.NaN()
	}
	return l, nil
}

// PowerLaw is y = Y0 * x^-Alpha, fitted as a line in log-log.
type PowerLaw struct {
	Y0, Alpha     float64
	SEAlpha       float64
	SELogY0       float64 // standard error of log(Y0)
	LogResidualSD float64
	N             int
}

// FitPowerLaw fits y = Y0 x^-alpha by least squares on log y against
// log x; x and y must be positive.
func FitPowerLaw(x, y []float64) (PowerLaw, error) {
	if len(x) != len(y) {
		return PowerLaw{}, fmt.Errorf("fit: %d x values and %d y values", len(x), len(y))
	}
	lx, ly := make([]float64, len(x)), make([]float64, len(y))
	for i := range x {
		if !(x[i] > 0) || !(y[i] > 0) || math.IsInf(x[i], 0) || math.IsInf(y[i], 0) {
			return PowerLaw{}, fmt.Errorf("fit: power law needs positive finite values, point %d is (%v, %v)", i, x[i], y[i])
		}
		lx[i], ly[i] = math.Log(x[i]), math.Log(y[i])
	}
	l, err := FitLine(lx, ly)
	if err != nil {
		return PowerLaw{}, err
	}
	return PowerLaw{Y0: math.Exp(l.A), Alpha: -l.B, SEAlpha: l.SEB, SELogY0: l.SEA, LogResidualSD: l.ResidualSD, N: l.N}, nil
}

// Timescale is the decay time T of y ~ a exp(-t/T), from a line fitted to
// log y against t.
type Timescale struct {
	T, SE float64 // T = -1/slope, SE propagated from the slope's
	Line  Line
}

// FitTimescale fits log y = A - t/T; y must be positive and decaying.
func FitTimescale(t, y []float64) (Timescale, error) {
	ly := make([]float64, len(y))
	for i, v := range y {
		if !(v > 0) {
			return Timescale{}, fmt.Errorf("fit: timescale needs positive values, y[%d] = %v", i, v)
		}
		ly[i] = math.Log(v)
	}
	l, err := FitLine(t, ly)
	if err != nil {
		return Timescale{}, err
	}
	if !(l.B < 0) {
		return Timescale{}, fmt.Errorf("fit: log y does not decay (slope %v)", l.B)
	}
	ts := Timescale{T: -1 / l.B, SE: l.SEB / (l.B * l.B), Line: l}
	if math.IsInf(ts.T, 0) {
		// A slope so close to zero that its inverse overflows: no
		// measurable decay.
		return Timescale{}, fmt.Errorf("fit: log y does not measurably decay (slope %v)", l.B)
	}
	if math.IsInf(ts.SE, 0) {
		ts.SE = math.NaN()
	}
	return ts, nil
}

// Hinge is the continuous piecewise-linear model of the paper's eq. 14:
// y = Top + Left*(x - X) for x <= X and Top + Right*(x - X) for x >= X.
// For a maximum (eq. 14) Left > 0 > Right; for a V-shaped minimum Left < 0
// < Right.
type Hinge struct {
	X, Top      float64
	Left, Right float64
	SSE         float64
	N           int
}

// FitHinge fits the hinge model by least squares: for a breakpoint X the
// model is linear in (Top, Left, Right), so X is found by scanning a fine
// grid over [min x, max x] and refining around the best point by golden
// section. Each side of X must keep a point; at least 4 points in all.
func FitHinge(x, y []float64) (Hinge, error) {
	if len(x) != len(y) {
		return Hinge{}, fmt.Errorf("fit: %d x values and %d y values", len(x), len(y))
	}
	if len(x) < 4 {
		return Hinge{}, fmt.Errorf("%w: %d points for a hinge (need 4)", ErrTooFew, len(x))
	}
	for i := range x {
		if math.IsNaN(x[i]) || math.IsNaN(y[i]) || math.IsInf(x[i], 0) || math.IsInf(y[i], 0) {
			return Hinge{}, fmt.Errorf("fit: point %d is not finite (%v, %v)", i, x[i], y[i])
		}
	}
	xs := append([]float64(nil), x...)
	sort.Float64s(xs)
	lo, hi := xs[0], xs[len(xs)-1]
	if lo == hi {
		return Hinge{}, fmt.Errorf("fit: all x values are equal")
	}
	best := Hinge{SSE: math.Inf(1)}
	eval := func(bx float64) Hinge {
		h, ok := hingeAt(x, y, bx)
		if !ok {
			return Hinge{SSE: math.Inf(1)}
		}
		return h
	}
	const grid = 400
	step := (hi - lo) / grid
	for i := 0; i <= grid; i++ {
		if h := eval(lo + float64(i)*step); h.SSE < best.SSE {
			best = h
		}
	}
	// Golden-section refinement in the neighbouring grid cells.
	a, b := math.Max(lo, best.X-step), math.Min(hi, best.X+step)
	phi := (math.Sqrt(5) - 1) / 2
	c, d := b-phi*(b-a), a+phi*(b-a)
	fc, fd := eval(c), eval(d)
	for k := 0; k < 60; k++ {
		if fc.SSE < fd.SSE {
			b, d, fd = d, c, fc
			c = b - phi*(b-a)
			fc = eval(c)
		} else {
			a, c, fc = c, d, fd
			d = a + phi*(b-a)
			fd = eval(d)
		}
	}
	for _, h := range []Hinge{fc, fd} {
		if h.SSE < best.SSE {
			best = h
		}
	}
	if math.IsInf(best.SSE, 1) {
		return Hinge{}, fmt.Errorf("fit: no breakpoint leaves points on both sides")
	}
	best.N = len(x)
	return best, nil
}

// hingeAt solves the linear least squares for a fixed breakpoint bx:
// y = Top + Left*min(x-bx, 0) + Right*max(x-bx, 0). It needs a point
// strictly on each side.
func hingeAt(x, y []float64, bx float64) (Hinge, bool) {
	// Normal equations of the 3-parameter model.
	var m [3][3]float64
	var r [3]float64
	left, right := 0, 0
	for i := range x {
		u := [3]float64{1, math.Min(x[i]-bx, 0), math.Max(x[i]-bx, 0)}
		if u[1] < 0 {
			left++
		}
		if u[2] > 0 {
			right++
		}
		for a := 0; a < 3; a++ {
			r[a] += u[a] * y[i]
			for b := 0; b < 3; b++ {
				m[a][b] += u[a] * u[b]
			}
		}
	}
	if left == 0 || right == 0 {
		return Hinge{}, false
	}
	p, ok := solve3(m, r)
	if !ok {
		return Hinge{}, false
	}
	h := Hinge{X: bx, Top: p[0], Left: p[1], Right: p[2]}
	for i := range x {
		f := h.Top + h.Left*math.Min(x[i]-bx, 0) + h.Right*math.Max(x[i]-bx, 0)
		h.SSE += (y[i] - f) * (y[i] - f)
	}
	return h, true
}

// solve3 solves m p = r by Gaussian elimination with partial pivoting.
func solve3(m [3][3]float64, r [3]float64) ([3]float64, bool) {
	for c := 0; c < 3; c++ {
		piv := c
		for k := c + 1; k < 3; k++ {
			if math.Abs(m[k][c]) > math.Abs(m[piv][c]) {
				piv = k
			}
		}
		if math.Abs(m[piv][c]) < 1e-300 {
			return [3]float64{}, false
		}
		m[c], m[piv] = m[piv], m[c]
		r[c], r[piv] = r[piv], r[c]
		for k := c + 1; k < 3; k++ {
			f := m[k][c] / m[c][c]
			for j := c; j < 3; j++ {
				m[k][j] -= f * m[c][j]
			}
			r[k] -= f * r[c]
		}
	}
	var p [3]float64
	for c := 2; c >= 0; c-- {
		s := r[c]
		for j := c + 1; j < 3; j++ {
			s -= m[c][j] * p[j]
		}
		p[c] = s / m[c][c]
	}
	return p, true
}

// MeanSE returns the mean of v and its standard error (NaN for fewer than
// two values).
func MeanSE(v []float64) (mean, se float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1) / float64(len(v)))
}
