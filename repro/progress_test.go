package repro

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgressToLog: to a file (a batch job's log) the progress is a plain
// line per logEvery, the first only after logEvery; quiet and writers that
// are not files get nothing.
func TestProgressToLog(t *testing.T) {
	old := logEvery
	defer func() { logEvery = old }()
	logEvery = 30 * time.Millisecond
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := NewProgress(f, false)
	p.Update(0.1, "early")
	time.Sleep(2 * logEvery)
	p.Update(0.5, "runs 5/10")
	p.Update(0.6, "too soon")
	p.Done()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if strings.Contains(got, "early") || strings.Contains(got, "too soon") {
		t.Errorf("a line before logEvery had passed: %q", got)
	}
	if !strings.Contains(got, " 50.0% runs 5/10, ") || !strings.HasSuffix(got, "\n") || strings.ContainsAny(got, "\r\033") || strings.Count(got, "\n") != 1 {
		t.Errorf("log = %q, want one plain line with the fraction and status", got)
	}

	q := NewProgress(f, true)
	var buf bytes.Buffer
	b2 := NewProgress(&buf, false)
	time.Sleep(2 * logEvery)
	q.Update(0.7, "quiet")
	b2.Update(0.7, "buffer")
	if b, _ := os.ReadFile(f.Name()); strings.Contains(string(b), "quiet") || buf.Len() != 0 {
		t.Errorf("quiet or a non-file writer printed progress: %q, %q", b, buf.String())
	}
}
