package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/tensor"
)

type goldenTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

func (g goldenTensor) tensor(t *testing.T) *tensor.Tensor {
	t.Helper()
	x, err := tensor.FromFloat64(append([]float64(nil), g.Data...), g.Shape...)
	if err != nil {
		t.Fatal(err)
	}
	return tensor.Must(x.As(tensor.Float32))
}

func closeTo(t *testing.T, what string, got *tensor.Tensor, want goldenTensor, tol float64) {
	t.Helper()
	if !equal(got.Shape(), want.Shape) {
		t.Fatalf("%s: shape %v, PyTorch %v", what, got.Shape(), want.Shape)
	}
	for i, w := range want.Data {
		if math.Abs(got.Flat(i)-w) > tol*(1+math.Abs(w)) {
			t.Fatalf("%s: element %d = %v, PyTorch %v", what, i, got.Flat(i), w)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPyTorchGolden loads state dicts written by PyTorch
// (testdata/gen_golden.py) and checks that the models give PyTorch's
// outputs: an MLP, and a small CIFAR ResNet in evaluation mode (running
// statistics) and training mode (batch statistics, with the running
// statistics updated as PyTorch updates them).
func TestPyTorchGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		MLP struct {
			X, Y goldenTensor
		}
		ResNet struct {
			X, Eval, Train                goldenTensor
			BN1RunningMean, BN1RunningVar goldenTensor
		}
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	// json field names: bn1_running_mean etc.
	var names map[string]map[string]goldenTensor
	_ = json.Unmarshal(raw, &names)
	golden.ResNet.BN1RunningMean = names["resnet"]["bn1_running_mean"]
	golden.ResNet.BN1RunningVar = names["resnet"]["bn1_running_var"]

	rng := tensor.NewRNG(1)
	mlp, err := NewMLP(rng, tensor.Float32, []int{6, 5, 4, 3}, []Activation{ReLUAct, TanhAct, Identity})
	if err != nil {
		t.Fatal(err)
	}
	if err := Load("testdata/mlp.safetensors", mlp); err != nil {
		t.Fatal(err)
	}
	g := autodiff.NewGraph()
	y := mlp.Forward(g, g.Const(golden.MLP.X.tensor(t)))
	closeTo(t, "MLP output", y.Tensor(), golden.MLP.Y, 1e-5)

	net, err := NewResNet(rng, tensor.Float32, ResNetConfig{Width: 0.125, Blocks: [4]int{1, 1, 1, 1}, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := Load("testdata/resnet.safetensors", net); err != nil {
		t.Fatal(err)
	}
	x := g.Const(golden.ResNet.X.tensor(t))
	net.SetTraining(false)
	closeTo(t, "ResNet eval output", net.Forward(g, x).Tensor(), golden.ResNet.Eval, 1e-4)
	net.SetTraining(true)
	closeTo(t, "ResNet train output", net.Forward(g, x).Tensor(), golden.ResNet.Train, 1e-4)
	closeTo(t, "running mean after a training pass", net.BN1.RunningMean, golden.ResNet.BN1RunningMean, 1e-5)
	closeTo(t, "running var after a training pass", net.BN1.RunningVar, golden.ResNet.BN1RunningVar, 1e-5)
	if net.BN1.NumBatches.Flat(0) != 4 {
		t.Errorf("num_batches_tracked = %v, want 4 (3 from PyTorch + 1)", net.BN1.NumBatches.Flat(0))
	}
}

func TestShapesAndParameterCounts(t *testing.T) {
	rng := tensor.NewRNG(2)
	net, err := NewResNet(rng, tensor.Float32, ResNet18Config)
	if err != nil {
		t.Fatal(err)
	}
	if n := NumParams(net); n != 11173962 {
		t.Errorf("ResNet-18 has %d parameters, want 11,173,962", n)
	}
	small, _ := NewResNet(rng, tensor.Float32, ResNetConfig{Width: 0.25, Blocks: [4]int{1, 1, 1, 1}, Classes: 10})
	g := autodiff.NewGraph()
	out := small.Forward(g, g.Zeros(tensor.Float32, 2, 3, 32, 32))
	if out.Err() != nil || !equal(out.Shape(), []int{2, 10}) {
		t.Errorf("small ResNet output %v, %v", out.Shape(), out.Err())
	}
	mlp, err := NewPaperMLP(rng, tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	want := 784*512 + 512 + 4*(512*512+512) + 512*10 + 10
	if n := NumParams(mlp); n != want {
		t.Errorf("paper MLP has %d parameters, want %d", n, want)
	}
	y := mlp.Forward(g, g.Zeros(tensor.Float32, 3, 784))
	if !equal(y.Shape(), []int{3, 10}) {
		t.Errorf("MLP output shape %v", y.Shape())
	}
	uv, _ := NewUV(rng, tensor.Float64, 3, 4, 2, TanhAct)
	if y := uv.Forward(g, g.Zeros(tensor.Float64, 5, 3)); !equal(y.Shape(), []int{5, 2}) {
		t.Errorf("UV output shape %v", y.Shape())
	}
	if _, err := NewLinear(rng, tensor.Float32, 0, 3, true); err == nil {
		t.Error("Linear(0, 3) accepted")
	}
	if _, err := NewResNet(rng, tensor.Float32, ResNetConfig{Width: 1, Blocks: [4]int{2, 0, 2, 2}, Classes: 10}); err == nil {
		t.Error("a stage without blocks accepted")
	}
	// A wrong input shape is an error on the output, not a panic.
	if y := mlp.Forward(g, g.Zeros(tensor.Float32, 3, 783)); y.Err() == nil {
		t.Error("MLP accepted 783 inputs")
	}
}

// TestVectorUVMatchesUV: each run of the lockstep model is the matrix UV
// model with d = m = 1.
func TestVectorUVMatchesUV(t *testing.T) {
	rng := tensor.NewRNG(3)
	for _, act := range []Activation{Identity, TanhAct, ReLUAct} {
		u := []float64{0.5, -1.2, 0.3, 2}
		v := []float64{1, 0.4, -0.7, 0.2}
		vec, err := NewVectorUV(tensor.Float64, 3, u, v, act)
		if err != nil {
			t.Fatal(err)
		}
		one, _ := NewUV(rng, tensor.Float64, 1, 4, 1, act)
		copy(one.U.Tensor().Float64s(), u)
		copy(one.V.Tensor().Float64s(), v)
		x := tensor.Must(tensor.FromFloat64([]float64{0.3, -1, 2, 0.8, -0.2}, 5))
		g := autodiff.NewGraph()
		fv := vec.Forward(g, g.Const(x)).Tensor()
		f1 := one.Forward(g, g.Const(tensor.Must(x.Reshape(5, 1)))).Tensor()
		for r := 0; r < 3; r++ {
			for a := 0; a < 5; a++ {
				if math.Abs(fv.Flat(r*5+a)-f1.Flat(a)) > 1e-14 {
					t.Fatalf("%v run %d point %d: %v vs %v", act, r, a, fv.Flat(r*5+a), f1.Flat(a))
				}
			}
		}
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	rng := tensor.NewRNG(4)
	a, _ := NewResNet(rng, tensor.Float32, ResNetConfig{Width: 0.125, Blocks: [4]int{1, 1, 1, 1}, Classes: 10})
	a.BN1.RunningMean.SetFlat(0, 0.25)
	a.BN1.NumBatches.SetFlat(0, 17)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Save(path, a, map[string]string{"note": "test"}); err != nil {
		t.Fatal(err)
	}
	b, _ := NewResNet(tensor.NewRNG(5), tensor.Float32, ResNetConfig{Width: 0.125, Blocks: [4]int{1, 1, 1, 1}, Classes: 10})
	if err := Load(path, b); err != nil {
		t.Fatal(err)
	}
	ea, eb := StateEntries(a), StateEntries(b)
	for i := range ea {
		for j := 0; j < ea[i].Tensor.Len(); j++ {
			if ea[i].Tensor.Flat(j) != eb[i].Tensor.Flat(j) {
				t.Fatalf("%s differs after the round trip", ea[i].Name)
			}
		}
	}
	// A different architecture refuses to load, and is left unchanged.
	c, _ := NewResNet(tensor.NewRNG(6), tensor.Float32, ResNetConfig{Width: 0.25, Blocks: [4]int{1, 1, 1, 1}, Classes: 10})
	before := c.Conv1.W.Tensor().Clone()
	if err := Load(path, c); err == nil {
		t.Error("loading a width-1/8 state into a width-1/4 network succeeded")
	}
	if c.Conv1.W.Tensor().Flat(0) != before.Flat(0) {
		t.Error("a failed load changed the model")
	}
}

func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	w := tensor.Must(tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3))
	n := tensor.Must(tensor.FromFloat64([]float64{7}, 1))
	_ = WriteSafetensors(&buf, []Entry{{Name: "w", Tensor: w}, {Name: "n", Tensor: n, Integer: true}}, map[string]string{"a": "b"})
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add([]byte{8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '})
	f.Add([]byte{16, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'x', '"', ':', '1', '}', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '})
	mlp, _ := os.ReadFile("testdata/mlp.safetensors")
	f.Add(mlp)
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, _, err := ReadSafetensors(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		// What parses must write back and parse to the same tensors.
		var es []Entry
		for name, x := range ts {
			es = append(es, Entry{Name: name, Tensor: x})
		}
		var out bytes.Buffer
		if err := WriteSafetensors(&out, es, nil); err != nil {
			t.Fatal(err)
		}
		back, _, err := ReadSafetensors(out.Bytes())
		if err != nil || len(back) != len(ts) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
