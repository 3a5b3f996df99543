package tensor

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flatfast/flatfast/internal/badinput"
)

// mustFail runs f, which stands for one call of the public API with bad
// input, and fails the test unless it returns an error wrapping want (nil:
// any error) without panicking.
func mustFail(t *testing.T, want error, f func() error) {
	t.Helper()
	if err := badinput.Err(t, f); want != nil && !errors.Is(err, want) {
		t.Fatalf("error %q does not wrap %q", err, want)
	}
}

var nineDims = []int{1, 1, 1, 1, 1, 1, 1, 1, 2}

// withAllocLimit runs f with the memory the package believes the machine
// has set to bytes.
func withAllocLimit(bytes int64, f func()) {
	old := allocLimit
	allocLimit = func() int64 { return bytes }
	defer func() { allocLimit = old }()
	f()
}

func TestBadInputReturnsError(t *testing.T) {
	a := Must(New(Float32, 2, 3))
	empty := Must(New(Float64, 0, 3))
	cases := []struct {
		name string
		want error
		f    func() error
	}{
		{"Scalar of an unknown dtype", ErrDType, func() error { _, err := Scalar(DType(9), 1); return err }},
		{"As an unknown dtype", ErrDType, func() error { _, err := a.As(DType(9)); return err }},
		{"Conv2d with a nil input", ErrShape, func() error { _, err := Conv2d(nil, nil, a, 1, 0); return err }},
		{"Conv2d with a nil kernel", ErrShape, func() error { _, err := Conv2d(nil, a, nil, 1, 0); return err }},
		{"Conv2dBackwardInput with a nil gradient", ErrShape, func() error { _, err := Conv2dBackwardInput(nil, nil, a, 3, 3, 1, 0); return err }},
		{"Conv2dBackwardWeight with a nil input", ErrShape, func() error { _, err := Conv2dBackwardWeight(nil, nil, a, 3, 3, 1, 0); return err }},
		{"Conv2dBackwardWeight with a 2-D input", ErrShape, func() error {
			_, err := Conv2dBackwardWeight(nil, a, Must(New(Float32, 1, 1, 1, 1)), 1, 1, 1, 0)
			return err
		}},
		{"MatMul with a nil operand", ErrShape, func() error { _, err := MatMul(nil, a, nil, false, false); return err }},
		{"BatchMatMul with a nil operand", ErrShape, func() error { _, err := BatchMatMul(nil, nil, a, false, false); return err }},
		{"Pack of a nil matrix", ErrShape, func() error { _, err := Pack(nil, false); return err }},
		{"Full of an unknown dtype", ErrDType, func() error { _, err := Full(DType(9), 1, 2); return err }},
		{"Pool.Get of an unknown dtype", ErrDType, func() error { _, err := NewPool().Get(DType(9), 2); return err }},
		{"BroadcastShape to 9 dimensions (second)", ErrShape, func() error { _, err := BroadcastShape([]int{2}, nineDims); return err }},
		{"BroadcastShape to 9 dimensions (first)", ErrShape, func() error { _, err := BroadcastShape(nineDims, []int{2}); return err }},
		{"BroadcastShape with a negative size", ErrShape, func() error { _, err := BroadcastShape([]int{-3}, []int{1}); return err }},
		{"BroadcastShape with equal negative sizes", ErrShape, func() error { _, err := BroadcastShape([]int{2, -3}, []int{-3}); return err }},
		{"BroadcastDims to 9 dimensions", ErrShape, func() error { _, _, err := BroadcastDims(nineDims, nineDims); return err }},
		{"BroadcastTo 9 dimensions", ErrShape, func() error { _, err := BroadcastTo(nil, a, []int{1, 1, 1, 1, 1, 1, 1, 2, 3}); return err }},
		{"SumTo 9 dimensions", ErrShape, func() error { _, err := SumTo(nil, a, []int{1, 1, 1, 1, 1, 1, 1, 2, 3}); return err }},
		{"SumTo a negative shape", ErrShape, func() error { _, err := SumTo(nil, a, []int{-1, 3}); return err }},
		{"Mean over an empty axis", ErrShape, func() error { _, err := Mean(nil, empty, 0, false); return err }},
		{"Mean over an empty axis, negative index", ErrShape, func() error { _, err := Mean(nil, empty, -2, true); return err }},
		{"Mean over an out-of-range axis", ErrShape, func() error { _, err := Mean(nil, a, 2, false); return err }},
		{"New whose element count overflows int", ErrShape, func() error { _, err := New(Float32, 1<<31, 1<<31, 1<<31); return err }},
		{"New of 2^40 float64 (8 TiB)", ErrShape, func() error { _, err := New(Float64, 1<<20, 1<<20); return err }},
		{"New of more than the machine's memory", ErrShape, func() (err error) {
			withAllocLimit(1<<20, func() { _, err = New(Float32, 1<<19) })
			return err
		}},
		{"Full of more than the machine's memory", ErrShape, func() (err error) {
			withAllocLimit(1<<20, func() { _, err = Full(Float64, 1, 1<<18) })
			return err
		}},
		{"Pool.Get of more than the machine's memory", ErrShape, func() (err error) {
			withAllocLimit(1<<20, func() { _, err = NewPool().Get(Float32, 512, 1024) })
			return err
		}},
		{"CheckSize of a negative count", ErrShape, func() error { return CheckSize(Float32, -1) }},
		{"CheckSize of an unknown dtype", ErrDType, func() error { return CheckSize(DType(7), 1) }},
		{"CheckSize of more than the machine's memory", ErrShape, func() (err error) {
			withAllocLimit(1<<20, func() { err = CheckSize(Float64, 1<<17+1) })
			return err
		}},
		{"Reshape whose element count overflows to zero", ErrShape, func() error { _, err := Must(New(Float32, 0)).Reshape(1<<62, 4); return err }},
		{"Reshape whose element count overflows to the length", ErrShape, func() error {
			_, err := Must(New(Float32, 4)).Reshape(1<<62, 4, 4, 1)
			return err
		}},
		{"Reshape inferring from an overflowing product", ErrShape, func() error { _, err := Must(New(Float32, 0)).Reshape(-1, 1<<62, 4); return err }},
		{"Add with a nil operand", ErrShape, func() error { _, err := Add(nil, a, nil); return err }},
		{"Exp of nil", ErrShape, func() error { _, err := Exp(nil, nil); return err }},
		{"Sum of nil", ErrShape, func() error { _, err := Sum(nil, nil, 0, false); return err }},
		{"Max of nil", ErrShape, func() error { _, err := Max(nil, nil, 0, false); return err }},
		{"ArgMax of nil", ErrShape, func() error { _, err := ArgMax(nil, 0); return err }},
		{"SumTo of nil", ErrShape, func() error { _, err := SumTo(nil, nil, nil); return err }},
		{"BroadcastTo of nil", ErrShape, func() error { _, err := BroadcastTo(nil, nil, []int{2}); return err }},
		{"LogSoftmax of nil", ErrShape, func() error { _, err := LogSoftmax(nil, nil); return err }},
		{"ReLUMask of nil", ErrShape, func() error { _, err := ReLUMask(nil, nil, a); return err }},
		{"Axpy into nil", ErrShape, func() error { return Axpy(1, a, nil) }},
		{"CopyFrom nil", ErrShape, func() error { return a.CopyFrom(nil) }},
		{"Permute of nil", ErrShape, func() error { _, err := Permute(nil, nil, 0); return err }},
		{"Transpose of nil", ErrShape, func() error { _, err := Transpose(nil, nil); return err }},
		{"Concat with a nil tensor", ErrShape, func() error { _, err := Concat(nil, a, nil); return err }},
		{"Split of nil", ErrShape, func() error { _, err := Split(nil, 1); return err }},
		{"MaxPool2d of nil", ErrShape, func() error { _, _, err := MaxPool2d(nil, nil, 2, 2, 0, nil); return err }},
		{"AvgPool2d of nil", ErrShape, func() error { _, err := AvgPool2d(nil, nil, 2, 2, 0); return err }},
		{"AvgPool2dBackward of nil", ErrShape, func() error { _, err := AvgPool2dBackward(nil, nil, []int{1, 1, 2, 2}, 2, 2, 0); return err }},
		{"ScatterAdd of nil", ErrShape, func() error { _, err := ScatterAdd(nil, nil, nil, []int{2}); return err }},
		{"Gather from nil", ErrShape, func() error { _, err := Gather(nil, nil, []int32{0}, []int{1}); return err }},
		{"Pool.View of nil", ErrShape, func() error { _, err := NewPool().View(nil, 1); return err }},
		{"AvgPool2d with padding that overflows 2*pad", ErrShape, func() error {
			_, err := AvgPool2d(nil, Must(New(Float32, 1, 1, 2, 2)), 4, 1, 1<<62)
			return err
		}},
		{"MaxPool2d with a window over the per-tensor limit", ErrShape, func() error {
			_, _, err := MaxPool2d(nil, Must(New(Float32, 1, 1, 2, 2)), 1<<41, 1, 1<<40, nil)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { mustFail(t, c.want, c.f) })
	}
}

// The size errors name the shape, the type and the bytes asked for, so a
// user can tell which setting to lower.
func TestSizeErrorsNameTheSize(t *testing.T) {
	cases := []struct {
		name  string
		f     func() error
		wants []string
	}{
		{"overflow", func() error { _, err := New(Float32, 1<<31, 1<<31, 1<<31); return err }, []string{"[2147483648 2147483648 2147483648]", "float32"}},
		{"over the per-tensor limit", func() error { _, err := New(Float64, 1<<20, 1<<21); return err }, []string{"[1048576 2097152]", "float64", "2199023255552 elements"}},
		{"over the machine's memory", func() (err error) {
			withAllocLimit(1<<20, func() { _, err = New(Float32, 1024, 1024) })
			return err
		}, []string{"[1024 1024]", "float32", "4.0 MiB", "1.0 MiB"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.f()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// Accessors without an error return panic on a bad index, as slices do,
// but the message names the tensor's shape (it used to be the runtime's
// "index out of range [-1]").
func TestAccessorPanicsAreClear(t *testing.T) {
	a := Must(New(Float32, 2, 3))
	cases := []struct {
		name string
		f    func()
		want string
	}{
		{"Dim before the first dimension", func() { a.Dim(-3) }, "Dim(-3) of shape [2 3]"},
		{"Dim far past MaxDims", func() { a.Dim(9) }, "Dim(9) of shape [2 3]"},
		{"Dim past the last dimension", func() { a.Dim(2) }, "Dim(2) of shape [2 3]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				e := recover()
				if e == nil {
					t.Fatal("no panic")
				}
				if !strings.Contains(fmt.Sprint(e), c.want) {
					t.Fatalf("panic %q does not say %q", e, c.want)
				}
			}()
			c.f()
		})
	}
}

// Good input next to the bad: the checks above must not reject these.
func TestEdgeInputsStillWork(t *testing.T) {
	if s, err := Scalar(Float64, 2.5); err != nil || s.Flat(0) != 2.5 || s.Dims() != 0 {
		t.Errorf("Scalar(Float64, 2.5) = %v, %v", s, err)
	}
	a := Must(FromFloat64([]float64{1, 2, 3, 4, 5, 6}, 2, 3))
	if c, err := a.As(Float32); err != nil || c.DType() != Float32 || c.Flat(5) != 6 {
		t.Errorf("As(Float32) = %v, %v", c, err)
	}
	if c, err := a.As(Float64); err != nil || c != a {
		t.Errorf("As its own dtype = %v, %v; want a itself", c, err)
	}
	eight := []int{1, 1, 1, 1, 1, 1, 2, 3}
	if s, err := BroadcastShape(eight, []int{3}); err != nil || len(s) != 8 {
		t.Errorf("BroadcastShape to 8 dimensions = %v, %v", s, err)
	}
	if _, err := BroadcastTo(nil, a, eight); err != nil {
		t.Errorf("BroadcastTo 8 dimensions: %v", err)
	}
	m, err := Mean(nil, Must(New(Float64, 0, 3)), 1, false)
	if err != nil || m.Len() != 0 {
		t.Errorf("Mean over a full axis of an empty tensor = %v, %v; want an empty result", m, err)
	}
	if d := a.Dim(-1); d != 3 {
		t.Errorf("Dim(-1) = %d", d)
	}
	if v, err := Must(New(Float32, 0)).Reshape(0, 1<<40); err != nil || v.Len() != 0 {
		t.Errorf("Reshape of nothing to [0 2^40] = %v, %v", v, err)
	}
	if err := CheckSize(Float32, 0); err != nil {
		t.Errorf("CheckSize of nothing: %v", err)
	}
}

// A window far larger than its input is valid when padded by half of it;
// pooling used to loop over all k*k positions of it (2^80 here, for ever).
func TestHugePoolingWindowsFinish(t *testing.T) {
	x := Must(FromFloat64([]float64{3}, 1, 1, 1, 1))
	const k, pad = 1 << 40, 1 << 39
	t.Run("MaxPool2d", func(t *testing.T) {
		y, idx, err := MaxPool2d(nil, x, k, 1, pad, nil)
		if err != nil || y.Len() != 4 || y.Flat(0) != 3 || idx[3] != 0 {
			t.Fatalf("MaxPool2d = %v, %v, %v", y, idx, err)
		}
	})
	t.Run("AvgPool2d", func(t *testing.T) {
		y, err := AvgPool2d(nil, x, k, 1, pad)
		if want := 3.0 / (float64(k) * float64(k)); err != nil || y.Len() != 4 || y.Flat(0) != want {
			t.Fatalf("AvgPool2d = %v, %v; want %v everywhere", y, err, want)
		}
	})
	t.Run("AvgPool2dBackward", func(t *testing.T) {
		gy := Must(Full(Float64, 1, 1, 1, 2, 2))
		gx, err := AvgPool2dBackward(nil, gy, []int{1, 1, 1, 1}, k, 1, pad)
		if want := 4.0 / (float64(k) * float64(k)); err != nil || gx.Flat(0) != want {
			t.Fatalf("AvgPool2dBackward = %v, %v; want %v", gx, err, want)
		}
	})
}
