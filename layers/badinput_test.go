package layers

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/internal/badinput"
	"github.com/flatfast/flatfast/tensor"
)

// Sizes far beyond any machine: 2^60 or more elements (the count
// overflows the per-tensor limit), and 2^41 elements in total for models
// whose every tensor would be allowed on its own (2^40 float32 each, 4 TiB).
const huge = 1 << 30

func TestBadInputReturnsError(t *testing.T) {
	rng := tensor.NewRNG(1)
	f32 := tensor.Float32
	forward := func(m Module, x *tensor.Tensor) error {
		g := autodiff.NewGraph()
		return m.Forward(g, g.Const(x)).Err()
	}
	x4 := tensor.Must(tensor.New(f32, 2, 3, 4, 4))
	cases := []struct {
		name string
		f    func() error
		says string // a part of the message, "" for any
	}{
		{"NewLinear with 2^60 weights", func() error { _, err := NewLinear(rng, f32, huge, huge, true); return err }, "1073741824"},
		{"NewLinear whose weights and bias exceed memory together", func() error { _, err := NewLinear(rng, f32, 1<<20, 1<<20, true); return err }, "1048576"},
		{"NewLinear with a nil generator", func() error { _, err := NewLinear(nil, f32, 2, 2, true); return err }, "generator"},
		{"NewConv2d with 2^60 weights", func() error { _, err := NewConv2d(rng, f32, huge, huge, 1, 1, 0, true); return err }, "1073741824"},
		{"NewConv2d with a kernel of 2^40 squared", func() error { _, err := NewConv2d(rng, f32, 1, 1, 1<<40, 1, 0, false); return err }, ""},
		{"NewConv2d with a nil generator", func() error { _, err := NewConv2d(nil, f32, 1, 1, 3, 1, 1, false); return err }, "generator"},
		{"NewBatchNorm2d with 2^60 channels", func() error { _, err := NewBatchNorm2d(f32, 1<<60); return err }, "1152921504606846976"},
		{"NewBatchNorm2d with channels exceeding memory in total", func() error { _, err := NewBatchNorm2d(f32, 1<<40); return err }, "1099511627776"},
		{"NewUV with 2^60 weights", func() error { _, err := NewUV(rng, f32, huge, huge, 1, Identity); return err }, "1073741824"},
		{"NewUV whose U and V exceed memory together", func() error { _, err := NewUV(rng, f32, 1<<20, 1<<20, 1<<20, Identity); return err }, "1048576"},
		{"NewUV with an unknown activation", func() error { _, err := NewUV(rng, f32, 2, 3, 1, Activation(99)); return err }, "Activation(99)"},
		{"NewUV with a nil generator", func() error { _, err := NewUV(nil, f32, 2, 3, 1, Identity); return err }, "generator"},
		{"NewVectorUV with an unknown activation", func() error {
			_, err := NewVectorUV(f32, 2, []float64{1}, []float64{1}, Activation(-1))
			return err
		}, "Activation(-1)"},
		{"NewVectorUV with 2^60 runs", func() error { _, err := NewVectorUV(f32, 1<<60, []float64{1}, []float64{1}, Identity); return err }, ""},
		{"NewMLP with 2^60 weights", func() error { _, err := NewMLP(rng, f32, []int{huge, huge}, []Activation{ReLUAct}); return err }, "1073741824"},
		{"NewMLP whose layers exceed memory together", func() error {
			_, err := NewMLP(rng, f32, []int{1 << 20, 1 << 20, 1 << 20}, []Activation{ReLUAct, Identity})
			return err
		}, "1048576"},
		{"NewMLP whose parameter count overflows", func() error {
			_, err := NewMLP(rng, f32, []int{1 << 40, 1 << 40, 1 << 40}, []Activation{ReLUAct, Identity})
			return err
		}, ""},
		{"NewMLP with an unknown activation", func() error { _, err := NewMLP(rng, f32, []int{2, 2}, []Activation{Activation(99)}); return err }, "Activation(99)"},
		{"NewMLP with a nil generator", func() error { _, err := NewMLP(nil, f32, []int{2, 2}, []Activation{Identity}); return err }, "generator"},
		{"NewPaperMLP with a nil generator", func() error { _, err := NewPaperMLP(nil, f32); return err }, "generator"},
		{"NewResNet of width 2^40", func() error {
			_, err := NewResNet(rng, f32, ResNetConfig{Width: 1 << 40, Blocks: [4]int{1, 1, 1, 1}, Classes: 10})
			return err
		}, ""},
		{"NewResNet of width 1e300", func() error {
			_, err := NewResNet(rng, f32, ResNetConfig{Width: 1e300, Blocks: [4]int{1, 1, 1, 1}, Classes: 10})
			return err
		}, "width"},
		{"NewResNet of infinite width", func() error {
			_, err := NewResNet(rng, f32, ResNetConfig{Width: math.Inf(1), Blocks: [4]int{1, 1, 1, 1}, Classes: 10})
			return err
		}, "width"},
		{"NewResNet of 2^40 blocks a stage", func() error {
			_, err := NewResNet(rng, f32, ResNetConfig{Width: 1, Blocks: [4]int{1 << 40, 1, 1, 1}, Classes: 10})
			return err
		}, ""},
		{"NewResNet of 2^50 classes", func() error {
			_, err := NewResNet(rng, f32, ResNetConfig{Width: 1, Blocks: [4]int{1, 1, 1, 1}, Classes: 1 << 50})
			return err
		}, ""},
		{"NewResNet with a nil generator", func() error {
			_, err := NewResNet(nil, f32, ResNetConfig{Width: 0.1, Blocks: [4]int{1, 1, 1, 1}, Classes: 10})
			return err
		}, "generator"},
		{"Activation(99).Apply", func() error {
			g := autodiff.NewGraph()
			return Activation(99).Apply(g, g.Const(x4)).Err()
		}, "Activation(99)"},
		{"UV.Forward with an activation set to 99", func() error {
			m, err := NewUV(rng, f32, 2, 3, 1, Identity)
			if err != nil {
				return nil
			}
			m.Act = 99
			return forward(m, tensor.Must(tensor.New(f32, 4, 2)))
		}, "Activation(99)"},
		{"UV.Forward with N not the hidden width", func() error {
			m, err := NewUV(rng, f32, 2, 3, 1, Identity)
			if err != nil {
				return nil
			}
			m.N = 0
			return forward(m, tensor.Must(tensor.New(f32, 4, 2)))
		}, ""},
		{"VectorUV.Forward of a scalar", func() error {
			m, _ := NewVectorUV(f32, 2, []float64{1}, []float64{1}, Identity)
			return forward(m, tensor.Must(tensor.New(f32)))
		}, ""},
		{"VectorUV.Forward of nil", func() error {
			m, _ := NewVectorUV(f32, 2, []float64{1}, []float64{1}, Identity)
			g := autodiff.NewGraph()
			return m.Forward(g, nil).Err()
		}, ""},
		{"zero VectorUV.Forward", func() error { return forward(&VectorUV{}, tensor.Must(tensor.New(f32, 3))) }, ""},
		{"VectorUV.Forward with an activation set to 99", func() error {
			m, _ := NewVectorUV(f32, 2, []float64{1}, []float64{1}, Identity)
			m.Act = 99
			return forward(m, tensor.Must(tensor.New(f32, 3)))
		}, "Activation(99)"},
		{"BatchNorm2d.Forward with momentum 2", func() error {
			b, _ := NewBatchNorm2d(f32, 3)
			b.Momentum = 2
			return forward(b, x4)
		}, "momentum"},
		{"BatchNorm2d.Forward with a NaN momentum", func() error {
			b, _ := NewBatchNorm2d(f32, 3)
			b.Momentum = math.NaN()
			return forward(b, x4)
		}, "momentum"},
		{"BatchNorm2d.Forward with a negative eps", func() error {
			b, _ := NewBatchNorm2d(f32, 3)
			b.Eps = -1
			return forward(b, x4)
		}, ""},
		{"BatchNorm2d.Forward with C larger than the statistics", func() error {
			b, _ := NewBatchNorm2d(f32, 3)
			b.C = 4
			return forward(b, x4)
		}, ""},
		{"BatchNorm2d.Forward without running statistics", func() error {
			b, _ := NewBatchNorm2d(f32, 3)
			b.RunningMean = nil
			return forward(b, x4)
		}, ""},
		{"BatchNorm2d.Forward without a batch count", func() error {
			b, _ := NewBatchNorm2d(f32, 3)
			b.NumBatches = nil
			return forward(b, x4)
		}, ""},
		{"WriteSafetensors of a nil tensor", func() error {
			return WriteSafetensors(&bytes.Buffer{}, []Entry{{Name: "w"}}, nil)
		}, "w"},
		{"LoadState with a nil tensor", func() error {
			l, _ := NewLinear(rng, f32, 2, 2, false)
			return LoadState(l, map[string]*tensor.Tensor{"weight": nil})
		}, "weight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := badinput.Err(t, c.f)
			if !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %q does not say %q", err, c.says)
			}
		})
	}
}

// The size check before allocating must let real models through.
func TestEdgeInputsStillWork(t *testing.T) {
	rng := tensor.NewRNG(1)
	if _, err := NewResNet(rng, tensor.Float32, ResNetConfig{Width: 1e-9, Blocks: [4]int{1, 1, 1, 1}, Classes: 1}); err != nil {
		t.Errorf("ResNet of the smallest width: %v", err)
	}
	if _, err := NewPaperMLP(rng, tensor.Float64); err != nil {
		t.Errorf("NewPaperMLP: %v", err)
	}
	m, err := NewUV(rng, tensor.Float64, 2, 3, 1, TanhAct)
	if err != nil {
		t.Fatal(err)
	}
	g := autodiff.NewGraph()
	if y := m.Forward(g, g.Const(tensor.Must(tensor.New(tensor.Float64, 4, 2)))); y.Err() != nil {
		t.Errorf("UV.Forward: %v", y.Err())
	}
}

// The count NewResNet checks before allocating is the count it allocates.
func TestResNetSizeCountsEveryTensor(t *testing.T) {
	for _, cfg := range []ResNetConfig{ResNet18Config, {Width: 0.25, Blocks: [4]int{1, 2, 3, 1}, Classes: 7}} {
		r, err := NewResNet(tensor.NewRNG(1), tensor.Float32, cfg)
		if err != nil {
			t.Fatal(err)
		}
		n := NumParams(r)
		for _, b := range r.Buffers() {
			n += b.Tensor.Len()
		}
		var widths [4]int
		for i, c := range [4]int{64, 128, 256, 512} {
			widths[i] = max(1, int(math.Round(float64(c)*cfg.Width)))
		}
		if c := resNetSize(cfg, widths); c.over || c.n != n {
			t.Errorf("%+v: counted %d (overflow %v), allocated %d", cfg, c.n, c.over, n)
		}
	}
}
