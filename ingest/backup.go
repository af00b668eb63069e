package ingest

import (
	"errors"
	"log/slog"

	"github.com/glint-video/glint/cluster"
)

// A room's second ingest connection under publisher_policy backup (Config.Backup): the
// directory's ingest claim stays with the first connection, and the second one's stream is
// kept under the room's backup key without a claim of its own. It then opens the room's
// publisher like any stream, and the SFU makes it the room's standby (sfu/backup.go).
//
// A connection to a room whose ingest claim another node holds (Config.RelayToOwner) is
// kept too, without a claim: its stream opens the room's publisher here and the SFU pushes
// it to the room's owner, where the owner's policy applies (sfu/backup_remote.go).

// backupKey is the key of a room's backup stream in Server.streams.
func backupKey(room string) string { return room + "\x00backup" }

// standbyStream makes a stream for a backup connection of room when the policy allows it:
// the room's claim is held by this node and the room has no backup stream yet. Called with
// s.mu held.
func (s *Server) standbyStream(room, proto, conn, remote string, log *slog.Logger, claimErr error) *stream {
	var ce *cluster.ClaimedError
	if !s.backupRoom(room) || !errors.As(claimErr, &ce) || ce.Owner.Node != s.cfg.Directory.Node() {
		return nil
	}
	key := backupKey(room)
	if s.streams[key] != nil {
		return nil
	}
	st := s.newStreamLocked(room, key, proto, conn, remote, log)
	st.log.Info("ingest: backup connection of the room: standing by", "primary", ce.Owner.Holder)
	return st
}

// backupRoom reports whether room's publisher policy is backup.
func (s *Server) backupRoom(room string) bool {
	if s.cfg.BackupRoom != nil {
		return s.cfg.BackupRoom(room)
	}
	return s.cfg.Backup
}

// ownerElsewhereStream makes a stream, holding no claim, for a connection to a room that
// owner (another node) holds, when Config.RelayToOwner allows it and no stream of the room
// runs here. Called with s.mu held.
func (s *Server) ownerElsewhereStream(room, proto, conn, remote string, log *slog.Logger, owner cluster.Claim) *stream {
	if !s.cfg.RelayToOwner || owner.Node == s.cfg.Directory.Node() || s.streams[room] != nil {
		return nil
	}
	st := s.newStreamLocked(room, room, proto, conn, remote, log)
	st.log.Info("ingest: room held by another node: this connection is kept and pushed to it", "owner", owner.String())
	return st
}
