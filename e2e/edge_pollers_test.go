package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// partID names part idx of segment msn (partMSN.IDX.m4s).
type partID struct {
	msn uint64
	idx int
}

func (p partID) String() string { return fmt.Sprintf("%d.%d", p.msn, p.idx) }

func (p partID) cmp(q partID) int {
	if p.msn != q.msn {
		if p.msn < q.msn {
			return -1
		}
		return 1
	}
	return p.idx - q.idx
}

// mediaList is what a poller reads from a media playlist: the parts it lists (in order),
// the preload hint, and how many parts each complete segment listed with parts has.
type mediaList struct {
	parts  []partID
	hint   partID
	hinted bool
	segLen map[uint64]int
	query  string // the query of the part URIs ("?s=…" when the origin signs them), else ""
}

var (
	partURI = regexp.MustCompile(`URI="part(\d+)\.(\d+)\.m4s(\?[^"]*)?"`)
	segURI  = regexp.MustCompile(`^seg(\d+)\.m4s(\?.*)?$`)
)

func parsePartID(m []string) partID {
	msn, _ := strconv.ParseUint(m[1], 10, 64)
	idx, _ := strconv.Atoi(m[2])
	return partID{msn, idx}
}

// parseMediaList reads an LL-HLS media playlist as written by package hls.
func parseMediaList(body string) (*mediaList, error) {
	if !strings.HasPrefix(body, "#EXTM3U") {
		return nil, fmt.Errorf("not a playlist: %.80q", body)
	}
	l := &mediaList{segLen: map[uint64]int{}}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#EXT-X-PART:"):
			if m := partURI.FindStringSubmatch(line); m != nil {
				l.parts = append(l.parts, parsePartID(m))
			}
		case strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:TYPE=PART"):
			if m := partURI.FindStringSubmatch(line); m != nil {
				l.hint, l.hinted, l.query = parsePartID(m), true, m[3]
			}
		default:
			if m := segURI.FindStringSubmatch(line); m != nil {
				msn, _ := strconv.ParseUint(m[1], 10, 64)
				n := 0
				for _, p := range l.parts {
					if p.msn == msn {
						n++
					}
				}
				if n > 0 {
					l.segLen[msn] = n
				}
			}
		}
	}
	if !l.hinted {
		return nil, errors.New("playlist without EXT-X-PRELOAD-HINT")
	}
	return l, nil
}

// waitSample is one delivery of a blocking reload or a part to a poller: key is
// path?query, sent when the request went out, got when the body was in.
type waitSample struct {
	key       string
	sent, got time.Time
}

// hlsPoller is one LL-HLS client of a media playlist: it follows the preload hint with a
// blocking reload (_HLS_msn/_HLS_part) and, at the same time, a request for the hinted
// part, as LL-HLS clients do, and downloads any listed part it does not have yet.
type hlsPoller struct {
	dir    string // http://host:port/hls/{room}/{rendition}/
	client *http.Client
	// signed is the media playlist's signature query ("s=…", docs/auth.md) when the dir
	// was given with one; parts are then asked with the query their playlist lists them with.
	signed    string
	partQuery string

	mu       sync.Mutex        // guards the fields below against the hinted-part goroutine
	parts    map[partID]string // part → sha256 prefix of its body
	segLen   map[uint64]int    // parts per complete segment, as listed
	waits    []waitSample
	requests int
	errs     int
	firstErr string
	hintMiss int // hinted parts answered 404 (the segment ended before it)
}

// newHLSPoller polls dir (…/{rendition}/, or …/{rendition}/?s=SIG for signed URLs).
func newHLSPoller(dir string, client *http.Client) *hlsPoller {
	dir, signed, _ := strings.Cut(dir, "?")
	return &hlsPoller{dir: dir, signed: signed, client: client, parts: map[partID]string{}, segLen: map[uint64]int{}}
}

// run polls until ctx ends.
func (p *hlsPoller) run(ctx context.Context) {
	var list *mediaList
	var start partID
	for ctx.Err() == nil {
		if list == nil {
			l, err := p.playlist(ctx, "", false)
			if err != nil {
				p.pause(ctx)
				continue
			}
			list, start = l, l.hint
		}
		hint := list.hint
		hintDone := make(chan struct{})
		go func() {
			defer close(hintDone)
			p.part(ctx, hint, true)
		}()
		next, err := p.playlist(ctx, fmt.Sprintf("?_HLS_msn=%d&_HLS_part=%d", hint.msn, hint.idx), true)
		<-hintDone
		if err != nil {
			list = nil // start over from a plain playlist, as a player would
			p.pause(ctx)
			continue
		}
		for _, id := range next.parts {
			if _, have := p.parts[id]; !have && id.cmp(start) >= 0 && ctx.Err() == nil {
				p.part(ctx, id, false)
			}
		}
		list = next
	}
}

func (p *hlsPoller) pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(200 * time.Millisecond):
	}
}

// get fetches dir+file; the timing of a tracked request answered 200 is kept as a waitSample.
func (p *hlsPoller) get(ctx context.Context, file string, tracked bool) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.dir+file, nil)
	if err != nil {
		return 0, nil, err
	}
	sent := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, p.failed(ctx, file, err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return 0, nil, p.failed(ctx, file, err)
	}
	p.mu.Lock()
	p.requests++
	if tracked && resp.StatusCode == http.StatusOK {
		p.waits = append(p.waits, waitSample{key: req.URL.Path + "?" + req.URL.RawQuery, sent: sent, got: time.Now()})
	}
	p.mu.Unlock()
	return resp.StatusCode, body, nil
}

// failed counts an error unless the poller is being stopped.
func (p *hlsPoller) failed(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs++
	if p.firstErr == "" {
		p.firstErr = fmt.Sprintf("%s: %v", what, err)
	}
	return err
}

func (p *hlsPoller) playlist(ctx context.Context, query string, blocking bool) (*mediaList, error) {
	switch {
	case p.signed != "" && query == "":
		query = "?" + p.signed
	case p.signed != "":
		query += "&" + p.signed
	}
	code, body, err := p.get(ctx, "index.m3u8"+query, blocking)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, p.failed(ctx, "index.m3u8"+query, fmt.Errorf("status %d: %.100s", code, body))
	}
	l, err := parseMediaList(string(body))
	if err != nil {
		return nil, p.failed(ctx, "index.m3u8"+query, err)
	}
	p.mu.Lock()
	p.partQuery = l.query
	for msn, n := range l.segLen {
		p.segLen[msn] = n
	}
	p.mu.Unlock()
	return l, nil
}

// part downloads one part; a hinted one may be answered 404 when its segment ended first.
func (p *hlsPoller) part(ctx context.Context, id partID, hinted bool) {
	p.mu.Lock()
	file := "part" + id.String() + ".m4s" + p.partQuery
	p.mu.Unlock()
	code, body, err := p.get(ctx, file, true)
	switch {
	case err != nil:
	case code == http.StatusOK && len(body) > 0:
		sum := sha256.Sum256(body)
		p.mu.Lock()
		p.parts[id] = hex.EncodeToString(sum[:8])
		p.mu.Unlock()
	case code == http.StatusNotFound && hinted:
		p.mu.Lock()
		p.hintMiss++
		p.mu.Unlock()
	default:
		_ = p.failed(ctx, file, fmt.Errorf("status %d, %d bytes", code, len(body)))
	}
}

// checkEveryPart verifies that the pollers saw the same stream: over the parts that all of
// them were running for, every poller downloaded every part, the parts form an unbroken
// sequence (per the segment lengths the playlists gave), and each part has the same bytes
// for everyone. It returns how many parts that window holds.
func checkEveryPart(pollers []*hlsPoller) (int, error) {
	var lo, hi partID
	segLen := map[uint64]int{}
	for i, p := range pollers {
		if len(p.parts) == 0 {
			return 0, fmt.Errorf("poller %d got no part (%d errors, first: %s)", i, p.errs, p.firstErr)
		}
		ids := sortedParts(p.parts)
		if i == 0 || ids[0].cmp(lo) > 0 {
			lo = ids[0]
		}
		if last := ids[len(ids)-1]; i == 0 || last.cmp(hi) < 0 {
			hi = last
		}
		for msn, n := range p.segLen {
			if m, ok := segLen[msn]; ok && m != n {
				return 0, fmt.Errorf("segment %d listed with %d parts and with %d", msn, m, n)
			}
			segLen[msn] = n
		}
	}
	union := map[partID]string{}
	for i, p := range pollers {
		for id, sum := range p.parts {
			if id.cmp(lo) < 0 || id.cmp(hi) > 0 {
				continue
			}
			if s, ok := union[id]; ok && s != sum {
				return 0, fmt.Errorf("part %s: poller %d got other bytes than another poller", id, i)
			}
			union[id] = sum
		}
	}
	ids := sortedParts(union)
	for i := 1; i < len(ids); i++ {
		a, b := ids[i-1], ids[i]
		next := b.msn == a.msn && b.idx == a.idx+1 || b.msn == a.msn+1 && b.idx == 0 && segLen[a.msn] == a.idx+1
		if !next {
			return 0, fmt.Errorf("no poller got the part(s) between %s and %s (segment %d has %d parts)", a, b, a.msn, segLen[a.msn])
		}
	}
	for i, p := range pollers {
		var missing []string
		for _, id := range ids {
			if _, ok := p.parts[id]; !ok {
				missing = append(missing, id.String())
			}
		}
		if len(missing) > 0 {
			return 0, fmt.Errorf("poller %d missed %d of %d parts (%s ...; %d errors, first: %s)",
				i, len(missing), len(ids), missing[0], p.errs, p.firstErr)
		}
	}
	return len(ids), nil
}

func sortedParts(m map[partID]string) []partID {
	ids := make([]partID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, partID.cmp)
	return ids
}
