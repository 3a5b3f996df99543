package tensor

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// bnRef computes batch norm and its gradients directly in float64 from
// the definitions: the statistics, y, and gx, ggamma, gbeta for gy.
func bnRef(x, gamma, beta, gy *Tensor, eps float64) (y, mean, variance, gx, gg, gb []float64) {
	n, c, hw := x.Dim(0), x.Dim(1), x.Dim(2)*x.Dim(3)
	m := float64(n * hw)
	y, gx = make([]float64, x.Len()), make([]float64, x.Len())
	mean, variance, gg, gb = make([]float64, c), make([]float64, c), make([]float64, c), make([]float64, c)
	at := func(i, ch, p int) int { return (i*c+ch)*hw + p }
	for ch := 0; ch < c; ch++ {
		for i := 0; i < n; i++ {
			for p := 0; p < hw; p++ {
				mean[ch] += x.Flat(at(i, ch, p))
			}
		}
		mean[ch] /= m
		for i := 0; i < n; i++ {
			for p := 0; p < hw; p++ {
				d := x.Flat(at(i, ch, p)) - mean[ch]
				variance[ch] += d * d
			}
		}
		variance[ch] /= m
		inv := 1 / math.Sqrt(variance[ch]+eps)
		for i := 0; i < n; i++ {
			for p := 0; p < hw; p++ {
				k := at(i, ch, p)
				xhat := (x.Flat(k) - mean[ch]) * inv
				y[k] = xhat*gamma.Flat(ch) + beta.Flat(ch)
				gb[ch] += gy.Flat(k)
				gg[ch] += gy.Flat(k) * xhat
			}
		}
		for i := 0; i < n; i++ {
			for p := 0; p < hw; p++ {
				k := at(i, ch, p)
				xhat := (x.Flat(k) - mean[ch]) * inv
				gx[k] = gamma.Flat(ch) * inv / m * (m*gy.Flat(k) - gb[ch] - xhat*gg[ch])
			}
		}
	}
	return y, mean, variance, gx, gg, gb
}

// bnInputs returns random x and gy of the given shape [N, C, H, W] and
// gamma and beta of shape [C].
func bnInputs(r *RNG, dt DType, shape ...int) (x, gamma, beta, gy *Tensor) {
	return randTensor(r, dt, shape...), randTensor(r, dt, shape[1]), randTensor(r, dt, shape[1]), randTensor(r, dt, shape...)
}

// bnOut holds the outputs of one forward and backward pass.
type bnOut struct{ y, mean, variance, inv, gx, gg, gb *Tensor }

func bnRun(t *testing.T, x, gamma, beta, gy *Tensor, eps float64) bnOut {
	t.Helper()
	dt, s, c := x.DType(), x.Shape(), x.Dim(1)
	o := bnOut{Must(New(dt, s...)), Must(New(dt, c)), Must(New(dt, c)), Must(New(dt, c)), Must(New(dt, s...)), Must(New(dt, c)), Must(New(dt, c))}
	if err := BatchNormForward(o.y, o.mean, o.variance, o.inv, x, gamma, beta, eps); err != nil {
		t.Fatal(err)
	}
	if err := BatchNormBackward(o.gx, o.gg, o.gb, gy, x, gamma, o.mean, o.inv); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestBatchNormAgainstDefinition(t *testing.T) {
	shapes := [][4]int{{4, 3, 5, 5}, {2, 16, 8, 8}, {3, 7, 1, 1}, {1, 2, 1, 3}, {5, 4, 17, 3}}
	atEveryLevel(t, func(t *testing.T) {
		for _, dt := range []DType{Float32, Float64} {
			tol := 1e-12
			if dt == Float32 {
				tol = 2e-5
			}
			for _, s := range shapes {
				t.Run(fmt.Sprintf("%v/%v", dt, s), func(t *testing.T) {
					r := NewRNG(uint64(s[0]*1000 + s[1]*100 + s[2]*10 + s[3]))
					x, gamma, beta, gy := bnInputs(r, dt, s[:]...)
					const eps = 1e-5
					y, mean, variance, gx, gg, gb := bnRef(x, gamma, beta, gy, eps)
					o := bnRun(t, x, gamma, beta, gy, eps)
					checkClose(t, "y", o.y, y, tol)
					checkClose(t, "mean", o.mean, mean, tol)
					checkClose(t, "variance", o.variance, variance, tol)
					inv := make([]float64, len(variance))
					for i, v := range variance {
						inv[i] = 1 / math.Sqrt(v+eps)
					}
					checkClose(t, "inv", o.inv, inv, tol)
					checkClose(t, "gbeta", o.gb, gb, 10*tol)
					checkClose(t, "ggamma", o.gg, gg, 10*tol)
					checkClose(t, "gx", o.gx, gx, 10*tol)
				})
			}
		}
	})
}

func TestBatchNormSameForAnyThreadCount(t *testing.T) {
	defer SetThreads(0)
	r := NewRNG(3)
	x, gamma, beta, gy := bnInputs(r, Float32, 4, 64, 16, 16)
	var first bnOut
	for _, threads := range []int{1, 2, 3} {
		SetThreads(threads)
		o := bnRun(t, x, gamma, beta, gy, 1e-5)
		if threads == 1 {
			first = o
			continue
		}
		what := fmt.Sprintf("threads=%d vs 1", threads)
		for _, p := range [][2]*Tensor{{o.y, first.y}, {o.mean, first.mean}, {o.variance, first.variance}, {o.inv, first.inv}, {o.gx, first.gx}, {o.gg, first.gg}, {o.gb, first.gb}} {
			sameBits(t, what, p[0], p[1])
		}
	}
}

// The backward pass computes only the gradients asked for, and the same
// ones as when all are asked for.
func TestBatchNormBackwardPartial(t *testing.T) {
	r := NewRNG(4)
	x, gamma, beta, gy := bnInputs(r, Float32, 2, 5, 3, 3)
	all := bnRun(t, x, gamma, beta, gy, 1e-3)
	gx := Must(New(Float32, 2, 5, 3, 3))
	if err := BatchNormBackward(gx, nil, nil, gy, x, gamma, all.mean, all.inv); err != nil {
		t.Fatal(err)
	}
	gb := Must(New(Float32, 5))
	if err := BatchNormBackward(nil, nil, gb, gy, x, gamma, all.mean, all.inv); err != nil {
		t.Fatal(err)
	}
	sameBits(t, "gx alone vs with the others", gx, all.gx)
	sameBits(t, "gbeta alone vs with the others", gb, all.gb)
}

// sameBits fails unless the float32 tensors got and want hold the same
// bits.
func sameBits(t *testing.T, what string, got, want *Tensor) {
	t.Helper()
	for i, v := range got.f32 {
		if math.Float32bits(v) != math.Float32bits(want.f32[i]) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, v, want.f32[i])
		}
	}
}

func TestBatchNormBadInput(t *testing.T) {
	f := func(s ...int) *Tensor { return Must(New(Float32, s...)) }
	x, c, c2 := f(2, 3, 4, 4), f(3), f(3)
	d := Must(New(Float64, 3))
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"nil x", BatchNormForward(f(2, 3, 4, 4), c, c, c, nil, c, c, 1e-5), ErrShape},
		{"nil output", BatchNormForward(nil, c, c, c, x, c, c, 1e-5), ErrShape},
		{"3-D x", BatchNormForward(f(2, 3, 4), c, c, c, f(2, 3, 4), c, c, 1e-5), ErrShape},
		{"empty channels", BatchNormForward(f(0, 3, 4, 4), c, c, c, f(0, 3, 4, 4), c, c, 1e-5), ErrShape},
		{"gamma of the wrong size", BatchNormForward(f(2, 3, 4, 4), c, c, c, x, f(4), c, 1e-5), ErrShape},
		{"y of the wrong shape", BatchNormForward(f(2, 3, 4, 5), c, c, c, x, c, c, 1e-5), ErrShape},
		{"float64 mean", BatchNormForward(f(2, 3, 4, 4), d, c, c, x, c, c, 1e-5), ErrDType},
		{"negative eps", BatchNormForward(f(2, 3, 4, 4), c, c, c, x, c, c, -1), ErrShape},
		{"NaN eps", BatchNormForward(f(2, 3, 4, 4), c, c, c, x, c, c, math.NaN()), ErrShape},
		{"infinite eps", BatchNormForward(f(2, 3, 4, 4), c, c, c, x, c, c, math.Inf(1)), ErrShape},
		{"backward: nil gy", BatchNormBackward(nil, nil, nil, nil, x, c, c, c2), ErrShape},
		{"backward: gy of the wrong shape", BatchNormBackward(nil, nil, nil, f(2, 3, 4, 5), x, c, c, c2), ErrShape},
		{"backward: gx of the wrong shape", BatchNormBackward(f(2, 3, 5, 4), nil, nil, f(2, 3, 4, 4), x, c, c, c2), ErrShape},
		{"backward: ggamma of the wrong size", BatchNormBackward(nil, f(2), nil, f(2, 3, 4, 4), x, c, c, c2), ErrShape},
		{"backward: float64 inv", BatchNormBackward(nil, nil, nil, f(2, 3, 4, 4), x, c, c, d), ErrDType},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestBatchNormZeroAllocs(t *testing.T) {
	r := NewRNG(5)
	x, gamma, beta, gy := bnInputs(r, Float32, 4, 32, 8, 8)
	o := bnRun(t, x, gamma, beta, gy, 1e-5)
	allocs := testing.AllocsPerRun(5, func() {
		_ = BatchNormForward(o.y, o.mean, o.variance, o.inv, x, gamma, beta, 1e-5)
		_ = BatchNormBackward(o.gx, o.gg, o.gb, gy, x, gamma, o.mean, o.inv)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per forward and backward pass", allocs)
	}
}

func ExampleBatchNormForward() {
	x := Must(FromFloat32([]float32{1, 3, 10, 20, 5, 7, 30, 40}, 2, 2, 1, 2)) // N=2, C=2, 1x2 images
	gamma := Must(FromFloat32([]float32{1, 1}, 2))
	beta := Must(FromFloat32([]float32{0, 0}, 2))
	y := Must(New(Float32, 2, 2, 1, 2))
	mean, variance, inv := Must(New(Float32, 2)), Must(New(Float32, 2)), Must(New(Float32, 2))
	if err := BatchNormForward(y, mean, variance, inv, x, gamma, beta, 0); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("mean", mean.Float32s(), "variance", variance.Float32s())
	// Output: mean [4 25] variance [5 125]
}
