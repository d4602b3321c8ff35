package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cairn-storage/cairn/cryptree"
	"github.com/cairn-storage/cairn/network/holder"
	"github.com/cairn-storage/cairn/storage"
	"github.com/cairn-storage/cairn/storage/blob"
	"github.com/cairn-storage/cairn/storage/drive"
)

func cmdDemo(e *env) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "start a local network in this process, store sample files, knock peers out, read everything back and verify it",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "peers", Value: 18, Usage: "storage peers to start (at least k+m = 16)"},
			&cli.StringFlag{Name: "size", Value: "24MiB", Usage: "size of the largest sample file"},
			&cli.BoolFlag{Name: "v", Usage: "log the nodes' messages"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			size, err := parseSize(c.String("size"))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			d := &demo{out: e.stdout, peersN: c.Int("peers"), bigSize: size}
			if c.Bool("v") {
				d.logf = daemonLogger()
			}
			if wantJSON(c) {
				d.out = e.stderr
			}
			rep, err := d.run(ctx)
			if wantJSON(c) && rep != nil {
				fmt.Fprintf(e.stdout, `{"ok":%v,"files":%d,"intact":%d,"bytes":%d,"peers":%d,"stopped":%d}`+"\n",
					err == nil, rep.files, rep.intact, rep.bytes, d.peersN, rep.stopped)
			}
			return err
		},
	}
}

type demo struct {
	out     io.Writer
	logf    func(string, ...any)
	peersN  int
	bigSize int64
}

type demoReport struct {
	files, intact, stopped int
	bytes                  int64
}

type sample struct {
	path string
	data []byte
}

// samples makes the demo's files: a note, a photo-sized file, a big
// "video", and a small project tree; deterministic, mostly incompressible.
func samples(big int64) []sample {
	r := rand.New(rand.NewPCG(2008, 1))
	rnd := func(n int64) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	s := []sample{
		{"/demo/notes.txt", []byte("Cairn keeps this note inline in its (encrypted) manifest: too small to erasure-code.\n")},
		{"/demo/photo.jpg", rnd(3 << 20)},
		{"/demo/video.mp4", rnd(big)},
	}
	for i := 0; i < 12; i++ {
		n := int64(1<<10) << (i % 11) // 1 KiB .. 1 MiB
		s = append(s, sample{fmt.Sprintf("/demo/project/src/file%02d.go", i), rnd(n + int64(i))})
	}
	return s
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) run(ctx context.Context) (*demoReport, error) {
	const k, m = blob.DefaultK, blob.DefaultM
	if d.peersN < k+m {
		return nil, usagef("the demo needs at least %d peers for a %d+%d code", k+m, k, m)
	}
	dir, err := os.MkdirTemp("", "cairn-demo-")
	if err != nil {
		return nil, storage.E("demo", storage.IO, err)
	}
	defer os.RemoveAll(dir)

	d.say("Cairn demo: a network of %d storage peers on 127.0.0.1, in this process (real libp2p hosts, real badger databases).", d.peersN)
	t0 := time.Now()
	peers, err := startPeers(ctx, dir, d.peersN, nodeConfig{Contribute: 4 << 30, Grace: 4 << 30, Logf: d.logf}, nil)
	if err != nil {
		return nil, err
	}
	defer holder.CloseAll(peers)
	d.say("  %d storage peers up in %.1fs", len(peers), time.Since(t0).Seconds())

	kr, err := cryptree.NewKeyring()
	if err != nil {
		return nil, err
	}
	alice, err := startNode(ctx, nodeConfig{
		Home: filepath.Join(dir, "alice"), Keyring: kr,
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Bootstrap: []string{bootstrapAddr(peers[0])},
		Contribute: 1 << 30, Grace: 1 << 30, Logf: d.logf, WaitPeers: 30 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	defer alice.Close()
	ps, err := alice.net.WaitPeers(ctx, fragmentProtocol, d.peersN, 30*time.Second)
	if err != nil {
		return nil, err
	}
	seen := len(ps)
	if seen < d.peersN {
		return nil, storage.E("demo", storage.Unavailable, fmt.Errorf("found only %d of %d storage peers in 30s", seen, d.peersN))
	}
	d.say("  Alice's node joined and found %d storage peers (user %s…)", seen, kr.UserID()[:16])

	files := samples(d.bigSize)
	var total int64
	for _, f := range files {
		total += int64(len(f.data))
	}
	d.say("\nStoring %d files (%s) — each chunk sealed with AES-128-GCM and cut into %d+%d Reed–Solomon fragments on distinct peers:", len(files), formatSize(total), k, m)
	t1 := time.Now()
	load := map[storage.PeerID]int{} // fragments per peer
	for _, f := range files {
		ent, err := alice.drive.Put(ctx, f.path, bytes.NewReader(f.data), drive.PutOptions{})
		if err != nil {
			return nil, fmt.Errorf("storing %s: %w", f.path, err)
		}
		frags := 0
		for _, ck := range ent.Manifest.Chunks {
			frags += len(ck.Frags)
			for _, fr := range ck.Frags {
				load[fr.Holder]++
			}
		}
		switch {
		case strings.HasPrefix(f.path, "/demo/project/"):
		case len(ent.Manifest.Chunks) == 0:
			d.say("  %-32s %10s  inline (in the encrypted manifest)", f.path, formatSize(ent.Size))
		default:
			d.say("  %-32s %10s  %d chunks, %d fragments on %d peers", f.path, formatSize(ent.Size), len(ent.Manifest.Chunks), frags, len(ent.Manifest.Holders()))
		}
	}
	el := time.Since(t1)
	_, size, stored, err := alice.drive.Usage(ctx)
	if err != nil {
		return nil, err
	}
	d.say("  %-32s %10s  12 files of 1 KiB–1 MiB", "/demo/project/src/", "")
	d.say("  stored %s in %.2fs (%.0f MB/s); %s on the network, %.2f× the data", formatSize(size), el.Seconds(), float64(size)/el.Seconds()/1e6, formatSize(stored), float64(stored)/float64(max(size, 1)))

	// Knock out m peers: the most the code promises to survive. Prefer
	// peers that hold the most fragments, to make it hard.
	order := append([]*node(nil), peers...)
	sort.SliceStable(order, func(i, j int) bool { return load[order[i].net.ID()] > load[order[j].net.ID()] })
	var gone []string
	for _, p := range order[:m] {
		gone = append(gone, p.net.ID().Short())
		p.Close()
	}
	d.say("\nKnocking out %d of %d peers — as many as a %d+%d code promises to survive: %s", m, len(peers), k, m, strings.Join(gone, " "))

	d.say("\nReading everything back from the %d that are left and checking every byte:", len(peers)-m)
	rep := &demoReport{files: len(files), stopped: m, bytes: size}
	t2 := time.Now()
	var bad []string
	for _, f := range files {
		if err := d.verify(ctx, alice.drive, f); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", f.path, err))
			continue
		}
		rep.intact++
	}
	el2 := time.Since(t2)
	d.say("  %d of %d files intact (SHA-256 of every file matches) in %.2fs (%.0f MB/s)", rep.intact, len(files), el2.Seconds(), float64(size)/el2.Seconds()/1e6)

	// Random access, as the FUSE drive will do it.
	big := files[2]
	rd, _, err := alice.drive.Open(ctx, big.path)
	if err != nil {
		return rep, err
	}
	r := rand.New(rand.NewPCG(1, 2))
	okReads := 0
	for i := 0; i < 20; i++ {
		off := r.Int64N(int64(len(big.data)) - 4096)
		buf := make([]byte, 4096)
		if n, err := rd.ReadAt(buf, off); err == nil && n == len(buf) && bytes.Equal(buf, big.data[off:off+4096]) {
			okReads++
		}
	}
	d.say("  %d of 20 random 4 KiB reads inside %s correct (only the chunks they touch are fetched)", okReads, big.path)
	if len(bad) > 0 || okReads != 20 {
		for _, b := range bad {
			d.say("  FAILED %s", b)
		}
		return rep, storage.E("demo", storage.Corrupt, fmt.Errorf("%d files did not come back intact", len(bad)))
	}
	d.say("\nAll data came back intact. Peers saw only fragments of ciphertext; the keys never left Alice's node.")
	return rep, nil
}

// verify reads f back from dr and compares its SHA-256 with the sample's.
func (d *demo) verify(ctx context.Context, dr *drive.Drive, f sample) error {
	rd, _, err := dr.Open(ctx, f.path)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := rd.WriteTo(h); err != nil {
		return err
	}
	if want := sha256.Sum256(f.data); !bytes.Equal(h.Sum(nil), want[:]) {
		return errors.New("content differs")
	}
	return nil
}
