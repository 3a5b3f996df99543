package data

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// realDir returns the directory of a real data set, or skips the test
// saying how to provide it.
func realDir(t *testing.T, s *Spec) string {
	t.Helper()
	var dir string
	switch s.Name {
	case "cifar10":
		root := os.Getenv(EnvVar)
		if root == "" {
			t.Skipf("real CIFAR-10 not tested: set %s to a directory holding cifar10/ (flatfast data get cifar10)", EnvVar)
		}
		dir = filepath.Join(root, "cifar10")
	default:
		dir = s.SystemDirs[0]
	}
	if _, err := s.locate(dir, s.Splits[0].Files[0]); err != nil {
		t.Skipf("real %s not tested: %v (install dataset-fashion-mnist, or run flatfast data get %s)", s.Name, err, s.Name)
	}
	return dir
}

func TestRealFashionMNIST(t *testing.T) {
	s := FashionMNIST()
	dir := realDir(t, s)
	reps, err := Verify(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"train": 6000, "test": 1000}
	for _, r := range reps {
		for c, n := range r.ClassCounts {
			if n != want[r.Split] {
				t.Errorf("%s: class %d has %d images, want %d", r.Split, c, n, want[r.Split])
			}
		}
	}
	if len(reps) != 2 {
		t.Fatalf("%d splits verified, want 2", len(reps))
	}
	for _, split := range []string{"train", "test"} {
		set, err := Load(s, dir, split)
		if err != nil {
			t.Fatal(err)
		}
		if got := set.X.Shape(); !slices.Equal(got, []int{set.Len(), 1, 28, 28}) || set.Len() != want[split]*10 {
			t.Errorf("%s: shape %v, want [%d 1 28 28]", split, got, want[split]*10)
		}
		if split == "train" {
			checkNormalised(t, set)
		}
	}
}

func TestRealCIFAR10(t *testing.T) {
	s := CIFAR10()
	dir := realDir(t, s)
	test, err := LoadRaw(s, dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := test.Labels[:10], []byte{3, 8, 8, 0, 6, 6, 1, 6, 3, 1}; !slices.Equal(got, want) {
		t.Errorf("first test labels %v, want %v", got, want)
	}
	train, err := LoadRaw(s, dir, "train")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := train.Pix[:3], []byte{59, 43, 50}; !slices.Equal(got, want) {
		t.Errorf("first red bytes of data_batch_1: %v, want %v", got, want)
	}
	b1 := &Raw{N: 10000, Labels: train.Labels[:10000], Classes: 10}
	if got, want := b1.ClassCounts(), []int{1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981}; !slices.Equal(got, want) {
		t.Errorf("data_batch_1 class counts %v, want %v", got, want)
	}
	for c, n := range train.ClassCounts() {
		if n != 5000 {
			t.Errorf("train class %d: %d images, want 5000", c, n)
		}
	}
	set, err := train.Set(s.Norm)
	if err != nil {
		t.Fatal(err)
	}
	checkNormalised(t, set)
	if testing.Short() {
		return
	}
	reps, err := Verify(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || reps[0].N != 50000 || reps[1].N != 10000 {
		t.Errorf("verified %+v, want train 50000 and test 10000", reps)
	}
}

// checkNormalised checks that the documented normalisation gives each
// channel of a training set mean 0 and standard deviation 1 (to the four
// digits the constants carry).
func checkNormalised(t *testing.T, s *Set) {
	t.Helper()
	x := s.X.Float32s()
	c := s.X.Dim(1)
	plane := s.X.Dim(2) * s.X.Dim(3)
	for ch := range c {
		var sum, sq float64
		for i := range s.Len() {
			for _, v := range x[(i*c+ch)*plane : (i*c+ch+1)*plane] {
				sum += float64(v)
				sq += float64(v) * float64(v)
			}
		}
		n := float64(s.Len() * plane)
		mean := sum / n
		std := math.Sqrt(sq/n - mean*mean)
		t.Logf("%s channel %d after normalisation: mean %.5f, std %.5f", s.Name, ch, mean, std)
		if math.Abs(mean) > 1e-3 || math.Abs(std-1) > 1e-3 {
			t.Errorf("%s channel %d: mean %.5f, std %.5f after normalisation, want 0 and 1", s.Name, ch, mean, std)
		}
	}
}
