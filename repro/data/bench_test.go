package data

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDecodeCIFAR10 loads the 50,000 CIFAR-10 training images (read,
// check, convert to normalised float32): the real files when
// $FLATFAST_DATA/cifar10 holds them, otherwise five synthetic batches of
// the same size.
func BenchmarkDecodeCIFAR10(b *testing.B) {
	s := CIFAR10()
	dir := ""
	if root := os.Getenv(EnvVar); root != "" {
		dir = filepath.Join(root, "cifar10")
		if _, err := s.locate(dir, s.Splits[0].Files[0]); err != nil {
			dir = ""
		}
	}
	if dir == "" {
		dir = b.TempDir()
		for k, f := range s.Splits[0].Files {
			data := cifarBytes(f.Records, k+1)
			if err := os.WriteFile(filepath.Join(dir, f.Name), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("synthetic batches (set %s to time the real files)", EnvVar)
	}
	b.SetBytes(int64(50000 * CIFARRecordBytes))
	b.ReportAllocs()
	for b.Loop() {
		set, err := Load(s, dir, "train")
		if err != nil {
			b.Fatal(err)
		}
		if set.Len() != 50000 {
			b.Fatalf("%d images", set.Len())
		}
	}
}
