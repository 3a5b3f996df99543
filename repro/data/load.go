package data

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// Load reads split ("train" or "test") of the data set from dir (see
// Spec.Dir) and returns it as float32 NCHW images normalised with the
// spec's Norm. It checks every file's structure and record count against
// the spec, not its checksum (Verify does that).
func Load(s *Spec, dir, split string) (*Set, error) {
	if s.Format == CIFARBinary {
		return s.loadCIFARSet(dir, split)
	}
	r, err := LoadRaw(s, dir, split)
	if err != nil {
		return nil, err
	}
	return r.Set(s.Norm)
}

// LoadRaw is Load without the conversion to floats.
func LoadRaw(s *Spec, dir, split string) (*Raw, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	sp, err := s.Split(split)
	if err != nil {
		return nil, err
	}
	r := &Raw{Name: s.Name + "/" + sp.Name, N: sp.N, C: s.C, H: s.H, W: s.W, Classes: len(s.Classes)}
	switch s.Format {
	case IDX:
		err = s.loadIDX(dir, sp, r)
	case CIFARBinary:
		err = s.loadCIFAR(dir, sp, r)
	default:
		err = fmt.Errorf("data: spec %q: unknown format %v", s.Name, s.Format)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Spec) loadCIFAR(dir string, sp *Split, r *Raw) error {
	r.Labels = make([]byte, 0, sp.N)
	r.Pix = make([]byte, 0, sp.N*CIFARImageBytes)
	for _, f := range sp.Files {
		p, err := s.locate(dir, f)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("data: %w", err)
		}
		if r.Labels, r.Pix, err = DecodeCIFAR10(b, p, f.Records, r.Labels, r.Pix); err != nil {
			return fmt.Errorf("data: %w", err)
		}
	}
	return nil
}

// loadCIFARSet is Load for CIFAR-10 without the byte copy of Raw: each
// file is read into one reused buffer and converted from there, so the
// only large memory touched is the result's.
func (s *Spec) loadCIFARSet(dir, split string) (*Set, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := s.Norm.check(s.C); err != nil {
		return nil, err
	}
	sp, err := s.Split(split)
	if err != nil {
		return nil, err
	}
	x, err := newImages(sp.N, s.C, s.H, s.W)
	if err != nil {
		return nil, err
	}
	lut := luts(s.Norm, s.C)
	labels := make([]int, 0, sp.N)
	var buf []byte
	for _, f := range sp.Files {
		p, err := s.locate(dir, f)
		if err != nil {
			return nil, err
		}
		if buf, err = readInto(buf, p); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if err := checkCIFAR10(buf, p, f.Records); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		n := len(labels)
		for i := range f.Records {
			labels = append(labels, int(buf[i*CIFARRecordBytes]))
		}
		convert(x.Float32s()[n*CIFARImageBytes:], buf, f.Records, CIFARRecordBytes, 1, s.C, s.H*s.W, lut)
	}
	return &Set{Name: s.Name + "/" + sp.Name, X: x, Labels: labels, Classes: len(s.Classes)}, nil
}

// readInto reads the file at p into buf, reusing its storage.
func readInto(buf []byte, p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return buf, err
	}
	n := int(st.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf, fmt.Errorf("%s: reading %d bytes: %w", p, n, readErr(err))
	}
	return buf, nil
}

func (s *Spec) loadIDX(dir string, sp *Split, r *Raw) error {
	var pair [2]*IDXFile
	var paths [2]string
	for i, magic := range []uint32{IDXImagesMagic, IDXLabelsMagic} {
		p, err := s.locate(dir, sp.Files[i])
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("data: %w", err)
		}
		if pair[i], err = DecodeIDX(bytes.NewReader(b), p, magic); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		paths[i] = p
	}
	img, lab := pair[0], pair[1]
	if err := s.checkIDXPair(paths, img, lab, sp.N); err != nil {
		return err
	}
	r.Pix, r.Labels = img.Data, lab.Data
	return nil
}

// checkIDXPair checks an images and a labels file against each other and
// the spec: image size, counts that agree, labels in range.
func (s *Spec) checkIDXPair(paths [2]string, img, lab *IDXFile, n int) error {
	if img.Dims[1] != s.H || img.Dims[2] != s.W {
		return fmt.Errorf("data: %s: images of %dx%d, want %dx%d", paths[0], img.Dims[1], img.Dims[2], s.H, s.W)
	}
	if img.Dims[0] != n {
		return fmt.Errorf("data: %s: %d images, want %d", paths[0], img.Dims[0], n)
	}
	if lab.Dims[0] != img.Dims[0] {
		return fmt.Errorf("data: %s holds %d labels but %s %d images", paths[1], lab.Dims[0], paths[0], img.Dims[0])
	}
	return checkLabels(paths[1], lab.Data, len(s.Classes))
}

// checkLabels reports the first label outside [0, classes), with its
// record number and offset in the (decompressed) IDX file.
func checkLabels(name string, labels []byte, classes int) error {
	for i, l := range labels {
		if int(l) >= classes {
			return fmt.Errorf("data: %s: label %d of record %d (decompressed byte %d), want 0-%d", name, l, i, 8+i, classes-1)
		}
	}
	return nil
}
