package repro

import (
	"math"
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
	// The same on a reversed log axis (1 - beta, beta growing rightwards).
	rev := NewPlot("reversed, empty", "1 - beta", "y", true, false)
	rev.X.Scale = ReversedLog{}
	one := NewPlot("reversed, one point", "1 - beta", "y", true, false)
	one.X.Scale = ReversedLog{}
	if err := AddSeries(one, Series{Name: "one", X: []float64{0.01}, Y: []float64{3}, Points: true}, 0, true, false); err != nil {
		t.Fatal(err)
	}
	if err := SavePanels(filepath.Join(t.TempDir(), "p.png"), []*plot.Plot{p, full, rev, one}, 8*vg.Centimeter, 6*vg.Centimeter); err != nil {
		t.Fatal(err)
	}
	if a, b := (ReversedLog{}).Normalize(0.001, 0.1, 0.1), (ReversedLog{}).Normalize(0.001, 0.1, 0.001); a != 0 || b != 1 {
		t.Errorf("ReversedLog maps [0.001, 0.1] to [%v, %v], want [1, 0] from left to right: 0.1 at 0, 0.001 at 1", b, a)
	}
}

// TestDegeneratePlots: every panel of degenerate data is drawn (or
// refused with an error), never a panic: gonum's tick makers panic on an
// empty or non-positive log range, and its linear ticks on an empty one.
func TestDegeneratePlots(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	type ser struct{ x, y, e []float64 }
	cases := []struct {
		name       string
		logX, logY bool
		series     []ser
	}{
		{"single point log-log", true, true, []ser{{x: []float64{0.1}, y: []float64{50}}}},
		{"single point linear", false, false, []ser{{x: []float64{0.5}, y: []float64{2}}}},
		{"one x twice log-log", true, true, []ser{{x: []float64{0.1, 0.1}, y: []float64{40, 60}}}},
		{"equal values log-log", true, true, []ser{{x: []float64{0.1, 0.1}, y: []float64{7, 7}}}},
		{"equal values linear", false, false, []ser{{x: []float64{3, 3, 3}, y: []float64{3, 3, 3}}}},
		{"equal huge values linear", false, false, []ser{{x: []float64{1e300, 1e300}, y: []float64{-1e300, -1e300}}}},
		{"equal zeros log y", false, true, []ser{{x: []float64{0, 0}, y: []float64{0, 0}}}},
		{"empty linear", false, false, nil},
		{"empty log-log", true, true, nil},
		{"empty series log-log", true, true, []ser{{}}},
		{"all NaN", false, false, []ser{{x: []float64{nan, 1}, y: []float64{2, nan}}}},
		{"all Inf log-log", true, true, []ser{{x: []float64{inf, 1}, y: []float64{2, -inf}}}},
		{"NaN and Inf error bars", false, false, []ser{{x: []float64{1, 2, 3}, y: []float64{1, 2, 3}, e: []float64{nan, inf, -inf}}}},
		{"error bar below zero on log y", false, true, []ser{{x: []float64{1, 2}, y: []float64{1, 2}, e: []float64{5, 0.1}}}},
		{"full float range linear", false, false, []ser{{x: []float64{-math.MaxFloat64, math.MaxFloat64}, y: []float64{-math.MaxFloat64, math.MaxFloat64}}}},
		{"full float range log-log", true, true, []ser{{x: []float64{5e-324, math.MaxFloat64}, y: []float64{5e-324, math.MaxFloat64}}}},
		{"tiny positive log", true, true, []ser{{x: []float64{1e-310, 2e-310}, y: []float64{1e-310, 1e-310}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			p := NewPlot(c.name, "x", "y", c.logX, c.logY)
			for i, s := range c.series {
				if err := AddSeries(p, Series{Name: "s", X: s.x, Y: s.y, YErr: s.e, Points: true, Line: true}, i, c.logX, c.logY); err != nil {
					t.Fatal(err)
				}
			}
			if err := SavePanels(filepath.Join(t.TempDir(), "p.png"), []*plot.Plot{p}, 8*vg.Centimeter, 6*vg.Centimeter); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMismatchedSeriesIsAnError: a series whose Y or YErr is shorter than
// X is a caller's mistake reported as an error, not an index panic.
func TestMismatchedSeriesIsAnError(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
	p := NewPlot("bad", "x", "y", false, false)
	if err := AddSeries(p, Series{X: []float64{1, 2}, Y: []float64{1}, Points: true}, 0, false, false); err == nil {
		t.Error("short Y accepted")
	}
	if err := AddSeries(p, Series{X: []float64{1, 2}, Y: []float64{1, 2}, YErr: []float64{1}, Points: true}, 0, false, false); err == nil {
		t.Error("short YErr accepted")
	}
}
