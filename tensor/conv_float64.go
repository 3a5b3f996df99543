package tensor

// The float64 convolutions are direct loops: they serve gradient checks
// and small models, where clarity beats speed.

// conv64Taps calls f(yi, wi, xi) for every output element yi, kernel entry
// wi and input element xi that meet in the convolution of geometry g, in
// the order (n, co, oh, ow, ci, kh, kw).
func conv64Taps(g *ConvGeom, f func(yi, wi, xi int)) {
	for n := 0; n < g.N; n++ {
		for co := 0; co < g.Cout; co++ {
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					yi := ((n*g.Cout+co)*g.OH+oh)*g.OW + ow
					for ci := 0; ci < g.Cin; ci++ {
						for ki := 0; ki < g.KH; ki++ {
							ih := oh*g.Stride - g.Pad + ki
							if ih < 0 || ih >= g.H {
								continue
							}
							for kj := 0; kj < g.KW; kj++ {
								iw := ow*g.Stride - g.Pad + kj
								if iw < 0 || iw >= g.W {
									continue
								}
								f(yi, ((co*g.Cin+ci)*g.KH+ki)*g.KW+kj, ((n*g.Cin+ci)*g.H+ih)*g.W+iw)
							}
						}
					}
				}
			}
		}
	}
}

func conv64Forward(g *ConvGeom, y, x, w []float64) {
	clear(y)
	conv64Taps(g, func(yi, wi, xi int) { y[yi] += w[wi] * x[xi] })
}

func conv64BackwardWeight(g *ConvGeom, dw, x, gy []float64) {
	clear(dw)
	conv64Taps(g, func(yi, wi, xi int) { dw[wi] += gy[yi] * x[xi] })
}

func conv64BackwardInput(g *ConvGeom, dx, gy, w []float64) {
	clear(dx)
	conv64Taps(g, func(yi, wi, xi int) { dx[xi] += gy[yi] * w[wi] })
}
