package data

import (
	"fmt"

	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/tensor"
)

// Batch is one minibatch. Its storage belongs to the Batches that made
// it and is overwritten by the next call of Next.
type Batch struct {
	X      *tensor.Tensor // [n, ...] rows of the set's X
	Labels []int          // the true labels
	Index  []int          // the samples' positions in the set
	Epoch  int            // from 0
	Step   int            // batches returned before this one, over all epochs
}

// Batches cuts a set into minibatches, epoch after epoch, in an order
// drawn once per epoch from an explicit RNG: the identity permutation
// shuffled by rng at the start of each epoch, so the batches depend on
// the seed and the epoch only (not on GOMAXPROCS), and a run can be
// repeated exactly. Next allocates nothing.
type Batches struct {
	set      *Set
	size     int
	dropLast bool
	rng      *tensor.RNG
	perm     []int
	swap     func(i, j int)
	pos      int
	epoch    int
	step     int
	inner    int
	full     Batch
	tail     Batch
}

// NewBatches returns an iterator over set in batches of size. With
// dropLast, an epoch ends with the last full batch (the same shape every
// step, which batch norm wants: a last batch of one sample has no
// variance); otherwise the last batch of an epoch holds the remainder, so
// every sample is seen once per epoch.
func NewBatches(set *Set, size int, dropLast bool, rng *tensor.RNG) (*Batches, error) {
	n := set.Len()
	switch {
	case set.X == nil || set.X.Dims() < 1 || set.X.Dim(0) != n || n == 0:
		return nil, fmt.Errorf("data: batches of %s: %d labels for images %v", set.Name, n, shapeOf(set.X))
	case size < 1:
		return nil, fmt.Errorf("data: batch size %d, want at least 1", size)
	case dropLast && size > n:
		return nil, fmt.Errorf("data: batch size %d with dropLast over %d samples leaves no batch", size, n)
	case rng == nil:
		return nil, fmt.Errorf("data: batches need an RNG")
	}
	size = min(size, n)
	b := &Batches{set: set, size: size, dropLast: dropLast, rng: rng, perm: make([]int, n), inner: set.X.Len() / n}
	b.swap = func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] }
	b.full = b.newBatch(size)
	if r := n % size; r != 0 && !dropLast {
		b.tail = b.newBatch(r)
	}
	b.epoch = -1
	b.pos = n // the first Next starts epoch 0
	return b, nil
}

func shapeOf(t *tensor.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}

func (b *Batches) newBatch(n int) Batch {
	shape := append([]int(nil), b.set.X.Shape()...)
	shape[0] = n
	return Batch{X: tensor.Must(tensor.New(b.set.X.DType(), shape...)), Labels: make([]int, n), Index: make([]int, n)}
}

// PerEpoch returns the number of batches in an epoch.
func (b *Batches) PerEpoch() int {
	n := b.set.Len()
	if b.dropLast {
		return n / b.size
	}
	return (n + b.size - 1) / b.size
}

// Next returns the next batch, starting a new epoch (a new permutation)
// when the current one is used up.
func (b *Batches) Next() *Batch {
	n := b.set.Len()
	if b.pos >= n || (b.dropLast && b.pos+b.size > n) {
		for i := range b.perm {
			b.perm[i] = i
		}
		b.rng.Shuffle(n, b.swap)
		b.pos = 0
		b.epoch++
	}
	bt := &b.full
	if b.pos+b.size > n {
		bt = &b.tail
	}
	k := len(bt.Labels)
	for j, i := range b.perm[b.pos : b.pos+k] {
		copyRow(bt.X, j, b.set.X, i, b.inner)
		bt.Labels[j] = b.set.Labels[i]
		bt.Index[j] = i
	}
	bt.Epoch, bt.Step = b.epoch, b.step
	b.pos += k
	b.step++
	return bt
}

// LabelNoise replaces labels at random by wrong classes, with
// optim.NoisyLabels' rule (probability P, the wrong class uniform), from
// its own stream: every call draws fresh noise for every sample, so a
// sample seen at two steps gets independent noise, and the batch order
// (another stream) does not change with P.
type LabelNoise struct {
	classes int
	p       float64
	rng     *tensor.RNG
	buf     []int
}

// NewLabelNoise returns label noise of probability p over classes
// classes, drawn from rng.
func NewLabelNoise(classes int, p float64, rng *tensor.RNG) (*LabelNoise, error) {
	// NoisyLabels of no labels checks classes, p and rng.
	if err := optim.NoisyLabels(nil, nil, classes, p, rng); err != nil {
		return nil, err
	}
	return &LabelNoise{classes: classes, p: p, rng: rng}, nil
}

// Apply returns labels with noise, in a buffer that the next call reuses
// (it grows only for a longer batch than any before).
func (n *LabelNoise) Apply(labels []int) ([]int, error) {
	if cap(n.buf) < len(labels) {
		n.buf = make([]int, len(labels))
	}
	out := n.buf[:len(labels)]
	if err := optim.NoisyLabels(out, labels, n.classes, n.p, n.rng); err != nil {
		return nil, err
	}
	return out, nil
}
