package pointer

import (
	"testing"
)

// BenchmarkRecord measures one PutRecord (validated, compared, stored)
// and one GetRecord over a mock network.
func BenchmarkRecord(b *testing.B) {
	e := newEnv(b, mockHosts(b, 2), ServiceConfig{Logf: b.Logf})
	ctx := b.Context()
	const key = "/toy/bench"
	b.ReportAllocs()
	for i := range b.N {
		if err := e.client.PutRecord(ctx, e.peer, key, toyValue(signer, key, uint64(i+1), "")); err != nil {
			b.Fatal(err)
		}
		if _, err := e.client.GetRecord(ctx, e.peer, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInbox measures InboxPut, InboxList and InboxDelete of one
// 4 KiB message over a mock network.
func BenchmarkInbox(b *testing.B) {
	e := newEnv(b, mockHosts(b, 2), ServiceConfig{Logf: b.Logf})
	ctx := b.Context()
	msg := make([]byte, 4<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for i := range b.N {
		msg[0], msg[1] = byte(i), byte(i>>8)
		id, err := e.client.InboxPut(ctx, e.peer, aliceIn, msg)
		if err != nil {
			b.Fatal(err)
		}
		if ms, err := e.client.InboxList(ctx, e.peer, aliceIn); err != nil || len(ms) != 1 {
			b.Fatal(len(ms), err)
		}
		if err := e.client.InboxDelete(ctx, e.peer, aliceIn, id, alice); err != nil {
			b.Fatal(err)
		}
	}
}
