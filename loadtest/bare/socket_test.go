package bare

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// TestSocketBatchesAndStamps: datagrams waiting on the socket come in batches of at most
// Batch per poll, each with a kernel receive time, and a poll of an empty socket returns
// at once. (Loopback only: run inside a network namespace.)
func TestSocketBatchesAndStamps(t *testing.T) {
	const batch, sent = 8, 20
	peer, s, viewer := dialedSocket(t, batch)
	before := time.Now().UnixNano()
	for i := range sent {
		if _, err := peer.WriteToUDP(fmt.Appendf(nil, "datagram %d", i), viewer); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	var polls int
	for deadline := time.Now().Add(5 * time.Second); len(got) < sent && time.Now().Before(deadline); {
		n := 0
		more, err := s.poll(func(b []byte, stamp int64) {
			n++
			got = append(got, string(b))
			// The kernel stamps a datagram when its receive path runs, which on a busy
			// machine may be after WriteToUDP returned (loopback delivery is deferred to a
			// softirq): the stamp lies between the first send and the moment it is read.
			if read := time.Now().UnixNano(); stamp < before || stamp > read {
				t.Errorf("%q stamped %d, outside [%d, %d]", b, stamp, before, read)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if n > batch || more && n != batch {
			t.Errorf("poll read %d datagrams (more %v), batch is %d", n, more, batch)
		}
		polls++
		if !more {
			time.Sleep(time.Millisecond)
		}
	}
	if len(got) != sent || got[0] != "datagram 0" || got[sent-1] != fmt.Sprintf("datagram %d", sent-1) {
		t.Fatalf("got %d datagrams %q, want %d in order", len(got), got, sent)
	}
	if polls < sent/batch {
		t.Errorf("%d polls for %d datagrams in batches of %d", polls, sent, batch)
	}
}

// dialedSocket returns a loopback peer standing for the server, a viewer socket of batch
// messages connected to it, and the viewer's address as the peer sees it (after one
// datagram from the viewer). Both close when the test ends.
func dialedSocket(t *testing.T, batch int) (*net.UDPConn, *socket, *net.UDPAddr) {
	t.Helper()
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	s, err := dialSocket(peer.LocalAddr().(*net.UDPAddr).AddrPort(), readBuffer, batch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close() })
	if err := s.write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_, viewer, err := peer.ReadFromUDP(buf)
	if err != nil {
		t.Fatal(err)
	}
	return peer, s, viewer
}
