package valley_test

import (
	"fmt"
	"time"

	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/repro/data"
	"github.com/flatfast/flatfast/repro/valley"
	"github.com/flatfast/flatfast/tensor"
)

// The protocol on a toy problem, driven as a sweep engine would: the
// valley point once, then a run from it in short calls, each followed by
// a checkpoint (here kept in memory; a real caller writes the bytes to
// a file atomically).
func Example() {
	// 64 samples of 8 features, 2 classes: the sign of the first feature.
	x := tensor.Must(tensor.New(tensor.Float32, 64, 8))
	tensor.NewRNG(1).Normal(x, 0, 1)
	labels := make([]int, 64)
	for i := range labels {
		if x.Flat(i*8) > 0 {
			labels[i] = 1
		}
	}
	train := &data.Set{Name: "toy", X: x, Labels: labels, Classes: 2}
	model, _ := layers.NewMLP(tensor.NewRNG(2), tensor.Float32, []int{8, 16, 2}, []layers.Activation{layers.ReLUAct, layers.Identity})
	env := &valley.Env{Model: model, Train: train, Chunk: 32,
		Trace: valley.TraceConfig{Set: train, Probes: 4, P: 0.2, Seed: 3}}

	// Phase 1, saved once: every run starts from these bytes.
	st, _ := valley.NewState(model)
	if err := env.Valley(st, valley.ValleyConfig{LR: 0.5, MaxEpochs: 1000, P: 0.2}, valley.Limit{}); err != nil {
		fmt.Println(err)
		return
	}
	point, _ := st.Save()
	fmt.Println("valley reached:", st.Reached)

	// Phase 2 for one (eta, beta), checkpointed every 50 ms of work.
	run, _ := valley.Load(point)
	run = run.Handoff()
	noisy := valley.NoisyConfig{LR: 0.05, Beta: 0.9, Batch: 16, P: 0.2, Epochs: 20, Seed: 4, Observe: valley.Observe{Every: 40}}
	for !run.Done {
		if err := env.Noisy(run, noisy, valley.Limit{Wall: 50 * time.Millisecond}); err != nil {
			fmt.Println(err)
			return
		}
		ckpt, _ := run.Save()
		run, _ = valley.Load(ckpt) // as after a restart
	}

	// Phase 3: back to the valley without label noise.
	run = run.Handoff()
	ret := valley.ReturnConfig{Method: valley.ReturnSGD, LR: 0.05, Beta: 0.9, Batch: 16, Epochs: 5, Seed: 5}
	if err := env.Return(run, ret, valley.Limit{}); err != nil {
		fmt.Println(err)
		return
	}
	end := run.Curve[len(run.Curve)-1]
	fmt.Printf("%d observations; after the return: training accuracy %.0f%%, trace measured with %d probes\n", len(run.Curve), 100*end.TrainAcc, end.TraceProbes)
	// Output:
	// valley reached: true
	// 5 observations; after the return: training accuracy 100%, trace measured with 4 probes
}
