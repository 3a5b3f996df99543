package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The commands use the catalog's specs, which want the real record
// counts, so these tests cover the command layer (argument order, usage
// errors, how failures read) and, where Debian's FashionMNIST is
// installed, a whole get and verify against a local server. repro/data
// tests the download and verification logic itself on synthetic files.

func TestDataUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"data"}, 2, "name one of get, verify"},
		{[]string{"data", "verify"}, 2, "name a data set: fashion-mnist or cifar10"},
		{[]string{"data", "verify", "mnist"}, 2, `unknown data set "mnist"`},
		{[]string{"data", "verify", "cifar10", "extra"}, 2, "unexpected arguments [extra]"},
		{[]string{"data", "get", "-h"}, 0, "-mirror"},
		{[]string{"data", "verify", "cifar10", "-dir", "/nonexistent/x"}, 1, "cifar10 directory: stat /nonexistent/x"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || !strings.Contains(out.String()+errb.String(), c.want) {
			t.Errorf("%v: exit %d, output %q; want exit %d and %q", c.args, code, out.String()+errb.String(), c.code, c.want)
		}
	}
}

func TestDataVerifyTruncated(t *testing.T) {
	dir := t.TempDir()
	// A data_batch_1.bin one byte short and nothing else.
	os.WriteFile(filepath.Join(dir, "data_batch_1.bin"), make([]byte, 10000*3073-1), 0o644)
	var out, errb bytes.Buffer
	code := run([]string{"data", "verify", "cifar10", "-dir", dir}, &out, &errb)
	for _, want := range []string{
		"6 problems",
		"data_batch_1.bin: 30729999 bytes: truncated in record 9999 at offset 30726927 (3072 of 3073 bytes)",
		"no data_batch_2.bin in " + dir,
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr %q lacks %q", errb.String(), want)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

func TestDataGetFailsCleanly(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "train-images-idx3-ubyte.gz") {
			w.Write([]byte("not the file"))
			return
		}
		http.NotFound(w, r)
	}))
	defer ts.Close()
	dir := filepath.Join(t.TempDir(), "fm")
	var out, errb bytes.Buffer
	code := run([]string{"data", "get", "fashion-mnist", "-mirror", ts.URL + "/sub", "-dir", dir, "-q"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "train-images-idx3-ubyte.gz.part: IDX magic") {
		t.Errorf("exit %d, stderr %q; want a failure naming the bad file", code, errb.String())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Errorf("left %d files in %s, want none", len(ents), dir)
	}
}

func TestDataGetAndVerifyFashionMNIST(t *testing.T) {
	const debian = "/usr/share/datasets/fashion-mnist"
	if _, err := os.Stat(filepath.Join(debian, "t10k-labels-idx1-ubyte.gz")); err != nil {
		t.Skipf("no FashionMNIST in %s (install dataset-fashion-mnist): %v", debian, err)
	}
	ts := httptest.NewServer(http.FileServer(http.Dir(debian)))
	defer ts.Close()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"data", "get", "fashion-mnist", "-mirror", ts.URL, "-dir", dir, "-q"}, &out, &errb); code != 0 {
		t.Fatalf("get: exit %d, %s", code, errb.String())
	}
	for _, name := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		a, _ := os.ReadFile(filepath.Join(debian, name))
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from the served file (%v)", name, err)
		}
	}
	out.Reset()
	if code := run([]string{"data", "verify", "-dir", dir, "fashion-mnist"}, &out, &errb); code != 0 {
		t.Fatalf("verify: exit %d, %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "train    60000   6000   6000") || !strings.Contains(out.String(), "all 2 splits verified") {
		t.Errorf("verify printed %q", out.String())
	}
}
