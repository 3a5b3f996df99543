package optim

import (
	"math"
	"testing"

	"github.com/flatfast/flatfast/internal/badinput"
	"github.com/flatfast/flatfast/tensor"
)

func TestBadInputReturnsError(t *testing.T) {
	w := []*tensor.Tensor{tensor.Must(tensor.New(tensor.Float64, 3))}
	y := tensor.Must(tensor.New(tensor.Float64, 3))
	nan, inf := math.NaN(), math.Inf(1)
	sched := func(s Schedule, err error) error { return err }
	cases := []struct {
		name string
		f    func() error
	}{
		{"Cosine of length 0", func() error { return sched(Cosine(0.1, 0)) }},
		{"Cosine of negative length", func() error { return sched(Cosine(0.1, -5)) }},
		{"Cosine with a NaN rate", func() error { return sched(Cosine(nan, 10)) }},
		{"Cosine with an infinite rate", func() error { return sched(Cosine(inf, 10)) }},
		{"Cosine with a negative rate", func() error { return sched(Cosine(-1, 10)) }},
		{"LinearWarmup of length 0", func() error { return sched(LinearWarmup(0.1, 0)) }},
		{"LinearWarmup of negative length", func() error { return sched(LinearWarmup(0.1, -1)) }},
		{"LinearWarmup with a NaN rate", func() error { return sched(LinearWarmup(nan, 4)) }},
		{"WarmupCosine of decay 0", func() error { return sched(WarmupCosine(0.1, 2, 0)) }},
		{"WarmupCosine of negative warm-up", func() error { return sched(WarmupCosine(0.1, -2, 4)) }},
		{"WarmupCosine with an infinite rate", func() error { return sched(WarmupCosine(inf, 2, 4)) }},
		{"Constant with a NaN rate", func() error { return sched(Constant(nan)) }},
		{"Constant with rate 0", func() error { return sched(Constant(0)) }},
		{"NewAdamWith an infinite eps", func() error { _, err := NewAdamWith(w, 1e-3, 0.9, 0.999, inf); return err }},
		{"NewAdamWith beta1 1", func() error { _, err := NewAdamWith(w, 1e-3, 1, 0.999, 1e-8); return err }},
		{"NewAdam with a NaN rate", func() error { _, err := NewAdam(w, nan); return err }},
		{"NewAdam with a nil parameter", func() error { _, err := NewAdam([]*tensor.Tensor{nil}, 1e-3); return err }},
		{"NewMomentum with beta -0.1", func() error { _, err := NewMomentum(w, 0.1, -0.1); return err }},
		{"NewMomentum with beta NaN", func() error { _, err := NewMomentum(w, 0.1, nan); return err }},
		{"NewMomentum with an infinite rate", func() error { _, err := NewMomentum(w, inf, 0.9); return err }},
		{"Momentum.SetLR(NaN)", func() error {
			m, _ := NewMomentum(w, 0.1, 0.9)
			return m.SetLR(nan)
		}},
		{"NewRowMomentum with a NaN beta", func() error {
			_, err := NewRowMomentum([]*tensor.Tensor{tensor.Must(tensor.New(tensor.Float64, 1, 2))}, []float64{0.1}, []float64{nan})
			return err
		}},
		{"ScaledBeta with a NaN C", func() error { _, err := ScaledBeta(0.1, nan, DefaultGamma); return err }},
		{"UVOptimalC with a NaN eps", func() error { _, err := UVOptimalC(nan, 1, 10, 10); return err }},
		{"CheckFinite of a nil parameter", func() error { return CheckFinite(0, []*tensor.Tensor{nil}) }},
		{"Loop with a nil parameter to check", func() error {
			l := Loop{Steps: 1, Step: func(int) (float64, error) { return 0, nil }, Params: []*tensor.Tensor{nil}}
			return l.Run()
		}},
		{"GaussianTargets into nil", func() error { return GaussianTargets(nil, y, 0.1, tensor.NewRNG(1)) }},
		{"GaussianTargets from nil", func() error { return GaussianTargets(y, nil, 0.1, tensor.NewRNG(1)) }},
		{"GaussianTargets with a nil generator", func() error { return GaussianTargets(y, y, 0.1, nil) }},
		{"GaussianTargets with a NaN strength", func() error { return GaussianTargets(y, y, nan, tensor.NewRNG(1)) }},
		{"NoisyLabels with a nil generator", func() error { return NoisyLabels(make([]int, 2), []int{0, 1}, 2, 0.5, nil) }},
		{"NoisyLabels with a NaN probability", func() error {
			return NoisyLabels(make([]int, 2), []int{0, 1}, 2, nan, tensor.NewRNG(1))
		}},
		{"ExpectedTargets with an unknown dtype", func() error { _, err := ExpectedTargets(tensor.DType(9), []int{0}, 2, 0.1); return err }},
		{"ExpectedTargets of 2^40 classes by 2^40 labels", func() error {
			_, err := ExpectedTargets(tensor.Float64, make([]int, 1<<20), 1<<40, 0.1)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { badinput.Err(t, c.f) })
	}
}

// A schedule takes any step: before 0 it gives the rate of step 0 (it
// used to extrapolate, to negative rates for the warm-up).
func TestSchedulesClampNegativeSteps(t *testing.T) {
	w, _ := LinearWarmup(1, 4)
	c, _ := Cosine(2, 10)
	wc, _ := WarmupCosine(1, 2, 4)
	cases := []struct {
		name string
		s    Schedule
		want float64
	}{
		{"LinearWarmup", w, 0.25},
		{"Cosine", c, 2},
		{"WarmupCosine", wc, 0.5},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			if got := k.s(-3); got != k.want {
				t.Errorf("step -3: %v, want %v", got, k.want)
			}
		})
	}
}

// P*n beyond an int used to wrap around (to 0 here, so C was +Inf).
func TestUVOptimalCOfHugeProducts(t *testing.T) {
	c, err := UVOptimalC(1, 1, 1<<40, 1<<40)
	if want := math.Cbrt(math.Pow(2, -80)); err != nil || math.Abs(c-want) > 1e-12*want {
		t.Fatalf("UVOptimalC(1, 1, 2^40, 2^40) = %v, %v; want %v", c, err, want)
	}
}
