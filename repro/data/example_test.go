package data_test

import (
	"fmt"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/repro/data"
	"github.com/flatfast/flatfast/tensor"
)

// A training loop on FashionMNIST, sketched: minibatches with label
// noise, and a chunked evaluation. It runs only where the data set is
// installed (Debian's dataset-fashion-mnist, or $FLATFAST_DATA).
func Example() {
	spec := data.FashionMNIST()
	dir, err := spec.Dir("") // or the -data flag's value
	if err != nil {
		fmt.Println("no data:", err != nil)
		return
	}
	full, err := data.Load(spec, dir, "train")
	if err != nil {
		fmt.Println(err)
		return
	}
	train, _ := full.Balanced(10) // 100 images, the first 10 of each class
	train = train.Flattened()     // [100, 784] for the MLP

	model, _ := layers.NewPaperMLP(tensor.NewRNG(1), tensor.Float32)
	params := layers.Parameters(model)
	opt, _ := optim.NewMomentum(layers.ParamTensors(model), 0.01, 0.9)
	batches, _ := data.NewBatches(train, 20, false, tensor.NewRNG(2))
	noise, _ := data.NewLabelNoise(train.Classes, 0.2, tensor.NewRNG(3))

	g := autodiff.NewGraph()
	grads := make([]*autodiff.Value, len(params))
	var gt []*tensor.Tensor
	for range 2 * batches.PerEpoch() {
		b := batches.Next()
		labels, _ := noise.Apply(b.Labels)
		loss := g.CrossEntropy(model.Forward(g, g.Const(b.X)), labels)
		if err := g.GradInto(grads, loss, params...); err != nil {
			fmt.Println(err)
			return
		}
		gt = autodiff.Tensors(gt, grads)
		opt.Step(gt)
		g.Reset()
	}
	m, _ := data.Evaluate(g, model, train, 64)
	fmt.Println("evaluated", m.N, "images")
}

// Spec.Dir says where a data set was found, or how to get it.
func ExampleSpec_Dir() {
	spec := data.CIFAR10()
	if _, err := spec.Dir("/nonexistent"); err != nil {
		fmt.Println(err)
	}
	// Output: data: cifar10 directory: stat /nonexistent: no such file or directory
}
