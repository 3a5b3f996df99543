package autodiff

import (
	"fmt"
	"math"
	"testing"

	"github.com/flatfast/flatfast/tensor"
)

// The paper's FashionMNIST MLP: 784-512-512-512-512-512-10, ReLU after
// layers 1-4, tanh after 5, linear logits; batch 512, float32.
var mlpWidths = []int{784, 512, 512, 512, 512, 512, 10}

type benchMLP struct {
	params []*Value // W1, b1, ..., W6, b6 (W as [out, in])
	x      *tensor.Tensor
	labels []int
}

func newBenchMLP(batch int) *benchMLP {
	rng := tensor.NewRNG(1)
	m := &benchMLP{}
	for l := 0; l+1 < len(mlpWidths); l++ {
		in, out := mlpWidths[l], mlpWidths[l+1]
		w := tensor.Must(tensor.New(tensor.Float32, out, in))
		b := tensor.Must(tensor.New(tensor.Float32, out))
		bound := 1 / math.Sqrt(float64(in))
		rng.Uniform(w, -bound, bound)
		rng.Uniform(b, -bound, bound)
		m.params = append(m.params, NewParam(w), NewParam(b))
	}
	m.x = tensor.Must(tensor.New(tensor.Float32, batch, mlpWidths[0]))
	rng.Uniform(m.x, 0, 1)
	m.labels = make([]int, batch)
	for i := range m.labels {
		m.labels[i] = rng.IntN(10)
	}
	return m
}

func (m *benchMLP) loss(g *Graph) *Value {
	h := g.Const(m.x)
	nl := len(m.params) / 2
	for l := 0; l < nl; l++ {
		h = g.Add(g.MatMul(h, m.params[2*l], false, true), m.params[2*l+1])
		switch {
		case l < 4:
			h = g.ReLU(h)
		case l == 4:
			h = g.Tanh(h)
		}
	}
	return g.CrossEntropy(h, m.labels)
}

func threadsRun(b *testing.B, name string, f func(b *testing.B)) {
	for _, t := range []int{1, 2} {
		b.Run(fmt.Sprintf("%s/threads=%d", name, t), func(b *testing.B) {
			tensor.SetThreads(t)
			defer tensor.SetThreads(0)
			f(b)
		})
	}
}

// BenchmarkMLP times, for the paper's MLP at batch 512: one gradient
// through the graph, the same gradient written by hand with raw tensor
// operations (the cost of recording is the difference), one exact
// Hessian-vector product, and a 10-probe Hutchinson trace sharing one
// recorded backward pass.
func BenchmarkMLP(b *testing.B) {
	m := newBenchMLP(512)
	g := NewGraph()
	out := make([]*Value, len(m.params))
	threadsRun(b, "grad", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := g.GradInto(out, m.loss(g), m.params...); err != nil {
				b.Fatal(err)
			}
			g.Reset()
		}
	})
	raw := newRawMLP(m)
	threadsRun(b, "grad_raw_ops", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			raw.step()
		}
	})
	v := make([]*tensor.Tensor, len(m.params))
	hv := make([]*tensor.Tensor, len(m.params))
	rng := tensor.NewRNG(2)
	for i, p := range m.params {
		v[i] = tensor.Must(tensor.New(tensor.Float32, p.Shape()...))
		hv[i] = tensor.Must(tensor.New(tensor.Float32, p.Shape()...))
		rng.Normal(v[i], 0, 1)
	}
	threadsRun(b, "hvp", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			h, err := g.Hessian(m.loss(g), m.params...)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.Apply(v, hv); err != nil {
				b.Fatal(err)
			}
			g.Reset()
		}
	})
	threadsRun(b, "hutchinson10", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			h, err := g.Hessian(m.loss(g), m.params...)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := h.HessianTrace(10, rng); err != nil {
				b.Fatal(err)
			}
			g.Reset()
		}
	})
}

// rawMLP is the MLP's forward and backward written directly with tensor
// operations into preallocated buffers: what a gradient costs without a
// graph.
type rawMLP struct {
	m                *benchMLP
	w, b, gw, gb     []*tensor.Tensor
	pre, act, dh, dz []*tensor.Tensor
	onehot           *tensor.Tensor
}

func newRawMLP(m *benchMLP) *rawMLP {
	r := &rawMLP{m: m}
	n := m.x.Dim(0)
	r.onehot = tensor.Must(tensor.OneHot(tensor.Float32, m.labels, 10))
	for l := 0; l+1 < len(mlpWidths); l++ {
		w, b := m.params[2*l].Tensor(), m.params[2*l+1].Tensor()
		r.w, r.b = append(r.w, w), append(r.b, b)
		r.gw = append(r.gw, tensor.Must(tensor.New(tensor.Float32, w.Shape()...)))
		r.gb = append(r.gb, tensor.Must(tensor.New(tensor.Float32, b.Shape()...)))
		r.pre = append(r.pre, tensor.Must(tensor.New(tensor.Float32, n, mlpWidths[l+1])))
		r.act = append(r.act, tensor.Must(tensor.New(tensor.Float32, n, mlpWidths[l+1])))
		r.dh = append(r.dh, tensor.Must(tensor.New(tensor.Float32, n, mlpWidths[l+1])))
		r.dz = append(r.dz, tensor.Must(tensor.New(tensor.Float32, n, mlpWidths[l])))
	}
	return r
}

func (r *rawMLP) step() {
	nl := len(r.w)
	n := float64(r.m.x.Dim(0))
	in := r.m.x
	for l := 0; l < nl; l++ {
		_, _ = tensor.MatMul(r.pre[l], in, r.w[l], false, true)
		_, _ = tensor.Add(r.pre[l], r.pre[l], r.b[l])
		switch {
		case l < 4:
			_, _ = tensor.ReLU(r.act[l], r.pre[l])
		case l == 4:
			_, _ = tensor.Tanh(r.act[l], r.pre[l])
		default:
			_, _ = tensor.LogSoftmax(r.act[l], r.pre[l])
		}
		in = r.act[l]
	}
	// d loss / d logits = (softmax - onehot)/n
	d := r.dh[nl-1]
	_, _ = tensor.Exp(d, r.act[nl-1])
	_, _ = tensor.Sub(d, d, r.onehot)
	_, _ = tensor.Scale(d, d, 1/n)
	for l := nl - 1; l >= 0; l-- {
		prev := r.m.x
		if l > 0 {
			prev = r.act[l-1]
		}
		_, _ = tensor.MatMul(r.gw[l], r.dh[l], prev, true, false)
		_, _ = tensor.Sum(r.gb[l], r.dh[l], 0, false)
		if l == 0 {
			break
		}
		_, _ = tensor.MatMul(r.dz[l], r.dh[l], r.w[l], false, false)
		// Through the activation of layer l-1.
		if l-1 < 4 {
			_, _ = tensor.ReLUMask(r.dh[l-1], r.dz[l], r.pre[l-1])
		} else {
			// tanh: dz * (1 - a^2)
			a := r.act[l-1]
			_, _ = tensor.Mul(r.dh[l-1], a, a)
			_, _ = tensor.Mul(r.dh[l-1], r.dh[l-1], r.dz[l])
			_, _ = tensor.Sub(r.dh[l-1], r.dz[l], r.dh[l-1])
		}
	}
}

func TestRawMLPMatchesGraph(t *testing.T) {
	m := newBenchMLP(64)
	raw := newRawMLP(m)
	raw.step()
	g := NewGraph()
	gs, err := g.Grad(m.loss(g), m.params...)
	if err != nil {
		t.Fatal(err)
	}
	for l := range raw.gw {
		for _, pair := range [][2]*tensor.Tensor{{raw.gw[l], gs[2*l].Tensor()}, {raw.gb[l], gs[2*l+1].Tensor()}} {
			for i := 0; i < pair[0].Len(); i++ {
				a, b := pair[0].Flat(i), pair[1].Flat(i)
				if math.Abs(a-b) > 1e-5*(1e-3+math.Abs(b)) && math.Abs(a-b) > 1e-7 {
					t.Fatalf("layer %d element %d: raw %v, graph %v", l, i, a, b)
				}
			}
		}
	}
}

func TestMLPGradientZeroAllocs(t *testing.T) {
	m := newBenchMLP(32)
	g := NewGraph()
	out := make([]*Value, len(m.params))
	step := func() {
		if err := g.GradInto(out, m.loss(g), m.params...); err != nil {
			t.Fatal(err)
		}
		g.Reset()
	}
	step()
	if n := testing.AllocsPerRun(5, step); n != 0 {
		t.Errorf("%v allocations per gradient step", n)
	}
}
