package media

import (
	"bytes"
	"errors"
	"testing"
)

// rtpHeader builds a 12-byte RTP fixed header: b0 carries version, padding, extension and CC.
func rtpHeader(b0 byte, marker bool, pt uint8, seq uint16, ts, ssrc uint32) []byte {
	b1 := pt & 0x7f
	if marker {
		b1 |= 0x80
	}
	return []byte{
		b0, b1, byte(seq >> 8), byte(seq),
		byte(ts >> 24), byte(ts >> 16), byte(ts >> 8), byte(ts),
		byte(ssrc >> 24), byte(ssrc >> 16), byte(ssrc >> 8), byte(ssrc),
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseRTP(t *testing.T) {
	payload := []byte{0xde, 0xad, 0xbe, 0xef}
	csrcs := []byte{0, 0, 0, 1, 0, 0, 0, 2}
	ext := []byte{0xbe, 0xde, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8} // one-byte profile, 2 words
	tests := []struct {
		name       string
		pkt        []byte
		wantErr    error
		wantStart  int
		wantEnd    int
		wantMarker bool
	}{
		{"plain", cat(rtpHeader(0x80, true, 96, 1000, 90000, 0x11223344), payload), nil, 12, 16, true},
		{"no payload", rtpHeader(0x80, false, 96, 1, 1, 1), nil, 12, 12, false},
		{"two CSRCs", cat(rtpHeader(0x82, false, 96, 1000, 90000, 0x11223344), csrcs, payload), nil, 20, 24, false},
		{"extension", cat(rtpHeader(0x90, false, 96, 1000, 90000, 0x11223344), ext, payload), nil, 24, 28, false},
		{"CSRC and extension", cat(rtpHeader(0x92, false, 96, 1000, 90000, 0x11223344), csrcs, ext, payload), nil, 32, 36, false},
		{"padding 3", cat(rtpHeader(0xa0, false, 96, 1000, 90000, 0x11223344), payload, []byte{0, 0, 3}), nil, 12, 16, false},
		{"padding only", cat(rtpHeader(0xa0, false, 96, 1000, 90000, 0x11223344), []byte{0, 0, 0, 4}), nil, 12, 12, false},
		{"padding, extension and CSRC", cat(rtpHeader(0xb2, false, 96, 1000, 90000, 0x11223344), csrcs, ext, payload, []byte{0, 2}), nil, 32, 36, false},
		{"empty", nil, ErrShortPacket, 0, 0, false},
		{"11 bytes", rtpHeader(0x80, false, 96, 1, 1, 1)[:11], ErrShortPacket, 0, 0, false},
		{"version 0", cat(rtpHeader(0x00, false, 96, 1, 1, 1), payload), ErrNotRTP, 0, 0, false},
		{"version 1", cat(rtpHeader(0x40, false, 96, 1, 1, 1), payload), ErrNotRTP, 0, 0, false},
		{"version 3", cat(rtpHeader(0xc0, false, 96, 1, 1, 1), payload), ErrNotRTP, 0, 0, false},
		{"CSRC count beyond buffer", cat(rtpHeader(0x8f, false, 96, 1, 1, 1), payload), ErrShortPacket, 0, 0, false},
		{"extension header cut", cat(rtpHeader(0x90, false, 96, 1, 1, 1), []byte{0xbe, 0xde}), ErrShortPacket, 0, 0, false},
		{"extension length beyond buffer", cat(rtpHeader(0x90, false, 96, 1, 1, 1), []byte{0xbe, 0xde, 0, 9}, payload), ErrShortPacket, 0, 0, false},
		{"padding with no room", cat(rtpHeader(0xa0, false, 96, 1, 1, 1)), ErrShortPacket, 0, 0, false},
		{"padding longer than payload", cat(rtpHeader(0xa0, false, 96, 1, 1, 1), []byte{0, 9}), ErrShortPacket, 0, 0, false},
		{"padding eats into extension", cat(rtpHeader(0xb0, false, 96, 1, 1, 1), ext, []byte{0, 0, 4}), ErrShortPacket, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v RTPView
			err := v.ParseRTP(tt.pkt)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if v.PayloadStart != tt.wantStart || v.PayloadEnd != tt.wantEnd {
				t.Fatalf("payload [%d:%d], want [%d:%d]", v.PayloadStart, v.PayloadEnd, tt.wantStart, tt.wantEnd)
			}
			if v.Marker != tt.wantMarker {
				t.Errorf("marker = %v, want %v", v.Marker, tt.wantMarker)
			}
			if v.PayloadType != 96 {
				t.Errorf("payload type = %d, want 96", v.PayloadType)
			}
		})
	}
}

func TestParseRTPFields(t *testing.T) {
	pkt := cat(rtpHeader(0x80, true, 111, 0xfffe, 0xfedcba98, 0x01020304), []byte{1, 2, 3})
	var v RTPView
	if err := v.ParseRTP(pkt); err != nil {
		t.Fatal(err)
	}
	want := RTPView{Marker: true, PayloadType: 111, SequenceNumber: 0xfffe, Timestamp: 0xfedcba98,
		SSRC: 0x01020304, PayloadStart: 12, PayloadEnd: 15}
	if v != want {
		t.Fatalf("got %+v, want %+v", v, want)
	}
	if got := v.Payload(pkt); !bytes.Equal(got, []byte{1, 2, 3}) {
		t.Fatalf("Payload = %x", got)
	}
}

func TestParseRTPAllocatesNothing(t *testing.T) {
	pkt := cat(rtpHeader(0xb2, false, 96, 1, 1, 1), make([]byte, 8), []byte{0xbe, 0xde, 0, 1, 1, 2, 3, 4}, []byte{9, 9, 1})
	var v RTPView
	if n := testing.AllocsPerRun(100, func() { _ = v.ParseRTP(pkt) }); n != 0 {
		t.Fatalf("ParseRTP allocates %v times", n)
	}
}

func TestSeqNewer(t *testing.T) {
	tests := []struct {
		a, b uint16
		want bool
	}{
		{1, 0, true},
		{0, 1, false},
		{5, 5, false},
		{0, 65535, true}, // wrap
		{65535, 0, false},
		{10, 65530, true},
		{0x7fff, 0, true},  // largest forward step
		{0x8000, 0, false}, // half-way is ambiguous: neither is newer
		{0, 0x8000, false},
		{0x8001, 0, false}, // more than half: a is behind
		{0, 0x8001, true},
	}
	for _, tt := range tests {
		if got := SeqNewer(tt.a, tt.b); got != tt.want {
			t.Errorf("SeqNewer(%d, %d) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSeqExtender(t *testing.T) {
	const c = 1 << 16 // the extender starts one cycle up, leaving room for early reordering
	tests := []struct {
		name string
		seqs []uint16
		want []uint64
	}{
		{"in order", []uint16{10, 11, 12}, []uint64{c + 10, c + 11, c + 12}},
		{"wrap forward", []uint16{65534, 65535, 0, 1}, []uint64{c + 65534, c + 65535, 2 * c, 2*c + 1}},
		{"reordered across wrap", []uint16{65534, 1, 65535, 0, 2}, []uint64{c + 65534, 2*c + 1, c + 65535, 2 * c, 2*c + 2}},
		{"late packet from before the first", []uint16{0, 65535, 1}, []uint64{c, c - 1, c + 1}},
		{"duplicates", []uint16{7, 7, 8, 8, 7}, []uint64{c + 7, c + 7, c + 8, c + 8, c + 7}},
		{"gap forward", []uint16{100, 20000, 40000}, []uint64{c + 100, c + 20000, c + 40000}},
		{"many cycles", []uint16{0, 30000, 60000, 24464, 54464, 18928}, []uint64{c, c + 30000, c + 60000, 2*c + 24464, 2*c + 54464, 3*c + 18928}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e SeqExtender
			if e.Highest() != 0 {
				t.Fatalf("Highest before first = %d", e.Highest())
			}
			var highest uint64
			for i, s := range tt.seqs {
				got := e.Extend(s)
				if got != tt.want[i] {
					t.Fatalf("Extend(%d) #%d = %d, want %d", s, i, got, tt.want[i])
				}
				if uint16(got) != s {
					t.Fatalf("Extend(%d) = %d: low 16 bits differ", s, got)
				}
				highest = max(highest, got)
				if e.Highest() != highest {
					t.Fatalf("Highest after #%d = %d, want %d", i, e.Highest(), highest)
				}
			}
		})
	}
}
