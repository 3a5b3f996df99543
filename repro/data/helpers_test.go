package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// idxBytes encodes an IDX file of unsigned bytes.
func idxBytes(magic uint32, dims []int, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// tinyImages returns n images of h*w pixels with a recognisable pattern
// and labels i%classes.
func tinyImages(n, c, h, w, classes int) (pix, labels []byte) {
	pix = make([]byte, n*c*h*w)
	for i := range pix {
		pix[i] = byte(i*7 + i/13)
	}
	labels = make([]byte, n)
	for i := range labels {
		labels[i] = byte((i + i/7) % classes)
	}
	return pix, labels
}

// tinyIDX writes a FashionMNIST-like data set of 4x3 images (train n,
// test n/2) into dir, gzip-compressed, and returns its spec with the
// payload sums filled in.
func tinyIDX(t testing.TB, dir string, n int) *Spec {
	t.Helper()
	s := &Spec{Name: "tiny-idx", Format: IDX, Classes: []string{"a", "b", "c"}, C: 1, H: 4, W: 3, BaseURL: "http://invalid.example/"}
	for _, sp := range []struct {
		name string
		n    int
	}{{"train", n}, {"test", n / 2}} {
		pix, labels := tinyImages(sp.n, 1, 4, 3, 3)
		img := idxBytes(IDXImagesMagic, []int{sp.n, 4, 3}, pix)
		lab := idxBytes(IDXLabelsMagic, []int{sp.n}, labels)
		files := []File{
			{Name: sp.name + "-images-idx3-ubyte.gz", Records: sp.n, MD5: md5hex(img)},
			{Name: sp.name + "-labels-idx1-ubyte.gz", Records: sp.n, MD5: md5hex(lab)},
		}
		for i, payload := range [][]byte{img, lab} {
			gz := gzipBytes(payload)
			files[i].DownloadMD5 = []string{"00000000000000000000000000000000"}
			if dir != "" {
				if err := os.WriteFile(filepath.Join(dir, files[i].Name), gz, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		s.Splits = append(s.Splits, Split{Name: sp.name, N: sp.n, Files: files})
	}
	return s
}

// cifarBytes returns n CIFAR-10 records with labels i%10 shifted by seed.
func cifarBytes(n, seed int) []byte {
	b := make([]byte, n*CIFARRecordBytes)
	for i := range n {
		r := b[i*CIFARRecordBytes:]
		r[0] = byte((i + seed) % 10)
		for j := 1; j < CIFARRecordBytes; j++ {
			r[j] = byte(i*31 + j*seed + j/5)
		}
	}
	return b
}

// tinyCIFAR writes a CIFAR-10-like data set (two train batches and a test
// batch of per records each) into dir and returns its spec.
func tinyCIFAR(t testing.TB, dir string, per int) *Spec {
	t.Helper()
	s := CIFAR10()
	s.Name = "tiny-cifar"
	s.Splits = nil
	for _, sp := range []struct {
		name  string
		files []string
	}{{"train", []string{"data_batch_1.bin", "data_batch_2.bin"}}, {"test", []string{"test_batch.bin"}}} {
		split := Split{Name: sp.name}
		for k, name := range sp.files {
			b := cifarBytes(per, len(s.Splits)*10+k+1)
			if dir != "" {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			split.Files = append(split.Files, File{Name: name, Records: per, MD5: md5hex(b)})
			split.N += per
		}
		s.Splits = append(s.Splits, split)
	}
	return s
}
