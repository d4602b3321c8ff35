package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
)

// bar draws a one-line progress bar on a terminal (stderr) and nothing
// elsewhere. Safe for concurrent use.
type bar struct {
	w     io.Writer
	on    bool
	label string
	start time.Time

	mu          sync.Mutex
	done, total int64
	last        time.Time
}

func newBar(w io.Writer, label string) *bar {
	on := false
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		on = true
	}
	return &bar{w: w, on: on, label: label, start: time.Now()}
}

func (b *bar) addTotal(n int64) {
	b.mu.Lock()
	b.total += n
	b.mu.Unlock()
}

// SetTotal and Add make a bar a storage.Progress.
func (b *bar) SetTotal(n int64) {
	b.mu.Lock()
	b.total = n
	b.mu.Unlock()
}

func (b *bar) Add(n int64) {
	b.mu.Lock()
	b.done += n
	b.drawLocked(false)
	b.mu.Unlock()
}

func (b *bar) drawLocked(force bool) {
	if !b.on || (!force && time.Since(b.last) < 100*time.Millisecond) {
		return
	}
	b.last = time.Now()
	el := time.Since(b.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.done) / el / 1e6
	}
	pct := ""
	cells := ""
	if b.total > 0 {
		f := float64(b.done) / float64(b.total)
		f = min(f, 1)
		pct = fmt.Sprintf("%3.0f%%", f*100)
		n := int(f * 24)
		for i := 0; i < 24; i++ {
			if i < n {
				cells += "#"
			} else {
				cells += "."
			}
		}
		cells = "[" + cells + "] "
	}
	fmt.Fprintf(b.w, "\r%s %s%s %s / %s  %.1f MB/s   ", b.label, cells, pct, formatSize(b.done), formatSize(b.total), rate)
}

// finish draws the last state and ends the line.
func (b *bar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.on {
		b.drawLocked(true)
		fmt.Fprintln(b.w)
	}
}
