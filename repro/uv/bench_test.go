package uv

import (
	"context"
	"fmt"
	"testing"

	"github.com/flatfast/flatfast/layers"
)

// BenchmarkLockstepStep times one step of a lockstep batch of noisy
// gamma = 1 runs of the paper preset (the censored cells that dominate
// its cost), per activation and batch size; run-steps/s is the sweep's
// unit of speed.
func BenchmarkLockstepStep(b *testing.B) {
	for _, act := range []string{"identity", "tanh", "relu"} {
		for _, size := range []int{1, 16, batchSize} {
			b.Run(fmt.Sprintf("%s/%d", act, size), func(b *testing.B) {
				cfg := Presets["paper"]
				cfg.Activations = []string{act}
				cfg.MaxSteps = b.N + 1
				s, err := NewSetup(&cfg)
				if err != nil {
					b.Fatal(err)
				}
				runs, err := Runs(&cfg, s)
				if err != nil {
					b.Fatal(err)
				}
				a, err := layers.ParseActivation(act)
				if err != nil {
					b.Fatal(err)
				}
				var states []*runState
				for _, r := range runs {
					if r.Gamma == 1 && !r.Twin() && len(states) < size {
						states = append(states, newRunState(&cfg, r))
					}
				}
				if len(states) != size {
					b.Fatalf("%d runs at gamma = 1, want %d", len(states), size)
				}
				b.ResetTimer()
				err = stepBatch(context.Background(), &cfg, s, a, states, 0, hooks{done: func(*runState) error { return nil }})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "run-steps/s")
			})
		}
	}
}
