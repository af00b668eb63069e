package hlsbridge

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// nal returns an H.264 NAL unit of type typ with n body bytes derived from seed.
func nal(typ byte, n int, seed byte) []byte {
	b := []byte{0x60 | typ}
	if typ == 1 {
		b[0] = 0x40 | typ
	}
	for i := range n {
		b = append(b, seed+byte(i))
	}
	return b
}

var (
	sps   = nal(7, 8, 1)
	pps   = nal(8, 4, 2)
	idr   = nal(5, 3000, 3)
	slice = nal(1, 900, 4)
	sei   = nal(6, 10, 5)
)

// fuA splits a NAL unit into n FU-A payloads.
func fuA(nalu []byte, n int) [][]byte {
	body := nalu[1:]
	var out [][]byte
	step := (len(body) + n - 1) / n
	for i := 0; i < len(body); i += step {
		fh := nalu[0] & 0x1f
		if i == 0 {
			fh |= 0x80
		}
		end := min(i+step, len(body))
		if end == len(body) {
			fh |= 0x40
		}
		out = append(out, append([]byte{nalu[0]&0xe0 | 28, fh}, body[i:end]...))
	}
	return out
}

func stapA(nals ...[]byte) []byte {
	b := []byte{0x78}
	for _, n := range nals {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// pkt is one test packet; lost ones are skipped but use up their sequence number.
type pkt struct {
	ts      uint32
	marker  bool
	payload []byte
	lost    bool
}

// au is an expected access unit: its RTP timestamp, keyframe flag and NAL units in order.
type au struct {
	ts   uint32
	key  bool
	nals [][]byte
}

func frames(ts uint32, marker bool, payloads ...[]byte) []pkt {
	var out []pkt
	for i, p := range payloads {
		out = append(out, pkt{ts: ts, marker: marker && i == len(payloads)-1, payload: p})
	}
	return out
}

func lose(ps []pkt, i int) []pkt {
	ps = append([]pkt(nil), ps...)
	ps[i].lost = true
	return ps
}

func join(parts ...[]pkt) []pkt {
	var out []pkt
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestH264Depacketizer(t *testing.T) {
	corrupt := append([]byte{0x80 | slice[0]}, slice[1:]...)
	corruptSEI := append([]byte{0x80 | sei[0]}, sei[1:]...)
	tests := []struct {
		name    string
		packets []pkt
		want    []au
		dropped int
	}{
		{
			name:    "single NAL unit packets",
			packets: join(frames(100, true, sps, pps, idr), frames(200, true, slice)),
			want:    []au{{100, true, [][]byte{sps, pps, idr}}, {200, false, [][]byte{slice}}},
		},
		{
			name:    "STAP-A and FU-A",
			packets: join(frames(100, true, append([][]byte{stapA(sps, pps)}, fuA(idr, 3)...)...), frames(200, true, fuA(slice, 2)...)),
			want:    []au{{100, true, [][]byte{sps, pps, idr}}, {200, false, [][]byte{slice}}},
		},
		{
			name:    "access unit ends at a timestamp change without marker",
			packets: join(frames(100, false, stapA(sps, pps), idr), frames(200, false, slice), frames(300, true, slice)),
			want:    []au{{100, true, [][]byte{sps, pps, idr}}, {200, false, [][]byte{slice}}, {300, false, [][]byte{slice}}},
		},
		{
			name: "lost FU-A fragment drops the frame and waits for a keyframe",
			packets: join(frames(100, true, sps, pps, idr), lose(frames(200, true, fuA(slice, 3)...), 1),
				frames(300, true, slice), frames(400, true, fuA(idr, 2)...)),
			want: []au{{100, true, [][]byte{sps, pps, idr}}, {400, true, [][]byte{sps, pps, idr}}},
			// the damaged frame and the slice after it; the IDR gets the remembered SPS/PPS
			dropped: 2,
		},
		{
			name:    "lost first fragment",
			packets: join(frames(100, true, sps, pps, idr), lose(frames(200, true, fuA(slice, 3)...), 0), frames(300, true, sps, pps, idr)),
			want:    []au{{100, true, [][]byte{sps, pps, idr}}, {300, true, [][]byte{sps, pps, idr}}},
			dropped: 1,
		},
		{
			name:    "lost last fragment with the marker",
			packets: join(frames(100, true, sps, pps, idr), lose(frames(200, true, fuA(slice, 3)...), 2), frames(300, true, slice)),
			want:    []au{{100, true, [][]byte{sps, pps, idr}}},
			dropped: 2,
		},
		{
			name:    "whole frame lost: wait for a keyframe",
			packets: join(frames(100, true, sps, pps, idr), lose(frames(200, true, slice), 0), frames(300, true, slice), frames(400, true, idr)),
			want:    []au{{100, true, [][]byte{sps, pps, idr}}, {400, true, [][]byte{sps, pps, idr}}},
			dropped: 1,
		},
		{
			name:    "delta frames before the first keyframe",
			packets: join(frames(100, true, slice), frames(200, true, stapA(sps, pps, idr))),
			want:    []au{{200, true, [][]byte{sps, pps, idr}}},
			dropped: 1,
		},
		{
			name:    "corrupt slice drops the frame, corrupt SEI only itself",
			packets: join(frames(100, true, sps, pps, corruptSEI, idr), frames(200, true, corrupt), frames(300, true, slice), frames(400, true, idr)),
			want:    []au{{100, true, [][]byte{sps, pps, idr}}, {400, true, [][]byte{sps, pps, idr}}},
			dropped: 2,
		},
		{
			name:    "truncated STAP-A",
			packets: join(frames(100, true, stapA(sps, pps)[:10], idr), frames(200, true, stapA(sps, pps), idr)),
			want:    []au{{200, true, [][]byte{sps, pps, idr}}},
			dropped: 1,
		},
		{
			name:    "FU-A start without end, then a new NAL unit",
			packets: join(frames(100, true, fuA(idr, 3)[0], sps), frames(200, true, sps, pps, idr)),
			want:    []au{{200, true, [][]byte{sps, pps, idr}}},
			dropped: 1,
		},
		{
			name:    "padding-only packets take a sequence number, nothing else",
			packets: join(frames(100, true, sps, pps, idr), []pkt{{ts: 100}}, frames(200, false, slice), []pkt{{ts: 250}}, frames(200, true, slice)),
			want:    []au{{100, true, [][]byte{sps, pps, idr}}, {200, false, [][]byte{slice, slice}}},
		},
		{
			name:    "interleaved-mode packet types are refused",
			packets: join(frames(100, true, sps, pps, idr), frames(200, true, []byte{0x7d, 0, 0}), frames(300, true, idr)),
			want:    []au{{100, true, [][]byte{sps, pps, idr}}, {300, true, [][]byte{sps, pps, idr}}},
			dropped: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newH264Depacketizer()
			var got []frame
			seq := uint16(65530) // wraps around inside most cases
			start := time.Now()
			for i, p := range tt.packets {
				seq++
				if p.lost {
					continue
				}
				got = d.push(rtpPacket{seq: seq, ts: p.ts, marker: p.marker, payload: p.payload,
					arrival: start.Add(time.Duration(i) * time.Millisecond)}, got)
				if i == 0 { // a duplicate is ignored
					got = d.push(rtpPacket{seq: seq, ts: p.ts, marker: p.marker, payload: p.payload}, got)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d access units, want %d: %v", len(got), len(tt.want), describe(got))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.ts != w.ts || g.keyframe != w.key || !equalNALs(splitAnnexB(g.data), w.nals) {
					t.Errorf("access unit %d: %s, want ts %d key %v with %d NAL units", i, describe(got[i:i+1]), w.ts, w.key, len(w.nals))
				}
				if g.first.After(g.last) || g.first.Before(start) {
					t.Errorf("access unit %d: arrival %v..%v", i, g.first, g.last)
				}
			}
			if d.stats() != tt.dropped {
				t.Errorf("dropped %d access units, want %d", d.stats(), tt.dropped)
			}
		})
	}
}

func equalNALs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func describe(fs []frame) string {
	var b bytes.Buffer
	for _, f := range fs {
		fmt.Fprintf(&b, "[ts %d key %v nals", f.ts, f.keyframe)
		for _, n := range splitAnnexB(f.data) {
			fmt.Fprintf(&b, " %d(%dB)", n[0]&0x1f, len(n))
		}
		b.WriteString("] ")
	}
	return b.String()
}

func TestSplitAnnexB(t *testing.T) {
	in := []byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 0, 0}
	got := splitAnnexB(in)
	want := [][]byte{{0x67, 1, 2}, {0x68, 3}, {0x65, 4, 0, 0}}
	if !equalNALs(got, want) {
		t.Fatalf("splitAnnexB = %x, want %x", got, want)
	}
}

// BenchmarkH264DepacketizerPush pushes one access unit (SPS, PPS, a 3 kB IDR in FU-A
// fragments) per iteration through the frame gate and media.H264Depacketizer: the per-packet
// loop allocates nothing; what a frame costs is its NAL copies and the Annex-B frame handed on.
func BenchmarkH264DepacketizerPush(b *testing.B) {
	payloads := append([][]byte{stapA(sps, pps)}, fuA(idr, 3)...)
	d := newH264Depacketizer()
	out := make([]frame, 0, 4)
	seq, ts := uint16(0), uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		ts += 3000
		for i, pl := range payloads {
			seq++
			out = d.push(rtpPacket{seq: seq, ts: ts, marker: i == len(payloads)-1, payload: pl}, out[:0])
		}
		if len(out) != 1 || !out[0].keyframe {
			b.Fatalf("got %d frames", len(out))
		}
	}
}
