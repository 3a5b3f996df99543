package repro

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Progress prints a one-line status (a rate and an ETA) to a terminal at
// most once a second. It is silent when its writer is not a terminal or is
// nil, so logs and pipes stay clean.
type Progress struct {
	w     io.Writer
	tty   bool
	start time.Time
	mu    sync.Mutex
	last  time.Time
	done  bool
}

// NewProgress reports to w (typically os.Stderr); quiet silences it.
func NewProgress(w io.Writer, quiet bool) *Progress {
	p := &Progress{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok && !quiet {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// Update reports fraction done (0..1) and a status text; the rate and ETA
// come from the fraction and the elapsed time.
func (p *Progress) Update(frac float64, status string) {
	if p == nil || !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < time.Second || p.done {
		return
	}
	p.last = now
	el := now.Sub(p.start)
	eta := "?"
	if frac > 0.001 {
		eta = (time.Duration(float64(el)/frac) - el).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\033[K%5.1f%% %s, %s elapsed, ETA %s", 100*frac, status, el.Round(time.Second), eta)
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
