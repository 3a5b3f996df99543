package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The IDX magic numbers of the two file kinds MNIST-style data sets use:
// two zero bytes, the element type (0x08: unsigned byte), the number of
// dimensions.
const (
	IDXImagesMagic = 0x00000803
	IDXLabelsMagic = 0x00000801
)

// maxIDXBytes bounds the payload a header may announce (16 GiB), so a
// corrupt header is an error instead of an allocation failure; the
// buffer itself only grows with the bytes actually read.
const maxIDXBytes = 1 << 34

// IDXFile is a decoded IDX file of unsigned bytes.
type IDXFile struct {
	Dims []int // the header's dimensions, outermost first
	Data []byte
}

// isGzip reports whether b starts with the gzip magic.
func isGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// DecodeIDX decodes an IDX file of unsigned bytes whose header has magic
// wantMagic (IDXImagesMagic, IDXLabelsMagic), gzip-compressed or raw,
// told apart by the gzip magic because files are renamed and decompressed
// by hand more often than their names say. name labels the errors, which
// give the byte offset (of the decompressed stream for a gzip file) and
// what was expected there. A payload shorter or longer than the header's
// dimensions is an error.
func DecodeIDX(r io.Reader, name string, wantMagic uint32) (*IDXFile, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, _ := br.Peek(2)
	var src io.Reader = br
	what := "byte"
	if isGzip(head) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip header: %w", name, err)
		}
		src, what = zr, "decompressed byte"
	}
	var hdr [4]byte
	if n, err := io.ReadFull(src, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: IDX header: %d of 4 magic bytes at %s 0: %w", name, n, what, readErr(err))
	}
	magic := binary.BigEndian.Uint32(hdr[:])
	if magic != wantMagic {
		return nil, fmt.Errorf("%s: IDX magic at %s 0 is 0x%08x, want 0x%08x (unsigned bytes, %d dimensions)", name, what, magic, wantMagic, wantMagic&0xff)
	}
	nd := int(wantMagic & 0xff)
	dims := make([]int, nd)
	total := int64(1)
	for i := range dims {
		if n, err := io.ReadFull(src, hdr[:]); err != nil {
			return nil, fmt.Errorf("%s: IDX header: dimension %d of %d at %s %d: got %d of 4 bytes: %w", name, i+1, nd, what, 4+4*i, n, readErr(err))
		}
		d := binary.BigEndian.Uint32(hdr[:])
		if d == 0 || int64(d) > maxIDXBytes || total*int64(d) > maxIDXBytes {
			return nil, fmt.Errorf("%s: IDX dimension %d (at %s %d) is %d: want 1 or more, at most %d bytes in all", name, i+1, what, 4+4*i, d, int64(maxIDXBytes))
		}
		dims[i] = int(d)
		total *= int64(d)
	}
	start := int64(4 + 4*nd)
	var buf bytes.Buffer
	if n, ok := r.(interface{ Len() int }); ok && !isGzip(head) {
		buf.Grow(n.Len())
	}
	got, err := buf.ReadFrom(io.LimitReader(src, total+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading IDX payload at %s %d: %w", name, what, start+got, readErr(err))
	}
	if got < total {
		rec := int64(1)
		for _, d := range dims[1:] {
			rec *= int64(d)
		}
		return nil, fmt.Errorf("%s: truncated at %s %d: record %d of %d is incomplete (%d of %d bytes); the header announces %d payload bytes after %d header bytes", name, what, start+got, got/rec+1, dims[0], got%rec, rec, total, start)
	}
	if got > total {
		return nil, fmt.Errorf("%s: extra data at %s %d, after the %d records the header announces", name, what, start+total, dims[0])
	}
	return &IDXFile{Dims: dims, Data: buf.Bytes()}, nil
}

// readErr turns the end of input in the middle of a structure into
// io.ErrUnexpectedEOF, which says what happened.
func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
