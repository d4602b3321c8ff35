package pointer

import "time"

// DefaultTimeout bounds each request of this protocol, on both sides:
// opening a stream for it, and the request with its response (the
// largest, a 4 MiB inbox list, moves in it at 256 KiB/s).
const DefaultTimeout = 20 * time.Second

// DefaultIdle is how long a server waits for the next request on a
// stream that has carried one; a client keeps an unused stream for two
// thirds of it.
const DefaultIdle = 30 * time.Second
