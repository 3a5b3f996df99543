package tensor

import (
	"fmt"
	"testing"
)

func BenchmarkZZStage(b *testing.B) {
	r := NewRNG(4)
	for _, s := range []struct{ c, hw int }{{64, 32}, {128, 16}, {256, 8}, {512, 4}} {
		x := randTensor(r, Float32, 32, s.c, s.hw, s.hw)
		w := randTensor(r, Float32, s.c, s.c, 3, 3)
		y := Must(Conv2d(nil, x, w, 1, 1))
		dx := Must(New(Float32, x.Shape()...))
		dw := Must(New(Float32, w.Shape()...))
		SetThreads(1)
		g, _ := NewConvGeom(x.Shape(), w.Shape(), 1, 1)
		rep := func(b *testing.B) { b.ReportMetric(g.Flops()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s") }
		b.Run(fmt.Sprintf("%d/fwd", s.c), func(b *testing.B) {
			for range b.N {
				_, _ = Conv2d(y, x, w, 1, 1)
			}
			rep(b)
		})
		b.Run(fmt.Sprintf("%d/bwdin", s.c), func(b *testing.B) {
			for range b.N {
				_, _ = Conv2dBackwardInput(dx, y, w, s.hw, s.hw, 1, 1)
			}
			rep(b)
		})
		b.Run(fmt.Sprintf("%d/bwdw", s.c), func(b *testing.B) {
			for range b.N {
				_, _ = Conv2dBackwardWeight(dw, x, y, 3, 3, 1, 1)
			}
			rep(b)
		})
	}
}

func BenchmarkZZGemmEq(b *testing.B) {
	SetThreads(1)
	for _, s := range []struct{ m, n, k int }{{64, 32768, 576}, {128, 8192, 1152}, {256, 2048, 2304}, {512, 512, 4608}} {
		a := make([]float32, s.m*s.k)
		bb := make([]float32, s.k*s.n)
		c := make([]float32, s.m*s.n)
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k), func(b *testing.B) {
			for range b.N {
				_ = Gemm(false, false, s.m, s.n, s.k, 1, a, s.k, bb, s.n, 0, c, s.n)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkZZBatch(b *testing.B) {
	r := NewRNG(4)
	for _, s := range []struct{ n, c, hw int }{{1, 128, 16}, {4, 128, 16}, {32, 128, 16}, {2, 64, 32}, {32, 64, 32}} {
		x := randTensor(r, Float32, s.n, s.c, s.hw, s.hw)
		w := randTensor(r, Float32, s.c, s.c, 3, 3)
		y := Must(Conv2d(nil, x, w, 1, 1))
		SetThreads(1)
		fl := 2 * float64(s.n*s.c*s.c*9*s.hw*s.hw)
		b.Run(fmt.Sprintf("n%d/c%d", s.n, s.c), func(b *testing.B) {
			for range b.N {
				_, _ = Conv2d(y, x, w, 1, 1)
			}
			b.ReportMetric(fl*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
