package hlsbridge

import (
	"encoding/json"
	"net/http"
)

// Status is GET /api/hls: the H.264 encoder of the LL-HLS ladder (probed when Run starts;
// empty until then, or when none is usable), the rooms with a running bridge, and the
// on-demand rooms among them whose re-encoding is parked (nobody requested their HLS URLs
// lately).
type Status struct {
	Encoder  string   `json:"encoder"`
	Hardware bool     `json:"hardware"`
	Rooms    []string `json:"rooms"`
	Parked   []string `json:"parked"`
}

// Status returns the Manager's encoder, bridged rooms and parked rooms.
func (m *Manager) Status() Status {
	enc := m.Encoder()
	return Status{Encoder: enc.Name, Hardware: enc.Hardware, Rooms: m.Rooms(), Parked: m.ParkedRooms()}
}

// ParkedRooms returns the on-demand rooms whose re-encoding is parked (the ladder parked, not
// just asked to), sorted.
func (m *Manager) ParkedRooms() []string {
	out := []string{}
	for _, room := range m.Rooms() {
		if v, ok := m.live.Load(room); ok && v.(*bridge).demand.isParked.Load() {
			out = append(out, room)
		}
	}
	return out
}

// Register mounts the LL-HLS server (Options.Front, else Options.Server) at /hls/ and GET /api/hls on mux.
func (m *Manager) Register(mux *http.ServeMux) {
	if m.opts.Front != nil {
		mux.Handle("/hls/", m.opts.Front)
	} else {
		mux.Handle("/hls/", m.opts.Server)
	}
	mux.HandleFunc("GET /api/hls", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m.Status())
	})
}
