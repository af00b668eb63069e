package sfu

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// UDP generic segmentation offload (Linux ≥ 4.18): consecutive packets of one burst to one
// viewer — a keyframe is dozens of equal-size packets — go to the kernel as one buffer with
// a UDP_SEGMENT control message, and the stack handles them as one until the device (or the
// loopback receiver) splits them: one route lookup, one pass through the stack per burst.
// The batched sender groups each batch by destination (its netip.AddrPort), keeping every
// destination's order; a
// group holds packets of one size, except that its last may be shorter (what UDP_SEGMENT
// allows), up to gsoMaxSegments and gsoMaxBytes. A group copies nothing: its segments are
// the queued packets themselves, handed to the kernel as one message of several iovecs (the
// kernel cuts the payload at the segment size, not at the iovecs). A kernel that refuses
// UDP_SEGMENT turns GSO off for the socket, and the batch goes out packet by packet.
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 65000
	// gsoMaxSegmentSize keeps segments under any path MTU's payload (the kernel refuses a
	// segment size above it); larger packets go out alone.
	gsoMaxSegmentSize = 1400
)

// gsoGroup is one destination's run of packets in a batch.
type gsoGroup struct {
	addr     netip.AddrPort
	segs     [][]byte // the packets, slices of the batch's buffers (never copied)
	bytes    int      // their total length
	segSize  int
	segments int
	closed   bool // a shorter packet ended it
}

// gsoBatcher builds the groups of a batch; it is reused batch after batch (its lane's: under sendLane.sending).
type gsoBatcher struct {
	groups []gsoGroup
	open   map[netip.AddrPort]int // destination → index of its open group
	oob    [][]byte               // per group: the UDP_SEGMENT control message
}

func newGSOBatcher() *gsoBatcher {
	return &gsoBatcher{open: map[netip.AddrPort]int{}}
}

// group splits batch into per-destination groups, in order of each group's first packet.
func (g *gsoBatcher) group(batch []outPacket) []gsoGroup {
	for i := range g.groups {
		clear(g.groups[i].segs) // drop the references to the previous batch's buffers
		g.groups[i].segs = g.groups[i].segs[:0]
	}
	g.groups = g.groups[:0]
	clear(g.open)
	for _, p := range batch {
		data := p.data
		if i, ok := g.open[p.addr]; ok && g.fits(&g.groups[i], len(data)) {
			gr := &g.groups[i]
			gr.segs = append(gr.segs, data)
			gr.bytes += len(data)
			gr.segments++
			gr.closed = len(data) < gr.segSize
			continue
		}
		g.open[p.addr] = g.add(p.addr, data)
	}
	return g.groups
}

func (g *gsoBatcher) fits(gr *gsoGroup, n int) bool {
	return !gr.closed && n <= gr.segSize && gr.segSize <= gsoMaxSegmentSize && gr.segments < gsoMaxSegments &&
		gr.bytes+n <= gsoMaxBytes
}

// add opens a group for addr with its first packet, reusing the segment list of an earlier
// batch's group.
func (g *gsoBatcher) add(addr netip.AddrPort, data []byte) int {
	if len(g.groups) < cap(g.groups) {
		g.groups = g.groups[:len(g.groups)+1]
	} else {
		g.groups = append(g.groups, gsoGroup{})
	}
	gr := &g.groups[len(g.groups)-1]
	gr.addr, gr.segSize, gr.segments, gr.closed, gr.bytes = addr, len(data), 1, false, len(data)
	gr.segs = append(gr.segs[:0], data)
	return len(g.groups) - 1
}

// segmentOOB returns the UDP_SEGMENT control message for segments of size bytes.
func segmentOOB(dst []byte, size int) []byte {
	dst = dst[:0]
	space := unix.CmsgSpace(2)
	if cap(dst) < space {
		dst = make([]byte, 0, space)
	}
	dst = dst[:space]
	clear(dst)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&dst[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(dst[unix.CmsgLen(0):], uint16(size))
	return dst
}

// sendGSO sends a batch as GSO groups. When the kernel refuses UDP_SEGMENT it turns GSO off
// for the socket and sends the rest of the batch packet by packet.
func (l *sendLane) sendGSO(batch []outPacket) {
	msgs := l.msgs
	groups := l.gso.group(batch)
	for len(l.gso.oob) < len(groups) {
		l.gso.oob = append(l.gso.oob, nil)
	}
	for len(groups) > 0 {
		k := min(len(groups), len(msgs))
		for i := range k {
			gr := &groups[i]
			msgs[i].Buffers, msgs[i].Addr, msgs[i].OOB = gr.segs, l.addrs.udpAddr(gr.addr), nil
			if gr.segments > 1 {
				l.gso.oob[i] = segmentOOB(l.gso.oob[i], gr.segSize)
				msgs[i].OOB = l.gso.oob[i]
			}
		}
		n, err := l.pc.WriteBatch(msgs[:k], 0)
		if err != nil && n < k && gsoRefused(err) && groups[n].segments > 1 {
			l.c.log.Info("media socket: the kernel refuses UDP GSO, sending packet by packet", "err", err)
			l.c.noGSO.Store(true)
			clearMessages(msgs[:k])
			l.sendPlain(ungroup(groups[n:], nil))
			return
		}
		if err != nil {
			l.c.sendError(err)
			n = max(n, 1)
		}
		sent := 0
		for _, gr := range groups[:min(n, k)] {
			sent += gr.segments
		}
		l.c.batches.Add(1)
		l.c.packets.Add(int64(sent))
		clearMessages(msgs[:k])
		groups = groups[min(n, k):]
	}
}

// ungroup splits groups back into their packets, appended to out (only after the kernel
// refused GSO: once per socket).
func ungroup(groups []gsoGroup, out []outPacket) []outPacket {
	for _, gr := range groups {
		for _, seg := range gr.segs {
			out = append(out, outPacket{data: seg, addr: gr.addr})
		}
	}
	return out
}

// clearMessages drops the messages' references to packets and addresses once sent.
func clearMessages(msgs []ipv4.Message) {
	for i := range msgs {
		msgs[i].Buffers, msgs[i].Addr, msgs[i].OOB = nil, nil, nil
	}
}

func gsoRefused(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOPROTOOPT) ||
		errors.Is(err, syscall.EOPNOTSUPP)
}
