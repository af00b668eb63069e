package cluster

import "context"

// StopRenewals stops the renewal loop, as if the process were paused (tests).
func (r *Redis) StopRenewals() { r.stop() }

// RenewNow runs one renewal round, as the paused process does when it resumes (tests).
func (r *Redis) RenewNow(ctx context.Context) { r.renewAll(ctx) }

// Crash cuts the connections without a word, as a dying process does: renewals and
// heartbeats fail from now on, nothing is released or removed (tests).
func (r *Redis) Crash() { _ = r.rdb.Close() }
