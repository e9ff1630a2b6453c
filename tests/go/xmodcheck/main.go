// Command xmodcheck cross-checks a Cairn log against Go's golang.org/x/mod/sumdb/note and
// sumdb/tlog, a second, independent implementation of signed notes and RFC 6962 trees.
//
//	xmodcheck -url BASE -vkeys FILE [-log releases|keys]... CHECKPOINT...
//
// For each log it fetches BASE/<log>/checkpoint and opens it with note.Open under the verifier
// keys in FILE (one per line, as `cairn init` prints them); opens every CHECKPOINT file given
// (saved earlier) the same way; recomputes the tree hash from the log's hash tiles
// (tlog.TileHashReader checks every tile against the signed root), proves and checks
// consistency from every saved checkpoint of that origin to the current one (tlog.ProveTree,
// tlog.CheckTree), and proves and checks the inclusion of every entry of the entry bundles
// (tlog.ProveRecord, tlog.CheckRecord). It prints one summary line per log on stdout and exits
// 1 on the first disagreement. Built with Debian's golang-go and golang-golang-x-mod-dev:
// GO111MODULE=off GOPATH=/usr/share/gocode go build (no network).
package main

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8

type checkpoint struct {
	origin string
	size   int64
	hash   tlog.Hash
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "xmodcheck: "+format+"\n", args...)
	os.Exit(1)
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}

// open verifies msg with note.Open and parses the C2SP checkpoint body (origin, size, root).
func open(msg []byte, verifiers note.Verifiers) (checkpoint, error) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		return checkpoint{}, fmt.Errorf("note.Open: %w", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return checkpoint{}, errors.New("not a checkpoint body")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return checkpoint{}, fmt.Errorf("size: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return checkpoint{}, errors.New("root hash is not 32 bytes of base64")
	}
	var h tlog.Hash
	copy(h[:], raw)
	// The key that verified must be named after the origin (tlog-checkpoint).
	for _, sig := range n.Sigs {
		if sig.Name != lines[0] {
			return checkpoint{}, fmt.Errorf("verified signature by %q, not the origin %q", sig.Name, lines[0])
		}
	}
	return checkpoint{origin: lines[0], size: size, hash: h}, nil
}

// tiles reads C2SP hash tiles (tile/<L>/<N>[.p/<W>]) over HTTP for tlog.TileHashReader.
type tiles struct{ base string }

func (t tiles) Height() int { return tileHeight }

func (t tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, tile := range ts {
		// x/mod spells tile/H/L/N; C2SP tlog-tiles has no height element.
		path := strings.Replace(tile.Path(), fmt.Sprintf("tile/%d/", tileHeight), "tile/", 1)
		data, err := get(t.base + "/" + path)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (t tiles) SaveTiles([]tlog.Tile, [][]byte) {}

// entries reads every entry of a tree of size n from its C2SP entry bundles.
func entries(base string, n int64) ([][]byte, error) {
	var out [][]byte
	for first := int64(0); first < n; first += 256 {
		width := n - first
		path := fmt.Sprintf("tile/entries/%s", tileIndex(first/256))
		if width < 256 {
			path += fmt.Sprintf(".p/%d", width)
		} else {
			width = 256
		}
		data, err := get(base + "/" + path)
		if err != nil {
			return nil, err
		}
		for i := int64(0); i < width; i++ {
			if len(data) < 2 {
				return nil, fmt.Errorf("%s: truncated", path)
			}
			l := int(binary.BigEndian.Uint16(data))
			if len(data) < 2+l {
				return nil, fmt.Errorf("%s: truncated entry", path)
			}
			out = append(out, data[2:2+l])
			data = data[2+l:]
		}
		if len(data) != 0 {
			return nil, fmt.Errorf("%s: trailing bytes", path)
		}
	}
	return out, nil
}

func tileIndex(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

type logList []string

func (l *logList) String() string     { return strings.Join(*l, ",") }
func (l *logList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	url := flag.String("url", "", "the log's base URL")
	vkeyFile := flag.String("vkeys", "", "file with the log's verifier keys, one per line")
	var logs logList
	flag.Var(&logs, "log", "log to check (releases, keys); repeatable (default both)")
	flag.Parse()
	if *url == "" || *vkeyFile == "" {
		fail("usage: xmodcheck -url BASE -vkeys FILE [-log NAME]... [CHECKPOINT]...")
	}
	if len(logs) == 0 {
		logs = logList{"releases", "keys"}
	}
	text, err := os.ReadFile(*vkeyFile)
	if err != nil {
		fail("%v", err)
	}
	var vs []note.Verifier
	for _, line := range strings.Fields(string(text)) {
		v, err := note.NewVerifier(line)
		if err != nil {
			fail("verifier key %q: %v", line, err)
		}
		vs = append(vs, v)
	}
	verifiers := note.VerifierList(vs...)
	var saved []checkpoint
	for _, path := range flag.Args() {
		msg, err := os.ReadFile(path)
		if err != nil {
			fail("%v", err)
		}
		cp, err := open(msg, verifiers)
		if err != nil {
			fail("saved checkpoint %s: %v", path, err)
		}
		saved = append(saved, cp)
	}
	for _, log := range logs {
		base := strings.TrimRight(*url, "/") + "/" + log
		msg, err := get(base + "/checkpoint")
		if err != nil {
			fail("%v", err)
		}
		cur, err := open(msg, verifiers)
		if err != nil {
			fail("%s/checkpoint: %v", log, err)
		}
		if !strings.HasSuffix(cur.origin, "/"+log) {
			fail("%s/checkpoint has origin %q", log, cur.origin)
		}
		thr := tlog.TileHashReader(tlog.Tree{N: cur.size, Hash: cur.hash}, tiles{base})
		root, err := tlog.TreeHash(cur.size, thr)
		if err != nil {
			fail("%s: tree hash from tiles: %v", log, err)
		}
		if root != cur.hash {
			fail("%s: tiles give root %v, checkpoint says %v", log, root, cur.hash)
		}
		proofs := 0
		for _, old := range saved {
			if old.origin != cur.origin {
				continue
			}
			if old.size > cur.size {
				fail("%s: saved checkpoint of size %d is ahead of the log's %d", log, old.size, cur.size)
			}
			p, err := tlog.ProveTree(cur.size, old.size, thr)
			if err != nil {
				fail("%s: ProveTree %d->%d: %v", log, old.size, cur.size, err)
			}
			if err := tlog.CheckTree(p, cur.size, cur.hash, old.size, old.hash); err != nil {
				fail("%s: CheckTree %d->%d: %v", log, old.size, cur.size, err)
			}
			proofs++
		}
		all, err := entries(base, cur.size)
		if err != nil {
			fail("%s: %v", log, err)
		}
		for i, e := range all {
			p, err := tlog.ProveRecord(cur.size, int64(i), thr)
			if err != nil {
				fail("%s: ProveRecord %d: %v", log, i, err)
			}
			if err := tlog.CheckRecord(p, cur.size, cur.hash, int64(i), tlog.RecordHash(e)); err != nil {
				fail("%s: CheckRecord %d: %v", log, i, err)
			}
		}
		fmt.Printf("%s size %d consistency %d inclusion %d\n", cur.origin, cur.size, proofs, len(all))
	}
}
