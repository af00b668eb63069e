package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimScript grants a room: KEYS owner, fence; ARGV payload, lease ms, replace (0/1),
// channel, kind. It refuses when the owner key exists (unless replace), else takes the
// next token and sets the key with an expiry (the SET NX PX of a lease, with its token
// taken in the same step). Returns {1, value} when granted, {0, current value} when not.
var claimScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and ARGV[3] ~= '1' then return {0, cur} end
local t = redis.call('INCR', KEYS[2])
local v = t .. ' ' .. ARGV[1]
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[4], 'claimed ' .. ARGV[5] .. ' ' .. v)
return {1, v}
`)

// renewScript extends the holder's lease: KEYS owner, fence; ARGV value, lease ms, token,
// channel, kind. 1: renewed. 2: re-asserted (the key had expired or was lost with a Redis
// restart, and no newer token was handed out since: the holder gets it back with its
// token). 0: fenced (another holder has the room, or had it since).
var renewScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
  end
  return 0
end
local c = tonumber(redis.call('GET', KEYS[2]) or '0')
local t = tonumber(ARGV[3])
if c > t then return 0 end
if c < t then redis.call('SET', KEYS[2], ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[4], 'claimed ' .. ARGV[5] .. ' ' .. ARGV[1])
return 2
`)

// releaseScript deletes the owner key if it still holds the holder's value: KEYS owner;
// ARGV value, channel, kind. 1: released, 0: not the holder's any more.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], 'released ' .. ARGV[3] .. ' ' .. ARGV[1])
return 1
`)

// claimPayload is what an owner key holds after its token.
type claimPayload struct {
	Node   string `json:"node"`
	Holder string `json:"holder"`
	Since  int64  `json:"since"` // unix ms
}

// decodeClaim reads an owner key's value ("token payload").
func decodeClaim(room string, kind Kind, value string) (Claim, error) {
	tok, payload, ok := strings.Cut(value, " ")
	token, err := strconv.ParseUint(tok, 10, 64)
	var p claimPayload
	if !ok || err != nil || json.Unmarshal([]byte(payload), &p) != nil {
		return Claim{}, fmt.Errorf("cluster: room %q (%s): unreadable owner %q", room, kind, value)
	}
	return Claim{Room: room, Kind: kind, Node: p.Node, Holder: p.Holder, Token: token, Since: time.UnixMilli(p.Since)}, nil
}

// Claim grants the room if no one holds it (or req.Replace), as a lease this node renews.
func (r *Redis) Claim(ctx context.Context, req Request) (Claim, error) {
	// Not cancelled with the caller (a client that hung up): a claim granted in Redis must
	// reach the holder, which releases it, rather than linger for a lease.
	ctx, cancel := r.op(context.WithoutCancel(ctx))
	defer cancel()
	payload, _ := json.Marshal(claimPayload{Node: r.opts.Node, Holder: req.Holder, Since: time.Now().UnixMilli()})
	replace := "0"
	if req.Replace {
		replace = "1"
	}
	res, err := claimScript.Run(ctx, r.rdb, []string{r.ownerKey(req.Room, req.Kind), r.fenceKey(req.Room)},
		payload, r.opts.Lease.Milliseconds(), replace, r.eventChannel(req.Room), string(req.Kind)).Slice()
	if err != nil {
		return Claim{}, r.failed("claim "+req.Room, err)
	}
	r.succeeded()
	granted, _ := res[0].(int64)
	value, _ := res[1].(string)
	c, err := decodeClaim(req.Room, req.Kind, value)
	if err != nil {
		return Claim{}, err
	}
	if granted != 1 {
		return Claim{}, &ClaimedError{Owner: c}
	}
	r.mu.Lock()
	r.held[roomKind{req.Room, req.Kind}] = &lease{claim: c, value: value, onLost: req.OnLost}
	r.mu.Unlock()
	return c, nil
}

// Release gives the room up if c is still its holder. The claim stops being renewed
// whatever happens; when Redis is unreachable the lease expires by itself.
func (r *Redis) Release(ctx context.Context, c Claim) error {
	value := r.forget(c)
	if value == "" {
		return fmt.Errorf("release %q by %s: %w", c.Room, c.Holder, ErrNotHolder)
	}
	ctx, cancel := r.op(ctx)
	defer cancel()
	n, err := r.releaseValue(ctx, c, value)
	if err != nil {
		return r.failed("release "+c.Room, err)
	}
	r.succeeded()
	if n != 1 {
		return fmt.Errorf("release %q by %s: %w", c.Room, c.Holder, ErrNotHolder)
	}
	return nil
}

// releaseValue deletes c's owner key if it holds value: 1 when it did, 0 when not.
func (r *Redis) releaseValue(ctx context.Context, c Claim, value string) (int, error) {
	return releaseScript.Run(ctx, r.rdb, []string{r.ownerKey(c.Room, c.Kind)}, value, r.eventChannel(c.Room), string(c.Kind)).Int()
}

// forget stops renewing c, returning its value ("" when this node does not hold c).
func (r *Redis) forget(c Claim) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := roomKind{c.Room, c.Kind}
	l, ok := r.held[key]
	if !ok || l.claim.Token != c.Token {
		return ""
	}
	delete(r.held, key)
	return l.value
}

// Owner returns the room's current holder of kind.
func (r *Redis) Owner(ctx context.Context, room string, kind Kind) (Claim, bool, error) {
	v, ok, err := r.get(ctx, r.ownerKey(room, kind), "owner "+room)
	if !ok || err != nil {
		return Claim{}, false, err
	}
	c, err := decodeClaim(room, kind, v)
	return c, err == nil, err
}

// get reads key: false when it does not exist; a failure is ErrUnavailable.
func (r *Redis) get(ctx context.Context, key, what string) (string, bool, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	v, err := r.rdb.Get(ctx, key).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", false, r.failed(what, err)
	}
	r.succeeded()
	return v, err == nil, nil
}

func (r *Redis) heldCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.held)
}

// renewLoop renews every held lease each third of the lease until ctx ends.
func (r *Redis) renewLoop(ctx context.Context) {
	t := time.NewTicker(r.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.renewAll(ctx)
		}
	}
}

// renewAll renews the held leases in one pipeline; a fenced one is dropped and its holder
// told. A Redis failure keeps them all (they are re-asserted once Redis answers again).
func (r *Redis) renewAll(ctx context.Context) {
	r.mu.Lock()
	leases := make([]*lease, 0, len(r.held))
	for _, l := range r.held {
		leases = append(leases, l)
	}
	r.mu.Unlock()
	if len(leases) == 0 {
		return
	}
	results, err := r.runRenewals(ctx, leases)
	if err != nil {
		_ = r.failed("renew leases", err)
		return
	}
	r.succeeded()
	for i, l := range leases {
		switch results[i] {
		case 1:
			r.metrics.renewals.Inc()
		case 2:
			r.reasserted(ctx, l)
		default:
			r.lose(l)
		}
	}
}

// reasserted follows a renewal that wrote an expired or lost lease back. A lease released
// while its renewal was on the way (the release ran first) is deleted again.
func (r *Redis) reasserted(ctx context.Context, l *lease) {
	r.mu.Lock()
	still := r.held[roomKind{l.claim.Room, l.claim.Kind}] == l
	r.mu.Unlock()
	if !still {
		ctx, cancel := r.op(ctx)
		defer cancel()
		if _, err := r.releaseValue(ctx, l.claim, l.value); err != nil {
			_ = r.failed("release "+l.claim.Room, err) // the lease expires by itself
		}
		return
	}
	r.metrics.renewals.Inc()
	r.metrics.reasserted.Inc()
	r.log.Info("lease re-asserted", "room", l.claim.Room, "kind", l.claim.Kind, "holder", l.claim.Holder, "token", l.claim.Token)
}

// runRenewals runs renewScript for each lease in one pipeline (loading the script again
// when Redis lost it, after a restart), returning each result.
func (r *Redis) runRenewals(ctx context.Context, leases []*lease) ([]int64, error) {
	ctx, cancel := r.op(ctx)
	defer cancel()
	run := func(useSha bool) ([]redis.Cmder, error) {
		return r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, l := range leases {
				c := l.claim
				keys := []string{r.ownerKey(c.Room, c.Kind), r.fenceKey(c.Room)}
				args := []any{l.value, r.opts.Lease.Milliseconds(), c.Token, r.eventChannel(c.Room), string(c.Kind)}
				if useSha {
					renewScript.EvalSha(ctx, p, keys, args...)
				} else {
					renewScript.Eval(ctx, p, keys, args...)
				}
			}
			return nil
		})
	}
	cmds, err := run(true)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		cmds, err = run(false)
	}
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(cmds))
	for i, cmd := range cmds {
		out[i], _ = cmd.(*redis.Cmd).Int64()
	}
	return out, nil
}

// lose drops a fenced lease and tells its holder.
func (r *Redis) lose(l *lease) {
	if r.forget(l.claim) == "" {
		return // released meanwhile
	}
	r.metrics.lost.Inc()
	r.log.Error("lease lost: another holder took the room while this node could not renew; ending the hold",
		"room", l.claim.Room, "kind", l.claim.Kind, "holder", l.claim.Holder, "token", l.claim.Token)
	if l.onLost != nil {
		go l.onLost(l.claim, fmt.Errorf("room %q (%s) held by %s: %w", l.claim.Room, l.claim.Kind, l.claim, ErrFenced))
	}
}
