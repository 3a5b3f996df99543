package data

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Format is the on-disk encoding of a data set's files.
type Format int

// The formats.
const (
	// IDX is LeCun's format of MNIST and FashionMNIST: one file of
	// images and one of labels per split, gzip-compressed or raw.
	IDX Format = iota + 1
	// CIFARBinary is the binary version of CIFAR-10: files of 3,073-byte
	// records, a label byte then the red, green and blue planes.
	CIFARBinary
)

func (f Format) String() string {
	switch f {
	case IDX:
		return "IDX"
	case CIFARBinary:
		return "CIFAR binary"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// File is one file of a split as it is distributed.
type File struct {
	// Name is the file's name in its directory and, for data sets
	// downloaded file by file, relative to the base URL.
	Name string
	// Records is the number of images (or labels) it holds.
	Records int
	// MD5 is the sum of the payload: the decompressed bytes of an IDX
	// file (so that any recompression, such as Debian's, verifies), the
	// file itself for CIFAR-10.
	MD5 string
	// DownloadMD5 lists accepted sums of the file as distributed when it
	// differs from the payload (the upstream .gz files); a file matching
	// one of them verifies too.
	DownloadMD5 []string
}

// Split is a part of a data set (train, test). For IDX, Files holds the
// images file then the labels file; for CIFAR-10, the batches in order.
type Split struct {
	Name  string
	Files []File
	N     int // images in the split
}

// Archive is a tarball holding a data set's files, for data sets
// distributed that way (CIFAR-10).
type Archive struct {
	Name   string // relative to the base URL
	MD5    string // of the tarball; empty: only its members are checked
	Prefix string // directory of the members inside the tarball
}

// Spec describes a data set completely enough to find, fetch, check and
// decode it. The catalog's specs come from FashionMNIST and CIFAR10;
// tests build smaller ones with the same fields.
type Spec struct {
	Name    string // also the subdirectory under $FLATFAST_DATA
	Format  Format
	Classes []string
	C, H, W int
	// Norm is what Load normalises with.
	Norm   Norm
	Splits []Split
	// BaseURL is the upstream location; Get's mirror option replaces it.
	BaseURL string
	// Archive, when set, is downloaded and unpacked instead of fetching
	// the files one by one.
	Archive *Archive
	// SystemDirs are read-only install locations, tried after
	// $FLATFAST_DATA and before the user cache.
	SystemDirs []string
}

// EnvVar names the environment variable holding the root of the data
// directories: data set <name> is looked for in $FLATFAST_DATA/<name>.
const EnvVar = "FLATFAST_DATA"

// FashionMNISTNorm and CIFAR10Norm are the per-channel means and standard
// deviations of the training sets' pixels on the [0, 1] scale (computed
// over all training pixels; the population standard deviation). They are
// what Load subtracts and divides by, so inputs have mean 0 and standard
// deviation 1 per channel on the training set.
var (
	FashionMNISTNorm = Norm{Mean: []float64{0.2860}, Std: []float64{0.3530}}
	CIFAR10Norm      = Norm{Mean: []float64{0.4914, 0.4822, 0.4465}, Std: []float64{0.2470, 0.2435, 0.2616}}
)

// FashionMNIST returns the spec of Zalando's FashionMNIST: 60,000
// training and 10,000 test images, 28x28 grey, 10 classes, downloaded
// from the upstream S3 site, or installed by Debian's
// dataset-fashion-mnist package. Each call returns a fresh copy.
func FashionMNIST() *Spec {
	return &Spec{
		Name:    "fashion-mnist",
		Format:  IDX,
		Classes: []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
		C:       1, H: 28, W: 28,
		Norm: FashionMNISTNorm.clone(),
		Splits: []Split{
			{Name: "train", N: 60000, Files: []File{
				{Name: "train-images-idx3-ubyte.gz", Records: 60000, MD5: "f4a8712d7a061bf5bd6d2ca38dc4d50a", DownloadMD5: []string{"8d4fb7e6c68d591d4c3dfef9ec88bf0d"}},
				{Name: "train-labels-idx1-ubyte.gz", Records: 60000, MD5: "9018921c3c673c538a1fc5bad174d6f9", DownloadMD5: []string{"25c81989df183df01b3e8a0aad5dffbe"}},
			}},
			{Name: "test", N: 10000, Files: []File{
				{Name: "t10k-images-idx3-ubyte.gz", Records: 10000, MD5: "8181f5470baa50b63fa0f6fddb340f0a", DownloadMD5: []string{"bef4ecab320f06d8554ea6380940ec79"}},
				{Name: "t10k-labels-idx1-ubyte.gz", Records: 10000, MD5: "15d484375f8d13e6eb1aabb0c3f46965", DownloadMD5: []string{"bb300cfdad3c16e7a12a480ee83cd310"}},
			}},
		},
		BaseURL:    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
		SystemDirs: []string{"/usr/share/datasets/fashion-mnist"},
	}
}

// CIFAR10 returns the spec of CIFAR-10 (Krizhevsky, 2009), binary
// version: 50,000 training images in five batches and 10,000 test
// images, 32x32 RGB, 10 classes, from the author's site as
// cifar-10-binary.tar.gz. Each call returns a fresh copy.
func CIFAR10() *Spec {
	batch := func(name, sum string) File { return File{Name: name, Records: 10000, MD5: sum} }
	return &Spec{
		Name:    "cifar10",
		Format:  CIFARBinary,
		Classes: []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"},
		C:       3, H: 32, W: 32,
		Norm: CIFAR10Norm.clone(),
		Splits: []Split{
			{Name: "train", N: 50000, Files: []File{
				batch("data_batch_1.bin", "5dd7e06a14cb22eb9f671a540d1b7c25"),
				batch("data_batch_2.bin", "5ea93a67294ea407fff1d09f752e9692"),
				batch("data_batch_3.bin", "942cd6a4bcdd0dd3c604fbe906cb4421"),
				batch("data_batch_4.bin", "ae636b3ba5c66a11e91e8cb52e771fcb"),
				batch("data_batch_5.bin", "53f37980c15c3d472c316c40844f3f0d"),
			}},
			{Name: "test", N: 10000, Files: []File{batch("test_batch.bin", "803d5f7f4d78ea53de84dbe85f74fb6d")}},
		},
		BaseURL: "https://www.cs.toronto.edu/~kriz/",
		Archive: &Archive{Name: "cifar-10-binary.tar.gz", Prefix: "cifar-10-batches-bin/"},
	}
}

// Lookup returns the catalog's spec of the named data set.
func Lookup(name string) (*Spec, error) {
	switch name {
	case "fashion-mnist":
		return FashionMNIST(), nil
	case "cifar10":
		return CIFAR10(), nil
	}
	return nil, fmt.Errorf("data: unknown data set %q (want %s)", name, strings.Join(Names(), " or "))
}

// Names lists the catalog's data sets.
func Names() []string { return []string{"fashion-mnist", "cifar10"} }

// Split returns the named split.
func (s *Spec) Split(name string) (*Split, error) {
	var names []string
	for i := range s.Splits {
		if s.Splits[i].Name == name {
			return &s.Splits[i], nil
		}
		names = append(names, s.Splits[i].Name)
	}
	return nil, fmt.Errorf("data: %s has no split %q (want %s)", s.Name, name, strings.Join(names, " or "))
}

// check catches a spec that cannot describe a readable data set, so that
// a hand-made spec fails with a message instead of deep in a decoder.
func (s *Spec) check() error {
	if s.C < 1 || s.H < 1 || s.W < 1 || len(s.Classes) < 1 || len(s.Classes) > 256 {
		return fmt.Errorf("data: spec %q: want positive image dimensions and 1-256 classes, got %dx%dx%d and %d classes", s.Name, s.C, s.H, s.W, len(s.Classes))
	}
	if s.Format == CIFARBinary && (s.C != 3 || s.H != 32 || s.W != 32) {
		return fmt.Errorf("data: spec %q: CIFAR binary records are 3x32x32, got %dx%dx%d", s.Name, s.C, s.H, s.W)
	}
	for _, sp := range s.Splits {
		n := 0
		for _, f := range sp.Files {
			n += f.Records
		}
		if s.Format == IDX {
			if len(sp.Files) != 2 || sp.Files[0].Records != sp.N || sp.Files[1].Records != sp.N {
				return fmt.Errorf("data: spec %q split %q: IDX wants an images and a labels file of %d records each", s.Name, sp.Name, sp.N)
			}
		} else if n != sp.N {
			return fmt.Errorf("data: spec %q split %q: files hold %d records, split says %d", s.Name, sp.Name, n, sp.N)
		}
	}
	return nil
}

// candidates lists the directories Dir tries, in order.
func (s *Spec) candidates() []string {
	var c []string
	if root := os.Getenv(EnvVar); root != "" {
		c = append(c, filepath.Join(root, s.Name))
	}
	c = append(c, s.SystemDirs...)
	if cache, err := os.UserCacheDir(); err == nil {
		c = append(c, filepath.Join(cache, "flatfast", s.Name))
	}
	return c
}

// ErrNotFound is wrapped by Dir's error when no candidate directory
// exists.
var ErrNotFound = errors.New("data set not found")

// Dir returns the directory to read the data set from: dir itself when
// non-empty (an explicit flag wins, without fallback, so a typo is an
// error rather than another copy of the data), otherwise the first
// existing one of $FLATFAST_DATA/<name>, the spec's system directories
// and os.UserCacheDir()/flatfast/<name>.
func (s *Spec) Dir(dir string) (string, error) {
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return "", fmt.Errorf("data: %s directory: %w", s.Name, err)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("data: %s directory %s is not a directory", s.Name, dir)
		}
		return dir, nil
	}
	c := s.candidates()
	for _, d := range c {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, nil
		}
	}
	return "", fmt.Errorf("data: %s: %w in %s (set %s, pass a directory, or run 'flatfast data get %s')", s.Name, ErrNotFound, strings.Join(c, ", "), EnvVar, s.Name)
}

// DownloadDir returns where Get writes when given no directory:
// $FLATFAST_DATA/<name>, else os.UserCacheDir()/flatfast/<name> (never a
// system directory, which belongs to the package manager).
func (s *Spec) DownloadDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if root := os.Getenv(EnvVar); root != "" {
		return filepath.Join(root, s.Name), nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("data: no directory for %s: set %s or pass one (%v)", s.Name, EnvVar, err)
	}
	return filepath.Join(cache, "flatfast", s.Name), nil
}

// locate finds a file of the spec in dir: under its own name, without a
// .gz suffix (an IDX file someone decompressed), or inside the archive's
// directory (a tarball unpacked by hand).
func (s *Spec) locate(dir string, f File) (string, error) {
	names := []string{f.Name}
	if base, ok := strings.CutSuffix(f.Name, ".gz"); ok {
		names = append(names, base)
	}
	if s.Archive != nil && s.Archive.Prefix != "" {
		names = append(names, filepath.Join(s.Archive.Prefix, f.Name))
	}
	for _, n := range names {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("data: %s: no %s in %s (looked for %s): %w", s.Name, f.Name, dir, strings.Join(names, ", "), os.ErrNotExist)
}
