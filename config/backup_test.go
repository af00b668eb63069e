package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFailoverSettings(t *testing.T) {
	d := Defaults()
	if d.Failover.BackupStall != 500*time.Millisecond || d.Failover.BackupHold != 10*time.Second || d.Failover.DrainPeriod != 10*time.Second {
		t.Errorf("defaults %+v, want 500ms stall, 10s hold, 10s drain", d.Failover)
	}
	args, e := withFile(t, "publisher_policy: backup\nbackup_hold: 30s\n", []string{"--backup-stall=300ms", "--drain-period=0s"}, nil)
	c, err := Load(args, e.get, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.PublisherPolicy != PolicyBackup || c.Failover.BackupStall != 300*time.Millisecond ||
		c.Failover.BackupHold != 30*time.Second || c.Failover.DrainPeriod != 0 {
		t.Errorf("loaded %q %+v, want backup, 300ms stall, 30s hold, no drain", c.PublisherPolicy, c.Failover)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--backup-stall=10ms"}, "backup-stall"},
		{[]string{"--backup-hold=-1s"}, "backup-hold"},
		{[]string{"--backup-hold=0s"}, "backup-hold"},
		{[]string{"--drain-period=-5s"}, "drain-period"},
		{[]string{"--publisher-policy=standby"}, `"backup"`},
	} {
		args, e := withFile(t, "", tc.args, nil)
		_, err := Load(args, e.get, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// TestPublisherRoomPolicies: publisher_room_policies (file) and --publisher-room-policy
// (flags) give rooms their own policy; other rooms keep --publisher-policy; bad rooms and
// policies are refused naming the setting.
func TestPublisherRoomPolicies(t *testing.T) {
	args, e := withFile(t, "publisher_policy: replace\npublisher_room_policies:\n  finals: backup\n  lobby: reject\n",
		[]string{"--publisher-room-policy=quiz=backup"}, nil)
	c, err := Load(args, e.get, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for room, want := range map[string]string{"finals": PolicyBackup, "lobby": PolicyReject, "quiz": PolicyBackup, "other": PolicyReplace} {
		if got := c.RoomSettings(room).PublisherPolicy; got != want {
			t.Errorf("room %s: policy %q, want %q", room, got, want)
		}
	}
	d := Defaults()
	if got := d.RoomSettings("any").PublisherPolicy; got != PolicyReject {
		t.Errorf("default room policy %q, want reject", got)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--publisher-room-policy=finals=standby"}, "publisher-room-policy finals"},
		{[]string{"--publisher-room-policy=bad/room=backup"}, "invalid room name"},
		{[]string{"--publisher-room-policy=finals"}, "room=policy"},
	} {
		args, e := withFile(t, "", tc.args, nil)
		_, err := Load(args, e.get, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
