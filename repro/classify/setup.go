package classify

import (
	"fmt"

	"github.com/flatfast/flatfast/layers"
	"github.com/flatfast/flatfast/repro/data"
	"github.com/flatfast/flatfast/repro/valley"
	"github.com/flatfast/flatfast/tensor"
)

// Setup is the data a configuration trains and measures on, loaded once
// per process and shared read-only by its workers.
type Setup struct {
	Train, Test *data.Set
	// TraceSet is the fixed subset the Hessian trace is taken on (nil:
	// no trace).
	TraceSet *data.Set
}

// Load reads the data set of c from dir (the -data flag's value; "" for
// data.Spec.Dir's lookup: $FLATFAST_DATA, the system and user locations)
// and takes the subsets c asks for.
func Load(c *Config, dir string) (*Setup, error) {
	spec, err := data.Lookup(c.Data.Set)
	if err != nil {
		return nil, err
	}
	d, err := spec.Dir(dir)
	if err != nil {
		return nil, err
	}
	train, err := data.Load(spec, d, "train")
	if err != nil {
		return nil, err
	}
	test, err := data.Load(spec, d, "test")
	if err != nil {
		return nil, err
	}
	return NewSetup(c, train, test)
}

// NewSetup takes c's subsets of the given training and test sets (as
// loaded, NCHW): for a tiny test configuration, or data from elsewhere.
func NewSetup(c *Config, train, test *data.Set) (*Setup, error) {
	if train == nil || test == nil {
		return nil, fmt.Errorf("classify: nil training or test set")
	}
	var err error
	if c.Data.TrainPerClass > 0 {
		if train, err = train.Balanced(c.Data.TrainPerClass); err != nil {
			return nil, err
		}
	}
	if c.Data.TestPerClass > 0 {
		if test, err = test.Balanced(c.Data.TestPerClass); err != nil {
			return nil, err
		}
	}
	if c.Model.Arch == ArchMLP {
		train, test = train.Flattened(), test.Flattened()
	}
	s := &Setup{Train: train, Test: test}
	if c.Trace.Probes > 0 {
		if s.TraceSet, err = train.Balanced(c.Trace.PerClass); err != nil {
			return nil, fmt.Errorf("classify: the trace subset: %w", err)
		}
	}
	return s, nil
}

// NewModel builds c's network, initialised from InitSeed.
func NewModel(c *Config, s *Setup) (layers.Module, error) {
	rng := tensor.NewRNG(c.InitSeed)
	classes := s.Train.Classes
	switch c.Model.Arch {
	case ArchMLP:
		in := s.Train.X.Shape()[1]
		h := c.Model.Hidden
		return layers.NewMLP(rng, tensor.Float32, []int{in, h, h, h, h, h, classes},
			[]layers.Activation{layers.ReLUAct, layers.ReLUAct, layers.ReLUAct, layers.ReLUAct, layers.TanhAct, layers.Identity})
	case ArchResNet:
		rc := layers.ResNet18Config
		rc.Width, rc.Classes = c.Model.Width, classes
		return layers.NewResNet(rng, tensor.Float32, rc)
	}
	return nil, fmt.Errorf("classify: model architecture %q", c.Model.Arch)
}

// newEnv is a worker's environment: its own model (the weights come from
// each run's state) over the shared data.
func newEnv(c *Config, s *Setup) (*valley.Env, error) {
	m, err := NewModel(c, s)
	if err != nil {
		return nil, err
	}
	env := &valley.Env{Model: m, Train: s.Train, Test: s.Test, Chunk: c.Chunk}
	if s.TraceSet != nil {
		env.Trace = valley.TraceConfig{Set: s.TraceSet, Probes: c.Trace.Probes, P: c.Trace.P, Seed: c.Trace.Seed, Chunk: c.Trace.Chunk}
	}
	return env, nil
}

// noisyFor is run r's phase 2.
func (c *Config) noisyFor(r Run) valley.NoisyConfig {
	n := c.Noisy
	return valley.NoisyConfig{LR: r.Eta, Beta: r.Beta, Batch: n.Batch, DropLast: n.DropLast, P: n.P, Epochs: n.Epochs,
		Seed: n.NoiseSeed + uint64(r.Seed), Observe: n.Observe}
}

// returnFor is run r's phase 3: the template, at the run's eta and beta
// when it inherits them, its batch order seeded per seed.
func (c *Config) returnFor(r Run) valley.ReturnConfig {
	rc := c.Return.ReturnConfig
	if c.Return.Inherit {
		rc.LR, rc.Beta = r.Eta, r.Beta
	}
	rc.Seed += uint64(r.Seed)
	return rc
}
