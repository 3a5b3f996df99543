package repro

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Progress prints a one-line status (a rate and an ETA) to a terminal at
// most once a second, rewriting the line. To a file or a pipe (a batch
// job's log: Slurm, Kubernetes) it writes a plain line every logEvery (a
// minute) instead, the first after logEvery, so that short runs leave
// logs clean and long ones show they are alive. It is silent for any
// other writer, for nil, and when quiet.
type Progress struct {
	w     io.Writer
	tty   bool
	log   bool
	start time.Time
	mu    sync.Mutex
	last  time.Time
	done  bool
}

// logEvery is the interval of the progress lines written to a log.
var logEvery = time.Minute

// NewProgress reports to w (typically os.Stderr); quiet silences it.
func NewProgress(w io.Writer, quiet bool) *Progress {
	p := &Progress{w: w, start: time.Now()}
	p.last = p.start
	if f, ok := w.(*os.File); ok && !quiet {
		if st, err := f.Stat(); err == nil {
			p.tty = st.Mode()&os.ModeCharDevice != 0
			p.log = !p.tty
		}
	}
	return p
}

// Update reports fraction done (0..1) and a status text; the rate and ETA
// come from the fraction and the elapsed time.
func (p *Progress) Update(frac float64, status string) {
	if p == nil || (!p.tty && !p.log) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	every := time.Second
	if p.log {
		every = logEvery
	}
	if now.Sub(p.last) < every || p.done {
		return
	}
	p.last = now
	el := now.Sub(p.start)
	eta := "?"
	if frac > 0.001 {
		eta = (time.Duration(float64(el)/frac) - el).Round(time.Second).String()
	}
	line := fmt.Sprintf("%5.1f%% %s, %s elapsed, ETA %s", 100*frac, status, el.Round(time.Second), eta)
	if p.log {
		fmt.Fprintln(p.w, now.UTC().Format(time.RFC3339), line)
		return
	}
	fmt.Fprint(p.w, "\r\033[K"+line)
}

// Done ends the status line.
func (p *Progress) Done() {
	if p == nil || !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		fmt.Fprint(p.w, "\r\033[K")
		p.done = true
	}
}
