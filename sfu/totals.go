package sfu

import "sync"

// Totals are the node's cumulative counters, live sessions plus those that have ended.
type Totals struct {
	Rooms, LiveRooms, Publishers, Viewers int
	PacketsIn, BytesIn, IngestLost        uint64
	PacketsOut, BytesOut                  uint64
	NACKsIn, Retransmits, NACKsUpstream   uint64
	PLIsIn, PLIsUpstream, Skips           uint64
	Transit                               [len(transitBounds) + 1]uint64
	TransitSumNs                          uint64
	// TransitUnpaced is Transit less the time each viewer's pacer held the packet back.
	TransitUnpaced      [len(transitBounds) + 1]uint64
	TransitUnpacedSumNs uint64
	// Per-viewer video state: viewers per simulcast layer ("" = no simulcast), paused
	// viewers, and the sum of the viewers' bandwidth estimates (bit/s).
	ViewersByLayer map[string]int
	PausedViewers  int
	EstimateSum    uint64
	Probes         uint64
	// Video viewers' starts: at a cached keyframe, or with a keyframe request to the source.
	JoinsFromCache, JoinsWithKeyframeRequest uint64
	// The media socket's batched sender: sendmmsg calls and the packets they sent (zero
	// with TransportConfig.DirectSend).
	SendCalls, SendPackets uint64
	// Relay sessions: other nodes' relay subscribers of this node's rooms (out) and this
	// node's relays of other nodes' rooms, publishing here (in). Neither is in Publishers
	// or Viewers.
	RelaysOut, RelaysIn int
}

// retiredTotals keeps the counters of closed tracks so totals never go down.
type retiredTotals struct {
	mu sync.Mutex
	t  Totals
}

func (r *retiredTotals) add(d *DownTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	addDown(&r.t, d)
}

func (r *retiredTotals) addUp(u *UpTrack) {
	r.mu.Lock()
	defer r.mu.Unlock()
	addUp(&r.t, u)
}

func addDown(t *Totals, d *DownTrack) {
	t.PacketsOut += d.stats.packets.Load()
	t.BytesOut += d.stats.bytes.Load()
	t.NACKsIn += d.stats.nacksIn.Load()
	t.Retransmits += d.stats.retransmits.Load()
	t.PLIsIn += d.stats.plisIn.Load()
	t.Skips += d.stats.skips.Load()
	t.Probes += d.stats.probes.Load()
	t.JoinsFromCache += d.stats.joinsFromCache.Load()
	t.JoinsWithKeyframeRequest += d.stats.joinsAskingKey.Load()
	t.TransitSumNs += d.stats.transit.all.addTo(&t.Transit)
	t.TransitUnpacedSumNs += d.stats.transit.unpaced.addTo(&t.TransitUnpaced)
}

func addUp(t *Totals, u *UpTrack) {
	t.PacketsIn += u.packets.Load()
	t.BytesIn += u.bytes.Load()
	t.IngestLost += u.Lost()
	t.PLIsUpstream += u.plisSent.Load()
	t.NACKsUpstream += u.nacksSent.Load()
}

// Totals sums every counter of the node.
func (s *SFU) Totals() Totals {
	s.retired.mu.Lock()
	t := s.retired.t
	s.retired.mu.Unlock()
	t.ViewersByLayer = map[string]int{}
	if b := s.tr.batch; b != nil {
		calls, packets := b.batchStats()
		t.SendCalls, t.SendPackets = uint64(calls), uint64(packets)
	}
	s.mu.Lock()
	sessions := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	t.Rooms = len(s.rooms)
	for _, r := range s.rooms {
		r.mu.Lock()
		if r.live {
			t.LiveRooms++
		}
		r.mu.Unlock()
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		switch {
		case sess.Role == RolePublisher && sess.fromRelay:
			t.RelaysIn++
		case sess.Role == RolePublisher:
			t.Publishers++
		case sess.Role == RoleRelay:
			t.RelaysOut++
		default:
			t.Viewers++
		}
		if sess.Role == RolePublisher {
			for _, u := range sess.upTracks() {
				addUp(&t, u)
			}
			continue
		}
		for _, d := range sess.DownTracks() {
			addDown(&t, d)
			if !d.isVideo || sess.Role == RoleRelay {
				continue
			}
			if d.allocRank.Load() == rankPause {
				t.PausedViewers++
			} else {
				t.ViewersByLayer[d.Layer()]++
			}
			t.EstimateSum += d.estimate.Load()
		}
	}
	return t
}
