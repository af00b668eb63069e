//go:build linux && (amd64 || arm64)

package bare

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// controlMessage is one control message (cmsghdr, data, padding) as the kernel lays it out.
func controlMessage(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

// sendGSO sends payload from conn to addr as one UDP GSO message of segment-byte
// datagrams, the way the SFU's batched sender does (sfu/batchgso.go).
func sendGSO(t *testing.T, conn *net.UDPConn, addr *net.UDPAddr, payload []byte, segment uint16) {
	t.Helper()
	oob := controlMessage(unix.SOL_UDP, unix.UDP_SEGMENT, binary.NativeEndian.AppendUint16(nil, segment))
	if _, _, err := conn.WriteMsgUDP(payload, oob, addr); err != nil {
		t.Fatalf("send a GSO message: %v", err)
	}
}

// TestSocketReadsGSOMessagesWhole: a GSO message from the server reaches the viewer's
// socket as one message (UDP_GRO), and the poll hands out its datagrams one by one, in
// order, with the message's one receive time. (Loopback only: run inside a network
// namespace.)
func TestSocketReadsGSOMessagesWhole(t *testing.T) {
	server, s, viewer := dialedSocket(t, 4)
	if !s.gro {
		t.Fatal("the kernel refused UDP_GRO (Linux 5.0 or later has it)")
	}
	const segment = 1000
	payload := make([]byte, 3*segment+500)
	for i := range payload {
		payload[i] = byte(i / segment) // each datagram its own fill
	}
	sendGSO(t, server, viewer, payload, segment)

	var got [][]byte
	var stamps []int64
	for deadline := time.Now().Add(5 * time.Second); len(got) < 4 && time.Now().Before(deadline); {
		if _, err := s.poll(func(b []byte, stamp int64) {
			got = append(got, bytes.Clone(b))
			stamps = append(stamps, stamp)
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if len(got) != 4 {
		t.Fatalf("got %d datagrams, want 4", len(got))
	}
	for i, b := range got {
		want := bytes.Repeat([]byte{byte(i)}, min(segment, len(payload)-i*segment))
		if !bytes.Equal(b, want) {
			t.Errorf("datagram %d: %d bytes starting %v, want %d bytes of %d", i, len(b), b[:min(4, len(b))], len(want), i)
		}
		if stamps[i] == 0 || stamps[i] != stamps[0] {
			t.Errorf("datagram %d stamped %d, want the message's one stamp %d", i, stamps[i], stamps[0])
		}
	}
	if s.messages != 1 {
		t.Errorf("the 4 datagrams came in %d messages, want 1 (the GSO message whole)", s.messages)
	}
}

// TestControlsParsesBothMessages: the timestamp and the segment size are found in either
// order, and a truncated control buffer yields what is whole.
func TestControlsParsesBothMessages(t *testing.T) {
	ts := make([]byte, 16)
	binary.NativeEndian.PutUint64(ts, 7)
	binary.NativeEndian.PutUint64(ts[8:], 5)
	seg := binary.NativeEndian.AppendUint32(nil, 1200)
	stampMsg, groMsg := controlMessage(unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS, ts), controlMessage(unix.SOL_UDP, unix.UDP_GRO, seg)
	for name, c := range map[string][]byte{
		"stamp, gro": append(append([]byte{}, stampMsg...), groMsg...),
		"gro, stamp": append(append([]byte{}, groMsg...), stampMsg...),
	} {
		if stamp, segment := controls(c); stamp != 7e9+5 || segment != 1200 {
			t.Errorf("%s: stamp %d, segment %d; want %d, 1200", name, stamp, segment, int64(7e9+5))
		}
	}
	if stamp, segment := controls(append(append([]byte{}, stampMsg...), groMsg[:10]...)); stamp != 7e9+5 || segment != 0 {
		t.Errorf("truncated: stamp %d, segment %d; want the stamp alone", stamp, segment)
	}
	if stamp, segment := controls(nil); stamp != 0 || segment != 0 {
		t.Errorf("none: stamp %d, segment %d", stamp, segment)
	}
}
