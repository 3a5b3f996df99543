package repro

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// SavePanels draws plots side by side (one row) into a PNG at path,
// atomically.
func SavePanels(path string, plots []*plot.Plot, panelW, panelH vg.Length) error {
	if len(plots) == 0 {
		return fmt.Errorf("no plots for %s", path)
	}
	for _, p := range plots {
		fixRange(&p.X)
		fixRange(&p.Y)
	}
	img := vgimg.New(panelW*vg.Length(len(plots)), panelH)
	dc := draw.New(img)
	row := [][]*plot.Plot{plots}
	canvases := plot.Align(row, draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Millimeter * 2}, dc)
	for j, p := range plots {
		p.Draw(canvases[0][j])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return WriteFileAtomic(path, buf.Bytes())
}

// fixRange gives an axis a range that gonum can draw whatever the data
// were: its tick makers panic on a log range that is not positive (an
// empty panel: every point skipped; or a single learning rate, which it
// widens to [x-1, x+1]), its linear ticks panic on an empty range (equal
// values too large for its +-1 widening) and loop forever on one whose
// width overflows.
func fixRange(a *plot.Axis) {
	lo, hi := a.Min, a.Max
	_, log := a.Scale.(plot.LogScale)
	_, rlog := a.Scale.(ReversedLog)
	if log || rlog {
		// Within [1e-300, 1e300] the decades of the tick makers are finite.
		const small, big = 1e-300, 1e300
		ok := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
		switch {
		case !ok(lo) && !ok(hi):
			lo, hi = 1, 10
		case !ok(lo):
			lo = hi / 10
		case !ok(hi):
			hi = lo * 10
		}
		lo, hi = math.Min(math.Max(lo, small), big), math.Min(math.Max(hi, small), big)
		if lo > hi {
			lo, hi = hi, lo
		}
		if hi <= lo*(1+1e-9) {
			// One value: a decade around it.
			lo, hi = math.Max(lo/math.Sqrt(10), small), math.Min(hi*math.Sqrt(10), big)
			if lo == hi {
				lo, hi = lo/10, hi*10
			}
		}
	} else {
		// Within +-MaxFloat64/4 the width hi-lo stays finite.
		const big = math.MaxFloat64 / 4
		fin := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
		switch {
		case !fin(lo) && !fin(hi):
			lo, hi = 0, 1
		case !fin(lo):
			lo = hi - 1
		case !fin(hi):
			hi = lo + 1
		}
		lo, hi = math.Min(math.Max(lo, -big), big), math.Min(math.Max(hi, -big), big)
		if lo > hi {
			lo, hi = hi, lo
		}
		if w := math.Max(math.Abs(lo), math.Abs(hi)); hi-lo <= 1e-12*w || hi == lo {
			d := math.Max(0.1*w, 1)
			lo, hi = lo-d, hi+d
		}
	}
	a.Min, a.Max = lo, hi
}

// ReversedLog is a log scale that runs from large to small values, for an
// axis of 1 - beta on which beta grows to the right. Use it with
// plot.LogTicks.
type ReversedLog struct{}

// Normalize maps x in [min, max] to [1, 0] logarithmically.
func (ReversedLog) Normalize(min, max, x float64) float64 {
	return 1 - plot.LogScale{}.Normalize(min, max, x)
}

// Color returns the i-th colour: plotutil's palette for the first seven,
// then hues spaced by the golden angle, so a dozen series stay apart.
func Color(i int) color.Color {
	if i < len(plotutil.DefaultColors) {
		return plotutil.Color(i)
	}
	h := math.Mod(float64(i)*137.508, 360) / 60
	x := uint8(200 * (1 - math.Abs(math.Mod(h, 2)-1)))
	switch int(h) {
	case 0:
		return color.RGBA{200, x, 0, 255}
	case 1:
		return color.RGBA{x, 200, 0, 255}
	case 2:
		return color.RGBA{0, 200, x, 255}
	case 3:
		return color.RGBA{0, x, 200, 255}
	case 4:
		return color.RGBA{x, 0, 200, 255}
	}
	return color.RGBA{200, 0, x, 255}
}

// Shape returns the i-th point shape.
func Shape(i int) draw.GlyphDrawer { return plotutil.Shape(i) }

// Series is a named curve of points with optional y error bars.
type Series struct {
	Name   string
	X, Y   []float64
	YErr   []float64 // symmetric; nil for none
	Line   bool      // draw a line through the points
	Points bool      // draw the points
	Dashed bool
}

// AddSeries draws series on p, colour i. Non-finite or (on log axes)
// non-positive points are skipped, and so are error bars that are not
// finite; on a log y axis a bar reaching zero or below is cut at a tenth
// of its point (the axis cannot show more of it).
func AddSeries(p *plot.Plot, s Series, i int, logX, logY bool) error {
	if len(s.Y) != len(s.X) || (s.YErr != nil && len(s.YErr) != len(s.X)) {
		return fmt.Errorf("series %q: %d x values, %d y values and %d errors", s.Name, len(s.X), len(s.Y), len(s.YErr))
	}
	var pts plotter.XYs
	var errs plotter.YErrors
	for k := range s.X {
		x, y := s.X[k], s.Y[k]
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) || (logX && x <= 0) || (logY && y <= 0) {
			continue
		}
		pts = append(pts, plotter.XY{X: x, Y: y})
		e := 0.0
		if s.YErr != nil && s.YErr[k] > 0 && !math.IsInf(s.YErr[k], 0) {
			e = s.YErr[k]
		}
		low := e
		if logY && y-low <= 0 {
			low = y - y/10
		}
		errs = append(errs, struct{ Low, High float64 }{low, e})
	}
	if len(pts) == 0 {
		return nil
	}
	c := Color(i)
	if s.Line {
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = c
		l.Width = vg.Points(1.5)
		if s.Dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		if !s.Points && s.Name != "" {
			p.Legend.Add(s.Name, l)
		}
	}
	if s.Points {
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.Color = c
		sc.Shape = Shape(i)
		p.Add(sc)
		if s.Name != "" {
			p.Legend.Add(s.Name, sc)
		}
		if s.YErr != nil {
			eb := &plotter.YErrorBars{XYs: pts, YErrors: errs, LineStyle: draw.LineStyle{Color: c, Width: vg.Points(1)}, CapWidth: vg.Points(4)}
			p.Add(eb)
		}
	}
	return nil
}

// NewPlot returns a plot with a title and axis labels, and log scales as
// asked.
func NewPlot(title, xlabel, ylabel string, logX, logY bool) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = ticks125{}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Legend.ThumbnailWidth = vg.Points(12)
	return p
}

// ticks125 labels a log axis at 1, 2 and 5 times powers of ten, so that a
// range narrower than a decade still gets labels.
type ticks125 struct{}

// Ticks returns the ticks between lo and hi.
func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi > lo) {
		return nil
	}
	var t []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		base := math.Pow(10, e)
		for _, m := range []float64{1, 2, 5} {
			v := m * base
			if v >= lo && v <= hi {
				t = append(t, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 4, 64)})
			}
		}
		for m := 1.0; m < 10; m++ {
			if v := m * base; v >= lo && v <= hi && m != 1 && m != 2 && m != 5 {
				t = append(t, plot.Tick{Value: v})
			}
		}
	}
	return t
}
