package pointer

import "time"

// DefaultTimeout bounds a whole stream of this protocol: opening it,
// the request and the response (the largest, a 4 MiB inbox list, moves in
// it at 256 KiB/s).
const DefaultTimeout = 20 * time.Second
