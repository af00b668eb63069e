package sfu

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/glint-video/glint/media"
)

// fwStep is one source packet of a layer, then a drain of the viewer, who wants to be on the
// layer want: the forwarder decides on every packet of its layer the drain reads.
type fwStep struct {
	layer string        // the packet's layer ("" for no packet: a drain only)
	key   bool          // a keyframe
	tid   int           // VP8 TID (-1: none)
	lost  bool          // the packet never reaches the ring (the viewer will see a gap)
	hold  bool          // the viewer does not drain after it (it is slow)
	want  string        // the layer the viewer should be on ("-": none, a pause)
	wait  time.Duration // extra time before the step (steps are 40 ms apart)
	tidTo int32         // the allocator's temporal cap from this step on (0: unchanged)

	asks string  // the layers asked for a keyframe during the step, in order
	out  []fwOut // what the drain decided, packet by packet
}

// fwOut is one decision: seq and ts count from the first packet sent, pic is the PictureID.
type fwOut struct {
	v   verdict
	seq uint16
	ts  uint32
	pic int
}

func send(seq uint16, ts uint32, pic int) fwOut {
	return fwOut{v: verdictSend, seq: seq, ts: ts, pic: pic}
}

var (
	keyWait = fwOut{v: verdictKeyWait}
	tidDrop = fwOut{v: verdictTemporalDrop}
)

// tidCap0 asks for the base temporal layer only.
const tidCap0 int32 = -1

func TestForwarderDecisions(t *testing.T) {
	const tick = 3600 // 40 ms at 90 kHz: the source's spacing and the steps'
	tests := []struct {
		name  string
		alloc int32 // the allocator's layer
		steps []fwStep
	}{
		{name: "a new viewer waits for a keyframe, asking again each second", steps: []fwStep{
			{layer: "l", tid: -1, want: "l", asks: "l", out: []fwOut{keyWait}},
			{layer: "l", tid: -1, out: []fwOut{keyWait}},
			{layer: "l", tid: -1, wait: time.Second, asks: "l", out: []fwOut{keyWait}},
			{layer: "l", tid: -1, key: true, out: []fwOut{send(0, 0, 1003)}},
			{layer: "l", tid: -1, out: []fwOut{send(1, tick, 1004)}},
		}},
		{name: "a packet missing from the ring keeps its numbers for the NACK", steps: []fwStep{
			{layer: "l", tid: -1, key: true, want: "l", asks: "l", out: []fwOut{send(0, 0, 1000)}},
			{layer: "l", tid: -1, lost: true},
			{layer: "l", tid: -1, out: []fwOut{send(2, 2*tick, 1002)}},
		}},
		{name: "temporal layers above the cap are dropped with the gap hidden", alloc: 1, steps: []fwStep{
			{layer: "l", tid: 0, key: true, want: "l", tidTo: tidCap0, asks: "l", out: []fwOut{send(0, 0, 1000)}},
			{layer: "l", tid: 2, out: []fwOut{tidDrop}},
			{layer: "l", tid: 1, out: []fwOut{tidDrop}},
			{layer: "l", tid: 2, out: []fwOut{tidDrop}},
			{layer: "l", tid: 0, out: []fwOut{send(1, 4*tick, 1001)}},
			{layer: "l", tid: 2, tidTo: tidAll, out: []fwOut{tidDrop}}, // a new cap waits for a base-layer picture
			{layer: "l", tid: 1, out: []fwOut{tidDrop}},
			{layer: "l", tid: 2, out: []fwOut{tidDrop}},
			{layer: "l", tid: 0, out: []fwOut{send(2, 8*tick, 1002)}},
			{layer: "l", tid: 2, out: []fwOut{send(3, 9*tick, 1003)}},
		}},
		{name: "a packet lost before a drop keeps its numbers", alloc: 1, steps: []fwStep{
			{layer: "l", tid: 0, key: true, want: "l", tidTo: tidCap0, asks: "l", out: []fwOut{send(0, 0, 1000)}},
			{layer: "l", tid: 2, lost: true},
			{layer: "l", tid: 1, out: []fwOut{tidDrop}},
			{layer: "l", tid: 2, out: []fwOut{tidDrop}},
			{layer: "l", tid: 0, out: []fwOut{send(2, 4*tick, 1002)}},
		}},
		{name: "the temporal cap spares a layer other than the allocated one", alloc: 2, steps: []fwStep{
			{layer: "l", tid: 0, key: true, want: "l", tidTo: tidCap0, asks: "l", out: []fwOut{send(0, 0, 1000)}},
			{layer: "l", tid: 2, out: []fwOut{send(1, tick, 1001)}},
		}},
		{name: "a layer switch waits for the target's keyframe; the numbers go on", steps: []fwStep{
			{layer: "l", tid: -1, key: true, want: "l", asks: "l", out: []fwOut{send(0, 0, 1000)}},
			{layer: "h", tid: -1, want: "h", asks: "h"}, // pending: l goes on meanwhile
			{layer: "l", tid: -1, out: []fwOut{send(1, 2*tick, 1001)}},
			{layer: "h", tid: -1},
			{layer: "h", tid: -1, wait: time.Second, asks: "h"},                    // the request is repeated
			{layer: "h", tid: -1, key: true, out: []fwOut{send(2, 30*tick, 1002)}}, // the timestamp follows the clock
			{layer: "l", tid: -1},
			{layer: "h", tid: -1, out: []fwOut{send(3, 32*tick, 1003)}},
		}},
		{name: "a pause and a resume continue the numbers", steps: []fwStep{
			{layer: "l", tid: -1, key: true, want: "l", asks: "l", out: []fwOut{send(0, 0, 1000)}},
			{want: "-"},
			{layer: "l", tid: -1},
			{layer: "l", tid: -1, want: "l", asks: "l", out: []fwOut{keyWait}},
			{layer: "l", tid: -1, key: true, out: []fwOut{send(1, 4*tick, 1001)}},
		}},
		{name: "a viewer a ring behind skips to the next keyframe", steps: append(append([]fwStep{
			{layer: "l", tid: -1, key: true, want: "l", asks: "l", out: []fwOut{send(0, 0, 1000)}}},
			repeatStep(fwStep{layer: "l", tid: -1, hold: true}, videoRingSizeForTest-16)...),
			fwStep{layer: "l", tid: -1, asks: "ll", out: []fwOut{keyWait}}, // the skip's request, and the wait's after 2 s
			fwStep{layer: "l", tid: -1, key: true, out: []fwOut{send(1, 50*tick, 1001)}},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFwHarness(tt.alloc)
			for i, s := range tt.steps {
				asks, out := h.step(s)
				if asks != s.asks || fmt.Sprint(out) != fmt.Sprint(s.out) {
					t.Fatalf("step %d: asked %q, decided %v; want %q, %v", i, asks, out, s.asks, s.out)
				}
			}
		})
	}
}

// videoRingSizeForTest is the ring size of the harness's layers: small, to fall behind fast.
const videoRingSizeForTest = 64

func repeatStep(s fwStep, n int) []fwStep {
	steps := make([]fwStep, n)
	for i := range steps {
		steps[i] = s
	}
	return steps
}

// fwHarness feeds a forwarder as DownTrack.drain does, with a clock of its own.
type fwHarness struct {
	f      forwarder
	layers map[string]*fwLayer
	want   *UpTrack
	alloc  int32
	tidCap int32
	start  time.Time
	now    time.Time
	first  *decision
	asks   strings.Builder
	buf    [maxPacketSize]byte
}

// fwLayer is one layer's uptrack and the numbering of its packets (PictureIDs from 1000 on
// in every layer, as a simulcast encoder's independent encodings have).
type fwLayer struct {
	up       *UpTrack
	ext      uint64
	tsBase   uint32 // the timestamp at the harness's start: the clock runs from there
	pic, tl0 int
}

func newFwHarness(alloc int32) *fwHarness {
	h := &fwHarness{f: newForwarder(vp8Codec, true), layers: map[string]*fwLayer{}, alloc: alloc, tidCap: tidAll, start: time.Unix(1e9, 0)}
	h.now = h.start
	for i, rid := range []string{"l", "h"} {
		h.layers[rid] = &fwLayer{up: &UpTrack{kind: "video", rid: rid, ring: newPacketRing(videoRingSizeForTest)},
			ext: 1<<16 + uint64(i)*20000, tsBase: uint32(i) * 1e6, pic: 999, tl0: 9}
	}
	return h
}

// step runs one step; it returns the layers asked for keyframes and the decisions.
func (h *fwHarness) step(s fwStep) (string, []fwOut) {
	h.asks.Reset()
	h.now = h.now.Add(40*time.Millisecond + s.wait)
	switch s.want {
	case "":
	case "-":
		h.want = nil
	default:
		h.want = h.layers[s.want].up
	}
	if s.tidTo == tidCap0 {
		h.tidCap = 0
	} else if s.tidTo != 0 {
		h.tidCap = s.tidTo
	}
	if l := h.layers[s.layer]; l != nil {
		l.push(s, h.now, h.now.Sub(h.start))
	}
	if s.hold {
		return "", nil
	}
	out := h.drain()
	return h.asks.String(), out
}

// push puts the layer's next packet, captured at since from the start, into its ring, unless
// it is lost.
func (l *fwLayer) push(s fwStep, now time.Time, since time.Duration) {
	l.ext++
	l.pic++
	if s.tid <= 0 {
		l.tl0++
	}
	if s.lost {
		return
	}
	p := vp8Pkt(vp8Fields{pic: l.pic, pic15: true, tl0: l.tl0, tid: s.tid, keyIdx: -1})
	p[0] |= 0x10 // S: start of partition 0
	p[len(p)-2] = 0x01
	if s.key {
		p[len(p)-2] = 0x00 // P bit clear: keyframe
	}
	ts := l.tsBase + uint32(since*90000/time.Second)
	l.up.ring.Put(l.ext, marshalPacket(uint16(l.ext), ts, p), now, s.key)
}

// drain is DownTrack.drain without the writer.
func (h *fwHarness) drain() []fwOut {
	ask, _ := h.f.follow(h.want, h.now)
	h.ask(ask)
	src := h.f.src
	if src == nil || src.ring.Head() == 0 {
		return nil
	}
	head := src.ring.Head()
	if h.f.catchUp(head, src.ring.Size()) {
		h.ask(src)
	}
	h.f.setAllocation(h.alloc, h.tidCap)
	var out []fwOut
	for ; h.f.cursor <= head; h.f.cursor++ {
		n, _ := src.ring.CopyOut(h.f.cursor, h.buf[:])
		var view media.RTPView
		if n == 0 || view.ParseRTP(h.buf[:n]) != nil {
			h.f.missing()
			continue
		}
		payload := view.Payload(h.buf[:n])
		dec := h.f.packet(srcPacket{ext: h.f.cursor, seq: view.SequenceNumber, ts: view.Timestamp, payload: payload}, h.now)
		if dec.askKey {
			h.ask(src)
		}
		out = append(out, h.relative(dec, payload))
	}
	return out
}

func (h *fwHarness) ask(up *UpTrack) {
	if up != nil {
		h.asks.WriteString(up.rid)
	}
}

// relative is a decision with seq and ts counted from the first packet sent; pic is what the
// payload carries after the rewrite.
func (h *fwHarness) relative(dec decision, payload []byte) fwOut {
	if dec.verdict != verdictSend {
		return fwOut{v: dec.verdict}
	}
	if h.first == nil {
		h.first = &dec
	}
	d, _ := media.ParseVP8Descriptor(payload)
	if !dec.vp8.valid || int(dec.vp8.pic) != int(d.PictureID) {
		return fwOut{v: dec.verdict, pic: -1}
	}
	return send(dec.seq-h.first.seq, dec.ts-h.first.ts, int(d.PictureID))
}

func (o fwOut) String() string {
	switch o.v {
	case verdictKeyWait:
		return "keyWait"
	case verdictTemporalDrop:
		return "tidDrop"
	}
	return fmt.Sprintf("send(%d, %d, %d)", o.seq, o.ts, o.pic)
}

func TestForwarderPacketAllocatesNothing(t *testing.T) {
	h := newFwHarness(rankAny)
	h.step(fwStep{layer: "l", tid: 0, key: true, want: "l"})
	l := h.layers["l"]
	pkt := marshalPacket(0, 0, vp8Pkt(f15(5, 1, -1)))
	var view media.RTPView
	if n := testing.AllocsPerRun(1000, func() {
		l.ext++
		pkt[2], pkt[3] = byte(l.ext>>8), byte(l.ext)
		if err := view.ParseRTP(pkt); err != nil {
			t.Fatal(err)
		}
		h.f.packet(srcPacket{ext: l.ext, seq: view.SequenceNumber, ts: view.Timestamp, payload: view.Payload(pkt)}, h.now)
	}); n != 0 {
		t.Fatalf("%v allocations per packet, want 0", n)
	}
}
