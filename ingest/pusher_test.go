package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	srt "github.com/datarhei/gosrt"

	"github.com/glint-video/glint/media"
)

// The latency benchmark's publisher: a pre-encoded MPEG-TS file (made once by ffmpeg) read
// into access units, sent in real time over RTMP (gortmplib client) or SRT (gosrt caller,
// MPEG-TS muxed by mediacommon), with the send time of each access unit stamped in a
// capture-time SEI (media.AppendCaptureSEI) and the send times of the flash pictures kept.

// benchUnit is one access unit of the source: video (H.264 NAL units) or one AAC frame.
type benchUnit struct {
	video    bool
	pts, dts int64 // 90 kHz, from 1 s on
	nalus    [][]byte
	aac      []byte
	flash    bool // the white picture of its second
}

// benchSource is a pre-encoded stream, ready to push.
type benchSource struct {
	units    []benchUnit
	sps, pps []byte
	aac      mpeg4audio.AudioSpecificConfig
}

// makeBenchSource encodes seconds of 1280x720 30 fps testsrc2 (H.264 at 2.5 Mbit/s, a 2 s
// GOP, white for the picture half-way through every second, so off the keyframes) and a
// 48 kHz AAC sine, with B-frames (libx264 defaults) or without (tune zerolatency).
func makeBenchSource(ctx context.Context, seconds int, bframes bool) (*benchSource, error) {
	args := []string{"-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30,drawbox=w=iw:h=ih:c=white:t=fill:enable='eq(mod(n\\,30)\\,15)'",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "60", "-b:v", "2500k", "-maxrate", "2500k",
		"-bufsize", "2500k", "-preset", "veryfast", "-c:a", "aac", "-b:a", "128k"}
	if bframes {
		args = append(args, "-bf", "2")
	} else {
		args = append(args, "-tune", "zerolatency", "-bf", "0")
	}
	out, err := exec.CommandContext(ctx, "ffmpeg", append(args, "-f", "mpegts", "-")...).Output()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %w", err)
	}
	return readBenchSource(out)
}

func readBenchSource(ts []byte) (*benchSource, error) {
	src := &benchSource{}
	r := &mpegts.Reader{R: bytes.NewReader(ts)}
	if err := r.Initialize(); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	for _, t := range r.Tracks() {
		switch c := t.Codec.(type) {
		case *tscodecs.H264:
			r.OnDataH264(t, func(pts, dts int64, au [][]byte) error {
				var params h264Params
				params.update(au)
				if src.sps == nil && params.SPS != nil && params.PPS != nil {
					src.sps, src.pps = params.SPS, params.PPS
				}
				src.units = append(src.units, benchUnit{video: true, pts: pts, dts: dts, nalus: au})
				return nil
			})
		case *tscodecs.MPEG4Audio:
			src.aac = c.Config
			r.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error {
				for i, au := range aus {
					p := pts + int64(i)*1024*ticksPerSecond/int64(c.Config.SampleRate)
					src.units = append(src.units, benchUnit{pts: p, dts: p, aac: au})
				}
				return nil
			})
		}
	}
	for r.Read() == nil {
	}
	if src.sps == nil || len(src.units) == 0 {
		return nil, fmt.Errorf("source: no H.264 with SPS and PPS")
	}
	// Times from 1 s on; picture n of the source is at PTS n*3000 after the first.
	first, firstPTS := src.units[0].dts, int64(-1)
	for _, u := range src.units {
		first = min(first, u.dts)
		if u.video && (firstPTS < 0 || u.pts < firstPTS) {
			firstPTS = u.pts
		}
	}
	for i := range src.units {
		u := &src.units[i]
		if u.video {
			u.flash = ((u.pts-firstPTS+1500)/3000)%30 == 15
		}
		u.pts += ticksPerSecond - first
		u.dts += ticksPerSecond - first
	}
	return src, nil
}

// flashLog keeps the send times of the flash pictures.
type flashLog struct {
	mu   sync.Mutex
	sent []time.Time
}

func (f *flashLog) add(t time.Time) {
	f.mu.Lock()
	f.sent = append(f.sent, t)
	f.mu.Unlock()
}

func (f *flashLog) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.sent...)
}

// unitWriter sends one unit at its times; the NAL units already carry the capture SEI.
type unitWriter func(u benchUnit, nalus [][]byte) error

// push sends the source in real time (by decode time) through write until ctx ends or the
// source is over.
func (src *benchSource) push(ctx context.Context, write unitWriter, flashes *flashLog) error {
	start := time.Now()
	for _, u := range src.units {
		at := start.Add(media.Duration(u.dts-ticksPerSecond, ticksPerSecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(at)):
		}
		nalus := u.nalus
		if u.video {
			now := time.Now()
			nalus = withCaptureSEI(u.nalus, now)
			if u.flash {
				flashes.add(now)
			}
		}
		if err := write(u, nalus); err != nil {
			return err
		}
	}
	return nil
}

// withCaptureSEI puts a capture-time SEI in front of the first slice of an access unit.
func withCaptureSEI(au [][]byte, t time.Time) [][]byte {
	out := make([][]byte, 0, len(au)+1)
	done := false
	for _, n := range au {
		if typ := n[0] & 0x1f; !done && (typ == 1 || typ == media.H264NALIDR) {
			out = append(out, media.AppendCaptureSEI(nil, t))
			done = true
		}
		out = append(out, n)
	}
	return out
}

// rtmpWriter connects to rawURL (rtmp://host:port/live/room) as a publisher.
func (src *benchSource) rtmpWriter(ctx context.Context, rawURL string) (unitWriter, func(), error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		return nil, nil, fmt.Errorf("rtmp connect: %w", err)
	}
	video := &gortmplib.Track{Codec: &rtmpcodecs.H264{SPS: src.sps, PPS: src.pps}}
	audio := &gortmplib.Track{Codec: &rtmpcodecs.MPEG4Audio{Config: &src.aac}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("rtmp tracks: %w", err)
	}
	write := func(u benchUnit, nalus [][]byte) error {
		if u.video {
			return w.WriteH264(video, media.Duration(u.pts, ticksPerSecond), media.Duration(u.dts, ticksPerSecond), nalus)
		}
		return w.WriteMPEG4Audio(audio, media.Duration(u.pts, ticksPerSecond), u.aac)
	}
	return write, c.Close, nil
}

// srtWriter connects to addr (host:port) with streamid "publish:room" and muxes MPEG-TS,
// 7 TS packets (1316 bytes) per SRT packet, flushed after every unit.
func (src *benchSource) srtWriter(addr, room string) (unitWriter, func(), error) {
	cfg := srt.DefaultConfig()
	cfg.StreamId = "publish:" + room
	conn, err := srt.Dial("srt", addr, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("srt connect: %w", err)
	}
	buf := bufio.NewWriterSize(conn, 1316)
	video := &mpegts.Track{Codec: &tscodecs.H264{}}
	audio := &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: src.aac}}
	w := &mpegts.Writer{W: buf, Tracks: []*mpegts.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("mpeg-ts: %w", err)
	}
	write := func(u benchUnit, nalus [][]byte) error {
		var err error
		if u.video {
			err = w.WriteH264(video, u.pts, u.dts, nalus)
		} else {
			err = w.WriteMPEG4Audio(audio, u.pts, [][]byte{u.aac})
		}
		if err != nil {
			return err
		}
		return buf.Flush()
	}
	return write, func() { _ = conn.Close() }, nil
}

// procCPU is the CPU time (user + system) of process pid so far, from /proc/pid/stat.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields are counted after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no command name", pid)
	}
	var state string
	var skip, utime, stime int64
	_, err = fmt.Sscan(string(b[i+1:]), &state, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &skip, &utime, &stime)
	if err != nil {
		return 0, fmt.Errorf("/proc/%s/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}
