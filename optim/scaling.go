package optim

import (
	"fmt"
	"math"
)

// DefaultGamma is the paper's optimal exponent of the scaling rule: with
// 1 - beta = C*eta^gamma, the relaxation time eta^-gamma and the drift time
// eta^-(2-2gamma) meet at gamma = 2/3.
const DefaultGamma = 2.0 / 3.0

// ScaledBeta returns the momentum of the scaling rule (eq. 2),
// beta = 1 - C*eta^gamma. It fails unless eta > 0, C > 0 and the result
// lies in [0, 1).
func ScaledBeta(eta, c, gamma float64) (float64, error) {
	switch {
	case !(eta > 0) || math.IsInf(eta, 0):
		return 0, fmt.Errorf("optim: scaling rule needs a learning rate eta > 0, got %v", eta)
	case !(c > 0) || math.IsInf(c, 0):
		return 0, fmt.Errorf("optim: scaling rule needs C > 0, got %v", c)
	case math.IsNaN(gamma) || math.IsInf(gamma, 0):
		return 0, fmt.Errorf("optim: scaling rule needs a finite gamma, got %v", gamma)
	}
	beta := 1 - c*math.Pow(eta, gamma)
	if !(beta >= 0 && beta < 1) {
		return 0, fmt.Errorf("optim: beta = 1 - C*eta^gamma = 1 - %v*%v^%v = %v is outside [0, 1)", c, eta, gamma, beta)
	}
	return beta, nil
}

// UVOptimalC returns the constant of the scaling rule for the UV model
// (eq. 10), C = (eps^2 mu2 / (P n))^(1/3): label-noise strength eps, data
// variance mu2 = Tr(Sigma), P training points, hidden width n.
func UVOptimalC(eps, mu2 float64, p, n int) (float64, error) {
	if !(eps > 0) || !(mu2 > 0) || p < 1 || n < 1 || math.IsInf(eps, 0) || math.IsInf(mu2, 0) {
		return 0, fmt.Errorf("optim: UVOptimalC needs eps > 0, mu2 > 0, P >= 1, n >= 1 (got %v, %v, %d, %d)", eps, mu2, p, n)
	}
	// P*n in floating point: the int product can overflow.
	c := math.Cbrt(eps * eps * mu2 / (float64(p) * float64(n)))
	if !(c > 0) || math.IsInf(c, 0) {
		return 0, fmt.Errorf("optim: UVOptimalC(%v, %v, %d, %d) = %v is not a positive finite number", eps, mu2, p, n, c)
	}
	return c, nil
}
