package data

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The seeds are the synthetic files under testdata plus hand-made edge
// cases; `go test` runs them, `go test -fuzz` grows from them.

func FuzzDecodeIDX(f *testing.F) {
	for _, name := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "test-images-idx3-ubyte.gz"} {
		b, err := os.ReadFile(filepath.Join("testdata", "tiny-idx", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if raw, err := gunzip(b); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b})
	f.Add(idxBytes(IDXImagesMagic, []int{1, 1, 1}, []byte{9}))
	f.Add(idxBytes(IDXImagesMagic, []int{0xffffffff, 2, 2}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, magic := range []uint32{IDXImagesMagic, IDXLabelsMagic} {
			x, err := DecodeIDX(bytes.NewReader(b), "fuzz", magic)
			if err != nil {
				continue
			}
			n := 1
			for _, d := range x.Dims {
				if d < 1 {
					t.Fatalf("accepted dimension %d", d)
				}
				n *= d
			}
			if n != len(x.Data) || len(x.Dims) != int(magic&0xff) {
				t.Fatalf("dims %v but %d bytes", x.Dims, len(x.Data))
			}
		}
	})
}

func FuzzDecodeCIFAR10(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "tiny-cifar", "test_batch.bin"))
	if err != nil {
		f.Fatal(err)
	}
	// Whole files are 12 KB; two records keep the mutator's inputs small
	// enough to run fast.
	f.Add(b[:2*CIFARRecordBytes], 0)
	f.Add(b[:CIFARRecordBytes], 1)
	f.Add(b[:CIFARRecordBytes+1], 0)
	f.Add([]byte{10}, 1)
	f.Fuzz(func(t *testing.T, b []byte, records int) {
		labels, pix, err := DecodeCIFAR10(b, "fuzz", records%8, nil, nil)
		if err != nil {
			return
		}
		n := len(b) / CIFARRecordBytes
		if len(labels) != n || len(pix) != n*CIFARImageBytes || len(b)%CIFARRecordBytes != 0 {
			t.Fatalf("%d bytes gave %d labels, %d pixels", len(b), len(labels), len(pix))
		}
		for i, l := range labels {
			if l > 9 || l != b[i*CIFARRecordBytes] {
				t.Fatalf("record %d: label %d", i, l)
			}
		}
		if err := checkCIFAR10(b, "fuzz", n); err != nil {
			t.Fatalf("decoded %d records that do not check: %v", n, err)
		}
	})
}
