package home

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-storage/cairn/fairness"
	"github.com/cairn-storage/cairn/storage"
)

// Locate returns the absolute path of the home folder to use: dir if it
// is not "", else $CAIRN_HOME, else .cairn in the user's home folder. No
// user home folder to be found is Invalid, wrapping the reason; the
// error of filepath.Abs is returned as it is.
func Locate(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("CAIRN_HOME")
	}
	if dir == "" {
		u, err := os.UserHomeDir()
		if err != nil {
			return "", storage.E("find home", storage.Invalid, err)
		}
		dir = filepath.Join(u, ".cairn")
	}
	return filepath.Abs(dir)
}

// The sizes `cairn daemon` uses when neither a flag nor config.json gives one.
const (
	DefaultContribute = "2GiB"
	DefaultGrace      = "1GiB"
)

// Flags are the `cairn daemon` flags that override config.json: nil, or
// "", where the flag was not given.
type Flags struct {
	Listen, Bootstrap []string
	Contribute, Grace string
	MDNS              *bool
}

// Settings are what a daemon runs with: each a flag if given, else
// config.json's, else the default (no listen or bootstrap addresses, the
// default sizes, mDNS on).
type Settings struct {
	Listen, Bootstrap []string
	Contribute, Grace int64 // bytes
	MDNS              bool
	Created           time.Time // when the home was made (init)
	// Maintenance (config.json only): the lease on fragments kept for
	// others, the audit loop's interval, audits per round, passes and
	// proofs.
	Lease, AuditEvery, AuditPass, AuditProve time.Duration
	AuditBudget                              int
}

// Maintenance defaults: a lease of 30 days (network/fragment's
// DefaultLease), a round of at most 512 checks a minute, a pass over the
// drive a day that proves each fragment once a week and only checks its
// presence between proofs (docs/DURABILITY.md weighs the traffic).
const (
	DefaultLease       = 30 * 24 * time.Hour
	DefaultAuditEvery  = time.Minute
	DefaultAuditBudget = 512
	DefaultAuditPass   = 24 * time.Hour
	DefaultAuditProve  = 7 * 24 * time.Hour
)

// Settings resolves f over the home's config. A size that does not parse
// is Invalid, with the setting's name ("contribute", "grace") as the
// error's Subject and ParseSize's words as the error it wraps.
func (h *Home) Settings(f Flags) (Settings, error) {
	c := h.cfg
	s := Settings{Listen: c.Listen, Bootstrap: c.Bootstrap, MDNS: true, Created: time.Unix(c.Created, 0)}
	if len(f.Listen) > 0 {
		s.Listen = f.Listen
	}
	if len(f.Bootstrap) > 0 {
		s.Bootstrap = f.Bootstrap
	}
	if f.MDNS != nil {
		s.MDNS = *f.MDNS
	} else if c.MDNS != nil {
		s.MDNS = *c.MDNS
	}
	var err error
	if s.Contribute, err = size("contribute", f.Contribute, c.Contribute, DefaultContribute); err != nil {
		return Settings{}, err
	}
	if s.Grace, err = size("grace", f.Grace, c.Grace, DefaultGrace); err != nil {
		return Settings{}, err
	}
	if s.Lease, err = duration("lease", c.Lease, DefaultLease); err != nil {
		return Settings{}, err
	}
	if s.AuditEvery, err = duration("audit_every", c.AuditEvery, DefaultAuditEvery); err != nil {
		return Settings{}, err
	}
	if s.AuditPass, err = duration("audit_pass", c.AuditPass, DefaultAuditPass); err != nil {
		return Settings{}, err
	}
	if s.AuditProve, err = duration("audit_prove", c.AuditProve, DefaultAuditProve); err != nil {
		return Settings{}, err
	}
	s.AuditBudget = c.AuditBudget
	if s.AuditBudget <= 0 {
		s.AuditBudget = DefaultAuditBudget
	}
	return s, nil
}

// duration parses config.json's setting name, or gives def for "".
func duration(name, v string, def time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, storage.Ef("parse duration", storage.Invalid, name, fmt.Errorf("%q is not a positive duration like 90s or 720h", v))
	}
	return d, nil
}

// size parses the first of the given sizes that is not "".
func size(name string, sizes ...string) (int64, error) {
	for _, s := range sizes {
		if s == "" {
			continue
		}
		n, err := ParseSize(s)
		if err != nil {
			return 0, storage.Ef("parse size", storage.Invalid, name, errors.Unwrap(err))
		}
		return n, nil
	}
	return 0, nil
}

// SocketPath is where the home's daemon listens (the function SocketPath).
func (h *Home) SocketPath() string { return SocketPath(h.dir) }

// Listen listens on the home's daemon socket, mode 0600, in place of any
// socket file left there: the caller has made sure no daemon answers on
// it. A socket outside the home (a long home path) is named in the home's
// daemon.addr. Closing the listener removes the socket.
func (h *Home) Listen() (net.Listener, error) {
	sock := h.SocketPath()
	_ = os.Remove(sock) // a stale socket from a crash
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, storage.E("listen on local socket", storage.IO, err)
	}
	_ = os.Chmod(sock, 0o600)
	if sock != filepath.Join(h.dir, SocketFile) {
		_ = os.WriteFile(filepath.Join(h.dir, SocketAddrFile), []byte(sock+"\n"), 0o600)
	}
	return ln, nil
}

// Uptime is the node's fairness.Uptime, with the time it was online
// before this run kept in a KV of the home's database. Safe for
// concurrent use.
type Uptime struct {
	kv storage.KV
	u  fairness.Uptime // not changed after NewUptime
}

// UptimeKey is the KV key of the online seconds (decimal text).
var UptimeKey = []byte("online-seconds")

// NewUptime loads the online time saved in kv, counting this run as
// online from now; created is when the home was made. A missing or
// unreadable value counts as no time online.
func NewUptime(ctx context.Context, kv storage.KV, created time.Time) *Uptime {
	u := &Uptime{kv: kv, u: fairness.Uptime{Created: created, Since: time.Now()}}
	if b, err := kv.Get(ctx, UptimeKey); err == nil {
		var secs int64
		if _, err := fmt.Sscan(string(b), &secs); err == nil && secs > 0 {
			u.u.Before = time.Duration(secs) * time.Second
		}
	}
	return u
}

// Save writes the online time up to now; a failed write is dropped (the
// next save writes it again).
func (u *Uptime) Save(ctx context.Context) {
	secs := int64(u.u.Online(time.Now()) / time.Second)
	_ = u.kv.Set(ctx, UptimeKey, []byte(fmt.Sprint(secs)))
}

// Status returns the node's availability now and the quota it earns by
// contributing contribute bytes (fairness.Quota).
func (u *Uptime) Status(contribute int64) (availability float64, quota int64) {
	a := u.u.Availability(time.Now())
	return a, fairness.Quota(contribute, a)
}

// UptimeSaver saves an Uptime every interval, and once more when closed,
// so a crash loses at most one interval of online time.
type UptimeSaver struct {
	up   *Uptime
	loop *storage.Loop
}

// NewUptimeSaver starts saving up every interval until ctx ends or Close.
func NewUptimeSaver(ctx context.Context, up *Uptime, interval time.Duration) *UptimeSaver {
	return &UptimeSaver{up: up, loop: storage.Every(ctx, interval, nil, up.Save)}
}

// Done is closed when the saver's loop has stopped.
func (s *UptimeSaver) Done() <-chan struct{} { return s.loop.Done() }

// Close stops the loop, waits for it and saves a last time.
func (s *UptimeSaver) Close() {
	s.loop.Close()
	s.up.Save(context.Background())
}
