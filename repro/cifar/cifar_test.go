package cifar

import (
	"context"
	"testing"

	"github.com/flatfast/flatfast/repro/classify"
	"github.com/flatfast/flatfast/repro/data"
)

// TestPresets: every preset is a valid configuration of the CIFAR
// ResNet-18 with the three baselines and the Adam projection, and the
// paper preset is A.3's protocol.
func TestPresets(t *testing.T) {
	all, err := Presets.All()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range all {
		if c.Experiment != "cifar" || c.Model.Arch != classify.ArchResNet || c.Return.Method != "adam" || len(c.Noisy.Baselines) != 3 {
			t.Errorf("%s: %+v", name, c)
		}
	}
	p := Paper()
	v := p.Valley
	if p.Model.Width != 1 || p.Data.TrainPerClass != 0 || v.LR != 0.1 || v.Beta != 0.9 || v.Warmup != 600 || v.Decay != 1400 ||
		p.Noisy.Batch != 512 || p.Noisy.Epochs != 200 || p.Noisy.P != 0.2 || p.Return.LR != 1e-4 {
		t.Errorf("the paper preset is not A.3's protocol: %+v", p)
	}
}

// TestQuickOnRealData runs the quick preset's protocol, cut to a few
// images and steps and width 1/16, on the real CIFAR-10 where
// $FLATFAST_DATA/cifar10 holds it: the valley phase reaches 100%
// training accuracy, the projection runs, every run is measured.
func TestQuickOnRealData(t *testing.T) {
	if _, err := data.CIFAR10().Dir(""); err != nil {
		t.Skipf("CIFAR-10 is not installed (%v)", err)
	}
	c := Quick()
	c.Model.Width = 1.0 / 16
	c.Data.TrainPerClass, c.Data.TestPerClass = 4, 4
	c.Chunk = 20
	c.Noisy.Etas = []float64{0.01}
	c.Noisy.Betas = classify.BetaGrid{List: []float64{0.9}}
	c.Noisy.Baselines = nil
	c.Noisy.Epochs, c.Noisy.Batch, c.Noisy.Observe.Every = 2, 10, 2
	c.Return.MaxSteps = 3
	c.Trace.PerClass, c.Trace.Probes, c.Trace.Chunk = 1, 2, 10
	res, oc, err := classify.Execute(context.Background(), c, classify.Options{Out: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !oc.Complete || !res.Valley.Reached {
		t.Fatalf("complete %v, valley %+v", oc.Complete, res.Valley)
	}
	for _, r := range res.Runs {
		if r.Diverged != "" || r.ReturnSteps < 1 || !(float64(r.Trace) > 0) {
			t.Errorf("run %s: %+v", r.ID, r)
		}
	}
}
