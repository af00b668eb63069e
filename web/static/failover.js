// failover.js: which node the watch page plays from, and when it tries again. The page starts on
// the node that served it; the other nodes come from ?nodes=URL,URL, from GET /api/nodes (when the
// node answers it: without auth, or for an admin), and from a drain event's list. When the current
// node is lost (its event stream breaks and /healthz does not answer, the WebRTC connection fails)
// or drains, the page moves to the next node, round robin; with no other node it retries the same
// URL (a load balancer in front sends it to a live node). Attempts back off 250 ms, 500 ms, 1 s,
// 2 s, 4 s, then every 5 s, and start again at 250 ms once a session connects (docs/cluster.md).
import { base } from './whx.js';

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 5000];
const PROBE_MS = 1000; // a node whose /healthz does not answer within this is taken as lost

// nodeBase turns a node's URL (http://host:port, with or without a path) into the base the
// page's paths resolve against.
function nodeBase(url) {
  const u = new URL(url, base);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u.href;
}

export class Failover {
  constructor(search = location.search) {
    this.nodes = [base.href];
    this.index = 0;
    this.failures = 0;
    this.moves = 0; // how many times the page changed node (window.glintWatch.failover)
    const listed = new URLSearchParams(search).get('nodes');
    if (listed) this.add(listed.split(',').filter(Boolean));
  }

  // add appends nodes the page does not know yet.
  add(urls) {
    for (const url of urls || []) {
      try {
        const b = nodeBase(url);
        if (!this.nodes.includes(b)) this.nodes.push(b);
      } catch {
        console.warn(`failover: ignoring node URL ${url}`);
      }
    }
  }

  // url resolves a server path ('whep/demo') against the current node.
  url(path) {
    return new URL(path, this.nodes[this.index]);
  }

  get current() {
    return this.nodes[this.index];
  }

  // discover adds the nodes of GET /api/nodes (quietly nothing when the node does not answer it).
  async discover(headers) {
    try {
      const res = await fetch(this.url('api/nodes'), { headers, signal: AbortSignal.timeout(2000) });
      if (res.ok) this.add((await res.json()).map((n) => n.url).filter(Boolean));
    } catch {
      // a node without the API, or one that asks for an admin: ?nodes= and drain events remain
    }
  }

  // alive probes the current node's /healthz: any answer will do (no-cors: another node's answer
  // is opaque), only a refused connection or silence means the node is gone.
  async alive() {
    try {
      await fetch(this.url('healthz'), { mode: 'no-cors', cache: 'no-store', signal: AbortSignal.timeout(PROBE_MS) });
      return true;
    } catch {
      return false;
    }
  }

  // move goes to the next node (with others, the one after the current; alone, the same), and
  // returns the delay before the next attempt.
  move(reason) {
    const from = this.current;
    if (this.nodes.length > 1) this.index = (this.index + 1) % this.nodes.length;
    if (this.current !== from) {
      this.moves++;
      console.info(`failover: ${reason}: moving from ${from} to ${this.current}`);
    }
    return this.delay();
  }

  // drained moves off a draining node towards the nodes its event named.
  drained(nodes) {
    this.add(nodes);
    return this.move('node draining');
  }

  // delay is the wait before the next attempt on the current node; each call backs off further.
  delay() {
    return BACKOFF_MS[Math.min(this.failures++, BACKOFF_MS.length - 1)];
  }

  // connected resets the backoff.
  connected() {
    this.failures = 0;
  }
}
