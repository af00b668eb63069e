package cluster

import "context"

// StopRenewals stops the renewal loop, as if the process were paused (tests).
func (r *Redis) StopRenewals() { r.stop() }

// RenewNow runs one renewal round, as the paused process does when it resumes (tests).
func (r *Redis) RenewNow(ctx context.Context) { r.renewAll(ctx) }

// Crash cuts the connections without a word, as a dying process does: renewals and
// heartbeats fail from now on, nothing is released or removed (tests).
func (r *Redis) Crash() { _ = r.rdb.Close() }

// RenewAfterRelease releases c and then runs the renewal that was on its way when the
// release came: the order a race between them can take (tests). It returns the renewal's
// result.
func (r *Redis) RenewAfterRelease(ctx context.Context, c Claim) (int64, error) {
	r.mu.Lock()
	l := r.held[roomKind{c.Room, c.Kind}]
	r.mu.Unlock()
	if err := r.Release(ctx, c); err != nil {
		return 0, err
	}
	results, err := r.runRenewals(ctx, []*lease{l})
	if err != nil {
		return 0, err
	}
	if results[0] == 2 {
		r.reasserted(ctx, l)
	}
	return results[0], nil
}
