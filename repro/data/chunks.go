package data

import (
	"fmt"
	"math"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/tensor"
)

// Chunks is a fixed partition of a set into consecutive chunks, in the
// set's order, for passes over a whole data set that does not fit one
// graph: evaluation and full-batch gradients. The partition never
// changes, so a full-batch objective computed over it is the same
// function of the weights at every step.
type Chunks struct {
	set    *Set
	size   int
	xs     []*tensor.Tensor // views of the set's rows
	labels [][]int

	// Expected label-noise targets for Grad, kept for the last p.
	p       float64
	targets []*tensor.Tensor

	gv []*autodiff.Value
	gt []*tensor.Tensor
}

// NewChunks partitions set into chunks of size rows (the last one holds
// the remainder).
func NewChunks(set *Set, size int) (*Chunks, error) {
	n := set.Len()
	if set.X == nil || set.X.Dims() < 1 || set.X.Dim(0) != n || n == 0 {
		return nil, fmt.Errorf("data: chunks of %s: %d labels for images %v", set.Name, n, shapeOf(set.X))
	}
	if size < 1 {
		return nil, fmt.Errorf("data: chunk size %d, want at least 1", size)
	}
	c := &Chunks{set: set, size: size, p: -1}
	for lo := 0; lo < n; lo += size {
		hi := min(lo+size, n)
		x, err := set.X.Rows(lo, hi)
		if err != nil {
			return nil, err
		}
		c.xs = append(c.xs, x)
		c.labels = append(c.labels, set.Labels[lo:hi])
	}
	return c, nil
}

// Len returns the number of chunks.
func (c *Chunks) Len() int { return len(c.xs) }

// Metrics are a model's figures over a data set.
type Metrics struct {
	N        int
	Correct  int
	Accuracy float64 // Correct / N
	Loss     float64 // mean cross-entropy against the true labels
}

// Evaluate returns the accuracy and mean cross-entropy of m over the set,
// chunk by chunk with nothing recorded and m in evaluation mode (batch
// norm normalises with its running statistics, so the figures do not
// depend on the chunk size and the running statistics do not change). It
// leaves m in training mode, where the loops that evaluate between steps
// want it. A tie between logits counts for the first class.
func (c *Chunks) Evaluate(g *autodiff.Graph, m layers.Module) (Metrics, error) {
	m.SetTraining(false)
	defer m.SetTraining(true)
	prev := g.SetRecording(false)
	defer g.SetRecording(prev)
	var met Metrics
	var lossSum float64
	for k, x := range c.xs {
		labels := c.labels[k]
		logits := m.Forward(g, g.Const(x))
		loss := g.CrossEntropy(logits, labels)
		l, err := loss.Item()
		if err != nil {
			g.Reset()
			return Metrics{}, fmt.Errorf("data: evaluating chunk %d of %s: %w", k, c.set.Name, err)
		}
		lt := logits.Tensor()
		classes := lt.Dim(1)
		for i, y := range labels {
			best, arg := math.Inf(-1), 0
			for j := range classes {
				if v := lt.Flat(i*classes + j); v > best {
					best, arg = v, j
				}
			}
			if arg == y {
				met.Correct++
			}
		}
		lossSum += l * float64(len(labels))
		met.N += len(labels)
		g.Reset()
	}
	met.Accuracy = float64(met.Correct) / float64(met.N)
	met.Loss = lossSum / float64(met.N)
	return met, nil
}

// Grad writes into grads (one tensor per parameter, shaped like it) the
// gradient of the full-batch loss
//
//	L = sum_k (n_k/N) * mean cross-entropy of chunk k,
//
// against the expected label-noise targets of optim.ExpectedTargets with
// probability p (p = 0: the true labels), and returns L. The chunks are
// run one at a time, each its own graph, and their gradients accumulated
// with the weights n_k/N, so memory is one chunk's.
//
// Batch norm: m is put in training mode, so each chunk is normalised with
// its own batch statistics (mean and biased variance over that chunk's
// n_k images), and the gradient flows through those statistics, exactly
// as in a minibatch step on that chunk. L is therefore the mean of
// per-chunk batch-norm losses, not the loss with statistics over all N
// images. That is deliberate: exact full-data statistics couple every
// image, so their gradient needs the whole data set's graph at once
// (tens of GB for ResNet-18 on CIFAR-10); evaluation-mode statistics
// would make the objective depend on running averages that lag the
// weights (and at initialisation, unit running variances let the
// activations blow up). Chunk statistics keep the objective the one a
// PyTorch full-batch phase computes by accumulating over minibatches, and
// since the partition is fixed, it is a deterministic function of the
// weights. The chunk size is part of the objective of a model with batch
// norm (keep it fixed over a run); without batch norm L is the exact
// full-batch loss for any chunk size. Each chunk also updates the running
// statistics, as a training step would, so evaluation after a
// full-batch phase sees statistics of the current weights.
//
// params are m's parameters in the order of grads (layers.Parameters).
// m is left in training mode; after the first call Grad allocates nothing
// for the same p.
func (c *Chunks) Grad(g *autodiff.Graph, m layers.Module, params []*autodiff.Value, p float64, grads []*tensor.Tensor) (float64, error) {
	if len(grads) != len(params) {
		return 0, fmt.Errorf("data: full-batch gradient of %d parameters into %d tensors", len(params), len(grads))
	}
	for i, t := range grads {
		if t == nil || !t.SameShape(params[i].Tensor()) || t.DType() != params[i].Tensor().DType() {
			return 0, fmt.Errorf("data: gradient tensor %d is %v, parameter %v %v", i, shapeOf(t), params[i].Tensor().DType(), params[i].Shape())
		}
	}
	if p != 0 && p != c.p {
		if err := c.expected(p, params[0].Tensor().DType()); err != nil {
			return 0, err
		}
	}
	m.SetTraining(true)
	prev := g.SetRecording(true)
	defer g.SetRecording(prev)
	if len(c.gv) != len(params) {
		c.gv = make([]*autodiff.Value, len(params))
	}
	for _, t := range grads {
		t.Zero()
	}
	n := float64(c.set.Len())
	var total float64
	for k, x := range c.xs {
		logits := m.Forward(g, g.Const(x))
		var loss *autodiff.Value
		if p == 0 {
			loss = g.CrossEntropy(logits, c.labels[k])
		} else {
			loss = g.SoftCrossEntropy(logits, g.Const(c.targets[k]))
		}
		err := g.GradInto(c.gv, loss, params...)
		var l float64
		if err == nil {
			l, err = loss.Item()
		}
		if err != nil {
			g.Reset()
			return 0, fmt.Errorf("data: full-batch gradient, chunk %d of %s: %w", k, c.set.Name, err)
		}
		w := float64(len(c.labels[k])) / n
		total += w * l
		c.gt = autodiff.Tensors(c.gt, c.gv)
		for i, t := range c.gt {
			if err := tensor.Axpy(w, t, grads[i]); err != nil {
				g.Reset()
				return 0, fmt.Errorf("data: accumulating the gradient of parameter %d: %w", i, err)
			}
		}
		g.Reset()
	}
	return total, nil
}

// expected builds the chunks' expected label-noise targets for p.
func (c *Chunks) expected(p float64, dt tensor.DType) error {
	t, err := optim.ExpectedTargets(dt, c.set.Labels, c.set.Classes, p)
	if err != nil {
		return err
	}
	c.targets = c.targets[:0]
	for lo := 0; lo < c.set.Len(); lo += c.size {
		v, err := t.Rows(lo, min(lo+c.size, c.set.Len()))
		if err != nil {
			return err
		}
		c.targets = append(c.targets, v)
	}
	c.p = p
	return nil
}

// Evaluate is NewChunks(set, chunk).Evaluate(g, m), for a single pass.
func Evaluate(g *autodiff.Graph, m layers.Module, set *Set, chunk int) (Metrics, error) {
	c, err := NewChunks(set, chunk)
	if err != nil {
		return Metrics{}, err
	}
	return c.Evaluate(g, m)
}
