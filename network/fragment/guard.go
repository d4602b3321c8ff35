package fragment

import "time"

// Deadlines bounds how long a stream may take. The zero value means the
// defaults of PROTOCOL.md.
type Deadlines struct {
	// Header is the time allowed to open a stream, and to exchange a
	// request or response header (default 10 s).
	Header time.Duration
	// MinRate is the slowest a body may move, in bytes per second
	// (default 256 KiB/s): a body of n bytes gets Header + n/MinRate.
	MinRate int64
	// Idle is how long a server waits for the next request on a stream
	// that has carried one (default 30 s); a client keeps an unused
	// stream for two thirds of its own Idle, so that it rarely picks one
	// the server is about to close.
	Idle time.Duration
}

const (
	defaultHeader  = 10 * time.Second
	defaultMinRate = 256 << 10
	defaultIdle    = 30 * time.Second
)

func (d Deadlines) withDefaults() Deadlines {
	if d.Header <= 0 {
		d.Header = defaultHeader
	}
	if d.MinRate <= 0 {
		d.MinRate = defaultMinRate
	}
	if d.Idle <= 0 {
		d.Idle = defaultIdle
	}
	return d
}

// body is the time allowed for a body of n bytes.
func (d Deadlines) body(n int) time.Duration {
	return d.Header + time.Duration(float64(n)/float64(d.MinRate)*float64(time.Second))
}
