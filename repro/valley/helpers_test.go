package valley

import (
	"bytes"
	"testing"

	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/repro/data"
	"github.com/flatfast/flatfast/tensor"
)

// tinySet returns n images [n, c, h, w] of 4 classes: a class mean
// (random, shared by train and test) plus noise, labels i%4.
func tinySet(name string, n, c, h, w int, seed uint64) *data.Set {
	const classes = 4
	means := tensor.Must(tensor.New(tensor.Float32, classes, c*h*w))
	tensor.NewRNG(99).Normal(means, 0, 1)
	x := tensor.Must(tensor.New(tensor.Float32, n, c, h, w))
	rng := tensor.NewRNG(seed)
	labels := make([]int, n)
	d := c * h * w
	xf, mf := x.Float32s(), means.Float32s()
	for i := range n {
		labels[i] = (i + i/5) % classes
		for j := range d {
			xf[i*d+j] = mf[labels[i]*d+j] + float32(1.5*rng.NormFloat64())
		}
	}
	return &data.Set{Name: name, X: x, Labels: labels, Classes: classes}
}

// mlpEnv is a tiny MLP on flattened 1x6x6 images: 128 training and 64
// test samples, the trace on 48 training samples in chunks of 32.
func mlpEnv(t testing.TB, initSeed uint64) *Env {
	t.Helper()
	train := tinySet("train", 128, 1, 6, 6, 1).Flattened()
	test := tinySet("test", 64, 1, 6, 6, 2).Flattened()
	sub, err := train.Subset(seq(48))
	if err != nil {
		t.Fatal(err)
	}
	m, err := layers.NewMLP(tensor.NewRNG(initSeed), tensor.Float32, []int{36, 24, 24, 4}, []layers.Activation{layers.ReLUAct, layers.TanhAct, layers.Identity})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Model: m, Train: train, Test: test, Chunk: 40,
		Trace: TraceConfig{Set: sub, Probes: 4, P: 0.2, Seed: 5, Chunk: 32}}
}

// resnetEnv is a ResNet of width 1/16 with one block per stage on 3x8x8
// images: 48 training and 24 test samples, chunks of 16 (batch norm
// statistics per chunk).
func resnetEnv(t testing.TB, initSeed uint64) *Env {
	t.Helper()
	train := tinySet("train", 48, 3, 8, 8, 3)
	test := tinySet("test", 24, 3, 8, 8, 4)
	sub, err := train.Subset(seq(16))
	if err != nil {
		t.Fatal(err)
	}
	m, err := layers.NewResNet(tensor.NewRNG(initSeed), tensor.Float32, layers.ResNetConfig{Width: 1.0 / 16, Blocks: [4]int{1, 1, 1, 1}, Classes: 4})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Model: m, Train: train, Test: test, Chunk: 16,
		Trace: TraceConfig{Set: sub, Probes: 2, P: 0.2, Seed: 6}}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func newState(t testing.TB, e *Env) *State {
	t.Helper()
	st, err := NewState(e.Model)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func save(t testing.TB, st *State) []byte {
	t.Helper()
	b, err := st.Save()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameBytes(t testing.TB, what string, a, b []byte) {
	t.Helper()
	if !bytes.Equal(a, b) {
		n := 0
		for n < min(len(a), len(b)) && a[n] == b[n] {
			n++
		}
		t.Fatalf("%s: states differ (%d and %d bytes, first difference at byte %d)", what, len(a), len(b), n)
	}
}
