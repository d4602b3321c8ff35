package fairness

import (
	"testing"
	"time"
)

func TestUptime(t *testing.T) {
	created := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name   string
		u      Uptime
		now    time.Time
		online time.Duration
		avail  float64
	}{
		{"fresh node", Uptime{Created: created, Since: created}, created.Add(30 * time.Second), 30 * time.Second, 1},
		{"always on", Uptime{Created: created, Since: created}, created.Add(10 * time.Hour), 10 * time.Hour, 1},
		{"half the time", Uptime{Created: created, Before: 3 * time.Hour, Since: created.Add(8 * time.Hour)}, created.Add(10 * time.Hour), 5 * time.Hour, 0.5},
		{"clock went back", Uptime{Created: created, Before: time.Hour, Since: created.Add(4 * time.Hour)}, created.Add(2 * time.Hour), time.Hour, 0.5},
		{"more online than alive", Uptime{Created: created, Before: 100 * time.Hour, Since: created}, created.Add(2 * time.Hour), 102 * time.Hour, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.u.Online(tc.now); got != tc.online {
				t.Errorf("online %v, want %v", got, tc.online)
			}
			if got := tc.u.Availability(tc.now); got != tc.avail {
				t.Errorf("availability %v, want %v", got, tc.avail)
			}
		})
	}
}

func TestQuota(t *testing.T) {
	for _, tc := range []struct {
		contributed int64
		avail       float64
		want        int64
	}{{2 << 30, 1, 2 << 30}, {2 << 30, 0.5, 1 << 30}, {1000, 0, 0}, {1000, 1.5, 1000}, {1000, -1, 0}, {-5, 1, 0}} {
		if got := Quota(tc.contributed, tc.avail); got != tc.want {
			t.Errorf("Quota(%d, %v) = %d, want %d", tc.contributed, tc.avail, got, tc.want)
		}
	}
}
