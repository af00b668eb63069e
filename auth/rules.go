package auth

import (
	"net/http"
	"strings"

	"github.com/glint-video/glint/config"
)

// rule is what a request needs: a role in a room (none for Admin), or nothing (pass).
type rule struct {
	pass  bool
	role  Role
	room  string
	media bool // an LL-HLS or DVR URL: signed URLs are accepted, playlists are signed
	// anyRoom: any valid credential passes; the handler checks the room it finds
	// (AllowedIn), e.g. a session's stats for the session's own viewer or publisher.
	anyRoom bool
	live    bool // under /hls/: parts and segments get the short signature
	// cluster: the cluster secret passes too (another node's relay reads the room's tracks).
	cluster bool
}

// classify maps a request to its rule. This table is the one place that says which entry
// needs what:
//
//	/whip/{room}[/...]                     publish
//	/whep/{room}[/...]                     subscribe (layer requests included)
//	/hls/{room}/...                        subscribe, token or signed URL
//	/dash/{room}/...                       subscribe, token or signed URL (the MPD is signed)
//	/dash/time                             open (a permanent redirect to GET /api/time?format=iso)
//	/dvr/{room}/..., /dvr/recordings/{room}.{ts}/...   subscribe, token or signed URL
//	/dvr/clips/...                         admin
//	GET /api/rooms/{room}/events, /ws/rooms/{room}     subscribe
//	GET /api/rooms/{room}/timed-events                 subscribe (a page's events of the last 30 s)
//	POST /api/rooms/{room}/actions                     subscribe (a viewer's fair action)
//	POST /api/rooms/{room}/events                      publish (a timed event)
//	GET /api/sessions/{id}                 a credential for the session's room (checked by signaling)
//	GET /api/rooms/{room}                  admin, or the cluster secret (a relay reads the room's tracks)
//	GET /api/time                          open (the server's clock; the MPD's UTCTiming)
//	/api/... (the room list, tokens, ...), /debug/...  admin
//	anything else (pages, /healthz, /metrics), OPTIONS  open
func classify(r *http.Request) rule {
	if r.Method == http.MethodOptions {
		return rule{pass: true}
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	at := func(i int) string {
		if i < len(seg) {
			return seg[i]
		}
		return ""
	}
	switch seg[0] {
	case "whip":
		return rule{role: Publish, room: at(1)}
	case "whep":
		return rule{role: Subscribe, room: at(1)}
	case "hls":
		return rule{role: Subscribe, room: at(1), media: true, live: true}
	case "dash":
		if len(seg) == 2 && seg[1] == "time" {
			return rule{pass: true}
		}
		return rule{role: Subscribe, room: at(1), media: true, live: true}
	case "dvr":
		switch at(1) {
		case "clips":
			return rule{role: Admin}
		case "recordings":
			room, _, _ := strings.Cut(at(2), ".")
			return rule{role: Subscribe, room: room, media: true}
		}
		return rule{role: Subscribe, room: at(1), media: true}
	case "api":
		if len(seg) == 2 && seg[1] == "time" {
			return rule{pass: true} // the server's clock, for every page
		}
		if len(seg) == 4 && seg[1] == "rooms" {
			switch {
			case (seg[3] == "events" || seg[3] == "timed-events") && r.Method == http.MethodGet,
				seg[3] == "actions" && r.Method == http.MethodPost:
				return rule{role: Subscribe, room: seg[2]}
			case seg[3] == "events" && r.Method == http.MethodPost:
				return rule{role: Publish, room: seg[2]}
			}
		}
		if len(seg) == 3 && seg[1] == "rooms" && r.Method == http.MethodGet {
			return rule{role: Admin, cluster: true}
		}
		if len(seg) == 3 && seg[1] == "sessions" && r.Method == http.MethodGet {
			return rule{role: Subscribe, anyRoom: true}
		}
		return rule{role: Admin}
	case "ws":
		if at(1) == "rooms" {
			return rule{role: Subscribe, room: at(2)}
		}
		return rule{role: Admin}
	case "debug":
		return rule{role: Admin}
	}
	return rule{pass: true}
}

// validRoom reports whether the rule's room can be checked: admin rules have none.
func (rl rule) validRoom() bool {
	return rl.role == Admin || rl.anyRoom || config.ValidRoomName(rl.room)
}
