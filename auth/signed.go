package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Signed media URLs. A viewer authorizes the multivariant playlist once (a token in its
// query); every URL in the playlists it gets back carries s=EXP.MAC instead, an HMAC of
// the room and the expiry, so that a CDN caches by URL without ever seeing a token:
//   - media playlist URLs (and rendition reports) carry the viewer grant's expiry, rounded
//     down to the minute, so that viewers whose tokens end in the same minute share them;
//   - part, segment and init URLs of the live edge carry a short expiry shared by every
//     viewer: the current minute + the URL TTL, so a leaked part URL stops working soon;
//   - the DVR's media URLs carry the playlist's (a VOD playlist is loaded once).
const (
	DefaultURLTTL = 5 * time.Minute
	urlBucket     = time.Minute
	// noExpiryURLTTL is the playlist signature's lifetime for grants without an expiry
	// (static room tokens, webhook answers), from the start of the current hour.
	noExpiryURLTTL = 12 * time.Hour
	macBytes       = 16
	signedParam    = "s"
)

type urlSigner struct {
	key  []byte
	ttl  time.Duration
	now  func() time.Time
	macs sync.Pool
}

func newURLSigner(key []byte, ttl time.Duration, now func() time.Time) *urlSigner {
	s := &urlSigner{key: key, ttl: ttl, now: now}
	s.macs.New = func() any { return hmac.New(sha256.New, s.key) }
	return s
}

func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// sign returns "EXP.MAC" for room and exp (Unix seconds).
func (s *urlSigner) sign(room string, exp int64) string {
	buf := make([]byte, 0, 20+1+base64.RawURLEncoding.EncodedLen(macBytes))
	buf = strconv.AppendInt(buf, exp, 10)
	mac := s.mac(room, buf)
	buf = append(buf, '.')
	buf = base64.RawURLEncoding.AppendEncode(buf, mac[:macBytes])
	return string(buf)
}

func (s *urlSigner) mac(room string, exp []byte) []byte {
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(room))
	m.Write([]byte{0})
	m.Write(exp)
	var sum [sha256.Size]byte
	out := m.Sum(sum[:0])
	s.macs.Put(m)
	return out
}

// verify checks a signature for room; it returns the signature's expiry.
func (s *urlSigner) verify(room, sig string) (time.Time, error) {
	expText, macText, ok := strings.Cut(sig, ".")
	exp, err := strconv.ParseInt(expText, 10, 64)
	if !ok || err != nil || base64.RawURLEncoding.DecodedLen(len(macText)) != macBytes {
		return time.Time{}, unauthorized(DenySignedURL, "malformed signed URL")
	}
	var got [macBytes]byte
	// Strict: one encoding per signature (the last character's unused bits must be zero), so a
	// signed URL cannot be varied into others that also pass.
	if n, err := base64.RawURLEncoding.Strict().Decode(got[:], []byte(macText)); err != nil || n != macBytes {
		return time.Time{}, unauthorized(DenySignedURL, "malformed signed URL")
	}
	if !hmac.Equal(got[:], s.mac(room, []byte(expText))[:macBytes]) {
		return time.Time{}, unauthorized(DenySignedURL, "bad URL signature for room %q", room)
	}
	expires := time.Unix(exp, 0)
	if !s.now().Before(expires) {
		return time.Time{}, unauthorized(DenySignedURL, "signed URL expired")
	}
	return expires, nil
}

// short is the signature of the live edge's parts, segments and init segments now.
func (s *urlSigner) short(room string) string {
	return s.sign(room, s.now().Truncate(urlBucket).Add(urlBucket+s.ttl).Unix())
}

// long is the signature of playlist URLs for a grant that ends at expires (zero: none).
func (s *urlSigner) long(room string, expires time.Time) string {
	now := s.now()
	exp := now.Truncate(time.Hour).Add(noExpiryURLTTL)
	if !expires.IsZero() {
		exp = expires.Truncate(urlBucket)
		if !exp.After(now) {
			exp = expires
		}
	}
	return s.sign(room, exp.Unix())
}

// signPlaylist returns playlist with s=sig added to every URI: media playlist URIs (those
// ending in .m3u8) get playlistSig, every other URI mediaSig.
func signPlaylist(playlist []byte, playlistSig, mediaSig string) []byte {
	out := make([]byte, 0, len(playlist)+len(playlist)/4)
	for len(playlist) > 0 {
		line := playlist
		if i := bytes.IndexByte(playlist, '\n'); i >= 0 {
			line, playlist = playlist[:i+1], playlist[i+1:]
		} else {
			playlist = nil
		}
		out = signLine(out, line, playlistSig, mediaSig)
	}
	return out
}

var uriAttr = []byte(`URI="`)

// signLine appends line with its URI (a line not starting with #) or URI="..."
// attributes signed.
func signLine(out, line []byte, playlistSig, mediaSig string) []byte {
	body := bytes.TrimRight(line, "\r\n")
	eol := line[len(body):]
	if len(body) == 0 {
		return append(out, line...)
	}
	if body[0] != '#' {
		out = appendSigned(out, body, playlistSig, mediaSig)
		return append(out, eol...)
	}
	for {
		i := bytes.Index(body, uriAttr)
		if i < 0 {
			break
		}
		i += len(uriAttr)
		j := bytes.IndexByte(body[i:], '"')
		if j < 0 {
			break
		}
		out = append(out, body[:i]...)
		out = appendSigned(out, body[i:i+j], playlistSig, mediaSig)
		body = body[i+j:]
	}
	out = append(out, body...)
	return append(out, eol...)
}

func appendSigned(out, uri []byte, playlistSig, mediaSig string) []byte {
	path, _, hasQuery := bytes.Cut(uri, []byte("?"))
	sig := mediaSig
	if bytes.HasSuffix(path, []byte(".m3u8")) {
		sig = playlistSig
	}
	out = append(out, uri...)
	if hasQuery {
		out = append(out, '&')
	} else {
		out = append(out, '?')
	}
	out = append(out, signedParam+"="...)
	return append(out, sig...)
}
