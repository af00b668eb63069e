// whx.js: the WHIP / WHEP exchange shared by the publish and watch pages, plus the few helpers
// both need. Non-trickle only: the offer is sent once ICE gathering is complete (or after 2 s).

// base is the server's root URL, derived from this module's own URL (/static/whx.js → /), so the
// pages keep working when the whole server is mounted under a path prefix by a reverse proxy.
export const base = new URL('..', import.meta.url);

// Room names: 1-64 characters of [A-Za-z0-9_-], starting with a letter or a digit (docs/api.md).
export const ROOM_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

// roomFromPath returns the room of /watch/{room} or /publish/{room}, or '' when it is not valid.
export function roomFromPath(path = location.pathname) {
  let room = '';
  try {
    room = decodeURIComponent(path.split('/').filter(Boolean).pop() || '');
  } catch {
    return '';
  }
  return ROOM_RE.test(room) ? room : '';
}

// apiURL resolves a server path such as 'whep/demo' against base.
export function apiURL(path) {
  return new URL(path, base);
}

// link returns an <a> with text and href (the room list and the recordings list).
export function link(text, href) {
  const a = document.createElement('a');
  a.textContent = text;
  a.href = href;
  return a;
}

// HTTPError is a non-201 answer; message is the server's one-line reason when it sent JSON.
export class HTTPError extends Error {
  constructor(status, reason) {
    super(`HTTP ${status}: ${reason}`);
    this.status = status;
    this.reason = reason;
  }
}

// errorFrom turns a failed answer into an HTTPError.
export async function errorFrom(res) {
  const text = (await res.text().catch(() => '')).trim();
  let reason = text;
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === 'string') reason = body.error;
  } catch {
    // not JSON: keep the text as it is
  }
  return new HTTPError(res.status, reason || res.statusText || 'request failed');
}

// authHeaders adds "Authorization: Bearer token" to extra when there is a token.
export function authHeaders(token, extra = {}) {
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

// waitForIceGathering resolves when gathering is complete, or after ms at the latest.
export function waitForIceGathering(pc, ms = 2000) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

// parseLinks splits Link headers (RFC 8288; several headers arrive joined by ", ") into
// [{url, params}], params' names lower-cased. base, if given, resolves relative URLs.
export function parseLinks(header, base) {
  const links = [];
  for (const link of (header || '').split(/,\s*(?=<)/)) {
    const m = link.match(/^\s*<([^>]*)>(.*)$/);
    if (!m) continue;
    const params = {};
    for (const p of m[2].matchAll(/;\s*([\w-]+)\s*=\s*(?:"([^"]*)"|([^;,\s]*))/g)) {
      params[p[1].toLowerCase()] = p[2] ?? p[3];
    }
    let url = m[1];
    if (base) {
      try {
        url = new URL(url, base).href;
      } catch {
        continue; // not a URL: skip it
      }
    }
    links.push({ url, params });
  }
  return links;
}

// findLink returns the URL of the first link whose rel (a space-separated list) includes rel.
export function findLink(links, rel) {
  const link = links.find((l) => (l.params.rel || '').split(/\s+/).includes(rel));
  return link ? link.url : null;
}

// parseIceServers turns Link headers (RFC 9725 section 4.4) into RTCIceServer objects.
export function parseIceServers(header) {
  const servers = [];
  for (const { url, params } of parseLinks(header)) {
    if (params.rel !== 'ice-server') continue;
    const server = { urls: url };
    if (params.username) server.username = params.username;
    if (params.credential) server.credential = params.credential;
    servers.push(server);
  }
  return servers;
}

const iceServerCache = new Map();

// iceServers asks the endpoint (OPTIONS) for its ICE servers once per page; [] when it has none
// or does not answer within 2 s.
export function iceServers(url, token) {
  const key = String(url);
  if (!iceServerCache.has(key)) {
    const lookup = fetch(url, { method: 'OPTIONS', headers: authHeaders(token), signal: AbortSignal.timeout(2000) })
      .then((res) => parseIceServers(res.headers.get('Link')))
      .catch(() => []);
    iceServerCache.set(key, lookup);
  }
  return iceServerCache.get(key);
}

// exchange creates the offer, waits for ICE gathering, POSTs it to url and applies the answer.
// It returns {location, resource, links}: the Location header as sent and as an absolute URL, and
// the answer's Link headers (parseLinks, absolute URLs). A non-201 answer throws an HTTPError.
// transformAnswer, if given, may rewrite the answer SDP; beforeAnswer, if given, is called (and
// awaited) with that object once the session exists but before the answer is applied, i.e.
// before any media can flow (the watch page sets its quality cap there).
export async function exchange(pc, url, { token, transformAnswer, beforeAnswer } = {}) {
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIceGathering(pc, 2000);
  const res = await fetch(url, {
    method: 'POST',
    headers: authHeaders(token, { 'Content-Type': 'application/sdp' }),
    body: pc.localDescription.sdp,
  });
  if (res.status !== 201) throw await errorFrom(res);
  const location = res.headers.get('Location');
  if (!location) throw new Error('answer without a Location header');
  let sdp = await res.text();
  if (transformAnswer) sdp = transformAnswer(sdp);
  const session = { location, resource: new URL(location, url).href, links: parseLinks(res.headers.get('Link'), url) };
  if (beforeAnswer) await beforeAnswer(session);
  await pc.setRemoteDescription({ type: 'answer', sdp });
  return session;
}

// endSession DELETEs the session resource; keepalive lets it outlive the page (pagehide).
// It never throws: the server ends sessions on its own when the peer goes away.
export async function endSession(resource, { token, keepalive = false } = {}) {
  if (!resource) return 0;
  try {
    const res = await fetch(resource, { method: 'DELETE', headers: authHeaders(token), keepalive });
    return res.status;
  } catch {
    return 0;
  }
}

// codecName maps a getStats codec mimeType ('video/H264') to the name the API uses ('H264').
export function codecName(mimeType) {
  return mimeType ? mimeType.replace(/^[a-z]+\//, '') : null;
}
