package hlsbridge

import (
	"encoding/json"
	"net/http"
)

// Status is GET /api/hls: the H.264 encoder of the LL-HLS ladder (probed when Run starts;
// empty until then, or when none is usable) and the rooms with a running bridge.
type Status struct {
	Encoder  string   `json:"encoder"`
	Hardware bool     `json:"hardware"`
	Rooms    []string `json:"rooms"`
}

// Status returns the Manager's encoder and bridged rooms.
func (m *Manager) Status() Status {
	enc := m.Encoder()
	return Status{Encoder: enc.Name, Hardware: enc.Hardware, Rooms: m.Rooms()}
}

// Register mounts the LL-HLS server (Options.Server) at /hls/ and GET /api/hls on mux.
func (m *Manager) Register(mux *http.ServeMux) {
	mux.Handle("/hls/", m.opts.Server)
	mux.HandleFunc("GET /api/hls", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(m.Status())
	})
}
