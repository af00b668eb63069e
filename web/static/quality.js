// quality.js: the watch page's quality menu and the server's statistics of the viewer.
//
// The menu (Auto / High / Medium / Low) caps the viewer's simulcast layer through the WHEP layer
// extension (docs/api.md): POST {"maxLayer":"l"|"m"|"h"|"auto"} to the URL of the answer's
// Link rel="urn:ietf:params:whep:ext:core:layer", or to {Location}/layer when there is none. The
// choice outlives the page's reconnections (every new session gets it again) and goes into the
// page URL as ?quality=, so a reload keeps it too. The statistics come from
// GET /api/sessions/{id}: the server's view of this viewer (chosen layer, bandwidth estimate,
// paused video, NACKs, PLIs, RTT, loss).
import { pageToken } from './token.js';
import { apiURL, authHeaders, errorFrom, findLink } from './whx.js';

export const LAYER_REL = 'urn:ietf:params:whep:ext:core:layer';
export const QUALITIES = ['auto', 'h', 'm', 'l'];

// qualityFromQuery reads ?quality=l|m|h|auto; anything else means 'auto'.
export function qualityFromQuery(search = location.search) {
  const q = (new URLSearchParams(search).get('quality') || '').toLowerCase();
  return QUALITIES.includes(q) ? q : 'auto';
}

// noServer is the server object while there are no statistics (yet).
export const noServer = () => ({
  layer: null, // the layer the server forwards: 'l' | 'm' | 'h'; null when paused or unknown
  maxLayer: null, // the cap the server holds; null without one
  estimateKbps: null,
  paused: null,
  nacks: null,
  plis: null,
  rttMs: null,
  fractionLost: null, // 0..1
});

// Quality holds the viewer's choice and applies it to the current WHEP session. POSTs run one
// after the other, so the last choice is the one that sticks.
export class Quality {
  constructor({ token, initial = 'auto', onChange = () => {} }) {
    this.token = token;
    this.value = initial;
    this.url = null; // the current session's layer URL
    this.error = null; // why the last POST for the current session failed
    this.queue = Promise.resolve();
    this.onChange = onChange;
  }

  // attach starts using a new session ({resource, links} from exchange); a new session has no
  // cap, so it gets one only when the choice is not 'auto'. The promise ends when the cap is
  // set (or failed: the session plays on without it).
  attach(session) {
    this.url = findLink(session.links || [], LAYER_REL) || `${session.resource}/layer`;
    this.error = null;
    if (this.value !== 'auto') this.apply();
    return this.queue;
  }

  detach() {
    this.url = null;
    this.error = null;
  }

  // set is the menu's choice: remember it (in the page URL too) and apply it.
  set(value) {
    if (!QUALITIES.includes(value) || value === this.value) return;
    this.value = value;
    const url = new URL(location.href);
    if (value === 'auto') url.searchParams.delete('quality');
    else url.searchParams.set('quality', value);
    history.replaceState(history.state, '', url);
    this.onChange();
    if (this.url) this.apply();
  }

  apply() {
    const url = this.url;
    this.queue = this.queue
      .then(() => (url === this.url ? postLayer(url, this.value, this.token) : null))
      .then(
        () => {
          if (url === this.url) this.error = null;
        },
        (err) => {
          if (url !== this.url) return; // the session ended meanwhile
          this.error = err.message || String(err);
          console.warn(`quality ${this.value}: ${this.error}`);
        },
      )
      .finally(this.onChange);
  }
}

// postLayer asks the server to cap the session at layer ('auto' lifts the cap).
export async function postLayer(url, layer, token) {
  const res = await fetch(url, {
    method: 'POST',
    headers: authHeaders(token, { 'Content-Type': 'application/json' }),
    body: JSON.stringify({ maxLayer: layer }),
    signal: AbortSignal.timeout(5000),
  });
  if (res.status !== 204 && res.status !== 200) throw await errorFrom(res);
}

// serverStats reads GET /api/sessions/{id} for the session at location (its last path segment
// is the id). Layer, estimate, pause, RTT and loss are the video track's; NACKs and PLIs add up
// all tracks.
export async function serverStats(location) {
  const id = String(location).split('/').filter(Boolean).pop();
  const res = await fetch(apiURL(`api/sessions/${encodeURIComponent(id)}`), {
    cache: 'no-store',
    headers: authHeaders(pageToken),
    signal: AbortSignal.timeout(2000),
  });
  if (!res.ok) throw await errorFrom(res);
  const tracks = (await res.json()).tracks || [];
  const v = tracks.find((t) => t.kind === 'video');
  const s = noServer();
  s.nacks = tracks.reduce((n, t) => n + (t.nacks || 0), 0);
  s.plis = tracks.reduce((n, t) => n + (t.plis || 0), 0);
  if (v) {
    Object.assign(s, {
      layer: v.layer || null,
      maxLayer: v.max_layer || null,
      estimateKbps: v.estimate_kbps ? Math.round(v.estimate_kbps) : null,
      paused: !!v.paused,
      rttMs: typeof v.rtt_ms === 'number' ? Math.round(v.rtt_ms * 10) / 10 : null,
      fractionLost: typeof v.fraction_lost === 'number' ? v.fraction_lost : null,
    });
  }
  return s;
}

const LAYER_NAMES = { h: 'high', m: 'medium', l: 'low' };

// renderServer writes the server's statistics into the page's #v-* elements.
export function renderServer($, server, quality) {
  const dash = (x, unit = '') => (x === null || x === undefined ? '–' : `${x}${unit}`);
  let layer = server.paused ? 'paused (audio only)' : dash(server.layer && `${server.layer} (${LAYER_NAMES[server.layer]})`);
  if (server.maxLayer) layer += ` · cap ${server.maxLayer}`;
  $('v-layer').textContent = layer;
  $('v-estimate').textContent = dash(server.estimateKbps, ' kbit/s');
  $('v-paused').textContent = server.paused === null ? '–' : server.paused ? 'yes' : 'no';
  $('v-nacks').textContent = dash(server.nacks);
  $('v-plis').textContent = dash(server.plis);
  $('v-rtt').textContent = dash(server.rttMs, ' ms');
  $('v-loss').textContent = server.fractionLost === null ? '–' : `${(server.fractionLost * 100).toFixed(1)} %`;
  const menu = $('quality');
  if (menu.value !== quality.value) menu.value = quality.value;
  $('quality-note').textContent = quality.error ? `quality: ${quality.error}` : '';
}

// setupMenu connects the <select> to quality.
export function setupMenu(menu, quality) {
  menu.value = quality.value;
  menu.addEventListener('change', () => quality.set(menu.value));
}
