package transcoder

import "sync"

// guard serialises the calls of a converter (Ladder, Reencoder, AudioConverter) and
// remembers whether it has been closed.
type guard struct {
	mu     sync.Mutex
	closed bool
}

// enter locks g for one call, or returns ErrClosed (and leaves g unlocked) once g is closed.
func (g *guard) enter() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// leave ends the call that enter began.
func (g *guard) leave() { g.mu.Unlock() }

// close runs free the first time it is called, under the lock; later calls do nothing.
func (g *guard) close(free func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		free()
	}
}
