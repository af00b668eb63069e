package sfu

// RoomTotals are one room's counters, summed over its live sessions at the time of the
// call (read for metrics and the dashboard, never kept per packet). Counters restart when a
// session ends: a publisher that reconnects starts its room's bytes again.
type RoomTotals struct {
	Publishers, Viewers int
	PacketsIn, BytesIn  uint64
	PacketsOut          uint64
	BytesOut            uint64
	// ViewersByLayer counts video viewers per simulcast layer ("" without simulcast);
	// PausedViewers those whose bandwidth carries no layer (audio only).
	ViewersByLayer map[string]int
	PausedViewers  int
}

// RoomTotals sums each room's live sessions, by room name. Rooms without sessions are left
// out.
func (s *SFU) RoomTotals() map[string]RoomTotals {
	s.mu.Lock()
	sessions := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	out := map[string]RoomTotals{}
	for _, sess := range sessions {
		t := out[sess.Room]
		if t.ViewersByLayer == nil {
			t.ViewersByLayer = map[string]int{}
		}
		if sess.Role == RolePublisher {
			t.Publishers++
			for _, u := range sess.upTracks() {
				t.PacketsIn += u.packets.Load()
				t.BytesIn += u.bytes.Load()
			}
		} else {
			t.Viewers++
			for _, d := range sess.DownTracks() {
				t.PacketsOut += d.stats.packets.Load()
				t.BytesOut += d.stats.bytes.Load()
				switch {
				case !d.isVideo:
				case d.allocRank.Load() == rankPause:
					t.PausedViewers++
				default:
					t.ViewersByLayer[d.Layer()]++
				}
			}
		}
		out[sess.Room] = t
	}
	return out
}
