package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// meter is a storage.Progress that shows its count at most every `every`
// (and on flush): through the put stream's JSON lines in the daemon, as
// a bar on the client's terminal. Safe for concurrent use; show is called
// outside its lock.
type meter struct {
	every time.Duration
	show  func(done, total int64)

	mu          sync.Mutex
	done, total int64
	last        time.Time
}

func (m *meter) SetTotal(n int64) {
	m.mu.Lock()
	m.total = n
	m.mu.Unlock()
}

func (m *meter) Add(n int64) {
	m.mu.Lock()
	m.done += n
	due := time.Since(m.last) >= m.every
	if due {
		m.last = time.Now()
	}
	done, total := m.done, m.total
	m.mu.Unlock()
	if due {
		m.show(done, total)
	}
}

// flush shows the count now.
func (m *meter) flush() {
	m.mu.Lock()
	done, total := m.done, m.total
	m.mu.Unlock()
	m.show(done, total)
}

// bar draws a one-line progress bar on a terminal (stderr) and nothing
// elsewhere.
type bar struct {
	meter
	w  io.Writer
	on bool
}

func newBar(w io.Writer, label string) *bar {
	b := &bar{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b.on = true
	}
	start := time.Now()
	b.meter = meter{every: 100 * time.Millisecond, show: func(done, total int64) {
		if !b.on {
			return
		}
		rate := 0.0
		if el := time.Since(start).Seconds(); el > 0 {
			rate = float64(done) / el / 1e6
		}
		pct, cells := "", ""
		if total > 0 {
			f := min(float64(done)/float64(total), 1)
			n := int(f * 24)
			pct = fmt.Sprintf("%3.0f%%", f*100)
			cells = "[" + strings.Repeat("#", n) + strings.Repeat(".", 24-n) + "] "
		}
		fmt.Fprintf(b.w, "\r%s %s%s %s / %s  %.1f MB/s   ", label, cells, pct, formatSize(done), formatSize(total), rate)
	}}
	return b
}

// finish draws the last state and ends the line.
func (b *bar) finish() {
	if b.on {
		b.flush()
		fmt.Fprintln(b.w)
	}
}
