package fit

import (
	"fmt"
	"math"
	"sort"
)

// This file holds the fit of the paper's eq. 14 (App. A.3),
//
//	A(beta) = a_max + a_1 (beta - beta_*)   for beta <= beta_*,
//	A(beta) = a_max + a_2 (beta - beta_*)   for beta >= beta_*,
//
// a continuous piecewise-linear curve in beta itself (not in
// log(1 - beta)) with its corner at the optimum beta_*, and the power
// law the experiments fit to the beta_* it yields (A.4: a straight line
// of log(1 - beta_*) against log(eta)).
//
// Method. For a fixed corner position b the model is linear in
// (a_max, a_1, a_2), so the fit profiles over b: for each pair of
// neighbouring distinct x values the points split into a fixed left and
// right set while b moves between them, and the best b there is exactly
// where the two sets' separate least-squares lines cross when they cross
// inside the interval (the continuity constraint then costs nothing);
// otherwise a scan of the interval and a golden-section refinement of the
// profiled sum of squares find it. The best interval wins. Standard
// errors are the asymptotic ones of nonlinear least squares (as for
// segmented regression): s^2 (J^T J)^-1 with s^2 = SSE/(n - 4) and J the
// Jacobian of the model in (a_max, a_1, a_2, beta_*) at the optimum. They
// are approximate (the model is not differentiable in beta_* at a data
// point), but they are what a reader compares a beta_* with.
//
// A corner is only reported where the data have one. Resolved is false,
// and the corner's parameters are left zero, when there are too few
// points, when the points are monotone, when the best corner sits in the
// first or last interval of the grid (fewer than two distinct x values on
// one side: the optimum is at or beyond the edge of the grid), or when a
// slope has the wrong sign or is not significantly non-zero (the slope
// sign test: a_1 > 0 > a_2 for a maximum, each at least MinSlopeZ
// standard errors from 0). So a monotone curve never gets a corner.

// Eq14Var is the variable eq. 14 is linear in.
type Eq14Var int

const (
	// VarBeta fits in beta itself, as the paper writes eq. 14.
	VarBeta Eq14Var = iota
	// VarLogOneMinusBeta fits in x = -log(1 - beta) (increasing with
	// beta, so "left" still means smaller beta), for grids spaced
	// geometrically in 1 - beta where the paper's variable crowds the
	// points near 1. Slopes are then per unit of x; BetaStar and its
	// error are converted back to beta (the error by the delta method).
	VarLogOneMinusBeta
)

func (v Eq14Var) String() string {
	switch v {
	case VarBeta:
		return "beta"
	case VarLogOneMinusBeta:
		return "-log(1-beta)"
	}
	return fmt.Sprintf("Eq14Var(%d)", int(v))
}

// Eq14Options configures FitEq14. The zero value is the paper's fit of a
// maximum in beta with the defaults below.
type Eq14Options struct {
	// Lower marks an observable where lower is better (the Hessian trace):
	// the fit is made on the negated values, so the corner is a minimum,
	// and the results are negated back: Best is the minimum, A1 < 0 < A2.
	Lower bool
	// Var is the variable the curve is piecewise linear in (VarBeta, the
	// paper's, by default).
	Var Eq14Var
	// MinPoints is the fewest points to fit (default and least: 5, four
	// parameters and one degree of freedom for the residual variance).
	MinPoints int
	// MinSlopeZ is how many standard errors each slope must lie on its
	// side of 0 (default 2). Negative: only the signs are tested.
	MinSlopeZ float64
}

// Why an eq. 14 fit is unresolved.
const (
	ReasonTooFew   = "too few points"
	ReasonMonotone = "monotone"
	ReasonEdge     = "optimum at the edge of the grid"
	ReasonSlope    = "slope sign test failed"
	ReasonSingular = "singular fit"
)

// Eq14 is the result of FitEq14. The values are in the observable's own
// units and sign (with Lower, Best is the minimum).
type Eq14 struct {
	Resolved bool
	// Why is one of the Reason constants when not Resolved; Reason says
	// it with the numbers.
	Why, Reason string

	// The fitted corner and its standard errors (zero unless Resolved).
	BetaStar, SEBetaStar float64
	Best, SEBest         float64 // a_max (a_min with Lower)
	A1, SEA1             float64 // slope for beta <= beta_*, per unit of Var
	A2, SEA2             float64 // slope for beta >= beta_*
	// XStar is the corner in the fitted variable (= BetaStar for VarBeta).
	XStar, SEXStar float64
	SSE            float64
	ResidualSD     float64

	// The best observed point, always filled (for a report of an
	// unresolved cell: "best of the grid", never a fitted optimum).
	BestObservedBeta, BestObserved float64

	N     int
	Lower bool
	Var   Eq14Var
}

// FitEq14 fits eq. 14 to the observable y at momenta beta (any order;
// repeated betas, for several seeds, are allowed). Input that cannot be
// fitted at all (lengths that differ, non-finite values, beta outside
// [0, 1) for VarLogOneMinusBeta) is an error; data without an interior
// optimum give Resolved = false with the reason, and no error.
func FitEq14(beta, y []float64, opt Eq14Options) (Eq14, error) {
	if len(beta) != len(y) {
		return Eq14{}, fmt.Errorf("fit: eq. 14 with %d betas and %d values", len(beta), len(y))
	}
	if opt.MinPoints == 0 {
		opt.MinPoints = 5
	}
	if opt.MinPoints < 5 {
		return Eq14{}, fmt.Errorf("fit: eq. 14 needs MinPoints >= 5 (4 parameters and a residual), got %d", opt.MinPoints)
	}
	if opt.MinSlopeZ == 0 {
		opt.MinSlopeZ = 2
	}
	if math.IsNaN(opt.MinSlopeZ) || math.IsInf(opt.MinSlopeZ, 1) {
		return Eq14{}, fmt.Errorf("fit: eq. 14 MinSlopeZ %v", opt.MinSlopeZ)
	}
	if opt.Var != VarBeta && opt.Var != VarLogOneMinusBeta {
		return Eq14{}, fmt.Errorf("fit: eq. 14 variable %v unknown", opt.Var)
	}
	res := Eq14{N: len(beta), Lower: opt.Lower, Var: opt.Var}
	pts := make([]point, len(beta))
	sign := 1.0
	if opt.Lower {
		sign = -1
	}
	for i := range beta {
		b, v := beta[i], y[i]
		if math.IsNaN(b) || math.IsInf(b, 0) || math.IsNaN(v) || math.IsInf(v, 0) {
			return Eq14{}, fmt.Errorf("fit: eq. 14 point %d is not finite (beta %v, value %v)", i, b, v)
		}
		x := b
		if opt.Var == VarLogOneMinusBeta {
			if !(b >= 0 && b < 1) {
				return Eq14{}, fmt.Errorf("fit: eq. 14 in -log(1-beta): point %d has beta %v outside [0, 1)", i, b)
			}
			x = -math.Log1p(-b)
		}
		pts[i] = point{x: x, y: sign * v}
		if i == 0 || pts[i].y > sign*res.BestObserved {
			res.BestObservedBeta, res.BestObserved = b, v
		}
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].x < pts[j].x })
	ux := distinct(pts)
	if len(pts) < opt.MinPoints || len(ux) < 3 {
		res.Why = ReasonTooFew
		res.Reason = fmt.Sprintf("%d points at %d distinct betas: eq. 14 needs %d points and 3 distinct betas", len(pts), len(ux), opt.MinPoints)
		return res, nil
	}
	if dir := monotone(pts, ux); dir != 0 {
		res.Why = ReasonMonotone
		word := "increasing"
		if float64(dir)*sign < 0 {
			word = "decreasing"
		}
		res.Reason = fmt.Sprintf("the values are monotone (%s in beta): no interior optimum on this grid", word)
		return res, nil
	}
	c, ok := bestCorner(pts, ux)
	if !ok {
		res.Why, res.Reason = ReasonSingular, "no corner position gives a determined fit"
		return res, nil
	}
	left, right := 0, 0
	for _, u := range ux {
		if u <= c.x {
			left++
		}
		if u >= c.x {
			right++
		}
	}
	if left < 2 || right < 2 {
		res.Why = ReasonEdge
		res.Reason = fmt.Sprintf("the best corner, beta %.6g, has %d distinct betas at or below it and %d at or above (eq. 14 needs 2 on each side): the optimum is at or beyond the grid's edge", toBeta(c.x, opt.Var), left, right)
		return res, nil
	}
	se, ok := cornerSE(pts, c)
	if !ok {
		res.Why, res.Reason = ReasonSingular, "the Jacobian of the fit is singular"
		return res, nil
	}
	// The slope sign test, on the maximisation problem (sign applied).
	z1, z2 := c.a1/se[1], -c.a2/se[2]
	if se[1] == 0 {
		z1 = math.Copysign(math.Inf(1), c.a1)
	}
	if se[2] == 0 {
		z2 = math.Copysign(math.Inf(1), -c.a2)
	}
	zmin := math.Max(opt.MinSlopeZ, 0)
	if !(c.a1 > 0 && c.a2 < 0 && z1 >= zmin && z2 >= zmin) {
		res.Why = ReasonSlope
		res.Reason = fmt.Sprintf("slopes %.4g +- %.2g below and %.4g +- %.2g above the corner: a %s needs them %s, each %.3g standard errors from 0",
			sign*c.a1, se[1], sign*c.a2, se[2], map[bool]string{false: "maximum", true: "minimum"}[opt.Lower],
			map[bool]string{false: "positive then negative", true: "negative then positive"}[opt.Lower], zmin)
		return res, nil
	}
	res.Resolved = true
	res.Best, res.SEBest = sign*c.top, se[0]
	res.A1, res.SEA1 = sign*c.a1, se[1]
	res.A2, res.SEA2 = sign*c.a2, se[2]
	res.XStar, res.SEXStar = c.x, se[3]
	res.BetaStar, res.SEBetaStar = toBeta(c.x, opt.Var), se[3]
	if opt.Var == VarLogOneMinusBeta {
		res.SEBetaStar = math.Exp(-c.x) * se[3] // d beta / d x
	}
	res.SSE = c.sse
	res.ResidualSD = math.Sqrt(c.sse / float64(len(pts)-4))
	return res, nil
}

func toBeta(x float64, v Eq14Var) float64 {
	if v == VarLogOneMinusBeta {
		return -math.Expm1(-x)
	}
	return x
}

type point struct{ x, y float64 }

// distinct returns the distinct x values of sorted points.
func distinct(pts []point) []float64 {
	var u []float64
	for i, p := range pts {
		if i == 0 || p.x != pts[i-1].x {
			u = append(u, p.x)
		}
	}
	return u
}

// monotone reports +1 when the means per distinct x never decrease, -1
// when they never increase, 0 otherwise (the flat case counts as
// monotone: no optimum to find).
func monotone(pts []point, ux []float64) int {
	means := make([]float64, 0, len(ux))
	for i := 0; i < len(pts); {
		j, s := i, 0.0
		for ; j < len(pts) && pts[j].x == pts[i].x; j++ {
			s += pts[j].y
		}
		means = append(means, s/float64(j-i))
		i = j
	}
	up, down := true, true
	for k := 1; k < len(means); k++ {
		if means[k] < means[k-1] {
			up = false
		}
		if means[k] > means[k-1] {
			down = false
		}
	}
	switch {
	case up:
		return 1
	case down:
		return -1
	}
	return 0
}

// corner is a fit of the maximisation problem at corner x.
type corner struct {
	x, top, a1, a2, sse float64
}

// cornerAt solves the linear least squares in (top, a1, a2) for corner
// position b; it needs a point strictly below b and one strictly above.
func cornerAt(pts []point, b float64) (corner, bool) {
	var m [3][3]float64
	var r [3]float64
	below, above := false, false
	for _, p := range pts {
		u := [3]float64{1, math.Min(p.x-b, 0), math.Max(p.x-b, 0)}
		below = below || u[1] < 0
		above = above || u[2] > 0
		for i := range 3 {
			r[i] += u[i] * p.y
			for j := range 3 {
				m[i][j] += u[i] * u[j]
			}
		}
	}
	if !below || !above {
		return corner{}, false
	}
	a := make([][]float64, 3)
	for i := range a {
		a[i] = append(m[i][:], r[i])
	}
	sol, ok := gaussSolve(a)
	if !ok {
		return corner{}, false
	}
	c := corner{x: b, top: sol[0], a1: sol[1], a2: sol[2]}
	for _, p := range pts {
		d := p.y - c.eval(p.x)
		c.sse += d * d
	}
	return c, !math.IsNaN(c.sse) && !math.IsInf(c.sse, 0)
}

func (c corner) eval(x float64) float64 {
	return c.top + c.a1*math.Min(x-c.x, 0) + c.a2*math.Max(x-c.x, 0)
}

// bestCorner profiles the sum of squares over the corner position, one
// interval between neighbouring distinct x values at a time.
func bestCorner(pts []point, ux []float64) (corner, bool) {
	best := corner{sse: math.Inf(1)}
	try := func(b float64) {
		if c, ok := cornerAt(pts, b); ok && c.sse < best.sse {
			best = c
		}
	}
	for k := 0; k+1 < len(ux); k++ {
		lo, hi := ux[k], ux[k+1]
		try(lo)
		try(hi)
		// Inside (lo, hi) the left set is x <= lo, the right x >= hi.
		if b, ok := crossing(pts, lo, hi); ok {
			try(b)
			continue
		}
		const scan = 32
		step := (hi - lo) / scan
		bi, bs := lo, math.Inf(1)
		for i := 0; i <= scan; i++ {
			b := lo + float64(i)*step
			if c, ok := cornerAt(pts, b); ok && c.sse < bs {
				bi, bs = b, c.sse
			}
		}
		try(golden(pts, math.Max(lo, bi-step), math.Min(hi, bi+step)))
	}
	return best, !math.IsInf(best.sse, 1)
}

// crossing returns where the least-squares lines of the points at x <= lo
// and at x >= hi cross, when each set spans two distinct x values and the
// crossing lies in [lo, hi]: there the constrained fit equals the two
// separate fits, the least any corner in the interval can reach.
func crossing(pts []point, lo, hi float64) (float64, bool) {
	var l, r []point
	for _, p := range pts {
		if p.x <= lo {
			l = append(l, p)
		} else if p.x >= hi {
			r = append(r, p)
		}
	}
	c1, s1, ok1 := line(l)
	c2, s2, ok2 := line(r)
	if !ok1 || !ok2 || s1 == s2 {
		return 0, false
	}
	b := (c2 - c1) / (s1 - s2)
	return b, b >= lo && b <= hi
}

// line fits y = c + s x; ok needs two distinct x values.
func line(pts []point) (c, s float64, ok bool) {
	if len(pts) < 2 {
		return 0, 0, false
	}
	var mx, my float64
	for _, p := range pts {
		mx += p.x
		my += p.y
	}
	n := float64(len(pts))
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for _, p := range pts {
		sxx += (p.x - mx) * (p.x - mx)
		sxy += (p.x - mx) * (p.y - my)
	}
	if sxx == 0 {
		return 0, 0, false
	}
	s = sxy / sxx
	return my - s*mx, s, true
}

// golden minimises the profiled sum of squares over [a, b].
func golden(pts []point, a, b float64) float64 {
	f := func(x float64) float64 {
		if c, ok := cornerAt(pts, x); ok {
			return c.sse
		}
		return math.Inf(1)
	}
	phi := (math.Sqrt(5) - 1) / 2
	c, d := b-phi*(b-a), a+phi*(b-a)
	fc, fd := f(c), f(d)
	for range 80 {
		if fc <= fd {
			b, d, fd = d, c, fc
			c = b - phi*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + phi*(b-a)
			fd = f(d)
		}
	}
	if fc <= fd {
		return c
	}
	return d
}

// cornerSE returns the standard errors of (top, a1, a2, x) from
// s^2 (J^T J)^-1. At a point exactly on the corner the model's
// derivative in x is one-sided; the mean of the two sides is used.
func cornerSE(pts []point, c corner) ([4]float64, bool) {
	var jtj [4][4]float64
	for _, p := range pts {
		d := p.x - c.x
		var dx float64
		switch {
		case d < 0:
			dx = -c.a1
		case d > 0:
			dx = -c.a2
		default:
			dx = -(c.a1 + c.a2) / 2
		}
		j := [4]float64{1, math.Min(d, 0), math.Max(d, 0), dx}
		for a := range 4 {
			for b := range 4 {
				jtj[a][b] += j[a] * j[b]
			}
		}
	}
	inv, ok := invert4(jtj)
	if !ok {
		return [4]float64{}, false
	}
	s2 := c.sse / float64(len(pts)-4)
	var se [4]float64
	for i := range 4 {
		if !(inv[i][i] >= 0) {
			return [4]float64{}, false
		}
		se[i] = math.Sqrt(s2 * inv[i][i])
	}
	return se, true
}

// invert4 inverts a 4x4 matrix by Gauss-Jordan elimination with partial
// pivoting, scaled so that the singularity test is relative.
func invert4(m [4][4]float64) ([4][4]float64, bool) {
	a := make([][]float64, 4)
	for i := range 4 {
		a[i] = make([]float64, 8)
		copy(a[i], m[i][:])
		a[i][4+i] = 1
	}
	if !gaussJordan(a) {
		return [4][4]float64{}, false
	}
	var inv [4][4]float64
	for i := range 4 {
		copy(inv[i][:], a[i][4:])
	}
	return inv, true
}

// gaussSolve solves the n x n system held as an augmented n x (n+1)
// matrix, returning the solution.
func gaussSolve(a [][]float64) ([]float64, bool) {
	if !gaussJordan(a) {
		return nil, false
	}
	n := len(a)
	x := make([]float64, n)
	for i := range n {
		x[i] = a[i][n]
	}
	return x, true
}

// gaussJordan reduces the left n x n block of a (n rows, more columns) to
// the identity, in place; false when a pivot is negligible against the
// largest entry of the block.
func gaussJordan(a [][]float64) bool {
	n := len(a)
	var scale float64
	for i := range n {
		for j := range n {
			scale = math.Max(scale, math.Abs(a[i][j]))
		}
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return false
	}
	for c := range n {
		piv := c
		for r := c + 1; r < n; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[piv][c]) {
				piv = r
			}
		}
		if math.Abs(a[piv][c]) <= 1e-13*scale {
			return false
		}
		a[c], a[piv] = a[piv], a[c]
		p := a[c][c]
		for j := range a[c] {
			a[c][j] /= p
		}
		for r := range n {
			if r == c || a[r][c] == 0 {
				continue
			}
			f := a[r][c]
			for j := range a[r] {
				a[r][j] -= f * a[c][j]
			}
		}
	}
	return true
}

// Exponent is the power law 1 - beta_* = C eta^Gamma fitted as the line
// log(1 - beta_*) = log C + Gamma log eta (App. A.4).
type Exponent struct {
	Gamma, SEGamma float64
	C, SEC         float64 // SEC = C * SELogC (delta method)
	LogC, SELogC   float64
	ResidualSD     float64 // of log(1 - beta_*) about the line
	N              int
	// Eta and OneMinusBeta are the points used, in input order.
	Eta, OneMinusBeta []float64
}

// MinExponentPoints is the fewest points FitExponent accepts: a line
// through 2 points has no residual, so no standard error.
const MinExponentPoints = 3

// FitExponent fits 1 - beta_* = C eta^gamma by ordinary least squares of
// log(1 - beta_*) against log(eta), as the paper does (unweighted: the
// per-eta errors of beta_* are not used, so one badly determined point
// counts as much as the others; look at the residuals). Needs
// MinExponentPoints distinct etas > 0 and each beta_* in (-inf, 1).
func FitExponent(eta, betaStar []float64) (Exponent, error) {
	if len(eta) != len(betaStar) {
		return Exponent{}, fmt.Errorf("fit: exponent with %d etas and %d beta_*", len(eta), len(betaStar))
	}
	if len(eta) < MinExponentPoints {
		return Exponent{}, fmt.Errorf("%w: %d resolved etas for the exponent (need %d for a standard error)", ErrTooFew, len(eta), MinExponentPoints)
	}
	lx, ly := make([]float64, len(eta)), make([]float64, len(eta))
	e := Exponent{N: len(eta)}
	for i := range eta {
		if !(eta[i] > 0) || math.IsInf(eta[i], 0) {
			return Exponent{}, fmt.Errorf("fit: exponent point %d has eta %v, want finite and > 0", i, eta[i])
		}
		if !(betaStar[i] < 1) || math.IsInf(betaStar[i], 0) {
			return Exponent{}, fmt.Errorf("fit: exponent point %d has beta_* %v, want finite and < 1", i, betaStar[i])
		}
		lx[i], ly[i] = math.Log(eta[i]), math.Log1p(-betaStar[i])
		e.Eta = append(e.Eta, eta[i])
		e.OneMinusBeta = append(e.OneMinusBeta, 1-betaStar[i])
	}
	l, err := FitLine(lx, ly)
	if err != nil {
		return Exponent{}, err
	}
	e.Gamma, e.SEGamma = l.B, l.SEB
	e.LogC, e.SELogC = l.A, l.SEA
	e.C = math.Exp(l.A)
	e.SEC = e.C * l.SEA
	e.ResidualSD = l.ResidualSD
	return e, nil
}

// FitExponentEq14 is FitExponent over the resolved fits of fits (one per
// eta, in the order of eta); unresolved ones are left out.
func FitExponentEq14(eta []float64, fits []Eq14) (Exponent, error) {
	if len(eta) != len(fits) {
		return Exponent{}, fmt.Errorf("fit: exponent with %d etas and %d eq. 14 fits", len(eta), len(fits))
	}
	var x, b []float64
	for i, f := range fits {
		if f.Resolved {
			x, b = append(x, eta[i]), append(b, f.BetaStar)
		}
	}
	if len(x) < MinExponentPoints {
		return Exponent{}, fmt.Errorf("%w: %d of %d etas have a resolved beta_* (the exponent needs %d)", ErrTooFew, len(x), len(eta), MinExponentPoints)
	}
	return FitExponent(x, b)
}
