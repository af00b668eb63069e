package sfu

import (
	"errors"
	"testing"

	"github.com/pion/transport/v5/packetio"
)

// A lazyBuffer takes unreadBufferPackets until its first read, then pion's byte limit of
// its kind, and passes attributes through.
func TestLazyBufferLimits(t *testing.T) {
	for _, tc := range []struct {
		kind  packetio.BufferPacketType
		bytes int
	}{{packetio.RTCPBufferPacket, rtcpBufferBytes}, {packetio.RTPBufferPacket, rtpBufferBytes}} {
		b := newLazyBuffer(tc.kind)
		pkt := make([]byte, 100)
		for i := range unreadBufferPackets {
			if _, err := b.Write(pkt); err != nil {
				t.Fatalf("kind %v: write %d: %v", tc.kind, i, err)
			}
		}
		if _, err := b.Write(pkt); !errors.Is(err, packetio.ErrFull) {
			t.Fatalf("kind %v: a write past the unread limit: err %v, want ErrFull", tc.kind, err)
		}
		attrs := packetio.Attributes{}
		if _, got, err := b.ReadWithAttributes(make([]byte, 200), attrs); err != nil || got == nil {
			t.Fatalf("kind %v: read: %v", tc.kind, err)
		}
		written := unreadBufferPackets - 1
		for ; ; written++ {
			if _, err := b.WriteWithAttributes(pkt, attrs); err != nil {
				if !errors.Is(err, packetio.ErrFull) {
					t.Fatal(err)
				}
				break
			}
		}
		if held := b.Size(); held > tc.bytes || held < tc.bytes-2*len(pkt) {
			t.Errorf("kind %v: holds %d bytes (%d packets) once read, want pion's limit %d", tc.kind, held, written, tc.bytes)
		}
		_ = b.Close()
	}
}
