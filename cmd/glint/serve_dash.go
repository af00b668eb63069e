package main

import (
	"time"

	"github.com/glint-video/glint/dash"
	"github.com/glint-video/glint/dvr"
)

// addDASH serves the LL-HLS streams as low-latency MPEG-DASH at /dash/ (the same fragments,
// chunked while written); off with LL-HLS. With the DVR on, each MPD reaches back over the
// room's DVR window, its older segments read from the DVR.
func (n *node) addDASH() {
	if n.hlsServer == nil {
		return
	}
	var archive dash.Archive // nil: no DVR
	if n.dvr != nil {
		cfg := n.cfg
		archive = dvr.NewTimeshift(n.dvr, func(room string) time.Duration { return cfg.RoomSettings(room).DVRWindow })
	}
	n.mux.Handle("/dash/", dash.NewServer(n.hlsServer, archive, n.log))
}
