package data

import "fmt"

// CIFAR-10's binary record: a label byte, then 32x32 red, green and blue
// planes, each row-major.
const (
	CIFARImageBytes  = 3 * 32 * 32
	CIFARRecordBytes = 1 + CIFARImageBytes
)

// DecodeCIFAR10 decodes records of CIFAR-10's binary version from b into
// labels (one per record) and pix (the planes of each record, NCHW), which
// it appends to and returns, so the five training batches decode into one
// buffer without copies. wantRecords > 0 requires exactly that many
// records (10,000 in an official file); 0 accepts any positive number.
// name labels the errors, which give the record and its byte offset.
func DecodeCIFAR10(b []byte, name string, wantRecords int, labels, pix []byte) ([]byte, []byte, error) {
	if err := checkCIFAR10(b, name, wantRecords); err != nil {
		return labels, pix, err
	}
	n := len(b) / CIFARRecordBytes
	labels = grow(labels, n)
	pix = grow(pix, n*CIFARImageBytes)
	l0, p0 := len(labels)-n, len(pix)-n*CIFARImageBytes
	for i := range n {
		rec := b[i*CIFARRecordBytes : (i+1)*CIFARRecordBytes]
		labels[l0+i] = rec[0]
		copy(pix[p0+i*CIFARImageBytes:], rec[1:])
	}
	return labels, pix, nil
}

// checkCIFAR10 is DecodeCIFAR10's validation: whole records, the
// expected count, labels 0-9.
func checkCIFAR10(b []byte, name string, wantRecords int) error {
	n := len(b) / CIFARRecordBytes
	if rem := len(b) % CIFARRecordBytes; rem != 0 {
		return fmt.Errorf("%s: %d bytes: truncated in record %d at offset %d (%d of %d bytes); want whole %d-byte records", name, len(b), n, n*CIFARRecordBytes, rem, CIFARRecordBytes, CIFARRecordBytes)
	}
	if n == 0 {
		return fmt.Errorf("%s: empty, want %d-byte records", name, CIFARRecordBytes)
	}
	if wantRecords > 0 && n != wantRecords {
		return fmt.Errorf("%s: %d records (%d bytes), want %d (%d bytes)", name, n, len(b), wantRecords, wantRecords*CIFARRecordBytes)
	}
	for i := range n {
		if l := b[i*CIFARRecordBytes]; l > 9 {
			return fmt.Errorf("%s: record %d at offset %d: label %d, want 0-9", name, i, i*CIFARRecordBytes, l)
		}
	}
	return nil
}

// grow extends b by n bytes.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
