package drive

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/memstore"
	"github.com/cairn-storage/cairn/storage/storetest"
)

// Two wiped peers: check finds every file short, --repair brings each
// chunk of every version back to full health on the other peers, in
// place (no new version), and a second check finds nothing to do.
func TestCheckRepairsInPlace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for i := 16; i < 20; i++ {
		e.net[storage.PeerID(fmt.Sprintf("peer-%02d", i))] = countStore{memstore.New(), e}
	}
	d := e.drive(nil)
	v1, v2, other := randBytes(1, 150<<10), randBytes(2, 120<<10), randBytes(3, 90<<10)
	for _, f := range []struct {
		p    string
		data []byte
	}{{"/a", v1}, {"/a", v2}, {"/d/b", other}} {
		if _, err := d.Put(ctx, f.p, bytes.NewReader(f.data), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(repair bool) map[string]FileHealth {
		t.Helper()
		got := map[string]FileHealth{}
		err := d.Check(ctx, "/", blob.CheckOptions{Auditor: storetest.Auditor(e.net), Repair: repair}, func(h FileHealth) error {
			got[h.Path] = h
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for p, h := range check(false) {
		if !h.OK || h.MinHeld != testK+testM || h.Needed != testK || h.Failed != 0 {
			t.Fatalf("%s healthy: %+v", p, h)
		}
	}
	// Wipe the two peers that hold the most.
	wiped := 0
	for _, id := range []storage.PeerID{"peer-00", "peer-01", "peer-02", "peer-03"} {
		if wiped == 2 {
			break
		}
		s := e.net[id].(countStore).Store
		if s.Len() > 0 {
			e.net[id] = countStore{memstore.New(), e}
			wiped++
		}
	}
	before := check(false)
	if h := before["/a"]; h.OK || h.Failed == 0 || h.Versions != 2 {
		t.Fatalf("/a after two peers were wiped: %+v", h)
	}
	repaired := check(true)
	for _, p := range []string{"/a", "/d/b"} {
		h := repaired[p]
		if before[p].OK {
			continue
		}
		if !h.OK || h.Repaired == 0 || h.Unrepaired != 0 || h.MinHeld != testK+testM {
			t.Fatalf("%s after repair: %+v", p, h)
		}
	}
	vs, err := d.Versions(ctx, "/a")
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions after repair: %v, %v (repair must not add one)", vs, err)
	}
	for p, h := range check(false) {
		if !h.OK || h.Failed != 0 || h.MinHeld != testK+testM {
			t.Fatalf("%s after repair, checked again: %+v", p, h)
		}
	}
	// Two more peers go: the repaired layout still reads.
	e.net["peer-04"], e.net["peer-05"] = countStore{memstore.New(), e}, countStore{memstore.New(), e}
	d2 := e.drive(nil)
	readBack(t, d2, "/a", v2)
	readBack(t, d2, "/d/b", other)
	r, _, err := d2.OpenVersion(ctx, "/a", vs[0].N)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), v1) {
		t.Fatalf("version 1 after repair: %v", err)
	}
}

// The maintenance audit loop covers every file on its own and repairs
// what a wiped peer lost; RepairQueue counts what it could not repair.
func TestAuditLoopRepairs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for i := 16; i < 20; i++ {
		e.net[storage.PeerID(fmt.Sprintf("peer-%02d", i))] = countStore{memstore.New(), e}
	}
	d := e.drive(nil)
	files := map[string][]byte{"/x/1": randBytes(4, 60<<10), "/x/2": randBytes(5, 70<<10), "/y": randBytes(6, 50<<10)}
	for p, data := range files {
		if _, err := d.Put(ctx, p, bytes.NewReader(data), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.net["peer-00"], e.net["peer-01"] = countStore{memstore.New(), e}, countStore{memstore.New(), e}
	rounds := make(chan struct{}, 100)
	m := NewMaintenance(ctx, d, MaintenanceOptions{Logf: t.Logf, Audit: &AuditOptions{
		Every: 5 * time.Millisecond, Budget: 50,
		Check: blob.CheckOptions{Auditor: storetest.Auditor(e.net), Repair: true},
		Round: func(context.Context) {
			select {
			case rounds <- struct{}{}:
			default:
			}
		},
	}})
	defer m.Close()
	// Wait for two whole passes: the second finds nothing left to do.
	deadline := time.Now().Add(20 * time.Second)
	for m.AuditPasses() < 3 && time.Now().Before(deadline) {
		<-rounds
	}
	if m.AuditPasses() < 3 {
		t.Fatalf("%d passes in 20 s", m.AuditPasses())
	}
	if q := m.RepairQueue(); q != 0 {
		t.Fatalf("repair queue %d after the loop went over everything", q)
	}
	err := d.Check(ctx, "/", blob.CheckOptions{Auditor: storetest.Auditor(e.net)}, func(h FileHealth) error {
		if !h.OK || h.Failed != 0 {
			t.Errorf("%s after the loop: %+v", h.Path, h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A pass that ends before AuditOptions.Pass waits: about one audit per
// fragment and pass, whatever the size of the drive.
func TestAuditLoopPaces(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	d := e.drive(nil)
	if _, err := d.Put(ctx, "/f", bytes.NewReader(randBytes(9, 40<<10)), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	var audits atomic.Int64
	counting := auditFunc(func(ctx context.Context, p storage.PeerID, ref storage.Ref) error {
		audits.Add(1)
		return storetest.Auditor(e.net).Audit(ctx, p, ref)
	})
	m := NewMaintenance(ctx, d, MaintenanceOptions{Audit: &AuditOptions{Every: 2 * time.Millisecond, Budget: 1000, Pass: time.Hour,
		Check: blob.CheckOptions{Auditor: counting}}})
	deadline := time.Now().Add(10 * time.Second)
	for m.AuditPasses() < 1 || audits.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no pass in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // some 150 rounds
	m.Close()
	st, _ := d.Stat(ctx, "/f")
	perPass := int64(0)
	for _, ck := range st.Manifest.Chunks {
		perPass += int64(len(ck.Frags))
	}
	if m.AuditPasses() != 1 || audits.Load() != perPass {
		t.Fatalf("%d passes, %d audits; want 1 pass of %d audits within the hour", m.AuditPasses(), audits.Load(), perPass)
	}
}

type auditFunc func(ctx context.Context, p storage.PeerID, ref storage.Ref) error

func (f auditFunc) Audit(ctx context.Context, p storage.PeerID, ref storage.Ref) error {
	return f(ctx, p, ref)
}
