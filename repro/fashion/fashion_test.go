package fashion

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/flatfast/flatfast/repro/classify"
	"github.com/flatfast/flatfast/repro/data"
)

// TestPresets: every preset is a valid configuration of the paper's MLP
// with the three baselines, and the paper preset is A.4's protocol.
func TestPresets(t *testing.T) {
	all, err := Presets.All()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range all {
		if c.Experiment != "fashion" || c.Model.Arch != classify.ArchMLP || c.Model.Hidden != 512 || len(c.Noisy.Baselines) != 3 {
			t.Errorf("%s: %+v", name, c)
		}
	}
	p := Paper()
	runs, err := classify.Runs(&p)
	if err != nil {
		t.Fatal(err)
	}
	grid := 0
	for _, r := range runs {
		if r.Grid {
			grid++
			if r.Beta < 0.95 || 1-r.Beta < 2*r.Eta*(1-1e-9) {
				t.Errorf("paper grid beta %v at eta %v outside [0.95, 1 - 2 eta]", r.Beta, r.Eta)
			}
		}
	}
	if len(p.Noisy.Etas) < 4 || grid < 4*8 || p.Noisy.Epochs != 600 || p.Return.Epochs != 400 || p.Valley.LR != 0.002 || p.Valley.Beta != 0 || p.Data.TrainPerClass != 0 {
		t.Errorf("the paper preset is not A.4's protocol: %d etas, %d grid runs, %+v", len(p.Noisy.Etas), grid, p)
	}
	if _, err := Presets.Get("huge"); err == nil {
		t.Error("an unknown preset was accepted")
	}
}

// TestQuickOnRealData runs the quick preset's protocol, cut to a few
// images and steps, on the real FashionMNIST where it is installed:
// the valley phase reaches 100% training accuracy and every run is
// measured.
func TestQuickOnRealData(t *testing.T) {
	if _, err := data.FashionMNIST().Dir(""); err != nil {
		t.Skipf("FashionMNIST is not installed (%v)", err)
	}
	c := Quick()
	c.Data.TrainPerClass, c.Data.TestPerClass = 10, 10
	c.Noisy.Etas, c.Noisy.Seeds = []float64{0.01}, 1
	c.Noisy.Betas = classify.BetaGrid{List: []float64{0.9, 0.99}}
	c.Noisy.Epochs, c.Noisy.Batch, c.Noisy.Observe.Every, c.Noisy.Observe.TraceEvery = 2, 25, 2, 0
	c.Return.Epochs, c.Return.Batch = 1, 25
	c.Trace.PerClass, c.Trace.Probes = 2, 2
	out := t.TempDir()
	res, oc, err := classify.Execute(context.Background(), c, classify.Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if !oc.Complete || !res.Valley.Reached || res.Valley.TrainAccuracy != 1 {
		t.Fatalf("complete %v, valley %+v", oc.Complete, res.Valley)
	}
	if len(res.Runs) != 4 { // 0.9 (also fixed0.9), 0.99, sgd's 0 and critical's 0.8
		t.Fatalf("%d runs, want 4", len(res.Runs))
	}
	for _, r := range res.Runs {
		if r.Diverged != "" || !(r.TestAccuracy > 0.1) || !(float64(r.Trace) > 0) {
			t.Errorf("run %s: %+v", r.ID, r)
		}
	}
	for _, f := range classify.Files {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}
