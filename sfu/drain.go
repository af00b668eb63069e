package sfu

// Announce sends e to the watchers of every room on this node (a node-wide notice, such as
// a drain: its viewers should move to another node).
func (s *SFU) Announce(e Event) {
	s.mu.Lock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	s.mu.Unlock()
	for _, r := range rooms {
		r.broadcast(e)
	}
}

// EndSessions closes every session on this node (the end of a drain) and keeps the SFU
// open: publishers and viewers may reconnect elsewhere, or here once the drain is over.
func (s *SFU) EndSessions() int {
	s.mu.Lock()
	sessions := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.Close()
	}
	return len(sessions)
}

// ViewerCount is the number of viewer sessions on this node.
func (s *SFU) ViewerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, sess := range s.sessions {
		if sess.Role == RoleViewer {
			n++
		}
	}
	return n
}
