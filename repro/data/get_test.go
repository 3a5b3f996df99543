package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fileServer serves files by name; breakOnce names files whose first
// request dies after half the bytes (the connection is cut, as a server
// failing mid-file does).
type fileServer struct {
	mu        sync.Mutex
	files     map[string][]byte
	breakOnce map[string]bool
	status    int // if set, every request fails with it
	requests  []string
}

func (fs *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	name := strings.TrimPrefix(r.URL.Path, "/")
	fs.requests = append(fs.requests, name+" range="+r.Header.Get("Range"))
	b, ok := fs.files[name]
	brk := fs.breakOnce[name]
	delete(fs.breakOnce, name)
	status := fs.status
	fs.mu.Unlock()
	switch {
	case status != 0:
		http.Error(w, "broken", status)
	case !ok:
		http.NotFound(w, r)
	case brk:
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	default:
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
	}
}

func (fs *fileServer) log() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return slices.Clone(fs.requests)
}

// idxUpstream returns a tiny IDX spec and the files a server holds for it.
func idxUpstream(t *testing.T) (*Spec, map[string][]byte) {
	src := t.TempDir()
	s := tinyIDX(t, src, 40)
	files := map[string][]byte{}
	for _, sp := range s.Splits {
		for _, f := range sp.Files {
			b, err := os.ReadFile(filepath.Join(src, f.Name))
			if err != nil {
				t.Fatal(err)
			}
			files["mirror/"+f.Name] = b
		}
	}
	return s, files
}

func sameFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want the server's %d bytes", name, len(got), err, len(want))
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(files) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want exactly the %d data files", names, len(files))
	}
}

func TestGet(t *testing.T) {
	ctx := context.Background()
	t.Run("good, then present", func(t *testing.T) {
		s, files := idxUpstream(t)
		srv := &fileServer{files: files}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		dir := filepath.Join(t.TempDir(), "new")
		var last Transfer
		var log bytes.Buffer
		opt := GetOptions{Mirror: ts.URL + "/mirror", Progress: func(tr Transfer) { last = tr }, Log: &log}
		if err := Get(ctx, s, dir, opt); err != nil {
			t.Fatal(err)
		}
		sameFiles(t, dir, files)
		if last.Total < 0 || last.Done != last.Total {
			t.Errorf("last progress %+v, want a finished transfer of known size", last)
		}
		n := len(srv.log())
		if err := Get(ctx, s, dir, opt); err != nil {
			t.Fatal(err)
		}
		if len(srv.log()) != n {
			t.Errorf("second Get made requests %v, want none (files present and verified)", srv.log()[n:])
		}
		if !strings.Contains(log.String(), "present, verified") {
			t.Errorf("log %q", log.String())
		}
	})
	t.Run("resumed with Range", func(t *testing.T) {
		s, files := idxUpstream(t)
		srv := &fileServer{files: files}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		dir := t.TempDir()
		name := s.Splits[0].Files[0].Name
		whole := files["mirror/"+name]
		os.WriteFile(filepath.Join(dir, name+".part"), whole[:50], 0o644)
		if err := Get(ctx, s, dir, GetOptions{Mirror: ts.URL + "/mirror/"}); err != nil {
			t.Fatal(err)
		}
		sameFiles(t, dir, files)
		if !slices.Contains(srv.log(), "mirror/"+name+" range=bytes=50-") {
			t.Errorf("requests %v, want a Range request from byte 50", srv.log())
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		s, files := idxUpstream(t)
		name := s.Splits[1].Files[0].Name
		files["mirror/"+name] = gzipBytes(idxBytes(IDXImagesMagic, []int{20, 4, 3}, make([]byte, 240)))
		ts := httptest.NewServer(&fileServer{files: files})
		defer ts.Close()
		dir := t.TempDir()
		err := Get(ctx, s, dir, GetOptions{Mirror: ts.URL + "/mirror"})
		var ce *ChecksumError
		if !errors.As(err, &ce) || ce.Want != s.Splits[1].Files[0].MD5 || ce.Got != md5hex(idxBytes(IDXImagesMagic, []int{20, 4, 3}, make([]byte, 240))) || !strings.Contains(err.Error(), name+".part: checksum mismatch") {
			t.Fatalf("error %v, want a checksum error naming %s and both sums", err, name)
		}
		for _, n := range []string{name, name + ".part"} {
			if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
				t.Errorf("%s left behind", n)
			}
		}
	})
	t.Run("server error mid-file, then resumed", func(t *testing.T) {
		s, files := idxUpstream(t)
		name := s.Splits[0].Files[0].Name
		srv := &fileServer{files: files, breakOnce: map[string]bool{"mirror/" + name: true}}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		dir := t.TempDir()
		opt := GetOptions{Mirror: ts.URL + "/mirror"}
		err := Get(ctx, s, dir, opt)
		if err == nil || !strings.Contains(err.Error(), "run again to resume") {
			t.Fatalf("error %v, want an interrupted download", err)
		}
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Fatalf("%s has its final name after a broken download", name)
		}
		st, err := os.Stat(filepath.Join(dir, name+".part"))
		if err != nil || st.Size() == 0 {
			t.Fatalf("partial file: %v, %v", st, err)
		}
		if err := Get(ctx, s, dir, opt); err != nil {
			t.Fatal(err)
		}
		sameFiles(t, dir, files)
		want := "mirror/" + name + " range=bytes=" + strconv.Itoa(int(st.Size())) + "-"
		if !slices.Contains(srv.log(), want) {
			t.Errorf("requests %v, want %q", srv.log(), want)
		}
	})
	t.Run("server status", func(t *testing.T) {
		s, files := idxUpstream(t)
		ts := httptest.NewServer(&fileServer{files: files, status: http.StatusInternalServerError})
		defer ts.Close()
		err := Get(ctx, s, t.TempDir(), GetOptions{Mirror: ts.URL + "/mirror"})
		if err == nil || !strings.Contains(err.Error(), "500 Internal Server Error") {
			t.Errorf("error %v", err)
		}
	})
}

// tarGz packs members (name -> bytes) in order.
func tarGz(t *testing.T, names []string, members map[string][]byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(members[n])), Typeflag: tar.TypeReg})
		tw.Write(members[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.Bytes()
}

func TestGetArchive(t *testing.T) {
	src := t.TempDir()
	s := tinyCIFAR(t, src, 3)
	members := map[string][]byte{}
	var names []string
	for _, sp := range s.Splits {
		for _, f := range sp.Files {
			b, _ := os.ReadFile(filepath.Join(src, f.Name))
			members[s.Archive.Prefix+f.Name] = b
			names = append(names, s.Archive.Prefix+f.Name)
		}
	}
	members[s.Archive.Prefix+"readme.html"] = []byte("<html>")
	names = append([]string{s.Archive.Prefix + "readme.html"}, names...)
	t.Run("good", func(t *testing.T) {
		ts := httptest.NewServer(&fileServer{files: map[string][]byte{s.Archive.Name: tarGz(t, names, members)}})
		defer ts.Close()
		dir := t.TempDir()
		if err := Get(context.Background(), s, dir, GetOptions{Mirror: ts.URL}); err != nil {
			t.Fatal(err)
		}
		want := map[string][]byte{}
		for n, b := range members {
			if !strings.HasSuffix(n, ".html") {
				want[n] = b
			}
		}
		sameFiles(t, dir, want)
		if _, err := Verify(s, dir); err != nil {
			t.Error(err)
		}
	})
	t.Run("corrupt member", func(t *testing.T) {
		bad := map[string][]byte{}
		for n, b := range members {
			bad[n] = b
		}
		m := s.Archive.Prefix + "data_batch_2.bin"
		bad[m] = slices.Clone(bad[m])
		bad[m][100] ^= 1
		ts := httptest.NewServer(&fileServer{files: map[string][]byte{s.Archive.Name: tarGz(t, names, bad)}})
		defer ts.Close()
		dir := t.TempDir()
		err := Get(context.Background(), s, dir, GetOptions{Mirror: ts.URL})
		var ce *ChecksumError
		if !errors.As(err, &ce) || ce.Want != s.Splits[0].Files[1].MD5 || ce.Got != md5hex(bad[m]) || !strings.Contains(err.Error(), "cifar-10-binary.tar.gz.part: "+m) {
			t.Fatalf("error %v, want a checksum error naming %s and both sums", err, m)
		}
		ents, _ := os.ReadDir(dir)
		var left []string
		for _, e := range ents {
			left = append(left, e.Name())
		}
		if !slices.Equal(left, []string{"data_batch_1.bin"}) {
			t.Errorf("left %v, want only the member that verified before the bad one", left)
		}
	})
}
