// Package limits owns admission control: who may start work on this node and how much.
// It has the per-key token buckets of the signaling rate limits (RateLimiter: per client
// IP or per bearer token, 429 with Retry-After, idle buckets evicted so the table stays
// bounded), the per-key concurrency counts behind the session, blocked LL-HLS request and
// event-stream watcher limits (Counter: a count per key and one for the node, released
// exactly once), the client address of a request (ClientIP, X-Forwarded-For only from
// trusted proxies), and the node's readiness (Readiness: /readyz is 503 while the node
// drains or a limit is at its maximum). The packages that own a resource (signaling, sfu,
// hls) ask it; it knows nothing of their protocols.
package limits
