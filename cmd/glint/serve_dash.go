package main

import "github.com/glint-video/glint/dash"

// addDASH serves the LL-HLS streams as low-latency MPEG-DASH at /dash/ (the same fragments,
// chunked while written); off with LL-HLS.
func (n *node) addDASH() {
	if n.hlsServer == nil {
		return
	}
	n.mux.Handle("/dash/", dash.NewServer(n.hlsServer, n.log))
}
