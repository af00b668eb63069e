package bare

import (
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
)

// prflxPriority is the PRIORITY of the viewer's checks: a peer-reflexive candidate
// (type preference 110), the highest local preference, component 1.
const prflxPriority = 110<<24 | 65535<<8 | 255

// iceAgent is the viewer's half of ICE: the controlling agent of a single candidate pair
// (its one socket, connected to the server's candidate). It sends the checks that
// nominate the pair, then consent checks, and answers the server's checks.
type iceAgent struct {
	localUfrag, localPwd   string
	remoteUfrag, remotePwd string
	tieBreaker             uint64
	sock                   *socket // connected to the server's candidate
	remote                 *net.UDPAddr
	in                     stun.Message // reused by the receive loop
}

// sendCheck sends a Binding request (USE-CANDIDATE: every check nominates, RFC 8445
// aggressive nomination, which a full agent accepts).
func (a *iceAgent) sendCheck() error {
	return a.send("ice check", stun.BindingRequest, stun.TransactionID,
		stun.NewUsername(a.remoteUfrag+":"+a.localUfrag),
		ice.AttrControlling(a.tieBreaker), ice.UseCandidate(), ice.PriorityAttr(prflxPriority),
		stun.NewShortTermIntegrity(a.remotePwd), stun.Fingerprint)
}

// handle takes a STUN message from the server (called by the receive loop): a Binding
// request is answered, a success response to a check reports true. Anything
// unauthenticated is dropped.
func (a *iceAgent) handle(b []byte) (succeeded bool, err error) {
	m := &a.in
	m.Raw = append(m.Raw[:0], b...)
	if err := m.Decode(); err != nil {
		return false, nil // not STUN after all
	}
	switch m.Type {
	case stun.BindingRequest:
		var user stun.Username
		if user.GetFrom(m) != nil || user.String() != a.localUfrag+":"+a.remoteUfrag ||
			stun.NewShortTermIntegrity(a.localPwd).Check(m) != nil {
			return false, nil
		}
		return false, a.respond(m.TransactionID)
	case stun.BindingSuccess:
		return stun.NewShortTermIntegrity(a.remotePwd).Check(m) == nil, nil
	}
	return false, nil
}

// respond answers a Binding request (a check or a consent check of the server).
func (a *iceAgent) respond(id [stun.TransactionIDSize]byte) error {
	return a.send("ice response", stun.BindingSuccess, stun.NewTransactionIDSetter(id),
		&stun.XORMappedAddress{IP: a.remote.IP, Port: a.remote.Port},
		stun.NewShortTermIntegrity(a.localPwd), stun.Fingerprint)
}

// send builds a STUN message of setters and writes it to the server; what names it in errors.
func (a *iceAgent) send(what string, setters ...stun.Setter) error {
	msg, err := stun.Build(setters...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := a.sock.write(msg.Raw); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
