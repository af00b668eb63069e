package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/hlsbridge"
	"github.com/glint-video/glint/ingest"
	"github.com/glint-video/glint/metrics"
	"github.com/glint-video/glint/sfu"
	"github.com/glint-video/glint/signaling"
	"github.com/glint-video/glint/web"
)

// node is every service of one `glint serve`, built from the config and not yet running.
type node struct {
	cfg config.Config
	log *slog.Logger
	sfu *sfu.SFU
	mux *http.ServeMux
	ln  net.Listener // the HTTP listener

	// streamsCtx ends the streams: the background services (LL-HLS bridges, ingest) run
	// until it ends, and signaling's sessions are bound to it.
	streamsCtx context.Context
	endStreams context.CancelFunc
	services   []func(context.Context)
}

// newNode builds the node's services and binds its listeners; on an error, whatever it
// built is released.
func newNode(cfg config.Config, log *slog.Logger) (n *node, err error) {
	n = &node{cfg: cfg, log: log, mux: http.NewServeMux()}
	n.streamsCtx, n.endStreams = context.WithCancel(context.Background())
	var cleanups []func()
	defer func() {
		if err != nil {
			n.endStreams()
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()
	rooms := cluster.NewMemory(cluster.DefaultNode)
	if n.sfu, err = newSFU(cfg, log, rooms); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = n.sfu.Close(context.Background()) })
	signaling.New(signaling.Options{
		SFU: n.sfu, RoomTokens: cfg.RoomTokens, ICEServers: cfg.ICEServers, CORSOrigin: cfg.CORSOrigin,
		Logger: log, Context: n.streamsCtx,
	}).Register(n.mux)
	n.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	})
	n.mux.Handle("/", web.Handler())
	collectors, err := n.addHLS()
	if err != nil {
		return nil, err
	}
	n.mux.Handle("GET /metrics", metrics.Handler(n.sfu, collectors...))
	in, err := n.addIngest(rooms)
	if err != nil {
		return nil, err
	}
	if in != nil {
		cleanups = append(cleanups, in.Close)
	}
	if n.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("http listen %s: %w", cfg.HTTPAddr, err)
	}
	return n, nil
}

func newSFU(cfg config.Config, log *slog.Logger, rooms cluster.Directory) (*sfu.SFU, error) {
	return sfu.New(sfu.Options{
		Transport: sfu.TransportConfig{
			UDPPort: cfg.UDPPort, ICETCP: cfg.ICETCP, PublicIPs: cfg.PublicIPs, ICEIPs: cfg.ICEIPs,
			ICEInterfaces: cfg.ICEInterfaces, ReadBuffer: cfg.UDPReadBuffer, ICETimeout: cfg.ICETimeout,
		},
		PLIInterval:      cfg.PLIInterval,
		KeyframeCacheAge: cmp.Or(cfg.JoinCacheAge, -1), // 0 in the configuration: always ask
		ReplacePublisher: cfg.PublisherPolicy == config.PolicyReplace,
		Directory:        rooms,
		Logger:           log,
	})
}

// addHLS adds the LL-HLS bridges when LL-HLS is on (stopping them ends every HLS stream,
// which answers blocked playlist requests before the HTTP shutdown), with the metric of
// their encoder.
func (n *node) addHLS() ([]prometheus.Collector, error) {
	if !n.cfg.HLS {
		return nil, nil
	}
	bridges, err := hlsbridge.NewManager(hlsbridge.Options{SFU: n.sfu, Server: hls.NewServer(n.log), Log: n.log,
		HLS:   hls.Config{SegmentDuration: n.cfg.HLSSegment, PartDuration: n.cfg.HLSPart},
		Rooms: n.cfg.RoomSettings})
	if err != nil {
		return nil, err
	}
	bridges.Register(n.mux)
	n.services = append(n.services, func(ctx context.Context) { _ = bridges.Run(ctx) })
	return []prometheus.Collector{metrics.NewEncoderCollector(func() (string, bool) {
		enc := bridges.Encoder()
		return enc.Name, enc.Hardware
	})}, nil
}

// addIngest binds RTMP and SRT ingest when either address is set; nil when both are off.
func (n *node) addIngest(rooms cluster.Directory) (*ingest.Server, error) {
	if n.cfg.RTMPAddr == "" && n.cfg.SRTAddr == "" {
		return nil, nil
	}
	in, err := ingest.New(ingest.Config{RTMPAddr: n.cfg.RTMPAddr, SRTAddr: n.cfg.SRTAddr, StreamKeys: n.cfg.StreamKeys,
		Passphrase: n.cfg.SRTPassphrase, Directory: rooms, Log: n.log}, n.sfu)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	in.Register(n.mux)
	n.log.Info("ingest listening", "rtmp", in.RTMPAddr(), "srt", in.SRTAddr())
	n.services = append(n.services, func(ctx context.Context) { _ = in.Serve(ctx) })
	return in, nil
}
