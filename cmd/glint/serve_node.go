package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/glint-video/glint/auth"
	"github.com/glint-video/glint/cluster"
	"github.com/glint-video/glint/config"
	"github.com/glint-video/glint/dashboard"
	"github.com/glint-video/glint/dvr"
	"github.com/glint-video/glint/events"
	"github.com/glint-video/glint/hls"
	"github.com/glint-video/glint/hlsbridge"
	"github.com/glint-video/glint/ingest"
	"github.com/glint-video/glint/metrics"
	"github.com/glint-video/glint/relay"
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
	// auth checks every HTTP entry (run wraps mux in auth.Protect) and ingest's keys.
	auth *auth.Authorizer
	// dvr records every live room (nil when --dvr or --hls is off); it is the Catalog the
	// DVR's HTTP handlers (dvrHTTP) read.
	dvr     *dvr.Library
	dvrHTTP *dvr.Handler
	// The services the metrics and the dashboard read (nil when off); admin decides who
	// may read the dashboard (nil: loopback clients only).
	ingest       *ingest.Server
	hlsServer    *hls.Server
	bridges      *hlsbridge.Manager
	recentErrors *dashboard.RecentErrors
	admin        func(*http.Request) bool
	events       *events.Hub
	redis        *cluster.Redis // the cluster's directory and registry; nil when the node runs alone
	relayTree    *relay.Manager // relays from other nodes (serve_relay.go); nil alone or without a cluster secret
	// admission: limits, readiness and the admin check (serve_limits.go)
	admission *admission
	signaling *signaling.Server

	// streamsCtx ends the streams: the background services (LL-HLS bridges, ingest) run
	// until it ends, and signaling's sessions are bound to it.
	streamsCtx context.Context
	endStreams context.CancelFunc
	services   []func(context.Context)
}

// newNode builds the node's services and binds its listeners; on an error, whatever it
// built is released.
func newNode(cfg config.Config, log *slog.Logger) (_ *node, err error) {
	// n is not the named result: a failing return sets that to nil, and the cleanup below
	// still needs n.
	n := &node{cfg: cfg, mux: http.NewServeMux()}
	n.log, n.recentErrors = observed(log)
	log = n.log
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
	if n.auth, err = newAuthorizer(cfg, log); err != nil {
		return nil, err
	}
	if n.admission, err = newAdmission(cfg.Limits, log); err != nil {
		return nil, err
	}
	n.admin = n.adminCheck()
	n.admission.admin = n.admin
	rooms, err := n.openCluster()
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, n.closeCluster)
	if n.sfu, err = newSFU(cfg, log, rooms, n.admission.sfuLimits(), n.serveDataChannel, n.remotePublishers()); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = n.sfu.Close(context.Background()) })
	n.signaling = signaling.New(signaling.Options{
		SFU: n.sfu, ICEServers: cfg.ICEServers, CORSOrigin: cfg.CORSOrigin,
		Logger: log, Context: n.streamsCtx, Directory: rooms, Nodes: n.clusterRegistry(),
		Admission: n.admission.signaling(), ClusterSecret: cfg.Relay.ClusterSecret, Relays: n.relays(),
		DrainPeriod: cfg.Failover.DrainPeriod,
	})
	n.signaling.Register(n.mux)
	n.admission.ready.AddCheck(func() (bool, string) { // a drain asked over the API (glint drain)
		return n.signaling.Draining().Draining, "draining"
	})
	n.auth.Register(n.mux)
	n.addOperatorEndpoints(n.sfu)
	n.mux.Handle("/", web.Handler())
	if err := n.openDVR(); err != nil {
		return nil, err
	}
	if n.dvr != nil {
		cleanups = append(cleanups, func() { _ = n.closeDVR(context.Background()) })
	}
	collectors, err := n.addHLS()
	if err != nil {
		return nil, err
	}
	collectors = append(collectors, n.clusterCollectors()...)
	n.addEvents()
	in, err := n.addIngest(rooms)
	if err != nil {
		return nil, err
	}
	if in != nil {
		cleanups = append(cleanups, in.Close)
	}
	n.ingest = in
	n.addObservability(collectors)
	if n.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("http listen %s: %w", cfg.HTTPAddr, err)
	}
	n.registerNode(n.bridges)
	return n, nil
}

func newSFU(cfg config.Config, log *slog.Logger, rooms cluster.Directory, limits sfu.Limits,
	onDataChannel func(room, session string, dc *webrtc.DataChannel), onRemote func(*sfu.RemotePublisher)) (*sfu.SFU, error) {
	return sfu.New(sfu.Options{
		Transport: sfu.TransportConfig{
			UDPPort: cfg.UDPPort, ICETCP: cfg.ICETCP, PublicIPs: cfg.PublicIPs, ICEIPs: cfg.ICEIPs,
			ICEInterfaces: cfg.ICEInterfaces, ReadBuffer: cfg.UDPReadBuffer, ICETimeout: cfg.ICETimeout,
			DirectSend: !cfg.UDPBatchSend, SendLanes: cfg.UDPSendLanes,
		},
		ViewerBWE:        cfg.ViewerBWE,
		PLIInterval:      cfg.PLIInterval,
		KeyframeCacheAge: cmp.Or(cfg.JoinCacheAge, -1), // 0 in the configuration: always ask
		ReplacePublisher: cfg.PublisherPolicy == config.PolicyReplace,
		Backup: sfu.BackupOptions{Enabled: cfg.PublisherPolicy == config.PolicyBackup,
			Stall: cfg.Failover.BackupStall, Hold: cfg.Failover.BackupHold},
		Directory: rooms,
		Limits:    limits,
		Rooms:     cfg.RoomSettings,
		Logger:    log,

		ViewerDataChannel: onDataChannel, // the event channel of WHEP viewers
		RemotePublisher:   onRemote,      // cluster publishing (serve_backup.go)
	})
}

// addHLS adds the LL-HLS bridges when LL-HLS is on (stopping them ends every HLS stream,
// which answers blocked playlist requests before the HTTP shutdown), with the metric of
// their encoder.
func (n *node) addHLS() ([]prometheus.Collector, error) {
	if !n.cfg.HLS {
		return nil, nil
	}
	n.hlsServer = hls.NewServer(n.log)
	n.admission.limitHLS(n.hlsServer)
	bridges, err := hlsbridge.NewManager(hlsbridge.Options{SFU: n.sfu, Server: n.hlsServer, Log: n.log,
		HLS:   hls.Config{SegmentDuration: n.cfg.HLSSegment, PartDuration: n.cfg.HLSPart, Sink: n.segmentSink()},
		Rooms: n.cfg.RoomSettings, Idle: n.cfg.HLSIdle, NoJoinKeyframes: !n.cfg.HLSJoinKeyframe, Front: n.hlsFront(n.hlsServer, n.hlsServer.Has)})
	if err != nil {
		return nil, err
	}
	bridges.Register(n.mux)
	n.addDASH()
	n.bridges = bridges
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
	in, err := ingest.New(ingest.Config{RTMPAddr: n.cfg.RTMPAddr, SRTAddr: n.cfg.SRTAddr, StreamKeys: n.cfg.StreamKeys, Auth: n.auth,
		Passphrase: n.cfg.SRTPassphrase, Directory: rooms, Log: n.log,
		Backup: n.cfg.PublisherPolicy == config.PolicyBackup, BackupRoom: n.backupRoom, RelayToOwner: n.pushesOn(),
		NativeCodecs: n.cfg.HLS}, n.sfu)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	in.Register(n.mux)
	n.log.Info("ingest listening", "rtmp", in.RTMPAddr(), "srt", in.SRTAddr())
	n.services = append(n.services, func(ctx context.Context) { _ = in.Serve(ctx) })
	return in, nil
}

// openDVR opens the DVR's library on --data-dir when the DVR and LL-HLS are on (it
// records the LL-HLS segments), with its segments in S3 when --dvr-s3-endpoint is set: its
// recovery of what a crash left runs here, before anything is served.
func (n *node) openDVR() error {
	cfg := n.cfg
	if !cfg.DVR || !cfg.HLS {
		if cfg.DVR {
			n.log.Info("dvr: off, because LL-HLS is off (--hls=false)")
		}
		return nil
	}
	var store dvr.Store // nil: the disk under --data-dir
	if s3 := cfg.DVRS3; s3.Enabled() {
		ctx, cancel := context.WithTimeout(context.Background(), dvr.DefaultS3Timeout)
		defer cancel()
		st, err := dvr.NewS3Store(ctx, dvr.S3Options{Endpoint: s3.Endpoint, Bucket: s3.Bucket, Region: s3.Region,
			AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Insecure: s3.Insecure})
		if err != nil {
			return err
		}
		n.log.Info("dvr: segments go to S3", "endpoint", s3.Endpoint, "bucket", s3.Bucket, "indexes", cfg.DataDir)
		store = st
	}
	lib, err := dvr.Open(context.Background(), dvr.Options{DataDir: cfg.DataDir, Store: store, MaxAge: cfg.DVRMaxAge,
		MaxBytes: int64(cfg.DVRMaxBytes), MaxRoomBytes: int64(cfg.DVRRoomMaxBytes), Log: n.log})
	if err != nil {
		return fmt.Errorf("dvr: %w", err)
	}
	n.dvr = lib
	// The read side: DVR window, start-over and catch-up playlists, recordings, clips.
	n.dvrHTTP = dvr.NewHandler(dvr.HandlerOptions{Catalog: lib, Log: n.log,
		Window:  func(room string) time.Duration { return cfg.RoomSettings(room).DVRWindow },
		ClipDir: filepath.Join(cfg.DataDir, "clips")})
	n.dvrHTTP.Register(n.mux)
	return nil
}

// segmentSink is what the LL-HLS streams tell of their segments: the DVR, when on.
func (n *node) segmentSink() hls.SegmentSink {
	if n.dvr == nil {
		return nil
	}
	return n.dvr
}
