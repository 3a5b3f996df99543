package valley

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/flatfast/flatfast/autodiff"
	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/optim"
	"github.com/flatfast/flatfast/repro/data"
	"github.com/flatfast/flatfast/repro/fit"
	"github.com/flatfast/flatfast/tensor"
)

// Observation is a point of a run's curve: the model's figures after
// Step steps of Phase.
type Observation struct {
	Phase string `json:"phase"`
	Step  int    `json:"step"`
	Epoch int    `json:"epoch"`
	// LR is the learning rate of the last step (0 before the first).
	LR float64 `json:"lr"`
	// Loss is the phase's own objective: in a minibatch phase the mean
	// loss of the minibatches since the previous observation (on the
	// labels the phase trains on: noisy in the noisy phase); in a
	// full-batch phase the full-batch loss of the last step, before its
	// update. 0 when no step was taken since.
	Loss float64 `json:"loss"`

	// Training set, clean labels, batch norm in evaluation mode.
	TrainN    int     `json:"train_n"`
	TrainAcc  float64 `json:"train_accuracy"`
	TrainLoss float64 `json:"train_loss"`
	// Test set (TestN 0: none).
	TestN    int     `json:"test_n"`
	TestAcc  float64 `json:"test_accuracy"`
	TestLoss float64 `json:"test_loss"`

	// The Hutchinson estimate of the Hessian trace (TraceProbes 0: not
	// measured at this point); see TraceConfig.
	TraceProbes int     `json:"trace_probes"`
	Trace       float64 `json:"hessian_trace"`
	TraceSE     float64 `json:"hessian_trace_stderr"`
}

const (
	obsInts   = 5
	obsFloats = 8
)

var (
	obsIntNames   = [obsInts]string{"step", "epoch", "train n", "test n", "trace probes"}
	obsFloatNames = [obsFloats]string{"lr", "loss", "train accuracy", "train loss", "test accuracy", "test loss", "trace", "trace stderr"}
)

// ints and floats list the fields in the order of the binary format.
func (o *Observation) ints() [obsInts]*int {
	return [obsInts]*int{&o.Step, &o.Epoch, &o.TrainN, &o.TestN, &o.TraceProbes}
}

func (o *Observation) floats() [obsFloats]*float64 {
	return [obsFloats]*float64{&o.LR, &o.Loss, &o.TrainAcc, &o.TrainLoss, &o.TestAcc, &o.TestLoss, &o.Trace, &o.TraceSE}
}

func (o *Observation) check() error {
	switch o.Phase {
	case PhaseValley, PhaseNoisy, PhaseReturn:
	default:
		return fmt.Errorf("phase %q unknown", o.Phase)
	}
	for k, v := range o.ints() {
		if *v < 0 {
			return fmt.Errorf("%s %d is negative", obsIntNames[k], *v)
		}
	}
	for k, v := range o.floats() {
		if math.IsNaN(*v) || math.IsInf(*v, 0) {
			return fmt.Errorf("%s is %v", obsFloatNames[k], *v)
		}
	}
	return nil
}

// TraceConfig says how the flatness is measured: the Hutchinson estimate
// of the trace of the Hessian, with respect to all parameters, of the
// noise-free expected training loss on a fixed evaluation subset, with
// batch norm in evaluation mode (running statistics: the loss is then a
// sum over samples, so chunking it changes nothing, and the running
// statistics are not touched).
type TraceConfig struct {
	// Set is the fixed evaluation subset (nil: no trace is taken).
	Set *data.Set
	// Probes is the number of Rademacher probes (0: no trace).
	Probes int
	// P gives the targets of the traced loss: the expected label-noise
	// loss at probability P (soft targets 1-P on the label, P/(K-1)
	// elsewhere: the loss label-noise SGD drifts on); P = 0 is the
	// clean-label cross-entropy.
	P float64
	// Seed seeds the probes: the same probes at every measurement of a
	// run (common random numbers, so differences between points carry
	// less probe noise than the points themselves).
	Seed uint64
	// Chunk is the rows per Hessian graph (0: Env.Chunk); a Hessian-vector
	// product holds about three times a training step's memory.
	Chunk int
}

// Env is what a run's phases share and never save: the model (its
// architecture; its weights come from the State), the data, the chunk
// size of full-batch passes and the trace's settings. An Env is not safe
// for concurrent use.
type Env struct {
	Model layers.Module
	// Train is the training set with its clean labels; Test is optional.
	Train, Test *data.Set
	// Chunk is the rows per chunk of full-batch gradients and of
	// evaluation (default 256). With batch norm it is part of the
	// full-batch objective (each chunk is normalised by its own
	// statistics), so it is part of the configuration hash.
	Chunk int
	Trace TraceConfig

	ready       bool
	g           *autodiff.Graph
	params      []*autodiff.Value
	tensors     []*tensor.Tensor
	grads       []*tensor.Tensor
	gv          []*autodiff.Value
	gt          []*tensor.Tensor
	train, test *data.Chunks
	fingerprint string
	traceParts  []tracePart
	z, hz       []*tensor.Tensor
	soft        map[int]*tensor.Tensor // soft-target buffers by batch size
	softP       float64
	softAll     *tensor.Tensor
}

type tracePart struct {
	x       *tensor.Tensor
	labels  []int
	targets *tensor.Tensor
}

// setup checks the Env and builds what it caches.
func (e *Env) setup() error {
	if e.ready {
		return nil
	}
	switch {
	case e.Model == nil:
		return errors.New("valley: Env without a model")
	case e.Train == nil || e.Train.Len() == 0:
		return errors.New("valley: Env without a training set")
	case e.Train.Classes < 2:
		return fmt.Errorf("valley: training set with %d classes", e.Train.Classes)
	case e.Chunk < 0:
		return fmt.Errorf("valley: chunk size %d", e.Chunk)
	case e.Trace.Probes < 0 || e.Trace.Chunk < 0:
		return fmt.Errorf("valley: trace with %d probes, chunk %d", e.Trace.Probes, e.Trace.Chunk)
	case !(e.Trace.P >= 0 && e.Trace.P <= 1):
		return fmt.Errorf("valley: trace targets with probability %v", e.Trace.P)
	}
	if e.Chunk == 0 {
		e.Chunk = 256
	}
	if e.Test != nil && e.Test.Classes != e.Train.Classes {
		return fmt.Errorf("valley: %d classes in the test set, %d in the training set", e.Test.Classes, e.Train.Classes)
	}
	e.g = autodiff.NewGraph()
	e.params = layers.Parameters(e.Model)
	e.tensors = layers.ParamTensors(e.Model)
	if len(e.params) == 0 {
		return errors.New("valley: the model has no parameters")
	}
	for i, t := range e.tensors {
		g, err := tensor.New(t.DType(), t.Shape()...)
		if err != nil {
			return fmt.Errorf("valley: gradient of parameter %d: %w", i, err)
		}
		e.grads = append(e.grads, g)
	}
	var err error
	if e.train, err = data.NewChunks(e.Train, e.Chunk); err != nil {
		return err
	}
	if e.Test != nil {
		if e.test, err = data.NewChunks(e.Test, e.Chunk); err != nil {
			return err
		}
	}
	if e.Trace.Set != nil && e.Trace.Probes > 0 {
		if err := e.setupTrace(); err != nil {
			return err
		}
	}
	e.fingerprint = e.makeFingerprint()
	e.ready = true
	return nil
}

func (e *Env) setupTrace() error {
	s := e.Trace.Set
	if s.Classes != e.Train.Classes || s.Len() == 0 {
		return fmt.Errorf("valley: trace set of %d samples and %d classes for a %d-class problem", s.Len(), s.Classes, e.Train.Classes)
	}
	chunk := e.Trace.Chunk
	if chunk == 0 {
		chunk = e.Chunk
	}
	var all *tensor.Tensor
	if e.Trace.P > 0 {
		var err error
		if all, err = optim.ExpectedTargets(e.tensors[0].DType(), s.Labels, s.Classes, e.Trace.P); err != nil {
			return err
		}
	}
	for lo := 0; lo < s.Len(); lo += chunk {
		hi := min(lo+chunk, s.Len())
		x, err := s.X.Rows(lo, hi)
		if err != nil {
			return err
		}
		p := tracePart{x: x, labels: s.Labels[lo:hi]}
		if all != nil {
			if p.targets, err = all.Rows(lo, hi); err != nil {
				return err
			}
		}
		e.traceParts = append(e.traceParts, p)
	}
	for _, t := range e.tensors {
		e.z = append(e.z, tensor.Must(tensor.New(t.DType(), t.Shape()...)))
		e.hz = append(e.hz, tensor.Must(tensor.New(t.DType(), t.Shape()...)))
	}
	return nil
}

// makeFingerprint identifies what a State's numbers depend on besides the
// phase configuration: the model's tensors (names, shapes, dtypes), the
// data (sizes and a CRC of the values and labels), the chunk size and
// the trace settings.
func (e *Env) makeFingerprint() string {
	type tens struct {
		Name  string
		Shape []int
		DType string
	}
	type set struct {
		N, Classes int
		Shape      []int
		CRC        uint32
	}
	desc := func(s *data.Set) *set {
		if s == nil {
			return nil
		}
		return &set{s.Len(), s.Classes, s.X.Shape(), setCRC(s)}
	}
	var f struct {
		Params, Buffers []tens
		Train, Test     *set
		Trace           *set
		Chunk           int
		TraceProbes     int
		TraceP          float64
		TraceSeed       uint64
		TraceChunk      int
	}
	for _, p := range e.Model.Params() {
		t := p.Value.Tensor()
		f.Params = append(f.Params, tens{p.Name, t.Shape(), t.DType().String()})
	}
	for _, b := range e.Model.Buffers() {
		f.Buffers = append(f.Buffers, tens{b.Name, b.Tensor.Shape(), b.Tensor.DType().String()})
	}
	f.Train, f.Test, f.Chunk = desc(e.Train), desc(e.Test), e.Chunk
	if e.Trace.Set != nil && e.Trace.Probes > 0 {
		f.Trace, f.TraceProbes, f.TraceP, f.TraceSeed, f.TraceChunk = desc(e.Trace.Set), e.Trace.Probes, e.Trace.P, e.Trace.Seed, e.Trace.Chunk
	}
	b, _ := json.Marshal(f)
	return string(b)
}

func setCRC(s *data.Set) uint32 {
	h := crc32.New(castagnoli)
	var buf []byte
	flush := func() {
		h.Write(buf)
		buf = buf[:0]
	}
	if f := s.X.Float32s(); f != nil {
		for _, v := range f {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) >= 1<<16 {
				flush()
			}
		}
	} else {
		for _, v := range s.X.Float64s() {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
			if len(buf) >= 1<<16 {
				flush()
			}
		}
	}
	for _, l := range s.Labels {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(l))
		if len(buf) >= 1<<16 {
			flush()
		}
	}
	flush()
	return h.Sum32()
}

// hash is the ConfigHash of a phase with configuration cfg in e.
func (e *Env) hash(phase string, cfg any) string {
	b, err := json.Marshal(struct {
		Phase  string
		Config any
		Env    string
	}{phase, cfg, e.fingerprint})
	if err != nil {
		panic(fmt.Sprintf("valley: hashing the %s configuration: %v", phase, err)) // plain structs of numbers
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:16])
}

// Observe measures the model as it is now (its weights are the caller's
// business: a phase function calls it on the State it runs, a caller can
// ApplyTo a State first): training-set accuracy and loss on the clean
// labels, test accuracy and loss, and, with trace, the Hessian trace.
// Batch norm is in evaluation mode throughout; nothing in the model
// changes.
func (e *Env) Observe(trace bool) (Observation, error) {
	if err := e.setup(); err != nil {
		return Observation{}, err
	}
	return e.measure(nil, trace)
}

// measure is Observe with the training-set figures tr when the caller has
// just evaluated them at these weights (nil: evaluated here).
func (e *Env) measure(tr *data.Metrics, trace bool) (Observation, error) {
	var o Observation
	if tr == nil {
		m, err := e.train.Evaluate(e.g, e.Model)
		if err != nil {
			return o, err
		}
		tr = &m
	}
	o.TrainN, o.TrainAcc, o.TrainLoss = tr.N, tr.Accuracy, tr.Loss
	if e.test != nil {
		te, err := e.test.Evaluate(e.g, e.Model)
		if err != nil {
			return o, err
		}
		o.TestN, o.TestAcc, o.TestLoss = te.N, te.Accuracy, te.Loss
	}
	if trace && len(e.traceParts) > 0 {
		est, err := e.HessianTrace()
		if err != nil {
			return o, err
		}
		o.TraceProbes, o.Trace, o.TraceSE = est.Probes, est.Trace, est.StdErr
		if math.IsNaN(o.TraceSE) {
			o.TraceSE = 0 // one probe: no error estimate
		}
	}
	for _, v := range []float64{o.TrainAcc, o.TrainLoss, o.TestAcc, o.TestLoss, o.Trace} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return o, &optim.DivergenceError{What: "an observable", Val: v}
		}
	}
	return o, nil
}

// HessianTrace is the Hutchinson estimate of TraceConfig: tr H of
// L = sum_k (n_k/N) L_k over the trace set's chunks, each z^T H z summed
// over the chunks with the same probe z (the probe stream is restarted
// from Trace.Seed for each chunk), so the estimate is that of the whole
// subset's loss whatever the chunk size. With one chunk it is exactly
// autodiff's Hessian.HessianTrace with a generator seeded by Trace.Seed.
func (e *Env) HessianTrace() (autodiff.TraceEstimate, error) {
	if err := e.setup(); err != nil {
		return autodiff.TraceEstimate{}, err
	}
	if len(e.traceParts) == 0 {
		return autodiff.TraceEstimate{}, errors.New("valley: no trace set or no probes configured")
	}
	m, g := e.Model, e.g
	m.SetTraining(false)
	defer m.SetTraining(true)
	prev := g.SetRecording(true)
	defer g.SetRecording(prev)
	samples := make([]float64, e.Trace.Probes)
	n := float64(e.Trace.Set.Len())
	for k, part := range e.traceParts {
		logits := m.Forward(g, g.Const(part.x))
		var loss *autodiff.Value
		if part.targets != nil {
			loss = g.SoftCrossEntropy(logits, g.Const(part.targets))
		} else {
			loss = g.CrossEntropy(logits, part.labels)
		}
		if err := loss.Err(); err != nil {
			g.Reset()
			return autodiff.TraceEstimate{}, fmt.Errorf("valley: trace, chunk %d: %w", k, err)
		}
		h, err := g.Hessian(loss, e.params...)
		if err != nil {
			g.Reset()
			return autodiff.TraceEstimate{}, fmt.Errorf("valley: trace, chunk %d: %w", k, err)
		}
		w := float64(len(part.labels)) / n
		if len(e.traceParts) == 1 {
			w = 1 // bit-identical to HessianTrace
		}
		rng := tensor.NewRNG(e.Trace.Seed)
		for j := range samples {
			for _, t := range e.z {
				rng.Rademacher(t)
			}
			if _, err := h.Apply(e.z, e.hz); err != nil {
				g.Reset()
				return autodiff.TraceEstimate{}, fmt.Errorf("valley: trace, chunk %d, probe %d: %w", k, j, err)
			}
			samples[j] += w * dot(e.z, e.hz)
		}
		g.Reset()
	}
	mean, se := fit.MeanSE(samples)
	return autodiff.TraceEstimate{Trace: mean, StdErr: se, Probes: len(samples)}, nil
}

// dot is sum_i a_i b_i over the blocks, in float64, in order.
func dot(a, b []*tensor.Tensor) float64 {
	var s float64
	for i := range a {
		for j := range a[i].Len() {
			s += a[i].Flat(j) * b[i].Flat(j)
		}
	}
	return s
}
