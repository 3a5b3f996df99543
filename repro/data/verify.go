package data

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// FileReport says how a file verified.
type FileReport struct {
	Path string
	// MD5 is the sum that matched: of the payload, or of the file as
	// distributed when Upstream is set.
	MD5      string
	Upstream bool
}

// SplitReport is what Verify found in one split.
type SplitReport struct {
	Split       string
	N           int
	ClassCounts []int
	Files       []FileReport
}

// Verify checks every file of the data set in dir: its structure (as Load
// does) and its MD5 sum against the spec. It returns what it found per
// split (the splits that verified) and an error joining every problem, so
// one run lists all bad files.
func Verify(s *Spec, dir string) ([]SplitReport, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var reps []SplitReport
	var errs []error
	for _, sp := range s.Splits {
		rep := SplitReport{Split: sp.Name, N: sp.N}
		var labels []byte
		var idx [2]*IDXFile
		var paths [2]string
		bad := false
		for i, f := range sp.Files {
			p, err := s.locate(dir, f)
			if err != nil {
				errs, bad = append(errs, err), true
				continue
			}
			v, fr, err := s.verifyFile(p, f, i)
			if err != nil {
				errs, bad = append(errs, err), true
				continue
			}
			rep.Files = append(rep.Files, fr)
			if s.Format == IDX {
				idx[i], paths[i] = v.idx, p
			} else {
				labels = append(labels, v.labels...)
			}
		}
		if bad {
			continue
		}
		if s.Format == IDX {
			if err := s.checkIDXPair(paths, idx[0], idx[1], sp.N); err != nil {
				errs = append(errs, err)
				continue
			}
			labels = idx[1].Data
		}
		rep.ClassCounts = countClasses(len(s.Classes), len(labels), func(i int) int { return int(labels[i]) })
		reps = append(reps, rep)
	}
	return reps, errors.Join(errs...)
}

// verified is what verifyFile decoded.
type verified struct {
	idx    *IDXFile // IDX
	labels []byte   // CIFAR-10
}

// verifyFile checks the file at p as file f of a split (position i: for
// IDX, 0 is images and 1 labels): structure first, because "truncated at
// byte n" says more than a wrong sum, then the checksum.
func (s *Spec) verifyFile(p string, f File, i int) (verified, FileReport, error) {
	var v verified
	b, err := os.ReadFile(p)
	if err != nil {
		return v, FileReport{}, fmt.Errorf("data: %w", err)
	}
	payload := b
	if isGzip(b) {
		if payload, err = gunzip(b); err != nil {
			return v, FileReport{}, fmt.Errorf("data: %s: %w", p, err)
		}
	}
	switch s.Format {
	case IDX:
		magic := uint32(IDXImagesMagic)
		if i == 1 {
			magic = IDXLabelsMagic
		}
		if v.idx, err = DecodeIDX(bytes.NewReader(payload), p, magic); err != nil {
			return v, FileReport{}, fmt.Errorf("data: %w", err)
		}
		if v.idx.Dims[0] != f.Records {
			return v, FileReport{}, fmt.Errorf("data: %s: %d records, want %d", p, v.idx.Dims[0], f.Records)
		}
		if i == 1 {
			if err := checkLabels(p, v.idx.Data, len(s.Classes)); err != nil {
				return v, FileReport{}, err
			}
		}
	case CIFARBinary:
		if v.labels, err = cifarLabels(payload, p, f.Records); err != nil {
			return v, FileReport{}, fmt.Errorf("data: %w", err)
		}
	}
	fr, err := checkSum(p, f, b, payload)
	return v, fr, err
}

// checkSum accepts the payload's sum or, for a file distributed
// compressed, one of the upstream sums of the file itself.
func checkSum(p string, f File, file, payload []byte) (FileReport, error) {
	ps := md5hex(payload)
	if ps == f.MD5 {
		return FileReport{Path: p, MD5: ps}, nil
	}
	fs := ps // a raw file is its own payload
	if isGzip(file) {
		fs = md5hex(file)
	}
	if slices.Contains(f.DownloadMD5, fs) {
		return FileReport{Path: p, MD5: fs, Upstream: true}, nil
	}
	e := &ChecksumError{File: p, What: "md5", Got: ps, Want: f.MD5}
	if isGzip(file) {
		e.What = "md5 of the decompressed payload"
		if len(f.DownloadMD5) > 0 {
			e.Note = fmt.Sprintf("md5 of the file is %s, not the upstream %s", fs, strings.Join(f.DownloadMD5, " or "))
		}
	}
	return FileReport{}, e
}

// cifarLabels checks a CIFAR-10 file's structure and returns its labels
// without copying the pixels.
func cifarLabels(b []byte, name string, records int) ([]byte, error) {
	if err := checkCIFAR10(b, name, records); err != nil {
		return nil, err
	}
	labels := make([]byte, len(b)/CIFARRecordBytes)
	for i := range labels {
		labels[i] = b[i*CIFARRecordBytes]
	}
	return labels, nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gzip header: %w", err)
	}
	var out bytes.Buffer
	if _, err := io.Copy(&out, zr); err != nil {
		return nil, fmt.Errorf("gzip stream broken after %d decompressed bytes: %w", out.Len(), readErr(err))
	}
	return out.Bytes(), nil
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}
