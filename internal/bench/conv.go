package bench

import (
	"github.com/flatfast/flatfast/tensor"
)

// ConvShape is one convolution: batch n, c input and output channels,
// an hw x hw image, a k x k kernel.
type ConvShape struct{ N, C, HW, K, Stride, Pad int }

// ConvShapes are the four ResNet-18 CIFAR stages at batch 32 (3x3, stride
// 1, padding 1), the shapes of the comparison with PyTorch.
var ConvShapes = []ConvShape{{32, 64, 32, 3, 1, 1}, {32, 128, 16, 3, 1, 1}, {32, 256, 8, 3, 1, 1}, {32, 512, 4, 3, 1, 1}}

// ConvCases returns the forward pass, the input gradient, the weight
// gradient, and all three in sequence ("conv2d_fwd_bwd"), on shared
// operands.
func ConvCases(s ConvShape) []Case {
	r := tensor.NewRNG(uint64(s.C))
	x := tensor.Must(tensor.New(tensor.Float32, s.N, s.C, s.HW, s.HW))
	w := tensor.Must(tensor.New(tensor.Float32, s.C, s.C, s.K, s.K))
	r.Normal(x, 0, 1)
	r.Normal(w, 0, 0.1)
	g, err := tensor.NewConvGeom(x.Shape(), w.Shape(), s.Stride, s.Pad)
	if err != nil {
		panic(err)
	}
	y := tensor.Must(tensor.New(tensor.Float32, g.N, g.Cout, g.OH, g.OW))
	r.Normal(y, 0, 1)
	dx := tensor.Must(tensor.New(tensor.Float32, x.Shape()...))
	dw := tensor.Must(tensor.New(tensor.Float32, w.Shape()...))
	fwd := func() {
		if _, err := tensor.Conv2d(y, x, w, s.Stride, s.Pad); err != nil {
			panic(err)
		}
	}
	bwdIn := func() {
		if _, err := tensor.Conv2dBackwardInput(dx, y, w, s.HW, s.HW, s.Stride, s.Pad); err != nil {
			panic(err)
		}
	}
	bwdW := func() {
		if _, err := tensor.Conv2dBackwardWeight(dw, x, y, s.K, s.K, s.Stride, s.Pad); err != nil {
			panic(err)
		}
	}
	f := g.Flops()
	loop := func(fs ...func()) func(int) {
		return func(it int) {
			for range it {
				for _, f := range fs {
					f()
				}
			}
		}
	}
	return []Case{
		{Kernel: "conv2d_fwd", N: s.N, Flops: f, Run: loop(fwd)},
		{Kernel: "conv2d_bwd_input", N: s.N, Flops: f, Run: loop(bwdIn)},
		{Kernel: "conv2d_bwd_weight", N: s.N, Flops: f, Run: loop(bwdW)},
		{Kernel: "conv2d_fwd_bwd", N: s.N, Flops: 3 * f, Run: loop(fwd, bwdIn, bwdW)},
	}
}
