package repro

import (
	"path/filepath"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// TestEmptyLogPanel: a log-log panel whose points were all skipped (or
// that had none) is drawn empty instead of panicking.
func TestEmptyLogPanel(t *testing.T) {
	p := NewPlot("empty", "x", "y", true, true)
	if err := AddSeries(p, Series{Name: "none", X: []float64{-1, 0}, Y: []float64{1, 2}, Points: true}, 0, true, true); err != nil {
		t.Fatal(err)
	}
	full := NewPlot("full", "x", "y", true, true)
	if err := AddSeries(full, Series{Name: "some", X: []float64{1, 10}, Y: []float64{3, 30}, Points: true}, 0, true, true); err != nil {
		t.Fatal(err)
	}
	if err := SavePanels(filepath.Join(t.TempDir(), "p.png"), []*plot.Plot{p, full}, 8*vg.Centimeter, 6*vg.Centimeter); err != nil {
		t.Fatal(err)
	}
}
