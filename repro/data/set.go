package data

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/flatfast/flatfast/tensor"
)

// Norm is a per-channel normalisation of pixels already scaled to
// [0, 1]: x -> (x - Mean[c]) / Std[c]. The zero Norm only scales, so
// images stay in [0, 1].
type Norm struct {
	Mean, Std []float64
}

func (n Norm) clone() Norm {
	return Norm{Mean: append([]float64(nil), n.Mean...), Std: append([]float64(nil), n.Std...)}
}

func (n Norm) check(c int) error {
	if len(n.Mean) == 0 && len(n.Std) == 0 {
		return nil
	}
	if len(n.Mean) != c || len(n.Std) != c {
		return fmt.Errorf("data: normalisation with %d means and %d standard deviations for %d channels", len(n.Mean), len(n.Std), c)
	}
	for i := range c {
		if !(n.Std[i] > 0) || math.IsInf(n.Std[i], 0) || math.IsNaN(n.Mean[i]) || math.IsInf(n.Mean[i], 0) {
			return fmt.Errorf("data: normalisation of channel %d: mean %v, std %v: want finite values and std > 0", i, n.Mean[i], n.Std[i])
		}
	}
	return nil
}

// Raw is a decoded data set split before conversion to floats: the bytes
// as the files hold them, NCHW, so a caller can normalise differently or
// count classes without 4 bytes per pixel.
type Raw struct {
	Name       string
	N, C, H, W int
	Pix        []byte // N*C*H*W
	Labels     []byte // N, each < Classes
	Classes    int
}

// ClassCounts returns the number of images of each class.
func (r *Raw) ClassCounts() []int {
	return countClasses(r.Classes, r.N, func(i int) int { return int(r.Labels[i]) })
}

func countClasses(classes, n int, label func(int) int) []int {
	c := make([]int, classes)
	for i := range n {
		c[label(i)]++
	}
	return c
}

// Set is a labelled data set in memory, ready for a model: X holds
// float32 images [N, C, H, W] (or [N, D] after Flattened), Labels the
// classes.
type Set struct {
	Name    string
	X       *tensor.Tensor
	Labels  []int
	Classes int
}

// Len returns the number of samples.
func (s *Set) Len() int { return len(s.Labels) }

// ClassCounts returns the number of samples of each class.
func (s *Set) ClassCounts() []int {
	return countClasses(s.Classes, len(s.Labels), func(i int) int { return s.Labels[i] })
}

// Set converts the images to float32 in [0, 1], normalised by norm, in
// a fixed partition over goroutines: the values do not depend on how
// many run, and 50,000 CIFAR-10 images convert in a fraction of a second.
func (r *Raw) Set(norm Norm) (*Set, error) {
	if err := norm.check(r.C); err != nil {
		return nil, err
	}
	plane := r.H * r.W
	if r.N < 1 || r.C < 1 || plane < 1 || len(r.Pix) != r.N*r.C*plane || len(r.Labels) != r.N {
		return nil, fmt.Errorf("data: %s: %d pixels and %d labels for %d images of %dx%dx%d", r.Name, len(r.Pix), len(r.Labels), r.N, r.C, r.H, r.W)
	}
	x, err := newImages(r.N, r.C, r.H, r.W)
	if err != nil {
		return nil, err
	}
	convert(x.Float32s(), r.Pix, r.N, r.C*plane, 0, r.C, plane, luts(norm, r.C))
	labels := make([]int, r.N)
	for i, l := range r.Labels {
		if int(l) >= r.Classes {
			return nil, fmt.Errorf("data: %s: image %d has label %d, want below %d", r.Name, i, l, r.Classes)
		}
		labels[i] = int(l)
	}
	return &Set{Name: r.Name, X: x, Labels: labels, Classes: r.Classes}, nil
}

// newImages allocates an [n, c, h, w] float32 tensor. (Advising huge
// pages for it was tried, to save the page faults of a fresh 600 MB
// tensor; inside the Go heap it made loading slower, not faster.)
func newImages(n, c, h, w int) (*tensor.Tensor, error) {
	return tensor.New(tensor.Float32, n, c, h, w)
}

// luts returns one table per channel: the conversion is then a lookup
// per byte, and the result is exactly float32((b/255 - mean)/std)
// computed in float64, whatever the order of the work.
func luts(norm Norm, c int) [][256]float32 {
	lut := make([][256]float32, c)
	for ch := range c {
		for b := range 256 {
			v := float64(b) / 255
			if len(norm.Mean) > 0 {
				v = (v - norm.Mean[ch]) / norm.Std[ch]
			}
			lut[ch][b] = float32(v)
		}
	}
	return lut
}

// convert writes n images of c planes into dst (NCHW) from src, where
// image i's planes start at src[i*stride+off]: the stride and offset let
// it read CIFAR-10 records in place, skipping their label bytes. The
// images are split over goroutines in a fixed partition; each value
// depends only on its byte.
func convert(dst []float32, src []byte, n, stride, off, c, plane int, lut [][256]float32) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n*c*plane/(1<<20)))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				img := src[i*stride+off : i*stride+off+c*plane]
				out := dst[i*c*plane : (i+1)*c*plane]
				for ch := range c {
					t := &lut[ch]
					d, s := out[ch*plane:(ch+1)*plane], img[ch*plane:(ch+1)*plane]
					d = d[:len(s)]
					for k, b := range s {
						d[k] = t[b]
					}
				}
			}
		}()
	}
	wg.Wait()
}

// Flattened returns the set with each image as one row, [N, C*H*W], for
// an MLP; it shares X's storage.
func (s *Set) Flattened() *Set {
	x, err := s.X.Reshape(s.Len(), -1)
	if err != nil {
		panic(fmt.Sprintf("data: flattening %v: %v", s.X.Shape(), err)) // N rows of X by construction
	}
	return &Set{Name: s.Name, X: x, Labels: s.Labels, Classes: s.Classes}
}

// Subset returns a copy of the samples at idx, in that order.
func (s *Set) Subset(idx []int) (*Set, error) {
	if len(idx) == 0 {
		return nil, fmt.Errorf("data: empty subset of %s", s.Name)
	}
	shape := append([]int(nil), s.X.Shape()...)
	shape[0] = len(idx)
	x, err := tensor.New(s.X.DType(), shape...)
	if err != nil {
		return nil, err
	}
	inner := s.X.Len() / max(1, s.Len())
	labels := make([]int, len(idx))
	for k, i := range idx {
		if i < 0 || i >= s.Len() {
			return nil, fmt.Errorf("data: subset index %d (position %d) outside %s's %d samples", i, k, s.Name, s.Len())
		}
		copyRow(x, k, s.X, i, inner)
		labels[k] = s.Labels[i]
	}
	return &Set{Name: s.Name, X: x, Labels: labels, Classes: s.Classes}, nil
}

// copyRow copies sample i of src into slot k of dst.
func copyRow(dst *tensor.Tensor, k int, src *tensor.Tensor, i, inner int) {
	if src.DType() == tensor.Float32 {
		copy(dst.Float32s()[k*inner:(k+1)*inner], src.Float32s()[i*inner:(i+1)*inner])
	} else {
		copy(dst.Float64s()[k*inner:(k+1)*inner], src.Float64s()[i*inner:(i+1)*inner])
	}
}

// Balanced returns the first k samples of each class, in the set's
// order: a class-balanced subset that depends on nothing but k, so a
// CPU-sized preset trains on the same images every time and everywhere.
// A class with fewer than k samples is an error.
func (s *Set) Balanced(k int) (*Set, error) {
	if k < 1 {
		return nil, fmt.Errorf("data: balanced subset of %d per class, want at least 1", k)
	}
	taken := make([]int, s.Classes)
	idx := make([]int, 0, k*s.Classes)
	for i, c := range s.Labels {
		if taken[c] < k {
			taken[c]++
			idx = append(idx, i)
		}
	}
	for c, n := range taken {
		if n < k {
			return nil, fmt.Errorf("data: %s has %d samples of class %d, want %d for a balanced subset", s.Name, n, c, k)
		}
	}
	sub, err := s.Subset(idx)
	if err != nil {
		return nil, err
	}
	sub.Name = fmt.Sprintf("%s[%d per class]", s.Name, k)
	return sub, nil
}
