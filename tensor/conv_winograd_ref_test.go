package tensor

import "github.com/flatfast/flatfast/simd"

// A reference Winograd convolution F(m x m, 3 x 3), for any m with
// transform matrices, built from GEMMs only: it measures the accuracy of
// F(2,3) against F(4,3) (docs/conv.md) and checks the fast path
// (conv_winograd.go) by another route. An output tile of m x m pixels
// is computed from an input tile of a x a = (m+2) x (m+2) pixels as
//
//	Y_tile = A^T [ (G g G^T) .* (B^T d B) ] A
//
// with the element-wise product summed over input channels, so that the
// a^2 positions xi of the transformed tile are a^2 independent GEMMs
//
//	M[xi][co][t] = U[xi][co][ci] V[xi][ci][t],   t = (n, tile)
//
// with 9 m^2 / a^2 times the direct product's multiply-adds (1/2.25 for
// m = 2, 1/4 for m = 4). Every stage is itself a GEMM:
//
//	kernel   U[xi][(co,ci)]   = Gk[xi][(r,s)]  W[(co,ci)][(r,s)]^T     (Gk = G (x) G)
//	input    V[xi][(ci,n,t)]  = Bk[xi][(i,j)]  D[(i,j)][(ci,n,t)]       (Bk = B^T (x) B^T,
//	                                                                 D: a x a tiles at stride m,
//	                                                                 read by im2col)
//	products M[xi]            = U[xi] V[xi]                          (a^2 GEMMs)
//	output   Yt[(p,q)][(co,n,t)] = Ak[(p,q)][xi] M[xi][(co,n,t)]     (Ak = A^T (x) A^T)
//
// followed by a scatter of the m x m tiles into the output image.

// winoRefPlan holds the transform matrices of one F(m x m, 3 x 3).
type winoRefPlan struct {
	m, a int
	bk   []float32 // a^2 x a^2
	gk   []float32 // a^2 x 9
	gkR  []float32 // a^2 x 9, for the kernel rotated by 180 degrees
	ak   []float32 // m^2 x a^2
}

// The 1-D transforms. F(2,3): points 0, 1, -1, infinity. F(4,3): points
// 0, 1, -1, 2, -2, infinity (the matrices of Lavin and Gray, 2016).
var (
	winoBT2 = [][]float64{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}}
	winoG2  = [][]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	winoAT2 = [][]float64{{1, 1, 1, 0}, {0, 1, -1, -1}}

	winoBT4 = [][]float64{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	}
	winoG4 = [][]float64{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	}
	winoAT4 = [][]float64{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	}
)

var winoRefPlans = map[int]*winoRefPlan{
	2: newWinoRefPlan(2, winoBT2, winoG2, winoAT2),
	4: newWinoRefPlan(4, winoBT4, winoG4, winoAT4),
}

// kron returns the Kronecker product x (x) y of row-major matrices as
// float32 (the products are formed in float64).
func kron(x, y [][]float64) []float32 {
	r1, c1, r2, c2 := len(x), len(x[0]), len(y), len(y[0])
	out := make([]float32, r1*r2*c1*c2)
	for i := 0; i < r1; i++ {
		for k := 0; k < r2; k++ {
			for j := 0; j < c1; j++ {
				for l := 0; l < c2; l++ {
					out[(i*r2+k)*(c1*c2)+j*c2+l] = float32(x[i][j] * y[k][l])
				}
			}
		}
	}
	return out
}

func newWinoRefPlan(m int, bt, g, at [][]float64) *winoRefPlan {
	a := m + 2
	p := &winoRefPlan{m: m, a: a, bk: kron(bt, bt), gk: kron(g, g), ak: kron(at, at)}
	// Rotating the kernel by 180 degrees reverses its 9 taps.
	p.gkR = make([]float32, len(p.gk))
	for xi := 0; xi < a*a; xi++ {
		for rs := 0; rs < 9; rs++ {
			p.gkR[xi*9+rs] = p.gk[xi*9+8-rs]
		}
	}
	return p
}

// winoRef is the workspace of one Winograd call.
type winoRef struct {
	u, v, mm, yt, xc []float32
	geom             ConvGeom // the input transform's geometry (one image, channels as a batch)
	im               im2colB
	da               denseA
}

// winograd computes the stride-1 3x3 convolution of geometry g (pad at
// most 2) of x into y with plan p. With flip, the kernel w [Cin', Cout',
// 3, 3] is used rotated by 180 degrees and with its channel axes swapped
// (the input gradient: g.Cout = Cin', g.Cin = Cout'); otherwise w is
// [g.Cout, g.Cin, 3, 3].
func (s *winoRef) winograd(impl *simd.Impl, threads int, p *winoRefPlan, g *ConvGeom, w, x, y []float32, flip bool) {
	m, a := p.m, p.a
	aa := a * a
	th, tw := (g.OH+m-1)/m, (g.OW+m-1)/m
	tt := th * tw
	nt := g.N * tt
	cin, cout := g.Cin, g.Cout

	// Kernel transform: U[xi][(co,ci)] (or [(ci',co')] when flipped).
	s.u = grow(s.u, aa*cin*cout)
	gk := p.gk
	if flip {
		gk = p.gkR
	}
	gemm32(impl, threads, false, true, aa, cin*cout, 9, 1, gk, 9, w, 9, 0, s.u, cin*cout)

	// Input transform: the input in channel-major order [ci][n][h][w]
	// (a copy of whole planes), whose planes are a batch of one-channel
	// images; the a x a tiles at stride m are their im2col columns, so
	// that C row xi is V[xi][(ci, n, t)], each V[xi] a dense cin x nt
	// matrix.
	hw := g.H * g.W
	s.xc = grow(s.xc, cin*g.N*hw)
	for n := 0; n < g.N; n++ {
		for ci := 0; ci < cin; ci++ {
			copy(s.xc[(ci*g.N+n)*hw:(ci*g.N+n+1)*hw], x[(n*cin+ci)*hw:(n*cin+ci+1)*hw])
		}
	}
	s.v = grow(s.v, aa*cin*nt)
	s.geom = ConvGeom{N: cin * g.N, Cin: 1, H: g.H, W: g.W, Cout: aa, KH: a, KW: a, Stride: m, Pad: g.Pad, OH: th, OW: tw}
	s.da = denseA{impl: impl, a: p.bk, lda: aa}
	s.im.prepare(&s.geom, s.xc)
	gemmSources(impl, threads, aa, cin*nt, aa, 1, &s.da, &s.im, s.v, cin*nt, 0, 0, true)
	s.im.x = nil
	// The a^2 products.
	s.mm = grow(s.mm, aa*cout*nt)
	for xi := 0; xi < aa; xi++ {
		u := s.u[xi*cin*cout : (xi+1)*cin*cout]
		if flip {
			// u holds [ci'][co'] = [g.Cout][g.Cin]... as [(co', ci')] rows of
			// the original kernel: A = u^T.
			gemm32(impl, threads, true, false, cout, nt, cin, 1, u, cout, s.v[xi*cin*nt:], nt, 0, s.mm[xi*cout*nt:], nt)
		} else {
			gemm32(impl, threads, false, false, cout, nt, cin, 1, u, cin, s.v[xi*cin*nt:], nt, 0, s.mm[xi*cout*nt:], nt)
		}
	}

	// Output transform and scatter.
	mm2 := m * m
	ct := cout * nt
	s.yt = grow(s.yt, mm2*ct)
	gemm32(impl, threads, false, false, mm2, ct, aa, 1, p.ak, aa, s.mm, ct, 0, s.yt, ct)
	ohw := g.OH * g.OW
	for co := 0; co < cout; co++ {
		for n := 0; n < g.N; n++ {
			dst := y[(n*cout+co)*ohw : (n*cout+co+1)*ohw]
			src0 := (co*g.N + n) * tt
			for ty := 0; ty < th; ty++ {
				for pp := 0; pp < m && ty*m+pp < g.OH; pp++ {
					row := dst[(ty*m+pp)*g.OW : (ty*m+pp+1)*g.OW]
					for q := 0; q < m; q++ {
						src := s.yt[(pp*m+q)*ct+src0+ty*tw:]
						for tx := 0; tx < tw && tx*m+q < g.OW; tx++ {
							row[tx*m+q] = src[tx]
						}
					}
				}
			}
		}
	}
}
