package fit_test

import (
	"fmt"

	"github.com/flatfast/flatfast/repro/fit"
)

// Test accuracy against beta at one eta, a corner at 0.97; then the
// exponent over three etas' beta_*.
func ExampleFitEq14() {
	beta := []float64{0.90, 0.92, 0.94, 0.96, 0.97, 0.98, 0.99}
	acc := []float64{0.830, 0.836, 0.842, 0.848, 0.851, 0.846, 0.841}
	f, err := fit.FitEq14(beta, acc, fit.Eq14Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("resolved %v: beta* = %.3f, a_max = %.3f\n", f.Resolved, f.BetaStar, f.Best)

	mono, _ := fit.FitEq14(beta, []float64{0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86}, fit.Eq14Options{})
	fmt.Println("monotone:", mono.Resolved, mono.Why)

	x, _ := fit.FitExponent([]float64{1e-4, 1e-3, 1e-2}, []float64{1 - 0.11*0.0021544, 1 - 0.11*0.01, 1 - 0.11*0.046416})
	fmt.Printf("gamma = %.3f, C = %.3f\n", x.Gamma, x.C)
	// Output:
	// resolved true: beta* = 0.970, a_max = 0.851
	// monotone: false monotone
	// gamma = 0.667, C = 0.110
}
