package media

import (
	"bytes"
	"testing"
)

// TestNextRTCPSplitsACompoundPacket: sub-packets come out in order with their padding
// removed, and a malformed one ends the walk keeping what came before it.
func TestNextRTCPSplitsACompoundPacket(t *testing.T) {
	rr := []byte{0x80, 201, 0, 1, 0, 0, 0, 1}                             // RR, no report blocks
	padded := []byte{0xa1, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4} // RTPFB with 4 padding bytes
	var got [][]byte
	b := append(append([]byte{}, rr...), padded...)
	for pkt, rest, ok := NextRTCP(b); ok; pkt, rest, ok = NextRTCP(rest) {
		got = append(got, pkt)
	}
	if len(got) != 2 || !bytes.Equal(got[0], rr) || !bytes.Equal(got[1], padded[:12]) {
		t.Fatalf("sub-packets %x, want %x and %x", got, rr, padded[:12])
	}
	malformed := map[string][]byte{
		"too short":        {0x80, 201, 0},
		"version 1":        {0x40, 201, 0, 0},
		"length beyond":    {0x80, 201, 0, 2, 0, 0, 0, 1},
		"zero padding":     {0xa0, 201, 0, 1, 0, 0, 0, 0},
		"padding too long": {0xa0, 201, 0, 1, 0, 0, 0, 5},
	}
	for name, bad := range malformed {
		if pkt, rest, ok := NextRTCP(append(append([]byte{}, rr...), bad...)); !ok || !bytes.Equal(pkt, rr) {
			t.Fatalf("%s: the first sub-packet was not returned", name)
		} else if _, _, ok := NextRTCP(rest); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
