package optim

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/tensor"
)

// GaussianTargets writes y + eps*xi into dst, with xi standard normal from
// rng, fresh for every call: label noise for regression (the paper's
// y -> y + eps*xi). dst may be y.
func GaussianTargets(dst, y *tensor.Tensor, eps float64, rng *tensor.RNG) error {
	if !(eps >= 0) || math.IsInf(eps, 0) {
		return fmt.Errorf("optim: label-noise strength must be finite and >= 0, got %v", eps)
	}
	if rng == nil {
		return fmt.Errorf("optim: GaussianTargets needs a random generator, got nil")
	}
	if dst == nil || y == nil {
		return fmt.Errorf("optim: GaussianTargets with a nil tensor: %w", tensor.ErrShape)
	}
	if !dst.SameShape(y) || dst.DType() != y.DType() {
		return fmt.Errorf("optim: GaussianTargets into %v %v from %v %v: %w", dst.DType(), dst.Shape(), y.DType(), y.Shape(), tensor.ErrShape)
	}
	for i := 0; i < y.Len(); i++ {
		dst.SetFlat(i, y.Flat(i)+eps*rng.NormFloat64())
	}
	return nil
}

// NoisyLabels writes into dst each label of labels, replaced with
// probability p by a class drawn uniformly from the classes-1 wrong ones
// (the paper's classification label noise). dst may be labels.
func NoisyLabels(dst, labels []int, classes int, p float64, rng *tensor.RNG) error {
	if err := checkNoise(classes, p); err != nil {
		return err
	}
	if rng == nil {
		return fmt.Errorf("optim: NoisyLabels needs a random generator, got nil")
	}
	if len(dst) != len(labels) {
		return fmt.Errorf("optim: NoisyLabels into %d slots from %d labels", len(dst), len(labels))
	}
	for i, c := range labels {
		if c < 0 || c >= classes {
			return fmt.Errorf("optim: label %d at %d outside [0, %d)", c, i, classes)
		}
		if rng.Float64() < p {
			w := rng.IntN(classes - 1)
			if w >= c {
				w++ // skip the true class
			}
			c = w
		}
		dst[i] = c
	}
	return nil
}

func checkNoise(classes int, p float64) error {
	if classes < 2 {
		return fmt.Errorf("optim: label noise needs at least 2 classes, got %d", classes)
	}
	if !(p >= 0 && p <= 1) {
		return fmt.Errorf("optim: label-noise probability must be in [0, 1], got %v", p)
	}
	return nil
}

// ExpectedTargets returns the noise-averaged targets of NoisyLabels as a
// [len(labels), classes] tensor: 1-p on the true class, p/(classes-1) on
// each other one. Cross-entropy is linear in the target distribution, so
// training on these gives the expected label-noise loss exactly.
func ExpectedTargets(dt tensor.DType, labels []int, classes int, p float64) (*tensor.Tensor, error) {
	if err := checkNoise(classes, p); err != nil {
		return nil, err
	}
	t, err := tensor.New(dt, len(labels), classes)
	if err != nil {
		return nil, err
	}
	t.Fill(p / float64(classes-1))
	for i, c := range labels {
		if c < 0 || c >= classes {
			return nil, fmt.Errorf("optim: label %d at %d outside [0, %d)", c, i, classes)
		}
		t.SetFlat(i*classes+c, 1-p)
	}
	return t, nil
}
