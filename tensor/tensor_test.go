package tensor

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func vals(t *Tensor) []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		out[i] = t.Flat(i)
	}
	return out
}

func TestNewAndViews(t *testing.T) {
	if _, err := New(Float32, 2, -1); !errors.Is(err, ErrShape) {
		t.Errorf("negative dimension: %v", err)
	}
	if _, err := New(Float32, 1, 2, 3, 4, 5, 6, 7, 8, 9); !errors.Is(err, ErrShape) {
		t.Errorf("9 dimensions: %v", err)
	}
	if _, err := FromFloat32(make([]float32, 5), 2, 3); !errors.Is(err, ErrShape) {
		t.Errorf("5 values for [2 3]: %v", err)
	}
	a := Must(FromFloat64([]float64{1, 2, 3, 4, 5, 6}, 2, 3))
	r, err := a.Reshape(3, -1)
	if err != nil || r.Dim(0) != 3 || r.Dim(1) != 2 {
		t.Fatalf("Reshape(3,-1) = %v, %v", r, err)
	}
	r.SetFlat(0, 10) // shares storage
	if v, _ := a.At(0, 0); v != 10 {
		t.Errorf("reshape is not a view: a[0,0] = %v", v)
	}
	if _, err := a.Reshape(4, -1); err == nil {
		t.Error("Reshape(4,-1) of 6 elements did not fail")
	}
	if _, err := a.Reshape(-1, -1); err == nil {
		t.Error("two -1 did not fail")
	}
	rows, err := a.Rows(1, 2)
	if err != nil || rows.Dim(0) != 1 {
		t.Fatal(err)
	}
	rows.SetFlat(2, 60)
	if v, _ := a.At(1, 2); v != 60 {
		t.Errorf("Rows is not a view: a[1,2] = %v", v)
	}
	if _, err := a.Rows(1, 3); err == nil {
		t.Error("Rows(1,3) of 2 rows did not fail")
	}
	if _, err := a.At(2, 0); err == nil {
		t.Error("At out of range did not fail")
	}
	if s := a.String(); !strings.Contains(s, "float64[2 3]") {
		t.Errorf("String = %q", s)
	}
	c := a.Clone()
	c.SetFlat(0, -1)
	if a.Flat(0) == -1 {
		t.Error("Clone shares storage")
	}
	f := Must(a.As(Float32))
	if f.DType() != Float32 || f.Flat(5) != 60 {
		t.Errorf("As(Float32) = %v", f)
	}
}

func TestBroadcastShape(t *testing.T) {
	cases := []struct {
		a, b, want []int
		ok         bool
	}{
		{[]int{2, 3}, []int{3}, []int{2, 3}, true},
		{[]int{2, 1}, []int{1, 3}, []int{2, 3}, true},
		{[]int{4, 1, 3}, []int{5, 1}, []int{4, 5, 3}, true},
		{[]int{}, []int{2, 2}, []int{2, 2}, true},
		{[]int{2, 3}, []int{2}, nil, false},
	}
	for _, c := range cases {
		got, err := BroadcastShape(c.a, c.b)
		if (err == nil) != c.ok || (c.ok && !equalInts(got, c.want)) {
			t.Errorf("BroadcastShape(%v, %v) = %v, %v", c.a, c.b, got, err)
		}
	}
}

// refBinary computes a broadcast binary op by explicit index arithmetic.
func refBinary(a, b *Tensor, f func(x, y float64) float64) ([]int, []float64) {
	out, _ := BroadcastShape(a.Shape(), b.Shape())
	n := 1
	for _, d := range out {
		n *= d
	}
	res := make([]float64, n)
	idx := make([]int, len(out))
	at := func(t *Tensor) float64 {
		off := 0
		for i := 0; i < t.nd; i++ {
			j := len(out) - t.nd + i
			v := idx[j]
			if t.dims[i] == 1 {
				v = 0
			}
			off = off*t.dims[i] + v
		}
		return t.Flat(off)
	}
	for k := 0; k < n; k++ {
		rem := k
		for j := len(out) - 1; j >= 0; j-- {
			idx[j] = rem % out[j]
			rem /= out[j]
		}
		res[k] = f(at(a), at(b))
	}
	return out, res
}

func TestBinaryBroadcasting(t *testing.T) {
	r := NewRNG(1)
	shapes := [][2][]int{
		{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 4}, {3, 1}}, {{3, 1}, {1, 4}},
		{{2, 3, 4, 5}, {1, 3, 1, 1}}, {{2, 3, 4, 5}, {5}}, {{1}, {2, 3}}, {{}, {4}},
		{{2, 1, 4}, {3, 1}}, {{5, 1, 1, 7}, {5, 6, 7}}, {{2, 40}, {2, 40}}, {{33, 17}, {17}},
		// Rows under shortRow take binaryShort, longer ones binaryRow,
		// in each stride case (the batched UV model's shapes first).
		{{6, 10, 1}, {1, 1, 5}}, {{6, 10, 1}, {6, 10, 5}}, {{6, 1, 5}, {6, 10, 5}},
		{{4, 1}, {1, 20}}, {{4, 3, 1}, {4, 3, 20}}, {{3, 15}, {1, 15}}, {{3, 16}, {3, 1}},
	}
	ops := []struct {
		name string
		run  func(dst, a, b *Tensor) (*Tensor, error)
		f    func(x, y float64) float64
	}{
		{"Add", Add, func(x, y float64) float64 { return x + y }},
		{"Sub", Sub, func(x, y float64) float64 { return x - y }},
		{"Mul", Mul, func(x, y float64) float64 { return x * y }},
		{"Div", Div, func(x, y float64) float64 { return x / y }},
		{"Maximum", Maximum, math.Max},
		{"Minimum", Minimum, math.Min},
	}
	for _, dt := range []DType{Float32, Float64} {
		for _, s := range shapes {
			for _, swap := range []bool{false, true} {
				sa, sb := s[0], s[1]
				if swap {
					sa, sb = sb, sa
				}
				a, b := randTensor(r, dt, sa...), randTensor(r, dt, sb...)
				for _, op := range ops {
					got, err := op.run(nil, a, b)
					if err != nil {
						t.Fatalf("%s %v %v: %v", op.name, sa, sb, err)
					}
					shape, want := refBinary(a, b, op.f)
					if !equalInts(got.Shape(), shape) {
						t.Fatalf("%s %v %v: shape %v want %v", op.name, sa, sb, got.Shape(), shape)
					}
					tol := 1e-15
					if dt == Float32 {
						tol = 1e-6
					}
					for i, w := range want {
						if d := math.Abs(got.Flat(i) - w); d > tol*(1+math.Abs(w)) {
							t.Fatalf("%s %v %v %v: [%d] = %v want %v", op.name, dt, sa, sb, i, got.Flat(i), w)
						}
					}
				}
			}
		}
	}
	// In place: dst is a.
	a := randTensor(r, Float32, 3, 4)
	a0 := a.Clone()
	b := randTensor(r, Float32, 4)
	if _, err := Add(a, a, b); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		if a.Flat(i) != float64(float32(a0.Flat(i)+b.Flat(i%4))) {
			t.Fatalf("in-place Add wrong at %d", i)
		}
	}
	if _, err := Add(nil, a, Must(New(Float32, 3))); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "[3 4]") || !strings.Contains(err.Error(), "[3]") {
		t.Errorf("shape error does not name both shapes: %v", err)
	}
	if _, err := Add(nil, a, Must(New(Float64, 3, 4))); !errors.Is(err, ErrDType) {
		t.Errorf("dtype error: %v", err)
	}
	if _, err := Add(Must(New(Float32, 4, 3)), a, b); !errors.Is(err, ErrShape) {
		t.Errorf("wrong destination shape: %v", err)
	}
}

func TestUnary(t *testing.T) {
	r := NewRNG(2)
	cases := []struct {
		name string
		run  func(dst, a *Tensor) (*Tensor, error)
		f    func(float64) float64
		pos  bool
	}{
		{"Neg", Neg, func(x float64) float64 { return -x }, false},
		{"Exp", Exp, math.Exp, false},
		{"Log", Log, math.Log, true},
		{"Sqrt", Sqrt, math.Sqrt, true},
		{"Square", Square, func(x float64) float64 { return x * x }, false},
		{"Abs", Abs, math.Abs, false},
		{"Tanh", Tanh, math.Tanh, false},
		{"Sigmoid", Sigmoid, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, false},
		{"ReLU", ReLU, func(x float64) float64 { return math.Max(x, 0) }, false},
		{"Scale", func(d, a *Tensor) (*Tensor, error) { return Scale(d, a, -2.5) }, func(x float64) float64 { return -2.5 * x }, false},
		{"AddScalar", func(d, a *Tensor) (*Tensor, error) { return AddScalar(d, a, 0.75) }, func(x float64) float64 { return x + 0.75 }, false},
		{"PowScalar", func(d, a *Tensor) (*Tensor, error) { return PowScalar(d, a, 1.5) }, func(x float64) float64 { return math.Pow(x, 1.5) }, true},
	}
	for _, dt := range []DType{Float32, Float64} {
		for _, c := range cases {
			a := randTensor(r, dt, 7, 13)
			if c.pos {
				_, _ = Abs(a, a)
				_, _ = AddScalar(a, a, 0.1)
			}
			got, err := c.run(nil, a)
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-14
			if dt == Float32 {
				tol = 3e-7
			}
			for i := 0; i < a.Len(); i++ {
				w := c.f(a.Flat(i))
				if d := math.Abs(got.Flat(i) - w); d > tol*(1+math.Abs(w)) {
					t.Fatalf("%s %v: f(%v) = %v want %v", c.name, dt, a.Flat(i), got.Flat(i), w)
				}
			}
		}
	}
}

func TestReductions(t *testing.T) {
	r := NewRNG(3)
	for _, dt := range []DType{Float32, Float64} {
		a := randTensor(r, dt, 3, 4, 5)
		for axis := -3; axis < 3; axis++ {
			for _, keep := range []bool{false, true} {
				s, err := Sum(nil, a, axis, keep)
				if err != nil {
					t.Fatal(err)
				}
				m, _ := Mean(nil, a, axis, keep)
				mx, _ := Max(nil, a, axis, keep)
				am, _ := ArgMax(a, axis)
				ax := (axis + 3) % 3
				outer, n, inner := split3(a.Shape(), ax)
				if keep && s.Dim(ax) != 1 || !keep && s.Dims() != 2 {
					t.Fatalf("axis %d keep %v: shape %v", axis, keep, s.Shape())
				}
				for o := 0; o < outer; o++ {
					for i := 0; i < inner; i++ {
						var sum float64
						best, bi := math.Inf(-1), 0
						for k := 0; k < n; k++ {
							v := a.Flat((o*n+k)*inner + i)
							sum += v
							if v > best {
								best, bi = v, k
							}
						}
						at := o*inner + i
						if math.Abs(s.Flat(at)-sum) > 1e-5 || math.Abs(m.Flat(at)-sum/float64(n)) > 1e-5 || mx.Flat(at) != best || am[at] != bi {
							t.Fatalf("%v axis %d: sum %v/%v mean %v max %v/%v argmax %d/%d", dt, axis, s.Flat(at), sum, m.Flat(at), mx.Flat(at), best, am[at], bi)
						}
					}
				}
			}
		}
		if _, err := Sum(nil, a, 3, false); !errors.Is(err, ErrShape) {
			t.Errorf("axis 3 of 3-D: %v", err)
		}
		if got, want := SumAll(a), func() float64 {
			var s float64
			for _, v := range vals(a) {
				s += v
			}
			return s
		}(); math.Abs(got-want) > 1e-9 {
			t.Errorf("SumAll = %v want %v", got, want)
		}
	}
	nan := Must(FromFloat32([]float32{1, float32(math.NaN()), 3, 4, 5, 6}, 2, 3))
	mx, _ := Max(nil, nan, 1, false)
	if !math.IsNaN(mx.Flat(0)) || mx.Flat(1) != 6 {
		t.Errorf("Max with NaN = %v", mx)
	}
}

func TestSumToAndBroadcastTo(t *testing.T) {
	r := NewRNG(4)
	cases := [][2][]int{
		{{2, 3, 4}, {3, 4}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{2, 3, 4}, {2, 1, 4}},
		{{2, 3, 4}, {1}}, {{2, 3, 4}, {}}, {{2, 3, 4}, {2, 3, 4}}, {{5, 6}, {5, 1}},
		{{6, 10, 5}, {6, 10, 1}}, {{6, 10, 5}, {6, 1, 5}}, {{3, 4, 20}, {3, 4, 1}}, {{3, 20}, {20}},
	}
	for _, dt := range []DType{Float32, Float64} {
		for _, c := range cases {
			big, small := c[0], c[1]
			a := randTensor(r, dt, big...)
			s, err := SumTo(nil, a, small)
			if err != nil {
				t.Fatalf("SumTo %v -> %v: %v", big, small, err)
			}
			// <SumTo(a), b> = <a, BroadcastTo(b)> for every b: the two
			// are adjoint.
			b := randTensor(r, dt, small...)
			bb, err := BroadcastTo(nil, b, big)
			if err != nil {
				t.Fatal(err)
			}
			var lhs, rhs float64
			for i := 0; i < s.Len(); i++ {
				lhs += s.Flat(i) * b.Flat(i)
			}
			for i := 0; i < a.Len(); i++ {
				rhs += a.Flat(i) * bb.Flat(i)
			}
			if math.Abs(lhs-rhs) > 1e-4*(1+math.Abs(lhs)) {
				t.Errorf("%v %v->%v: <SumTo a, b> = %v, <a, BroadcastTo b> = %v", dt, big, small, lhs, rhs)
			}
			// BroadcastTo agrees with Add to zeros.
			z := Must(New(dt, big...))
			viaAdd := Must(Add(nil, z, b))
			for i := 0; i < bb.Len(); i++ {
				if bb.Flat(i) != viaAdd.Flat(i) {
					t.Fatalf("BroadcastTo %v->%v differs from Add at %d", small, big, i)
				}
			}
		}
	}
	if _, err := SumTo(nil, Must(New(Float32, 2, 3)), []int{2}); err == nil {
		t.Error("SumTo [2 3] -> [2] did not fail")
	}
}

func TestPermuteConcatSplit(t *testing.T) {
	r := NewRNG(5)
	for _, dt := range []DType{Float32, Float64} {
		a := randTensor(r, dt, 2, 3, 4)
		p, err := Permute(nil, a, 2, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				for k := 0; k < 4; k++ {
					x, _ := a.At(i, j, k)
					y, _ := p.At(k, i, j)
					if x != y {
						t.Fatalf("Permute: a[%d,%d,%d]=%v p[%d,%d,%d]=%v", i, j, k, x, k, i, j, y)
					}
				}
			}
		}
		if _, err := Permute(nil, a, 0, 0, 1); err == nil {
			t.Error("bad permutation accepted")
		}
		b := randTensor(r, dt, 5, 3, 4)
		c, err := Concat(nil, a, b)
		if err != nil || c.Dim(0) != 7 {
			t.Fatal(err)
		}
		parts, err := Split(c, 2, 5)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < a.Len(); i++ {
			if parts[0].Flat(i) != a.Flat(i) {
				t.Fatal("Split/Concat round trip lost a")
			}
		}
		for i := 0; i < b.Len(); i++ {
			if parts[1].Flat(i) != b.Flat(i) {
				t.Fatal("Split/Concat round trip lost b")
			}
		}
		if _, err := Concat(nil, a, randTensor(r, dt, 1, 4, 3)); err == nil {
			t.Error("Concat of mismatched shapes accepted")
		}
		if _, err := Split(c, 3, 3); err == nil {
			t.Error("Split into 6 of 7 rows accepted")
		}
	}
	m := randTensor(r, Float32, 37, 53)
	mt := Must(Transpose(nil, m))
	for i := 0; i < 37; i++ {
		for j := 0; j < 53; j++ {
			x, _ := m.At(i, j)
			y, _ := mt.At(j, i)
			if x != y {
				t.Fatalf("Transpose wrong at %d,%d", i, j)
			}
		}
	}
}

func TestPooling(t *testing.T) {
	r := NewRNG(6)
	for _, dt := range []DType{Float32, Float64} {
		x := randTensor(r, dt, 2, 3, 7, 6)
		for _, p := range []struct{ k, s, pad int }{{2, 2, 0}, {3, 2, 1}, {3, 1, 1}, {6, 1, 0}} {
			y, idx, err := MaxPool2d(nil, x, p.k, p.s, p.pad, nil)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := newPoolGeom("", x.Shape(), p.k, p.s, p.pad)
			o := 0
			for nc := 0; nc < 6; nc++ {
				for oh := 0; oh < g.oh; oh++ {
					for ow := 0; ow < g.ow; ow++ {
						best := math.Inf(-1)
						g.window(oh, ow, func(at int) { best = math.Max(best, x.Flat(nc*42+at)) })
						if y.Flat(o) != best || x.Flat(int(idx[o])) != best {
							t.Fatalf("MaxPool %+v at %d: %v want %v", p, o, y.Flat(o), best)
						}
						o++
					}
				}
			}
			// ScatterAdd and Gather are adjoint; MaxPool's backward is
			// ScatterAdd.
			gy := randTensor(r, dt, y.Shape()...)
			gx := Must(ScatterAdd(nil, gy, idx, x.Shape()))
			v := randTensor(r, dt, x.Shape()...)
			gv := Must(Gather(nil, v, idx, y.Shape()))
			var l, rr float64
			for i := 0; i < gx.Len(); i++ {
				l += gx.Flat(i) * v.Flat(i)
			}
			for i := 0; i < gv.Len(); i++ {
				rr += gv.Flat(i) * gy.Flat(i)
			}
			if math.Abs(l-rr) > 1e-4*(1+math.Abs(l)) {
				t.Errorf("ScatterAdd/Gather not adjoint: %v vs %v", l, rr)
			}
			// AvgPool and its backward are adjoint, and AvgPool matches
			// the window mean.
			a, err := AvgPool2d(nil, x, p.k, p.s, p.pad)
			if err != nil {
				t.Fatal(err)
			}
			ab, err := AvgPool2dBackward(nil, gy, x.Shape(), p.k, p.s, p.pad)
			if err != nil {
				t.Fatal(err)
			}
			l, rr = 0, 0
			for i := 0; i < a.Len(); i++ {
				l += a.Flat(i) * gy.Flat(i)
			}
			for i := 0; i < ab.Len(); i++ {
				rr += ab.Flat(i) * x.Flat(i)
			}
			if math.Abs(l-rr) > 1e-4*(1+math.Abs(l)) {
				t.Errorf("AvgPool %+v not adjoint to its backward: %v vs %v", p, l, rr)
			}
			var s float64
			g.window(0, 0, func(at int) { s += x.Flat(at) })
			if math.Abs(a.Flat(0)-s/float64(p.k*p.k)) > 1e-6 {
				t.Errorf("AvgPool %+v [0] = %v want %v", p, a.Flat(0), s/float64(p.k*p.k))
			}
		}
	}
	if _, _, err := MaxPool2d(nil, Must(New(Float32, 1, 1, 2, 2)), 3, 1, 0, nil); err == nil {
		t.Error("window larger than input accepted")
	}
}

func TestRNGDeterminism(t *testing.T) {
	a, b := NewRNG(42), NewRNG(42)
	ta, tb := Must(New(Float32, 100)), Must(New(Float32, 100))
	a.Normal(ta, 0, 1)
	b.Normal(tb, 0, 1)
	for i := range ta.f32 {
		if ta.f32[i] != tb.f32[i] {
			t.Fatal("same seed, different normals")
		}
	}
	state, _ := a.MarshalBinary()
	x := a.Float64()
	var c RNG
	if err := c.UnmarshalBinary(state); err != nil || c.Float64() != x {
		t.Fatal("state round trip failed")
	}
	// Rademacher: only +-1, balanced.
	rt := Must(New(Float64, 10000))
	NewRNG(7).Rademacher(rt)
	var sum float64
	for _, v := range rt.f64 {
		if v != 1 && v != -1 {
			t.Fatalf("Rademacher value %v", v)
		}
		sum += v
	}
	if math.Abs(sum) > 400 { // 4 standard deviations of 100
		t.Errorf("Rademacher sum %v over 10000 draws", sum)
	}
	// Uniform in range.
	u := Must(New(Float64, 1000))
	NewRNG(8).Uniform(u, -2, 3)
	for _, v := range u.f64 {
		if v < -2 || v >= 3 {
			t.Fatalf("Uniform value %v outside [-2, 3)", v)
		}
	}
	p := NewRNG(9).Perm(50)
	seen := map[int]bool{}
	for _, v := range p {
		seen[v] = true
	}
	if len(seen) != 50 {
		t.Error("Perm is not a permutation")
	}
	s1, s2 := NewRNG(1).Split(), NewRNG(1).Split()
	if s1.Uint64() != s2.Uint64() {
		t.Error("Split is not deterministic")
	}
}

func TestPoolReuseKeepsShapesClean(t *testing.T) {
	p := NewPool()
	a := Must(p.Get(Float32, 1, 16))
	p.Release()
	b := Must(p.Get(Float32, 16)) // same storage, fewer dimensions
	if b != a {
		t.Fatal("pool did not reuse the tensor")
	}
	if !b.SameShape(Must(New(Float32, 16))) {
		t.Errorf("reused tensor of shape %v is not the same shape as a new [16]", b.Shape())
	}
	v := Must(p.View(b, 4, 4))
	if v.Dim(0) != 4 || p.InUse() != 2 {
		t.Errorf("view %v, in use %d", v.Shape(), p.InUse())
	}
	p.ReleaseTo(1)
	if p.InUse() != 1 {
		t.Errorf("ReleaseTo(1) left %d in use", p.InUse())
	}
	p.Release()
	if p.InUse() != 0 {
		t.Error("Release left tensors in use")
	}
}
