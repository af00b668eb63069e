package ingest

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/config"
)

// rtmpTarget finds the room and key in a publish URL (tcUrl joined with the stream name):
// /{app}/{room}?key=K, /{app}/{room}/{K}, or /{room} (when app and stream name are equal).
func rtmpTarget(u *url.URL) (room, key string, err error) {
	if u == nil {
		return "", "", fmt.Errorf("%w: no url", ErrBadStreamName)
	}
	var parts []string
	for _, p := range strings.Split(u.Path, "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	key = u.Query().Get("key")
	switch len(parts) {
	case 2:
		room = parts[1]
	case 3:
		if key != "" {
			return "", "", fmt.Errorf("%w: %q has a key both in the path and in ?key=", ErrBadStreamName, u.Path)
		}
		room, key = parts[1], parts[2]
	default:
		return "", "", fmt.Errorf("%w: %d path elements, want /{app}/{room}?key=K or /{app}/{room}/{key}", ErrBadStreamName, len(parts))
	}
	return checkRoom(room, key)
}

// srtTarget finds the room and key in an SRT streamid: "publish:{room}", "publish:{room}/{K}",
// or "#!::r={room},m=publish[,s=K]" (key also as "key=K"; "%23!::…" is decoded).
func srtTarget(streamID string) (room, key string, err error) {
	if strings.HasPrefix(streamID, "%23") { // some callers send the streamid URL-encoded
		if u, err := url.PathUnescape(streamID); err == nil {
			streamID = u
		}
	}
	if rest, ok := strings.CutPrefix(streamID, "#!::"); ok {
		return srtAccessControl(rest)
	}
	rest, ok := strings.CutPrefix(streamID, "publish:")
	if !ok {
		return "", "", fmt.Errorf("%w: streamid %.80q: want publish:{room} or #!::r={room},m=publish", ErrBadStreamName, streamID)
	}
	room, key, _ = strings.Cut(rest, "/")
	return checkRoom(room, key)
}

func srtAccessControl(s string) (room, key string, err error) {
	mode := ""
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch strings.TrimSpace(k) {
		case "r":
			room = v
		case "m":
			mode = v
		case "s", "key":
			key = v
		}
	}
	if mode != "publish" {
		return "", "", fmt.Errorf("%w: streamid mode %.20q: only m=publish is served", ErrBadStreamName, mode)
	}
	return checkRoom(room, key)
}

func checkRoom(room, key string) (string, string, error) {
	if !config.ValidRoomName(room) {
		return "", "", fmt.Errorf("%w: room %.70q: 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit", ErrBadStreamName, room)
	}
	return room, key, nil
}

// authorize checks a publisher's key with the node's Authorizer (Config.Auth): a stream
// key, a room token or a publish token; errors wrap ErrBadKey.
func (s *Server) authorize(proto, remote, room, key string) error {
	err := s.cfg.Auth.AuthorizeIngest(context.Background(), auth.IngestRequest{Room: room, Key: key, Protocol: proto, RemoteAddr: remote})
	if err != nil {
		return fmt.Errorf("%w for room %q: %v", ErrBadKey, room, err)
	}
	return nil
}
