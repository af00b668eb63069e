package hls

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/glint-video/glint/media"
)

// partSegments is how many complete segments at the end of a playlist list their parts
// (with the segment in progress, three: about three target durations, RFC 8216bis 6.2.2).
const partSegments = 2

// renderedPlaylist is a media playlist as rendered for one track version.
type renderedPlaylist struct {
	version uint64
	body    []byte
}

// playlist returns the media playlist (a delta update if skip, gzip-compressed if gz),
// rendered once per track version however many blocked requests a new part wakes. The
// rendition reports in it may lag the other renditions by a part.
func (t *Track) playlist(skip, gz bool) []byte {
	t.renderMu.Lock()
	defer t.renderMu.Unlock()
	slot := &t.rendered[boolIndex(skip)][boolIndex(gz)]
	t.mu.Lock()
	if slot.body != nil && slot.version == t.version {
		t.mu.Unlock()
		t.s.stats.cacheHits.Add(1)
		return slot.body
	}
	t.mu.Unlock()
	body, version := t.mediaPlaylist(skip)
	if gz {
		body = Gzip(body)
	}
	t.mu.Lock()
	*slot = renderedPlaylist{version, body}
	t.s.stats.renders.Add(1)
	t.mu.Unlock()
	return body
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mediaPlaylist renders the track's live media playlist; skip asks for a Playlist Delta
// Update (_HLS_skip), ignored once the playlist has ended. version is the track version
// it shows.
func (t *Track) mediaPlaylist(skip bool) (body []byte, version uint64) {
	s := t.s
	var b bytes.Buffer
	t.mu.Lock()
	version = t.version
	dateRanges := s.dateRangesSnapshot() // under t.mu: a range added later bumps the version
	all := t.segs[max(0, len(t.segs)-s.cfg.Window):]
	ended, cur := t.ended, t.cur
	skipped := 0
	if skip && !ended {
		skipped = t.skippableLocked(all)
	}
	protocol := 6 // EXT-X-MAP in a media playlist
	if skipped > 0 {
		protocol = 9 // EXT-X-SKIP
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%d\n", protocol, s.target)
	fmt.Fprintf(&b, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=%d,PART-HOLD-BACK=%s,HOLD-BACK=%d\n",
		6*s.target, seconds(s.partHoldBack()), 3*s.target)
	fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%s\n", seconds(s.partTarget))
	if !ended {
		b.WriteString(startTag(s.startOffset()))
	}
	firstMSN, dseq := t.nextMSN, t.dseq
	if len(all) > 0 {
		firstMSN, dseq = all[0].msn, all[0].dseq
	} else if cur != nil {
		firstMSN, dseq = cur.msn, cur.dseq
	}
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", firstMSN, dseq)
	if skipped > 0 {
		fmt.Fprintf(&b, "#EXT-X-SKIP:SKIPPED-SEGMENTS=%d\n", skipped)
	}
	pdtAfter := func(i int) time.Time { // the PROGRAM-DATE-TIME of the segment after all[i]
		switch {
		case i+1 < len(all):
			return all[i+1].pdt
		case cur != nil && len(cur.parts) > 0:
			return cur.pdt
		}
		return maxTime
	}
	if skipped > 0 {
		writeDateRanges(&b, dateRanges, all[0].pdt, pdtAfter(skipped-1))
	}
	var prevInit *initSection
	for i := skipped; i < len(all); i++ {
		t.writeSegment(&b, all[i], i > 0, &prevInit, i >= len(all)-partSegments)
		writeDateRanges(&b, dateRanges, all[i].pdt, pdtAfter(i))
		fmt.Fprintf(&b, "#EXTINF:%.5f,\nseg%d.m4s\n", ticksDur(all[i].ticks, t.timescale).Seconds(), all[i].msn)
	}
	if cur != nil && len(cur.parts) > 0 {
		t.writeSegment(&b, cur, len(all) > 0, &prevInit, true)
		writeDateRanges(&b, dateRanges, cur.pdt, maxTime)
	}
	if !ended {
		msn, idx := t.edgeLocked()
		fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part%d.%d.m4s\"\n", msn, idx)
	}
	t.mu.Unlock()
	if ended {
		b.WriteString("#EXT-X-ENDLIST\n")
		return b.Bytes(), version
	}
	for _, o := range s.tracks() {
		if o == t {
			continue
		}
		if msn, idx, ok := o.lastPart(); ok {
			fmt.Fprintf(&b, "#EXT-X-RENDITION-REPORT:URI=\"../%s/index.m3u8\",LAST-MSN=%d,LAST-PART=%d\n", o.rendition, msn, idx)
		}
	}
	return b.Bytes(), version
}

// writeSegment writes the tags that precede a segment's URI line (or close the playlist
// for the segment in progress): discontinuity, init segment, date-time and parts.
func (t *Track) writeSegment(b *bytes.Buffer, seg *segment, notFirst bool, prevInit **initSection, withParts bool) {
	if seg.disc && notFirst {
		b.WriteString("#EXT-X-DISCONTINUITY\n")
	}
	if seg.init != *prevInit || seg.disc {
		fmt.Fprintf(b, "#EXT-X-MAP:URI=\"init%d.mp4\"\n", seg.init.id)
		*prevInit = seg.init
	}
	fmt.Fprintf(b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", seg.pdt.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	if !withParts {
		return
	}
	for i, p := range seg.parts {
		fmt.Fprintf(b, "#EXT-X-PART:DURATION=%.5f,URI=\"part%d.%d.m4s\"", ticksDur(p.ticks, t.timescale).Seconds(), seg.msn, i)
		if p.independent {
			b.WriteString(",INDEPENDENT=YES")
		}
		b.WriteByte('\n')
	}
}

// skippableLocked returns how many of the listed segments a delta update replaces with
// EXT-X-SKIP: those that end at least CAN-SKIP-UNTIL (6 target durations) before the end
// of the playlist.
func (t *Track) skippableLocked(listed []*segment) int {
	until := time.Duration(6*t.s.target) * time.Second
	var fromEnd time.Duration
	if t.cur != nil {
		fromEnd = ticksDur(t.cur.ticks, t.timescale)
	}
	for i := len(listed) - 1; i >= 0; i-- {
		if fromEnd >= until {
			return i + 1
		}
		fromEnd += ticksDur(listed[i].ticks, t.timescale)
	}
	return 0
}

// lastPart returns the last published part, for EXT-X-RENDITION-REPORT.
func (t *Track) lastPart() (msn uint64, idx int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur != nil && len(t.cur.parts) > 0 {
		return t.cur.msn, len(t.cur.parts) - 1, true
	}
	if n := len(t.segs); n > 0 {
		return t.segs[n-1].msn, len(t.segs[n-1].parts) - 1, true
	}
	return 0, 0, false
}

// bandwidth returns the peak and average bitrate (bit/s) of the listed segments, or the
// nominal one before any segment is complete.
func (t *Track) bandwidth() (peak, avg int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var size, ticks uint64
	for _, seg := range t.segs[max(0, len(t.segs)-t.s.cfg.Window):] {
		if d := ticksDur(seg.ticks, t.timescale).Seconds(); d > 0.1 {
			peak = max(peak, int(float64(seg.size*8)/d))
		}
		size, ticks = size+uint64(seg.size), ticks+seg.ticks
	}
	if d := ticksDur(ticks, t.timescale).Seconds(); d > 0.1 {
		return max(peak, 1), max(int(float64(size*8)/d), 1)
	}
	nominal := t.video.BitrateKbps * 1000
	if t.audio {
		nominal = t.audioInfo.BitrateKbps * 1000
	}
	return max(nominal, 1), max(nominal, 1)
}

// multivariantPlaylist renders the room's multivariant playlist: one variant per video
// rendition with a complete segment, all sharing the audio rendition's group.
func (s *Stream) multivariantPlaylist() []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:6\n")
	s.mu.Lock()
	video, audio := append([]*Track(nil), s.video...), s.audio
	s.mu.Unlock()
	var audioCodec string
	var audioPeak, audioAvg, channels int
	if audio != nil && audio.ready() {
		audio.mu.Lock()
		audioCodec, channels = media.AACCodecString(audio.audioInfo.ASC), audio.audioInfo.Channels
		audio.mu.Unlock()
		audioPeak, audioAvg = audio.bandwidth()
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aac\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"%d\",URI=\"%s/index.m3u8\"\n",
			channels, AudioRendition)
	}
	variants := 0
	for _, v := range video {
		if !v.ready() {
			continue
		}
		peak, avg := v.bandwidth()
		v.mu.Lock()
		info := v.video
		v.mu.Unlock()
		codecs, group := info.Codec, ""
		if audioCodec != "" {
			codecs, group = codecs+","+audioCodec, `,AUDIO="aac"`
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"%s\",RESOLUTION=%dx%d",
			peak+audioPeak, avg+audioAvg, codecs, info.Width, info.Height)
		if info.FPS > 0 {
			fmt.Fprintf(&b, ",FRAME-RATE=%.3f", info.FPS)
		}
		fmt.Fprintf(&b, "%s\n%s/index.m3u8\n", group, v.rendition)
		variants++
	}
	if variants == 0 && audioCodec != "" { // audio only
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,AVERAGE-BANDWIDTH=%d,CODECS=\"%s\"\n%s/index.m3u8\n",
			audioPeak, audioAvg, audioCodec, AudioRendition)
	}
	return b.Bytes()
}

func (t *Track) ready() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.readyLocked()
}

// maxTime is later than any date range.
var maxTime = time.Unix(1<<40, 0)

// seconds formats a duration as a decimal number of seconds without trailing zeros.
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// partHoldBack is the playlist's PART-HOLD-BACK: three part targets (RFC 8216bis: at least
// two, three recommended), with a millisecond of margin for clients' float comparisons.
func (s *Stream) partHoldBack() time.Duration { return 3*s.partTarget + time.Millisecond }

// startOffset is how far before the live edge EXT-X-START asks a player to start: two part
// targets, the least hold-back RFC 8216bis allows. A player computes its start position from
// the playlist it loaded before starting up (loading the parts from the independent one
// before it, booting its demuxer, buffering), and the edge moves on meanwhile, so that
// start-up time is added to the latency for good (hls.js's default playback rate never
// catches up): an offset of PART-HOLD-BACK left hls.js a start-up time behind its target
// latency; two part targets bring it to about PART-HOLD-BACK once it plays
// (docs/llhls-latency.md).
func (s *Stream) startOffset() time.Duration { return 2 * s.partTarget }

// freshStartOffset is the start offset of a first playlist held until that offset falls in a
// fresh keyframe's part (join.go): one part target. The player then starts at that keyframe
// and its start-up time is its buffer (it plays a little under PART-HOLD-BACK). Without the
// keyframe, a player starting one part from the edge loads and decodes from an older one
// and the watch page on such a publisher started with a 1 s stall in 3 of 7 rung pages;
// those keep startOffset.
func (s *Stream) freshStartOffset() time.Duration { return s.partTarget }

// freshStartPlaylist is the media playlist with EXT-X-START at freshStartOffset, for a held
// first playlist whose start position is fresh. It is rendered for that one answer,
// uncompressed (one per joining viewer).
func (t *Track) freshStartPlaylist(skip bool) []byte {
	usual, fresh := startTag(t.s.startOffset()), startTag(t.s.freshStartOffset())
	return bytes.Replace(t.playlist(skip, false), []byte(usual), []byte(fresh), 1)
}

// startTag is the EXT-X-START line asking a player to start offset before the live edge:
// the one writer of it, so that freshStartPlaylist finds what mediaPlaylist wrote.
func startTag(offset time.Duration) string {
	return "#EXT-X-START:TIME-OFFSET=-" + seconds(offset) + ",PRECISE=YES\n"
}
