package config

import (
	"flag"
	"fmt"
	"time"
)

// PolicyBackup lets a second publisher of a live room stand by as its backup (sfu/backup.go).
const PolicyBackup = "backup"

// FailoverSettings configure backup ingest (publisher_policy backup) and the drain of a node
// (glint drain, SIGTERM); docs/cluster.md.
type FailoverSettings struct {
	// BackupStall is how long the publisher on air may send nothing before its backup goes on air.
	BackupStall time.Duration `yaml:"backup_stall"`
	// BackupHold is how long a returning primary must send without a stall before it is
	// back on air.
	BackupHold time.Duration `yaml:"backup_hold"`
	// DrainPeriod is how long SIGTERM (and glint drain) gives viewers to move to another
	// node before their sessions end; 0 shuts down at once.
	DrainPeriod time.Duration `yaml:"drain_period"`
	// PublisherRoomPolicies gives a room its own publisher policy (room → reject | replace |
	// backup) instead of publisher_policy.
	PublisherRoomPolicies map[string]string `yaml:"publisher_room_policies"`
}

func defaultFailover() FailoverSettings {
	return FailoverSettings{BackupStall: 500 * time.Millisecond, BackupHold: 10 * time.Second, DrainPeriod: 10 * time.Second}
}

// bindFailover binds the backup and drain flags.
func (c *Config) bindFailover(fs *flag.FlagSet) {
	fs.DurationVar(&c.Failover.BackupStall, "backup-stall", c.Failover.BackupStall, "publisher_policy backup: the publisher on air sending nothing this long puts the backup on air")
	fs.DurationVar(&c.Failover.BackupHold, "backup-hold", c.Failover.BackupHold, "publisher_policy backup: a returning primary goes back on air after sending this long without a stall")
	fs.Var(&roomMapValue{m: &c.Failover.PublisherRoomPolicies, want: "room=policy, e.g. finals=backup"}, "publisher-room-policy",
		"room=policy: that room's --publisher-policy (reject, replace or backup; repeatable)")
	fs.DurationVar(&c.Failover.DrainPeriod, "drain-period", c.Failover.DrainPeriod, "on SIGTERM, refuse new sessions and tell viewers to move for this long before shutting down (0: at once)")
}

// validatePublisherPolicy checks the publisher policy and the backup and drain durations.
func (c *Config) validatePublisherPolicy() error {
	if err := checkPublisherPolicy("publisher-policy", c.PublisherPolicy); err != nil {
		return err
	}
	f := c.Failover
	for room, policy := range f.PublisherRoomPolicies {
		if !ValidRoomName(room) {
			return fmt.Errorf("publisher-room-policy %q: invalid room name (1-64 of A-Z a-z 0-9 _ -)", room)
		}
		if err := checkPublisherPolicy("publisher-room-policy "+room, policy); err != nil {
			return err
		}
	}
	if f.BackupStall < 50*time.Millisecond {
		return fmt.Errorf("backup-stall %v: must be at least 50ms (the switch is checked every 50ms)", f.BackupStall)
	}
	if f.BackupHold <= 0 {
		return fmt.Errorf("backup-hold %v: must be positive", f.BackupHold)
	}
	if f.DrainPeriod < 0 {
		return fmt.Errorf("drain-period %v: must not be negative (0: shut down at once)", f.DrainPeriod)
	}
	return nil
}

func checkPublisherPolicy(name, policy string) error {
	switch policy {
	case PolicyReject, PolicyReplace, PolicyBackup:
		return nil
	}
	return fmt.Errorf("%s %q: must be %q, %q or %q", name, policy, PolicyReject, PolicyReplace, PolicyBackup)
}

// publisherPolicy is room's publisher policy: publisher_room_policies, else publisher_policy.
func (c *Config) publisherPolicy(room string) string {
	if p, ok := c.Failover.PublisherRoomPolicies[room]; ok {
		return p
	}
	return c.PublisherPolicy
}
