package data

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/tensor"
)

// synthSet returns n samples of d features (sample i's features encode i)
// with labels i%classes, in dtype dt.
func synthSet(dt tensor.DType, n, d, classes int) *Set {
	x := tensor.Must(tensor.New(dt, n, d))
	rng := tensor.NewRNG(42)
	rng.Normal(x, 0, 1)
	for i := range n {
		x.SetFlat(i*d, float64(i))
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = (i*7 + 3) % classes
	}
	return &Set{Name: "synth", X: x, Labels: labels, Classes: classes}
}

func TestBatches(t *testing.T) {
	set := synthSet(tensor.Float32, 23, 3, 4)
	for _, c := range []struct {
		name     string
		size     int
		dropLast bool
		sizes    []int
	}{
		{"remainder kept", 5, false, []int{5, 5, 5, 5, 3}},
		{"remainder dropped", 5, true, []int{5, 5, 5, 5}},
		{"one batch", 23, false, []int{23}},
		{"larger than the set", 100, false, []int{23}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := NewBatches(set, c.size, c.dropLast, tensor.NewRNG(7))
			if err != nil {
				t.Fatal(err)
			}
			if b.PerEpoch() != len(c.sizes) {
				t.Errorf("PerEpoch %d, want %d", b.PerEpoch(), len(c.sizes))
			}
			var orders [][]int
			for epoch := range 3 {
				var seen []int
				for k, want := range c.sizes {
					bt := b.Next()
					if bt.Epoch != epoch || bt.Step != epoch*len(c.sizes)+k || len(bt.Labels) != want || bt.X.Dim(0) != want {
						t.Fatalf("epoch %d batch %d: epoch %d step %d, %d samples; want %d", epoch, k, bt.Epoch, bt.Step, len(bt.Labels), want)
					}
					for j, i := range bt.Index {
						if got, _ := bt.X.At(j, 0); got != float64(i) || bt.Labels[j] != set.Labels[i] {
							t.Fatalf("row %d holds sample %v with label %d, want sample %d label %d", j, got, bt.Labels[j], i, set.Labels[i])
						}
					}
					seen = append(seen, bt.Index...)
				}
				orders = append(orders, slices.Clone(seen))
				slices.Sort(seen)
				if n := len(seen); n != len(slices.Compact(seen)) || (!c.dropLast && n != set.Len()) {
					t.Fatalf("epoch %d saw %d samples, %v; want each of the %d at most once (all without dropLast)", epoch, n, seen, set.Len())
				}
			}
			if c.size < set.Len() && slices.Equal(orders[0], orders[1]) {
				t.Error("two epochs in the same order: want a permutation per epoch")
			}
		})
	}
}

func TestBatchesDeterministic(t *testing.T) {
	set := synthSet(tensor.Float32, 50, 2, 5)
	run := func(procs int) []int {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		b, _ := NewBatches(set, 8, false, tensor.NewRNG(3))
		var idx []int
		for range 20 {
			idx = append(idx, b.Next().Index...)
		}
		return idx
	}
	a, b := run(1), run(4)
	if !slices.Equal(a, b) {
		t.Error("batches differ between GOMAXPROCS 1 and 4")
	}
	other, _ := NewBatches(set, 8, false, tensor.NewRNG(4))
	if slices.Equal(other.Next().Index, a[:8]) {
		t.Error("seeds 3 and 4 give the same first batch")
	}
}

func TestBatchesAllocateNothing(t *testing.T) {
	set := synthSet(tensor.Float32, 64, 10, 4)
	b, _ := NewBatches(set, 10, false, tensor.NewRNG(1))
	noise, _ := NewLabelNoise(4, 0.3, tensor.NewRNG(2))
	allocs := testing.AllocsPerRun(100, func() { // crosses epochs and tails
		if _, err := noise.Apply(b.Next().Labels); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
}

func TestBatchesErrors(t *testing.T) {
	set := synthSet(tensor.Float32, 5, 2, 2)
	for name, f := range map[string]func() (*Batches, error){
		"size 0":              func() (*Batches, error) { return NewBatches(set, 0, false, tensor.NewRNG(1)) },
		"dropLast, too large": func() (*Batches, error) { return NewBatches(set, 6, true, tensor.NewRNG(1)) },
		"no RNG":              func() (*Batches, error) { return NewBatches(set, 2, false, nil) },
		"empty set":           func() (*Batches, error) { return NewBatches(&Set{Name: "e"}, 2, false, tensor.NewRNG(1)) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLabelNoise(t *testing.T) {
	labels := make([]int, 20000)
	for i := range labels {
		labels[i] = i % 10
	}
	n, err := NewLabelNoise(10, 0.2, tensor.NewRNG(9))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := n.Apply(labels)
	a = slices.Clone(a)
	b, _ := n.Apply(labels)
	changed, both := 0, 0
	for i := range labels {
		if a[i] != labels[i] {
			changed++
			if b[i] != labels[i] {
				both++
			}
		}
	}
	if f := float64(changed) / float64(len(labels)); math.Abs(f-0.2) > 0.015 {
		t.Errorf("%.3f of the labels changed, want 0.2", f)
	}
	if f := float64(both) / float64(changed); math.Abs(f-0.2) > 0.03 {
		t.Errorf("of the labels changed at one step, %.3f changed at the next, want 0.2 (fresh noise per step)", f)
	}
	// The rule is optim's: the same stream gives the same labels.
	want := make([]int, len(labels))
	rng := tensor.NewRNG(9)
	optim.NoisyLabels(want, labels, 10, 0.2, rng)
	if !slices.Equal(a, want) {
		t.Error("labels differ from optim.NoisyLabels on the same stream")
	}
	if _, err := NewLabelNoise(1, 0.2, tensor.NewRNG(1)); err == nil {
		t.Error("one class accepted")
	}
	if _, err := NewLabelNoise(10, 1.5, tensor.NewRNG(1)); err == nil {
		t.Error("p = 1.5 accepted")
	}
}

func TestBalanced(t *testing.T) {
	set := synthSet(tensor.Float64, 30, 2, 3) // labels (7i+3)%3 = i%3
	sub, err := set.Balanced(4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sub.ClassCounts(), []int{4, 4, 4}) {
		t.Errorf("class counts %v", sub.ClassCounts())
	}
	for k := range sub.Len() {
		if got, _ := sub.X.At(k, 0); got != float64(k) {
			t.Errorf("subset row %d is sample %v, want %d (the first 4 of each class, in order)", k, got, k)
		}
	}
	if _, err := set.Balanced(11); err == nil || !strings.Contains(err.Error(), "has 10 samples of class 0, want 11") {
		t.Errorf("too many per class: %v", err)
	}
	if _, err := set.Subset([]int{0, 30}); err == nil {
		t.Error("index 30 of 30 accepted")
	}
}

// bnModel is a small network with batch norm: conv, BN, ReLU, global
// pooling, linear.
func bnModel(t *testing.T, dt tensor.DType) *layers.Sequential {
	rng := tensor.NewRNG(5)
	conv, err := layers.NewConv2d(rng, dt, 1, 3, 3, 1, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	bn, _ := layers.NewBatchNorm2d(dt, 3)
	lin, _ := layers.NewLinear(rng, dt, 3, 4, true)
	return &layers.Sequential{Layers: []layers.Module{conv, bn, layers.ReLU{}, layers.GlobalAvgPool{}, lin}}
}

func imageSet(dt tensor.DType, n int) *Set {
	x := tensor.Must(tensor.New(dt, n, 1, 4, 4))
	tensor.NewRNG(8).Normal(x, 0.5, 1)
	labels := make([]int, n)
	for i := range labels {
		labels[i] = i % 4
	}
	return &Set{Name: "images", X: x, Labels: labels, Classes: 4}
}

func gradsLike(params []*autodiff.Value) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		out[i] = tensor.Must(tensor.New(p.Tensor().DType(), p.Shape()...))
	}
	return out
}

func maxDiff(a, b []*tensor.Tensor) float64 {
	d := 0.0
	for i := range a {
		for j := range a[i].Len() {
			d = max(d, math.Abs(a[i].Flat(j)-b[i].Flat(j)))
		}
	}
	return d
}

func TestChunksGradWithoutBatchNorm(t *testing.T) {
	set := synthSet(tensor.Float64, 23, 5, 3)
	m, err := layers.NewMLP(tensor.NewRNG(1), tensor.Float64, []int{5, 8, 3}, []layers.Activation{layers.TanhAct, layers.Identity})
	if err != nil {
		t.Fatal(err)
	}
	params := layers.Parameters(m)
	g := autodiff.NewGraph()
	for _, p := range []float64{0, 0.2} {
		whole, _ := NewChunks(set, set.Len())
		ref := gradsLike(params)
		lref, err := whole.Grad(g, m, params, p, ref)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{1, 4, 7} {
			c, _ := NewChunks(set, size)
			got := gradsLike(params)
			l, err := c.Grad(g, m, params, p, got)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(ref, got); d > 1e-12 || math.Abs(l-lref) > 1e-12 {
				t.Errorf("p %v, chunks of %d: loss %v vs %v, gradients differ by %g from one chunk", p, size, l, lref, d)
			}
		}
	}
	// p = 0.2's loss is the expected label-noise loss: against soft
	// targets built by hand.
	targets, _ := optim.ExpectedTargets(tensor.Float64, set.Labels, 3, 0.2)
	want, _ := g.SoftCrossEntropy(m.Forward(g, g.Const(set.X)), g.Const(targets)).Item()
	g.Reset()
	c, _ := NewChunks(set, 6)
	got, _ := c.Grad(g, m, params, 0.2, gradsLike(params))
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("expected label-noise loss %v, want %v", got, want)
	}
}

func TestChunksGradBatchNorm(t *testing.T) {
	set := imageSet(tensor.Float64, 10)
	m := bnModel(t, tensor.Float64)
	params := layers.Parameters(m)
	bn := m.Layers[1].(*layers.BatchNorm2d)
	g := autodiff.NewGraph()
	c, _ := NewChunks(set, 4) // chunks of 4, 4, 2
	got := gradsLike(params)
	loss, err := c.Grad(g, m, params, 0, got)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := bn.NumBatches.Item(); n != 3 {
		t.Errorf("running statistics updated %v times, want once per chunk (3)", n)
	}
	// By hand: each chunk a training-mode minibatch, weighted n_k/N.
	want := gradsLike(params)
	var wantLoss float64
	for _, r := range [][2]int{{0, 4}, {4, 8}, {8, 10}} {
		x, _ := set.X.Rows(r[0], r[1])
		l := g.CrossEntropy(m.Forward(g, g.Const(x)), set.Labels[r[0]:r[1]])
		gs, err := g.Grad(l, params...)
		if err != nil {
			t.Fatal(err)
		}
		w := float64(r[1]-r[0]) / 10
		lv, _ := l.Item()
		wantLoss += w * lv
		for i, gv := range gs {
			tensor.Axpy(w, gv.Tensor(), want[i])
		}
		g.Reset()
	}
	if d := maxDiff(want, got); d > 1e-12 || math.Abs(loss-wantLoss) > 1e-12 {
		t.Errorf("loss %v vs %v by hand, gradients differ by %g", loss, wantLoss, d)
	}
	// With one chunk the statistics are the whole set's: another objective.
	whole, _ := NewChunks(set, 10)
	one := gradsLike(params)
	whole.Grad(g, m, params, 0, one)
	if maxDiff(one, got) < 1e-6 {
		t.Error("chunked and single-chunk gradients agree: batch norm is not using per-chunk statistics")
	}
}

func TestChunksGradAllocatesNothing(t *testing.T) {
	set := synthSet(tensor.Float32, 40, 6, 3)
	m, _ := layers.NewMLP(tensor.NewRNG(1), tensor.Float32, []int{6, 8, 3}, []layers.Activation{layers.ReLUAct, layers.Identity})
	params := layers.Parameters(m)
	g := autodiff.NewGraph()
	c, _ := NewChunks(set, 16)
	grads := gradsLike(params)
	c.Grad(g, m, params, 0.1, grads)
	if a := testing.AllocsPerRun(20, func() { c.Grad(g, m, params, 0.1, grads) }); a != 0 {
		t.Errorf("%v allocations per full-batch gradient, want 0", a)
	}
}

func TestEvaluate(t *testing.T) {
	set := imageSet(tensor.Float32, 11)
	m := bnModel(t, tensor.Float32)
	bn := m.Layers[1].(*layers.BatchNorm2d)
	bn.RunningMean.Fill(0.3)
	bn.RunningVar.Fill(2)
	g := autodiff.NewGraph()
	var ref Metrics
	for i, size := range []int{11, 1, 4} {
		met, err := Evaluate(g, m, set, size)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			ref = met
			continue
		}
		if met.N != 11 || met.Correct != ref.Correct || math.Abs(met.Loss-ref.Loss) > 1e-5 {
			t.Errorf("chunks of %d: %+v, one chunk %+v; want the same figures (eval mode)", size, met, ref)
		}
	}
	if n, _ := bn.NumBatches.Item(); n != 0 || bn.RunningMean.Flat(0) != float64(float32(0.3)) {
		t.Errorf("evaluation touched the running statistics (%v batches, mean %v)", n, bn.RunningMean.Flat(0))
	}
	// The same figures by hand, in evaluation mode.
	m.SetTraining(false)
	logits := m.Forward(g, g.Const(set.X))
	loss, _ := g.CrossEntropy(logits, set.Labels).Item()
	pred, _ := tensor.ArgMax(logits.Tensor(), 1)
	correct := 0
	for i, p := range pred {
		if p == set.Labels[i] {
			correct++
		}
	}
	g.Reset()
	if ref.Correct != correct || math.Abs(ref.Loss-loss) > 1e-5 || ref.Accuracy != float64(correct)/11 {
		t.Errorf("metrics %+v, by hand %d correct, loss %v", ref, correct, loss)
	}
	// Evaluate leaves the model in training mode: a forward pass then
	// updates the running statistics.
	Evaluate(g, m, set, 5)
	m.Forward(g, g.Const(set.X))
	g.Reset()
	if n, _ := bn.NumBatches.Item(); n != 1 {
		t.Error("model not in training mode after Evaluate")
	}
}
