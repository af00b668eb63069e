package gcc

import "time"

// Inter-arrival grouping (libwebrtc's InterArrivalDelta): packets sent within groupLength of
// a group's first are one group, as are packets that arrive in a burst (closer than
// burstDelta after the group's last, with less delay than their send spacing); the
// delay-based detector compares consecutive groups, which evens out the pacing of
// individual packets.
const (
	groupLength      = 5 * time.Millisecond
	burstDelta       = 5 * time.Millisecond
	maxBurstDuration = 100 * time.Millisecond
	maxReordered     = 3 // groups arriving before their predecessor, in a row, before a reset
)

// packetGroup is one group of packets: its first and last send time, its first and last
// arrival and its size.
type packetGroup struct {
	firstSent, lastSent       time.Duration
	firstArrival, lastArrival time.Duration
	size                      int
	valid                     bool
}

// groupDelta is the difference between two consecutive groups.
type groupDelta struct {
	sendDelta, arrivalDelta time.Duration
	arrival                 time.Duration // the later group's last arrival
}

// interArrival groups packets and yields the deltas between consecutive groups.
type interArrival struct {
	current, previous packetGroup
	reordered         int
}

// onPacket adds a received packet (in the order of its sequence number) and returns the
// delta between the two groups before it when the packet starts a new group.
func (a *interArrival) onPacket(sent, arrival time.Duration, size int) (groupDelta, bool) {
	if !a.current.valid {
		a.current = packetGroup{firstSent: sent, lastSent: sent, firstArrival: arrival, lastArrival: arrival, size: size, valid: true}
		return groupDelta{}, false
	}
	if sent < a.current.firstSent { // reordered: its group is gone
		return groupDelta{}, false
	}
	if !a.startsGroup(sent, arrival) {
		a.current.lastSent = max(a.current.lastSent, sent)
		a.current.lastArrival = max(a.current.lastArrival, arrival)
		a.current.size += size
		return groupDelta{}, false
	}
	var d groupDelta
	ok := false
	if a.previous.valid {
		d = groupDelta{
			sendDelta:    a.current.lastSent - a.previous.lastSent,
			arrivalDelta: a.current.lastArrival - a.previous.lastArrival,
			arrival:      a.current.lastArrival,
		}
		switch {
		case d.arrivalDelta >= 0:
			a.reordered, ok = 0, true
		case a.reordered+1 >= maxReordered:
			*a = interArrival{}
		default:
			a.reordered++
		}
	}
	a.previous = a.current
	a.current = packetGroup{firstSent: sent, lastSent: sent, firstArrival: arrival, lastArrival: arrival, size: size, valid: true}
	return d, ok
}

// startsGroup reports whether a packet sent and arriving at these times begins a new group.
func (a *interArrival) startsGroup(sent, arrival time.Duration) bool {
	arrivalDelta := arrival - a.current.lastArrival
	sendDelta := sent - a.current.lastSent
	if sendDelta == 0 {
		return false
	}
	inBurst := arrivalDelta-sendDelta < 0 && arrivalDelta <= burstDelta &&
		arrival-a.current.firstArrival < maxBurstDuration
	if inBurst {
		return false
	}
	return sent-a.current.firstSent > groupLength
}
