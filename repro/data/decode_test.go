package data

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the synthetic files under testdata")

// The synthetic data sets under testdata: 12 training and 6 test images
// of 4x3 pixels in IDX, 2x4 training and 4 test records of CIFAR-10.
const (
	tinyIDXImages   = 12
	tinyCIFARRecord = 4
)

func testdataSpecs(t *testing.T) (idx, cifar *Spec) {
	t.Helper()
	idxDir, cifarDir := "", ""
	if *update {
		idxDir, cifarDir = filepath.Join("testdata", "tiny-idx"), filepath.Join("testdata", "tiny-cifar")
		for _, d := range []string{idxDir, cifarDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tinyIDX(t, idxDir, tinyIDXImages), tinyCIFAR(t, cifarDir, tinyCIFARRecord)
}

func TestTestdataVerifies(t *testing.T) {
	idx, cifar := testdataSpecs(t)
	for _, c := range []struct {
		s   *Spec
		dir string
	}{{idx, "testdata/tiny-idx"}, {cifar, "testdata/tiny-cifar"}} {
		reps, err := Verify(c.s, c.dir)
		if err != nil {
			t.Fatalf("%s: %v", c.dir, err)
		}
		if len(reps) != 2 || reps[0].N+reps[1].N != c.s.Splits[0].N+c.s.Splits[1].N {
			t.Errorf("%s: reports %+v", c.dir, reps)
		}
	}
}

func TestDecodeIDX(t *testing.T) {
	pix, _ := tinyImages(3, 1, 2, 2, 3)
	good := idxBytes(IDXImagesMagic, []int{3, 2, 2}, pix)
	badCRC := gzipBytes(good)
	badCRC[len(badCRC)-6] ^= 0xff
	cases := []struct {
		name string
		in   []byte
		want string // substring of the error; "" for success
	}{
		{"raw", good, ""},
		{"gzip", gzipBytes(good), ""},
		{"empty", nil, "0 of 4 magic bytes"},
		{"labels magic for images", idxBytes(IDXLabelsMagic, []int{3}, pix[:3]), "magic at byte 0 is 0x00000801, want 0x00000803"},
		{"header cut in a dimension", good[:9], "dimension 2 of 3 at byte 8: got 1 of 4 bytes"},
		{"zero dimension", idxBytes(IDXImagesMagic, []int{3, 0, 2}, nil), "dimension 2 (at byte 8) is 0"},
		{"huge dimensions", idxBytes(IDXImagesMagic, []int{1 << 30, 1 << 30, 1 << 30}, nil), "at most"},
		{"truncated", good[:16+9], "truncated at byte 25: record 3 of 3 is incomplete (1 of 4 bytes)"},
		{"truncated gzip payload", gzipBytes(good[:16+5]), "truncated at decompressed byte 21: record 2 of 3"},
		{"trailing byte", append(slices.Clone(good), 0), "extra data at byte 28"},
		{"gzip checksum", badCRC, "checksum"},
		{"gzip cut", gzipBytes(good)[:20], "unexpected EOF"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := DecodeIDX(bytes.NewReader(c.in), "x.idx", IDXImagesMagic)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(f.Dims, []int{3, 2, 2}) || !bytes.Equal(f.Data, pix) {
					t.Errorf("decoded %v %v, want [3 2 2] %v", f.Dims, f.Data, pix)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x.idx: ") {
				t.Errorf("error %v, want one starting with the file name and containing %q", err, c.want)
			}
		})
	}
}

func TestDecodeCIFAR10(t *testing.T) {
	good := cifarBytes(3, 1)
	badLabel := slices.Clone(good)
	badLabel[CIFARRecordBytes] = 10
	cases := []struct {
		name    string
		in      []byte
		records int
		want    string
	}{
		{"any count", good, 0, ""},
		{"exact count", good, 3, ""},
		{"empty", nil, 0, "empty"},
		{"truncated", good[:2*CIFARRecordBytes+100], 0, "truncated in record 2 at offset 6146 (100 of 3073 bytes)"},
		{"wrong count", good, 10000, "3 records (9219 bytes), want 10000 (30730000 bytes)"},
		{"label out of range", badLabel, 0, "record 1 at offset 3073: label 10, want 0-9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prefix := []byte{7}
			labels, pix, err := DecodeCIFAR10(c.in, "b.bin", c.records, prefix, nil)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(labels, []byte{7, 1, 2, 3}) {
					t.Errorf("labels %v, want [7 1 2 3] (appended)", labels)
				}
				if len(pix) != 3*CIFARImageBytes || !bytes.Equal(pix[CIFARImageBytes:2*CIFARImageBytes], good[CIFARRecordBytes+1:2*CIFARRecordBytes]) {
					t.Errorf("pixels of record 1 not copied verbatim")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "b.bin: ") {
				t.Errorf("error %v, want one starting with the file name and containing %q", err, c.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	idx, cifar := testdataSpecs(t)
	t.Run("idx", func(t *testing.T) {
		set, err := Load(idx, "testdata/tiny-idx", "train")
		if err != nil {
			t.Fatal(err)
		}
		pix, labels := tinyImages(tinyIDXImages, 1, 4, 3, 3)
		if !slices.Equal(set.X.Shape(), []int{tinyIDXImages, 1, 4, 3}) {
			t.Fatalf("shape %v", set.X.Shape())
		}
		for i, b := range pix {
			if got := set.X.Float32s()[i]; got != float32(float64(b)/255) {
				t.Fatalf("pixel %d: %v, want %v (no normalisation)", i, got, float64(b)/255)
			}
		}
		for i, l := range labels {
			if set.Labels[i] != int(l) {
				t.Fatalf("label %d: %d, want %d", i, set.Labels[i], l)
			}
		}
		if f := set.Flattened(); !slices.Equal(f.X.Shape(), []int{tinyIDXImages, 12}) || &f.X.Float32s()[0] != &set.X.Float32s()[0] {
			t.Errorf("flattened shape %v, want a [12 12] view", f.X.Shape())
		}
	})
	t.Run("cifar normalised", func(t *testing.T) {
		cifar.Norm = Norm{Mean: []float64{0.5, 0.25, 0}, Std: []float64{0.5, 2, 1}}
		set, err := Load(cifar, "testdata/tiny-cifar", "train")
		if err != nil {
			t.Fatal(err)
		}
		b := cifarBytes(tinyCIFARRecord, 2) // the second batch
		img := tinyCIFARRecord + 1          // its second image
		for ch, want := range []float64{(float64(b[CIFARRecordBytes+1])/255 - 0.5) / 0.5, (float64(b[CIFARRecordBytes+1+1024])/255 - 0.25) / 2, float64(b[CIFARRecordBytes+1+2048]) / 255} {
			got, _ := set.X.At(img, ch, 0, 0)
			if float32(got) != float32(want) {
				t.Errorf("image %d channel %d pixel 0: %v, want %v", img, ch, got, want)
			}
		}
		if set.Labels[img] != int(b[CIFARRecordBytes]) {
			t.Errorf("label %d, want %d", set.Labels[img], b[CIFARRecordBytes])
		}
	})
	t.Run("errors", func(t *testing.T) {
		dir := t.TempDir()
		s := tinyIDX(t, dir, 6)
		os.WriteFile(filepath.Join(dir, "test-labels-idx1-ubyte.gz"), gzipBytes(idxBytes(IDXLabelsMagic, []int{3}, []byte{0, 1, 3})), 0o644)
		os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte.gz"), idxBytes(IDXLabelsMagic, []int{5}, []byte{0, 1, 2, 0, 1}), 0o644)
		for split, want := range map[string]string{
			"train": "train-labels-idx1-ubyte.gz holds 5 labels but",
			"test":  "label 3 of record 2 (decompressed byte 10), want 0-2",
			"val":   `no split "val"`,
		} {
			if _, err := Load(s, dir, split); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %v, want %q", split, err, want)
			}
		}
		cdir := t.TempDir()
		c := tinyCIFAR(t, cdir, 3)
		os.Remove(filepath.Join(cdir, "data_batch_2.bin"))
		if _, err := Load(c, cdir, "train"); err == nil || !strings.Contains(err.Error(), "no data_batch_2.bin in") {
			t.Errorf("missing batch: error %v", err)
		}
		os.WriteFile(filepath.Join(cdir, "test_batch.bin"), cifarBytes(2, 0), 0o644)
		if _, err := Load(c, cdir, "test"); err == nil || !strings.Contains(err.Error(), "2 records (6146 bytes), want 3") {
			t.Errorf("short batch: error %v", err)
		}
	})
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	s := tinyIDX(t, dir, 10)
	reps, err := Verify(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := reps[0].ClassCounts; !slices.Equal(got, []int{4, 3, 3}) {
		t.Errorf("train class counts %v, want [4 3 3]", got)
	}
	t.Run("upstream gz sum accepted", func(t *testing.T) {
		s := tinyIDX(t, "", 10)
		f := &s.Splits[0].Files[0]
		gz, _ := os.ReadFile(filepath.Join(dir, f.Name))
		f.DownloadMD5 = []string{md5hex(gz)}
		f.MD5 = "ffffffffffffffffffffffffffffffff"
		reps, err := Verify(s, dir)
		if err != nil || !reps[0].Files[0].Upstream {
			t.Errorf("verified %+v, %v; want the upstream sum to match", reps, err)
		}
	})
	t.Run("mismatch names both sums", func(t *testing.T) {
		s := tinyIDX(t, "", 10)
		want := s.Splits[1].Files[1].MD5
		s.Splits[1].Files[1].MD5 = "0123456789abcdef0123456789abcdef"
		reps, err := Verify(s, dir)
		if err == nil || !strings.Contains(err.Error(), "test-labels-idx1-ubyte.gz: checksum mismatch: md5 of the decompressed payload is "+want+", want 0123456789abcdef0123456789abcdef") {
			t.Errorf("error %v", err)
		}
		if len(reps) != 1 || reps[0].Split != "train" {
			t.Errorf("reports %+v, want train only", reps)
		}
	})
	t.Run("truncated cifar", func(t *testing.T) {
		cdir := t.TempDir()
		c := tinyCIFAR(t, cdir, 3)
		p := filepath.Join(cdir, "data_batch_1.bin")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)-1], 0o644)
		p2 := filepath.Join(cdir, "test_batch.bin")
		b, _ = os.ReadFile(p2)
		b[5] ^= 1
		os.WriteFile(p2, b, 0o644)
		_, err := Verify(c, cdir)
		for _, want := range []string{"data_batch_1.bin: 9218 bytes: truncated in record 2 at offset 6146 (3072 of 3073 bytes)", "test_batch.bin: checksum mismatch: md5 is "} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want it to contain %q", err, want)
			}
		}
	})
}

func TestDir(t *testing.T) {
	root := t.TempDir()
	sys := t.TempDir()
	s := &Spec{Name: "ds", SystemDirs: []string{sys}}
	t.Setenv(EnvVar, root)
	if d, err := s.Dir(""); err != nil || d != sys {
		t.Errorf("without $FLATFAST_DATA/ds: %q, %v; want the system directory %q", d, err, sys)
	}
	os.Mkdir(filepath.Join(root, "ds"), 0o755)
	if d, err := s.Dir(""); err != nil || d != filepath.Join(root, "ds") {
		t.Errorf("with $FLATFAST_DATA/ds: %q, %v", d, err)
	}
	if d, err := s.Dir(sys); err != nil || d != sys {
		t.Errorf("explicit: %q, %v", d, err)
	}
	if _, err := s.Dir(filepath.Join(root, "nope")); err == nil {
		t.Error("a missing explicit directory was accepted")
	}
	if d, _ := s.DownloadDir(""); d != filepath.Join(root, "ds") {
		t.Errorf("download dir %q, want under %s", d, EnvVar)
	}
	t.Setenv(EnvVar, "")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(root, "cache"))
	s.SystemDirs = nil
	if _, err := s.Dir(""); err == nil || !strings.Contains(err.Error(), "flatfast data get ds") {
		t.Errorf("nothing anywhere: %v, want advice", err)
	}
	if d, _ := s.DownloadDir(""); d != filepath.Join(root, "cache", "flatfast", "ds") {
		t.Errorf("download dir %q, want the user cache", d)
	}
}

func TestCatalog(t *testing.T) {
	for _, name := range Names() {
		s, err := Lookup(name)
		if err != nil || s.Name != name {
			t.Fatalf("Lookup(%q) = %v, %v", name, s, err)
		}
		if err := s.check(); err != nil {
			t.Error(err)
		}
		s.Splits[0].Files[0].MD5 = "changed"
		if t2, _ := Lookup(name); t2.Splits[0].Files[0].MD5 == "changed" {
			t.Errorf("%s: Lookup shares its spec between calls", name)
		}
	}
	if _, err := Lookup("mnist"); err == nil {
		t.Error("unknown data set accepted")
	}
}
