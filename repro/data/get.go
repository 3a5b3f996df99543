package data

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Transfer is the state of one download, for progress reports.
type Transfer struct {
	File  string
	Done  int64 // bytes in the partial file
	Start int64 // bytes it held before this run (a resumed download)
	Total int64 // the file's size; -1 when the server does not say
}

// GetOptions adjusts Get.
type GetOptions struct {
	// Mirror replaces the spec's BaseURL: the same file names under
	// another base (a local copy, a faster server).
	Mirror string
	// Client makes the requests; nil means http.DefaultClient.
	Client *http.Client
	// Progress, if set, is called as bytes arrive.
	Progress func(Transfer)
	// Log, if set, gets one line per file: fetched, present, extracted.
	Log io.Writer
}

// ChecksumError reports a file whose MD5 sum is not the expected one.
type ChecksumError struct {
	File      string
	What      string // which sum: "md5", "md5 of the decompressed payload"
	Got, Want string
	Note      string // more, such as the sums of a compressed file
}

func (e *ChecksumError) Error() string {
	msg := fmt.Sprintf("data: %s: checksum mismatch: %s is %s, want %s", e.File, e.What, e.Got, e.Want)
	if e.Note != "" {
		msg += "; " + e.Note
	}
	return msg
}

// member is a file of a split and its position there (IDX: 0 images, 1
// labels).
type member struct {
	f   File
	pos int
}

// Get downloads the data set into dir (created if missing), or keeps the
// files already there that verify. A download goes to <name>.part, is
// resumed with an HTTP Range request when run again after an
// interruption, and is verified before it takes its final name; a file
// that fails verification is removed (it would be resumed forever
// otherwise) and the error names it and both sums. An archive (CIFAR-10)
// is unpacked member by member the same way, each member verified
// before it gets its name, and the archive is removed once every member
// is in place. Nothing half-written ever carries a final name.
func Get(ctx context.Context, s *Spec, dir string, opt GetOptions) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	base := s.BaseURL
	if opt.Mirror != "" {
		base = opt.Mirror
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	if _, err := url.Parse(base); err != nil {
		return fmt.Errorf("data: base URL: %w", err)
	}
	if opt.Client == nil {
		opt.Client = http.DefaultClient
	}
	logf := func(format string, a ...any) {
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, format+"\n", a...)
		}
	}
	var missing []member
	for _, sp := range s.Splits {
		for i, f := range sp.Files {
			final := filepath.Join(dir, f.Name)
			if _, err := os.Stat(final); err == nil {
				if _, _, err := s.verifyFile(final, f, i); err == nil {
					logf("%s: present, verified", final)
					continue
				} else {
					logf("%s: present but does not verify, fetching again: %v", final, err)
				}
			}
			missing = append(missing, member{f, i})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if s.Archive == nil {
		for _, m := range missing {
			final := filepath.Join(dir, m.f.Name)
			part := final + ".part"
			if err := fetch(ctx, opt, base+m.f.Name, part, m.f.Name); err != nil {
				return err
			}
			if _, _, err := s.verifyFile(part, m.f, m.pos); err != nil {
				os.Remove(part)
				return fmt.Errorf("%w (removed %s; run again to download it afresh)", err, part)
			}
			if err := os.Rename(part, final); err != nil {
				return fmt.Errorf("data: %w", err)
			}
			logf("%s: fetched, verified", final)
		}
		return nil
	}
	a := s.Archive
	part := filepath.Join(dir, a.Name+".part")
	if err := fetch(ctx, opt, base+a.Name, part, a.Name); err != nil {
		return err
	}
	if a.MD5 != "" {
		got, err := fileMD5(part)
		if err != nil {
			return err
		}
		if got != a.MD5 {
			os.Remove(part)
			return &ChecksumError{File: part, What: "md5", Got: got, Want: a.MD5}
		}
	}
	want := map[string]member{}
	for _, m := range missing {
		want[a.Prefix+m.f.Name] = m
	}
	if err := s.extract(part, dir, want, logf); err != nil {
		// fetch saw the whole archive arrive, so a member that does not
		// unpack or verify means the archive itself is bad.
		os.Remove(part)
		return fmt.Errorf("%w (removed %s; run again to download it afresh)", err, part)
	}
	return os.Remove(part)
}

// extract writes the archive members named in want into dir, each through
// a temporary file that is verified and then renamed.
func (s *Spec) extract(archive, dir string, want map[string]member, logf func(string, ...any)) error {
	fh, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return fmt.Errorf("data: %s: gzip header: %w", archive, err)
	}
	tr := tar.NewReader(zr)
	for len(want) > 0 {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("data: %s: reading the archive: %w", archive, readErr(err))
		}
		m, ok := want[h.Name]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		final := filepath.Join(dir, m.f.Name)
		tmp := final + ".tmp"
		if err := writeFile(tmp, tr); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("data: %s: extracting %s: %w", archive, h.Name, err)
		}
		if _, _, err := s.verifyFile(tmp, m.f, m.pos); err != nil {
			os.Remove(tmp)
			var ce *ChecksumError
			if errors.As(err, &ce) {
				ce.File = archive + ": " + h.Name
				return ce
			}
			return fmt.Errorf("data: %s member %s: %w", archive, h.Name, err)
		}
		if err := os.Rename(tmp, final); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		logf("%s: extracted from %s, verified", final, filepath.Base(archive))
		delete(want, h.Name)
	}
	if len(want) > 0 {
		var names []string
		for n := range want {
			names = append(names, n)
		}
		return fmt.Errorf("data: %s lacks %s", archive, strings.Join(names, ", "))
	}
	return nil
}

func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func fileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("data: %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fetch downloads u into part, resuming from what part already holds.
func fetch(ctx context.Context, opt GetOptions, u, part, name string) error {
	var have int64
	if st, err := os.Stat(part); err == nil {
		have = st.Size()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := opt.Client.Do(req)
	if err != nil {
		return fmt.Errorf("data: GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	flags := os.O_CREATE | os.O_WRONLY
	total := int64(-1)
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, size, ok := contentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return fmt.Errorf("data: GET %s: asked for bytes from %d, got Content-Range %q", u, have, resp.Header.Get("Content-Range"))
		}
		flags |= os.O_APPEND
		total = size
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// The part may already be whole (an interruption between the last
		// byte and the rename); verification decides.
		if _, size, ok := contentRange(resp.Header.Get("Content-Range")); ok && size == have {
			return nil
		}
		os.Remove(part)
		return fmt.Errorf("data: GET %s: the server refused to resume at byte %d; removed %s, run again", u, have, part)
	case resp.StatusCode == http.StatusOK:
		// A server that ignores Range sends everything again.
		flags |= os.O_TRUNC
		have = 0
		if resp.ContentLength >= 0 {
			total = resp.ContentLength
		}
	default:
		return fmt.Errorf("data: GET %s: %s", u, resp.Status)
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	t := Transfer{File: name, Done: have, Start: have, Total: total}
	w := &progressWriter{f: f, t: t, report: opt.Progress}
	if w.report != nil {
		w.report(t)
	}
	_, err = io.Copy(w, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("data: GET %s: interrupted after %d bytes (kept in %s; run again to resume): %w", u, w.t.Done, part, err)
	}
	if total >= 0 && w.t.Done != total {
		return fmt.Errorf("data: GET %s: got %d of %d bytes (kept in %s; run again to resume)", u, w.t.Done, total, part)
	}
	return nil
}

// contentRange parses "bytes START-END/SIZE" or "bytes */SIZE" (start -1).
func contentRange(h string) (start, size int64, ok bool) {
	r, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, 0, false
	}
	span, sz, ok := strings.Cut(r, "/")
	if !ok {
		return 0, 0, false
	}
	size, err := strconv.ParseInt(sz, 10, 64)
	if err != nil {
		size = -1
	}
	if span == "*" {
		return -1, size, true
	}
	a, _, ok := strings.Cut(span, "-")
	if !ok {
		return 0, 0, false
	}
	start, err = strconv.ParseInt(a, 10, 64)
	return start, size, err == nil
}

type progressWriter struct {
	f      *os.File
	t      Transfer
	report func(Transfer)
}

func (w *progressWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.t.Done += int64(n)
	if w.report != nil {
		w.report(w.t)
	}
	return n, err
}
