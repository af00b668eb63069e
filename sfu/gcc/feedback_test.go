package gcc

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// status is one packet status as a feedback packet reports it.
type status struct {
	seq      uint16
	received bool
	since    time.Duration
}

// statusList collects what walkFeedback reports.
type statusList struct {
	reference uint32
	statuses  []status
}

func (s *statusList) onFeedbackStart(ref uint32) { s.reference = ref }
func (s *statusList) onPacketStatus(seq uint16, received bool, since time.Duration) {
	s.statuses = append(s.statuses, status{seq, received, since})
}

// pionStatuses expands pion's parse of a feedback packet into the same statuses.
func pionStatuses(fb *rtcp.TransportLayerCC) []status {
	var symbols []uint16
	remaining := int(fb.PacketStatusCount)
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range min(remaining, int(c.RunLength)) {
				symbols = append(symbols, c.PacketStatusSymbol)
			}
			remaining -= min(remaining, int(c.RunLength))
		case *rtcp.StatusVectorChunk:
			n := min(remaining, len(c.SymbolList))
			symbols = append(symbols, c.SymbolList[:n]...)
			remaining -= n
		}
	}
	var out []status
	var since time.Duration
	deltas := fb.RecvDeltas
	for i, s := range symbols {
		st := status{seq: fb.BaseSequenceNumber + uint16(i)}
		if s == rtcp.TypeTCCPacketReceivedSmallDelta || s == rtcp.TypeTCCPacketReceivedLargeDelta {
			since += time.Duration(deltas[0].Delta) * time.Microsecond
			deltas = deltas[1:]
			st.received, st.since = true, since
		}
		out = append(out, st)
	}
	return out
}

// feedbackSeeds are feedback packets pion's recorder builds: runs, one- and two-bit vectors,
// small, large and negative deltas, losses.
func feedbackSeeds(t testing.TB) [][]byte {
	r := twcc.NewRecorder(1)
	at := int64(1_000_000)
	for seq := uint16(0); seq < 300; seq++ {
		switch {
		case seq%17 == 3, seq > 100 && seq < 140: // lost
		case seq%29 == 0:
			r.Record(2, seq, at+70_000) // large delta
			at += 70_000
		case seq%31 == 0:
			r.Record(2, seq, at-2_000) // negative delta
		default:
			at += int64(seq%5) * 250
			r.Record(2, seq, at)
		}
	}
	var out [][]byte
	for _, p := range r.BuildFeedbackPacket() {
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestWalkFeedbackMatchesPion(t *testing.T) {
	for _, b := range feedbackSeeds(t) {
		compareWithPion(t, b)
	}
}

// compareWithPion checks that walkFeedback reads b as pion's parser does whenever pion
// reads it.
func compareWithPion(t *testing.T, b []byte) {
	var fb rtcp.TransportLayerCC
	if err := fb.Unmarshal(b); err != nil {
		return
	}
	var got statusList
	if !walkFeedback(b[:4*(int(fb.Header.Length)+1)], &got) {
		t.Fatalf("walkFeedback refused a packet pion reads: %x", b)
	}
	want := pionStatuses(&fb)
	if got.reference != fb.ReferenceTime || !slices.Equal(got.statuses, want) {
		t.Fatalf("packet %x:\nwalk %d %v\npion %d %v", b, got.reference, got.statuses, fb.ReferenceTime, want)
	}
}

func FuzzWalkFeedback(f *testing.F) {
	for _, b := range feedbackSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 2 {
			b[0] = b[0]&^0x20 | 0x80 // version 2, no padding: as walkCompound hands packets on
			b[1] = rtcpTypeRTPFB
			b[0] = b[0]&^0x1f | rtpfbTransport
		}
		compareWithPion(t, b)
		walkCompound(b, &statusList{}) // never panics on anything
	})
}
