package layers_test

import (
	"fmt"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/tensor"
)

// A small MLP learns XOR with the paper's momentum optimizer, beta from
// the scaling rule. Each step builds the graph, takes the gradients,
// updates the parameters and resets the graph (which recycles all the
// step's memory).
func Example() {
	rng := tensor.NewRNG(1)
	model, err := layers.NewMLP(rng, tensor.Float64, []int{2, 16, 1}, []layers.Activation{layers.TanhAct, layers.Identity})
	if err != nil {
		panic(err)
	}
	eta := 0.1
	beta, _ := optim.ScaledBeta(eta, 0.5, optim.DefaultGamma)
	opt, err := optim.NewMomentum(layers.ParamTensors(model), eta, beta)
	if err != nil {
		panic(err)
	}
	x := tensor.Must(tensor.FromFloat64([]float64{0, 0, 0, 1, 1, 0, 1, 1}, 4, 2))
	y := tensor.Must(tensor.FromFloat64([]float64{0, 1, 1, 0}, 4, 1))

	g := autodiff.NewGraph()
	params := layers.Parameters(model)
	grads := make([]*autodiff.Value, len(params))
	var gt []*tensor.Tensor
	var loss float64
	for step := 0; step < 300; step++ {
		l := g.MSE(model.Forward(g, g.Const(x)), g.Const(y))
		if err := g.GradInto(grads, l, params...); err != nil {
			panic(err)
		}
		loss, _ = l.Item()
		if err := opt.Step(autodiff.Tensors(gt, grads)); err != nil {
			panic(err)
		}
		g.Reset()
	}
	fmt.Printf("beta %.3f, final loss %.4f\n", beta, loss)
	// Output: beta 0.892, final loss 0.0000
}
